package routerschema

import (
	"errors"
	"testing"
)

// FuzzCheck feeds arbitrary bytes to Check in both modes. Check must not
// panic, every problem must be a well-formed *Error, and anything Strict
// accepts the router must accept too.
func FuzzCheck(f *testing.F) {
	s := mustLoad(f)
	f.Add(marshal(f, validConfig()))
	for _, seed := range []string{
		``,
		`[]`,
		`{}`,
		`[["router", {"id": "a"}]] x`,
		`[["router", {"id": "a", "id": "b", "mode": 1}], ["listener", {"port": 5671, "role": "-1"}]]`,
		"# comment\n[[\"tcp-listener\", {\"name\": 5, \"port\": 1e400}, 3]]",
		`[["log", {"module": NaN}], ["log", {"module": -Infinity}], ["log", {"module": "1"}]]`,
		`[["vhost", {"hostname": "h", "groups": [["a", 1], "bc", {"k": 1, "l": 2}]}]]`,
		`[["listener", {"openProperties": {"qd.x": 1, "é": 2}, "role": "edge", "name": [1, {"a": null}]}]]`,
		`[["router", {"id": "a\u2028b", "metadata": "\ud800\udc00\udc00"}]]`,
		`[["listener", {"name": 1.5}], ["connector", {"name": "1.5"}]]`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		strict := s.Check(data, Strict)
		router := s.Check(data, Router)
		if len(strict) == 0 && len(router) != 0 {
			t.Errorf("Strict accepts what Router rejects: %q", errStrings(router))
		}
		for _, errs := range [][]error{strict, router} {
			for _, err := range errs {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("problem of type %T: %v", err, err)
				}
				if e.Msg == "" || e.Index < -1 || e.Line < 0 || err.Error() == "" {
					t.Fatalf("malformed problem %+v", *e)
				}
			}
		}
	})
}
