package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
)

// writePairs writes a namespace with a Site accepting links and n
// Listener+Connector pairs, one file per pair as a user managing them by
// file would, and returns the namespace.
func writePairs(b testing.TB, home namespaces.Home, n int) namespaces.Namespace {
	b.Helper()
	ns := home.Namespace("west")
	if err := ns.EnsureInput(); err != nil {
		b.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(ns.InputResourcesDir(), name), []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	write("site.yaml", siteDoc("west", "linkAccess: default\n"))
	for i := range n {
		name := "svc-" + strconv.Itoa(i)
		write(fmt.Sprintf("pair-%04d.yaml", i), docs(
			listenerDoc(name, 10000+i, ""),
			connectorDoc(name, 20000+i, ""),
		))
	}
	return ns
}

// benchOptions are the harness's options: fixed clock and hosts, and a
// deterministic allocator over home.
func benchOptions(home namespaces.Home) reconcile.Options {
	return reconcile.Options{
		Now:     func() time.Time { return reconcileNow },
		Hosts:   func() []string { return []string{"host.example.com", "127.0.0.1"} },
		Version: "1.2.3-test",
		Ports:   ports.New(home, ports.WithProbe(func(string, int) bool { return true })),
		Cache:   reconcile.NewCache(),
	}
}

func mustApply(b *testing.B, ns namespaces.Namespace, opts reconcile.Options) {
	res, err := reconcile.Run(context.Background(), ns, opts)
	if err != nil {
		b.Fatal(err)
	}
	if res.Outcome != reconcile.Applied || len(res.Diagnostics) > 0 {
		b.Fatalf("outcome %s, diagnostics %v", res.Outcome, res.Diagnostics)
	}
}

// settle lets the input written by writePairs grow older than the
// loader's racy window (2 s: a file changed more recently is read on every
// reconcile) and reconciles once, so that the cache trusts the files, as
// it does a user's files that were not just written. The sleep is the
// scenario, not synchronisation.
func settle(b *testing.B, ns namespaces.Namespace, opts reconcile.Options) {
	time.Sleep(2100 * time.Millisecond)
	mustApply(b, ns, opts)
}

// BenchmarkReconcile measures one reconcile of a namespace with 1 and 1,000
// Listener+Connector pairs.
//
//   - cold: a fresh data home every iteration, so every CA, certificate,
//     port reservation, status file and the router config are made;
//   - warm: the same namespace reconciled again with unchanged input, the
//     steady state of the daemon's resync (nothing is written);
//   - edit: one pair's file changed (a Listener's port) before each
//     reconcile, as the daemon's reconcile after an edit (with its Cache).
//
// Targets: warm 1,000 pairs < 150 ms, cold single site < 100 ms.
func BenchmarkReconcile(b *testing.B) {
	for _, pairs := range []int{1, 1000} {
		b.Run(fmt.Sprintf("pairs=%d/cold", pairs), func(b *testing.B) {
			root := b.TempDir()
			var dir string
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				if dir != "" {
					if err := os.RemoveAll(dir); err != nil {
						b.Fatal(err)
					}
				}
				dir = filepath.Join(root, strconv.Itoa(i))
				home := namespaces.NewHome(dir)
				ns := writePairs(b, home, pairs)
				opts := benchOptions(home)
				b.StartTimer()
				mustApply(b, ns, opts)
			}
		})
		b.Run(fmt.Sprintf("pairs=%d/warm", pairs), func(b *testing.B) {
			home := namespaces.NewHome(b.TempDir())
			ns := writePairs(b, home, pairs)
			opts := benchOptions(home)
			mustApply(b, ns, opts)
			settle(b, ns, opts)
			for b.Loop() {
				mustApply(b, ns, opts)
			}
		})
		b.Run(fmt.Sprintf("pairs=%d/edit", pairs), func(b *testing.B) {
			home := namespaces.NewHome(b.TempDir())
			ns := writePairs(b, home, pairs)
			opts := benchOptions(home)
			mustApply(b, ns, opts)
			settle(b, ns, opts)
			file := filepath.Join(ns.InputResourcesDir(), fmt.Sprintf("pair-%04d.yaml", pairs/2))
			name := "svc-" + strconv.Itoa(pairs/2)
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				content := docs(listenerDoc(name, 30000+i%2, ""), connectorDoc(name, 20000+pairs/2, ""))
				if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				mustApply(b, ns, opts)
			}
		})
	}
}

// TestBenchmarkFixture keeps the benchmark's input honest without running
// the benchmark: the pairs apply cleanly and each Listener finds its
// Connector.
func TestBenchmarkFixture(t *testing.T) {
	h := newHarness(t)
	west := writePairs(t, h.home, 3)
	res := h.reconcile(west)
	if res.Outcome != reconcile.Applied || len(res.Diagnostics) > 0 {
		t.Fatalf("outcome %s, diagnostics %v", res.Outcome, res.Diagnostics)
	}
	for i := range 3 {
		st := h.statusOf(west, "Listener", "svc-"+strconv.Itoa(i))
		if st.StatusType != "Ready" {
			t.Fatalf("Listener/svc-%d: %s %s", i, st.StatusType, st.Message)
		}
	}
}
