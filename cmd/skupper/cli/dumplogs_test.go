package cli

import "testing"

func TestNamespaceLines(t *testing.T) {
	log := "time=1 level=INFO msg=\"router started\" namespace=west pid=1\n" +
		"time=2 level=INFO msg=router namespace=west2 output=x\n" +
		"time=3 level=WARN msg=router namespace=west output=\"ROUTER (notice) up\"\n" +
		`{"time":"4","msg":"router","namespace":"west","output":"y"}` + "\n" +
		`{"time":"5","msg":"router","namespace":"west2"}` + "\n" +
		"time=6 level=INFO msg=other namespace=west\n"
	want := "time=1 level=INFO msg=\"router started\" namespace=west pid=1\n" +
		"time=3 level=WARN msg=router namespace=west output=\"ROUTER (notice) up\"\n" +
		`{"time":"4","msg":"router","namespace":"west","output":"y"}` + "\n" +
		"time=6 level=INFO msg=other namespace=west\n"
	if got := string(namespaceLines([]byte(log), "west")); got != want {
		t.Errorf("namespaceLines = \n%s\nwant\n%s", got, want)
	}
}
