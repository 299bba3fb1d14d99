package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/test/testwait"
)

// TestRecreatedDataHomeOneDaemonOneRouter: the data home is deleted and
// created again under a running daemon, and a second daemon is started on
// it. Sampled every few milliseconds throughout, no namespace ever has two
// routers; the first daemon notices it lost its lock and stops; the
// second one alone manages the namespace, with exactly one router.
func TestRecreatedDataHomeOneDaemonOneRouter(t *testing.T) {
	h := newTestHome(t)
	h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	first := startDaemon(t, h, daemonOpts{})
	first.waitReady()
	t.Cleanup(func() {
		if t.Failed() {
			first.dumpLog()
		}
	})
	testwait.For(t, 20*time.Second, "the first daemon's router", func() (bool, string) {
		_, ok, why := oneRouter(h, "west")
		return ok, why
	})

	var most atomic.Int32
	var samples atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := int32(len(routerStates(h)["west"])); n > most.Load() {
				most.Store(n)
			}
			samples.Add(1)
			time.Sleep(5 * time.Millisecond) // the sampling period
		}
	}()

	// Deleted: moved away at once (the daemon writes on meanwhile), then
	// removed.
	if err := os.Rename(h.home.Root, h.home.Root+".deleted"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(h.home.Root + ".deleted") })
	// Created again: staged aside, then moved into place (the first
	// daemon may write into the path meanwhile: such debris is removed
	// and the move retried).
	staged := namespaces.NewHome(h.home.Root + ".new")
	sns := staged.Namespace("west")
	if err := sns.EnsureInput(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(sns.InternalDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("ports:\n- host: 127.0.0.1\n  key: router/normal\n  port: %d\n  role: normal\n  what: router local port\n", freePorts(t, 1)[0])
	if err := os.WriteFile(ports.TablePath(sns), []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sns.InputResourcesDir(), "site.yaml"), []byte(siteYAML("west")), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the new data home in place", func() (bool, string) {
		err := os.Rename(staged.Root, h.home.Root)
		if err != nil {
			_ = os.RemoveAll(h.home.Root)
		}
		return err == nil, fmt.Sprint(err)
	})
	replaced := time.Now()
	second := startDaemon(t, h, daemonOpts{})
	testwait.For(t, 30*time.Second, "the first daemon to stop", func() (bool, string) {
		return !first.alive(), "still running"
	})
	stopped := time.Since(replaced)
	second.waitReady()
	testwait.For(t, 30*time.Second, "the second daemon's router", func() (bool, string) {
		_, ok, why := oneRouter(h, "west")
		return ok, why
	})
	served := time.Since(replaced)
	// Keep sampling a little while the second daemon runs alone.
	testwait.Until(t, 10*time.Second, "more samples", func() bool { return samples.Load() > 200 })
	close(stop)
	wg.Wait()
	t.Logf("%d samples; most routers at once: %d; first daemon stopped %v and the new router ran %v after the data home was replaced",
		samples.Load(), most.Load(), stopped.Round(time.Millisecond), served.Round(time.Millisecond))
	if most.Load() > 1 {
		t.Fatalf("%d routers ran at once for namespace west", most.Load())
	}
	if len(first.logLines("this daemon no longer owns the data home; stopping", "")) == 0 {
		t.Error("the first daemon did not log that it lost its lock")
	}
	if !second.alive() {
		t.Fatal("the second daemon stopped")
	}
}
