package reconcile

import (
	"reflect"
	"strings"
	"testing"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// TestScanConditions checks that the fast scan of a status file reads the
// conditions the general decoder reads, for files as v2alpha1.Marshal
// writes them (long messages wrap, quoting varies), and declines anything
// else.
func TestScanConditions(t *testing.T) {
	messages := []string{"OK", "Not configured: the namespace has no valid Site", "it's \"quoted\" # not a comment",
		strings.Repeat("a long message that wraps ", 12), "line\nbreak", "日本", "", "True", "- dash"}
	for _, msg := range messages {
		l := &v2alpha1.Listener{TypeMeta: v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindListener},
			ObjectMeta: v2alpha1.ObjectMeta{Name: "l1"}, Spec: v2alpha1.ListenerSpec{RoutingKey: "k", Host: "127.0.0.1", Port: 8080}}
		for i, typ := range []string{"Configured", "Matched", "Ready"} {
			l.Status.Conditions = append(l.Status.Conditions, v2alpha1.Condition{Type: typ, Status: []string{"True", "False"}[i%2],
				Reason: msg, Message: msg, LastTransitionTime: "2026-12-01T17:35:1" + string(rune('0'+i)) + "Z"})
		}
		l.Status.StatusType, l.Status.Message = v2alpha1.StatusPending, msg
		data, err := v2alpha1.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		want := decodeConditions("Listener-l1.yaml", data)
		if len(want) != 3 {
			t.Fatalf("decoder read %v from\n%s", want, data)
		}
		got, ok := scanConditions(data)
		if ok && !reflect.DeepEqual(got, want) {
			t.Errorf("scan of\n%s\n= %v, want %v", data, got, want)
		}
		if !ok && !strings.ContainsAny(msg, "\n日") {
			t.Errorf("scan declined a plain status file:\n%s", data)
		}
	}
	for _, odd := range []string{
		"", "kind: Listener\n", "apiVersion: v\nstatus: {conditions: []}\n",
		"apiVersion: v\nstatus:\n  conditions:\n  - type: Ready\n    status: \"True\"\n",
		"apiVersion: v\nstatus:\n  conditions:\n  - type: \"Re\\\"ady\"\n    status: \"True\"\n    lastTransitionTime: x\n",
		"apiVersion: v\nstatus:\n  conditions: []\n",
	} {
		if got, ok := scanConditions([]byte(odd)); ok {
			t.Errorf("scan of %q = %v, want it declined", odd, got)
		}
	}
}
