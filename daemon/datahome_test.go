package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/test/testwait"
	"go.uber.org/goleak"
)

// TestRecreatedDataHomeOneDaemonOneRouter: the data home is deleted and
// created again under a running daemon (restored from a copy: same
// input, site id, ports and credentials), and a second daemon is started
// on it. The second refuses at once, naming the first; the first locks
// the new data home and goes on managing it. Sampled every few
// milliseconds from the moment the first router was up, namespace west
// has exactly one router, the same process, throughout.
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
	var router standinState
	testwait.For(t, 20*time.Second, "the first daemon's router", func() (bool, string) {
		r, ok, why := oneRouter(h, "west")
		router = r
		return ok, why
	})

	s := sampleRouters(h, "west")
	root := h.home.Root
	// Deleted: moved away at once (the daemon writes on meanwhile), to
	// be removed at the end.
	if err := os.Rename(root, root+".deleted"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root + ".deleted") })
	// Created again from a copy, staged aside, then moved into place (the
	// first daemon may write into the path meanwhile: such debris is
	// removed and the move retried).
	// The copy holds no pid file: the daemon writes it again.
	copyTree(t, root+".deleted", root+".new", func(rel string) bool {
		return rel == "skupperd.lock" || strings.HasPrefix(rel, "skupperd.log") || filepath.Base(rel) == "router.pid"
	})
	testwait.For(t, 10*time.Second, "the new data home in place", func() (bool, string) {
		err := os.Rename(root+".new", root)
		if err != nil {
			_ = os.RemoveAll(root)
		}
		return err == nil, fmt.Sprint(err)
	})
	replaced := time.Now()

	second := startDaemon(t, h, daemonOpts{})
	testwait.For(t, 30*time.Second, "the second daemon to refuse", func() (bool, string) {
		return !second.alive(), "still running"
	})
	refusal := fmt.Sprintf("another skupperd (pid %d) manages data home %s", first.pid(), root)
	out, _ := os.ReadFile(second.logPath)
	if !strings.Contains(string(out), refusal) {
		t.Fatalf("the second daemon's output lacks %q:\n%s", refusal, out)
	}
	if code := second.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("the second daemon exited %d, want 1", code)
	}
	const relocked = "the data home was replaced: this daemon locked the new one and manages it"
	testwait.For(t, 30*time.Second, "the first daemon to lock the new data home", func() (bool, string) {
		return len(first.logLines(relocked, "")) > 0, "not logged"
	})
	took := time.Since(replaced)
	// Reconciled from the new data home: a summary newer than the move.
	testwait.For(t, 30*time.Second, "west reconciled in the new data home", func() (bool, string) {
		sum, err := readSummary(h.ns("west"))
		if err != nil || sum == nil {
			return false, fmt.Sprint(err)
		}
		at, err := time.Parse(time.RFC3339Nano, sum.LastReconcile)
		return err == nil && at.After(replaced), "last reconcile " + sum.LastReconcile
	})
	testwait.For(t, 30*time.Second, "the router recorded in the new data home", func() (bool, string) {
		pid, ok, why := recordedRouter(h, "west")
		return ok && pid == router.PID, fmt.Sprintf("pid %d: %s", pid, why)
	})
	reconcile := exec.Command(skupperdBin, "reconcile", "--data-home", root, "-n", "west")
	reconcile.Env = childEnv(h)
	rout, err := reconcile.CombinedOutput()
	if err == nil || !strings.Contains(string(rout), refusal) {
		t.Fatalf("skupperd reconcile while the first daemon runs: %v, %s; want a refusal naming it", err, rout)
	}
	if running, pid := h.home.DaemonRunning(); !running || pid != first.pid() {
		t.Fatalf("DaemonRunning: %v, pid %d; want the first daemon (pid %d)", running, pid, first.pid())
	}
	// Sample on for a while with the first daemon managing the new data
	// home alone.
	n := s.count()
	testwait.Until(t, 10*time.Second, "more samples", func() bool { return s.count() > n+200 })
	least, most, pids, samples := s.stop()
	t.Logf("%d samples: %d to %d routers at once, router pids %v; the second daemon refused; the first locked the new data home %v after it was moved into place",
		samples, least, most, pids, took.Round(time.Millisecond))
	if least != 1 || most != 1 {
		t.Fatalf("namespace west had %d to %d routers at once, want exactly 1 throughout", least, most)
	}
	if len(pids) != 1 || pids[0] != router.PID {
		t.Fatalf("router pids %v, want %d throughout", pids, router.PID)
	}
	if !first.alive() {
		t.Fatal("the first daemon stopped")
	}
	// The first daemon watches the new data home: a change is applied.
	port := freePorts(t, 1)[0]
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", port))
	waitListener(t, h.ns("west"), "backend", port)
}

// routerSampler counts a namespace's live routers every few milliseconds.
type routerSampler struct {
	mu          sync.Mutex
	least, most int
	n           int
	pids        map[int]bool
	done        chan struct{}
	stopped     chan struct{}
}

func sampleRouters(h *testHome, ns string) *routerSampler {
	s := &routerSampler{least: 1 << 30, pids: map[int]bool{}, done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		for {
			select {
			case <-s.done:
				return
			default:
			}
			got := routerStates(h)[ns]
			s.mu.Lock()
			s.least, s.most = min(s.least, len(got)), max(s.most, len(got))
			for _, r := range got {
				s.pids[r.PID] = true
			}
			s.n++
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond) // the sampling period
		}
	}()
	h.t.Cleanup(func() { s.stop() })
	return s
}

func (s *routerSampler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// stop ends the sampling and returns the fewest and most routers seen at
// once, the router pids seen and the number of samples.
func (s *routerSampler) stop() (least, most int, pids []int, samples int) {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.pids {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	return s.least, s.most, pids, s.n
}

// copyTree copies the directories and regular files under src to dst,
// keeping modes, except those whose path relative to src skip names.
func copyTree(t *testing.T, src, dst string, skip func(rel string) bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel != "." && skip(rel) {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case e.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestInProcessReplacedDataHomeIsManaged: the data home is deleted and
// created again (with another namespace) under a running daemon. The
// daemon locks the new one and manages it: the new namespace is
// reconciled, a change to it is seen (its directories are watched), the
// old namespace's worker is gone, and nobody else can take the lock.
func TestInProcessReplacedDataHomeIsManaged(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := newTestHome(t)
	west := h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	lock, err := h.home.TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	d := daemon.New(daemon.Config{Home: h.home, Logger: testLogger(t), Lock: lock, LockCheckInterval: 10 * time.Millisecond,
		Ports: ports.New(h.home, ports.WithProbe(func(string, int) bool { return true }))})
	stop := runDaemon(t, d)
	eventually(t, "west's site status", func() (bool, string) {
		st, err := readStatusFile(west, "Site", "west")
		return st != nil, fmt.Sprint(err)
	})

	if err := os.RemoveAll(h.home.Root); err != nil {
		t.Fatal(err)
	}
	east := h.addNamespace("east")
	h.put("east", "site.yaml", siteYAML("east"))
	eventually(t, "east's site status in the new data home", func() (bool, string) {
		st, err := readStatusFile(east, "Site", "east")
		return st != nil, fmt.Sprint(err)
	})
	if err := lock.Check(); err != nil {
		t.Fatalf("the daemon's lock does not guard the new data home: %v", err)
	}
	if _, err := h.home.TakeLock(); !errors.Is(err, namespaces.ErrAlreadyRunning) {
		t.Fatalf("lock of the new data home: %v, want ErrAlreadyRunning", err)
	}
	h.put("east", "listener.yaml", listenerYAML("backend", "backend", 18080))
	waitListener(t, east, "backend", 18080)
	if _, err := os.Stat(west.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old namespace came back: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestInProcessLostLockStopsTheDaemon: when the data home was replaced
// and another process holds the new one's lock file (one that does not
// see the path lock), the daemon stops.
func TestInProcessLostLockStopsTheDaemon(t *testing.T) {
	h := newTestHome(t)
	h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	lock, err := h.home.TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	d := daemon.New(daemon.Config{Home: h.home, Logger: testLogger(t), Lock: lock, LockCheckInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	eventually(t, "the first reconcile", func() (bool, string) { return d.Passes() > 0, "" })
	if err := os.RemoveAll(h.home.Root); err != nil {
		t.Fatal(err)
	}
	if err := h.home.Ensure(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(h.home.LockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, namespaces.ErrLockLost) || !errors.Is(err, namespaces.ErrAlreadyRunning) {
			t.Fatalf("Run returned %v, want ErrLockLost and ErrAlreadyRunning", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon kept running on a data home another process locked")
	}
}
