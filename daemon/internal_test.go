package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
)

func TestIsTempName(t *testing.T) {
	for name, want := range map[string]bool{
		".skrouterd.json.tmp-123456": true,
		".tls.key.tmp-1":             true,
		".Site-west.yaml.tmp-42":     true,
		"skrouterd.json":             false,
		".skrouterd.json":            false,
		".tmp-123":                   false, // no base name
		".x.tmp-":                    false,
		".x.tmp-12a":                 false,
		"x.tmp-12":                   false, // not hidden: not ours
		".hidden.yaml":               false,
	} {
		if got := atomicfile.IsTempName(name); got != want {
			t.Errorf("IsTempName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestSweepTemp checks that the temporary files of interrupted atomic
// writes are removed from runtime/ and internal/, and nothing else.
func TestSweepTemp(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	ns := home.Namespace("west")
	if err := ns.EnsureInput(); err != nil {
		t.Fatal(err)
	}
	if err := ns.EnsureRuntime(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	write := func(path string, mtime time.Time) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	stale := []string{
		filepath.Join(ns.RouterDir(), ".skrouterd.json.tmp-1"),
		filepath.Join(ns.StatusDir(), ".Site-west.yaml.tmp-22"),
		filepath.Join(ns.RuntimeCertsDir(), "a", ".tls.key.tmp-333"),
		filepath.Join(ns.InternalDir(), ".status.yaml.tmp-4444"),
		// input/ too: the CLI and token redemptions write there.
		filepath.Join(ns.InputResourcesDir(), ".site.yaml.tmp-5"),
		filepath.Join(ns.InputCertDir("link"), ".tls.key.tmp-55"),
	}
	kept := []string{
		filepath.Join(ns.RouterDir(), "skrouterd.json"),
		filepath.Join(ns.StatusDir(), ".notes"),
		filepath.Join(ns.InputResourcesDir(), ".site.yaml.swp"),   // an editor's
		filepath.Join(ns.InputResourcesDir(), ".site.yaml.tmp-x"), // not atomicfile's
	}
	for _, p := range append(append([]string(nil), stale...), kept...) {
		write(p, old)
	}
	fresh := filepath.Join(ns.InternalDir(), ".reload-request.tmp-6") // a write in progress
	write(fresh, time.Now().Add(time.Minute))
	kept = append(kept, fresh)

	sweepTemp(ns, time.Now(), slog.New(slog.DiscardHandler))
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was not removed (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	// A namespace without runtime/ or internal/ is fine.
	sweepTemp(home.Namespace("empty"), time.Now(), slog.New(slog.DiscardHandler))
}

// TestRemovedDuring checks the handling of a namespace directory removed
// while a reconcile ran.
func TestRemovedDuring(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	ns := home.Namespace("west")
	log := slog.New(slog.DiscardHandler)
	newWorker := func() *worker { return &worker{ns: ns, kicks: make(chan bool, 1)} }
	mkns := func() *os.File {
		t.Helper()
		if err := ns.EnsureInput(); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(ns.Dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}

	// Unchanged.
	before := mkns()
	if err := ns.EnsureRuntime(); err != nil {
		t.Fatal(err)
	}
	if newWorker().removedDuring(log, before) {
		t.Fatal("unchanged directory reported as removed")
	}

	// Removed, and re-created by the reconcile's writes: a ghost, removed.
	if err := os.RemoveAll(ns.Dir); err != nil {
		t.Fatal(err)
	}
	if err := ns.EnsureRuntime(); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(filepath.Join(ns.InternalDir(), "status.yaml"), []byte("x: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !newWorker().removedDuring(log, before) {
		t.Fatal("removal not reported")
	}
	if _, err := os.Stat(ns.Dir); !os.IsNotExist(err) {
		t.Fatalf("ghost namespace directory kept: %v", err)
	}

	// Removed and not re-created.
	before = mkns()
	if err := os.RemoveAll(ns.Dir); err != nil {
		t.Fatal(err)
	}
	if !newWorker().removedDuring(log, before) {
		t.Fatal("removal not reported")
	}

	// Replaced by the user (it has input/): kept, and reconciled again.
	mkns()
	w := newWorker()
	if !w.removedDuring(log, before) {
		t.Fatal("replacement not reported")
	}
	if !ns.Exists() {
		t.Fatal("the user's new namespace directory was removed")
	}
	select {
	case <-w.kicks:
	default:
		t.Fatal("no new reconcile of the replaced namespace")
	}
}

// TestResyncSkipsUnchangedNamespaces checks that resync passes reconcile
// only namespaces that changed, repair runtime files changed behind the
// daemon's back, and still reconcile everything once per FullResync.
func TestResyncSkipsUnchangedNamespaces(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	ns := home.Namespace("west")
	if err := ns.EnsureInput(); err != nil {
		t.Fatal(err)
	}
	site := "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n"
	if err := os.WriteFile(filepath.Join(ns.InputResourcesDir(), "site.yaml"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	var host atomic.Value
	host.Store("host.test")
	run := func(full time.Duration) (*Daemon, func()) {
		d := New(Config{
			Home: home, Resync: 20 * time.Millisecond, FullResync: full,
			Ports: ports.New(home, ports.WithProbe(func(string, int) bool { return true })),
			Hosts: func() []string { return []string{host.Load().(string)} },
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		return d, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	d, stop := run(time.Hour)
	// Settled: resync checks keep finding the namespace unchanged.
	var passes int64
	waitFor("resync checks that skip", func() bool {
		passes = d.Passes()
		skipped := d.skipped.Load()
		waitFor("three more checks", func() bool { return d.skipped.Load() >= skipped+3 })
		return d.Passes() == passes
	})
	// A runtime file changed behind the daemon's back is repaired.
	config := ns.RouterConfigPath()
	want, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the config repaired", func() bool {
		got, _ := os.ReadFile(config)
		return string(got) == string(want)
	})
	waitFor("the repair counted as a reconcile", func() bool { return d.Passes() > passes })
	// So is a deleted one.
	if err := os.Remove(config); err != nil {
		t.Fatal(err)
	}
	waitFor("the config restored", func() bool { _, err := os.Stat(config); return err == nil })
	// The host's addresses changed: reconciled (certificates and static
	// links name them).
	waitFor("settled again", func() bool {
		passes = d.Passes()
		skipped := d.skipped.Load()
		waitFor("three more checks", func() bool { return d.skipped.Load() >= skipped+3 })
		return d.Passes() == passes
	})
	host.Store("other.test")
	waitFor("a reconcile for the new host name", func() bool { return d.Passes() > passes })
	stop()

	// With FullResync shorter than the resync period, every check reconciles.
	d, stop = run(time.Nanosecond)
	defer stop()
	waitFor("the first pass", func() bool { return d.Passes() > 0 })
	p := d.Passes()
	waitFor("passes without changes", func() bool { return d.Passes() >= p+3 })
	if n := d.skipped.Load(); n != 0 {
		t.Fatalf("%d checks skipped with FullResync 1ns", n)
	}
}

// BenchmarkResyncCheck measures what a resync tick costs over 100 idle
// namespaces (each a Site and a Listener, reconciled once): the global
// stamp and every namespace's runtime stamp.
func BenchmarkResyncCheck(b *testing.B) {
	home := namespaces.NewHome(b.TempDir())
	alloc := ports.New(home, ports.WithProbe(func(string, int) bool { return true }))
	var all []namespaces.Namespace
	for i := range 100 {
		ns := home.Namespace(fmt.Sprintf("ns%03d", i))
		if err := ns.EnsureInput(); err != nil {
			b.Fatal(err)
		}
		site := fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: %s\n---\n"+
			"apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: backend\nspec:\n  routingKey: backend\n  host: 127.0.0.1\n  port: %d\n", ns.Name, 20000+i)
		if err := os.WriteFile(filepath.Join(ns.InputResourcesDir(), "site.yaml"), []byte(site), 0o600); err != nil {
			b.Fatal(err)
		}
		if _, err := reconcile.Run(context.Background(), ns, reconcile.Options{Ports: alloc, Hosts: func() []string { return []string{"h"} }}); err != nil {
			b.Fatal(err)
		}
		all = append(all, ns)
	}
	hosts := func() []string { return []string{"h"} }
	b.ResetTimer()
	for range b.N {
		_ = globalStamp(home, hosts)
		for _, ns := range all {
			_ = stampOf(ns)
		}
	}
}
