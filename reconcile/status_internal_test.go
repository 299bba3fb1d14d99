package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
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

// TestStatusIndex checks that a reconcile with an empty Cache (a new
// process) reads no status file when the status index vouches for them
// all, reads (and rewrites) a status file changed behind its back, and
// ignores an index that does not parse.
func TestStatusIndex(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Ensure())
	ns := home.Namespace("west")
	require.NoError(t, ns.EnsureInput())
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(ns.InputResourcesDir(), name), []byte(content), 0o600))
	}
	write("site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n")
	for _, n := range []string{"a", "b", "c"} {
		write(n+".yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: "+n+"\nspec:\n  routingKey: "+n+"\n  host: 127.0.0.1\n  port: 808"+string(n[0]-'a'+'0')+"\n")
	}
	var reads atomic.Int32
	testHookReadStatus = func(string) { reads.Add(1) }
	t.Cleanup(func() { testHookReadStatus = nil })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	reconcileNew := func() *Result {
		t.Helper()
		reads.Store(0)
		res, err := Run(context.Background(), ns, Options{
			Now: func() time.Time { return now }, Hosts: func() []string { return []string{"127.0.0.1"} },
			Ports: ports.New(home, ports.WithProbe(func(string, int) bool { return true })), Cache: NewCache(),
		})
		require.NoError(t, err)
		require.Equal(t, Applied, res.Outcome)
		return res
	}
	reconcileNew()
	require.Zero(t, reads.Load(), "the first reconcile lists no status files, and looks for none")

	reconcileNew()
	require.Zero(t, reads.Load(), "the index vouches for every status file")

	// A status file edited by hand is read, and written again.
	path := ns.StatusPath(v2alpha1.Key{Kind: "Listener", Name: "b"})
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte("garbage\n"), 0o600))
	now = now.Add(time.Minute)
	reconcileNew()
	require.EqualValues(t, 1, reads.Load())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotEqual(t, "garbage\n", string(got))
	require.Equal(t, string(good), strings.ReplaceAll(string(got), "2026-01-02T03:05:05Z", "2026-01-02T03:04:05Z"),
		"rewritten as before; only the conditions the garbage lost start again")
	reconcileNew()
	require.Zero(t, reads.Load(), "the index was brought up to date")

	// An index that does not parse is ignored, and replaced.
	require.NoError(t, os.WriteFile(filepath.Join(ns.StatusDir(), ".status-index"), []byte("skupperd status index 1\nbogus\n"), 0o600))
	reconcileNew()
	require.EqualValues(t, 4, reads.Load())
	reconcileNew()
	require.Zero(t, reads.Load())
}
