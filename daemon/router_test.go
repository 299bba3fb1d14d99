package daemon_test

// Router supervision with the stand-in skrouterd, through the real binary.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/namespaces"
)

// waitRouter waits for exactly one live router of ns, running the
// namespace's current config, listening on every tcpListener of that
// config, with the Site reporting Running True; pid != notPID.
func waitRouter(t *testing.T, h *testHome, ns string, notPID int) standinState {
	t.Helper()
	n := h.ns(ns)
	var got standinState
	eventually(t, fmt.Sprintf("one running router for %s (not pid %d)", ns, notPID), func() (bool, string) {
		r, ok, why := oneRouter(h, ns)
		if !ok {
			return false, why
		}
		if r.PID == notPID {
			return false, fmt.Sprintf("still pid %d", r.PID)
		}
		cfg, err := routerConfig(n)
		if err != nil {
			return false, err.Error()
		}
		for _, e := range cfg {
			if e.Type != "tcpListener" {
				continue
			}
			addr := e.attr("host") + ":" + e.attr("port")
			if !slices.Contains(r.Listening, addr) {
				return false, fmt.Sprintf("router %d listens on %v, not on %s", r.PID, r.Listening, addr)
			}
		}
		st, err := readStatusFile(n, "Site", ns)
		if err != nil || st == nil {
			return false, fmt.Sprint("site status: ", err)
		}
		if c, _ := st.condition("Running"); c.Status != "True" {
			return false, fmt.Sprintf("site Running condition %+v", c)
		}
		got = r
		return true, ""
	})
	return got
}

// lastReconcile returns the summary's reconcile time stamp.
func lastReconcile(t *testing.T, ns namespaces.Namespace) string {
	t.Helper()
	s, err := readSummary(ns)
	if err != nil {
		t.Fatal(err)
	}
	return s.LastReconcile
}

// waitReconciledAfter waits until the namespace was reconciled after the
// summary said stamp.
func waitReconciledAfter(t *testing.T, ns namespaces.Namespace, stamp string) {
	t.Helper()
	eventually(t, "a reconcile", func() (bool, string) {
		s, err := readSummary(ns)
		return err == nil && s.LastReconcile != stamp, fmt.Sprint("summary: ", err)
	})
}

func TestRouterSupervision(t *testing.T) {
	h := newTestHome(t)
	west := h.addNamespace("west")
	p := freePorts(t, 3)
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[0]))
	h.put("west", "connector.yaml", connectorYAML("backend", "backend", p[1]))
	d := startDaemon(t, h, daemonOpts{})
	d.waitReady()

	// Started: a state file appears and the Site says Running.
	r1 := waitRouter(t, h, "west", 0)
	if !dialOK(fmt.Sprintf("127.0.0.1:%d", p[0])) {
		t.Fatalf("listener port %d is not bound", p[0])
	}

	// Killed: restarted with a new pid.
	if err := syscall.Kill(r1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r2 := waitRouter(t, h, "west", r1.PID)

	// Config change (a Listener added): restarted, listening on the new port.
	h.put("west", "listener2.yaml", listenerYAML("second", "second", p[2]))
	r3 := waitRouter(t, h, "west", r2.PID)
	if !slices.Contains(r3.Listening, fmt.Sprintf("127.0.0.1:%d", p[2])) {
		t.Fatalf("restarted router listens on %v, not on the new port %d", r3.Listening, p[2])
	}
	starts := len(d.logLines("router started", "west"))

	// No restart for: an unrelated file, ...
	stamp := lastReconcile(t, west)
	if err := os.WriteFile(filepath.Join(west.InputResourcesDir(), "notes.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitReconciledAfter(t, west, stamp)
	// ... a file re-saved with identical content, ...
	stamp = lastReconcile(t, west)
	data, err := os.ReadFile(filepath.Join(west.InputResourcesDir(), "listener.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h.put("west", "listener.yaml", string(data))
	waitReconciledAfter(t, west, stamp)
	// ... SIGHUP (a full pass), ...
	stamp = lastReconcile(t, west)
	reloads := len(d.logLines("reload requested: full pass", ""))
	d.signal(syscall.SIGHUP)
	eventually(t, "SIGHUP handled", func() (bool, string) {
		return len(d.logLines("reload requested: full pass", "")) > reloads, "no reload log line"
	})
	waitReconciledAfter(t, west, stamp)
	// ... and a touch (mtime only). A last reconcile proves the previous
	// ones' router decisions were taken (a worker is sequential).
	stamp = lastReconcile(t, west)
	now := time.Now()
	if err := os.Chtimes(filepath.Join(west.InputResourcesDir(), "connector.yaml"), now, now); err != nil {
		t.Fatal(err)
	}
	waitReconciledAfter(t, west, stamp)
	if r, ok, why := oneRouter(h, "west"); !ok || r.PID != r3.PID {
		t.Fatalf("router restarted without a config change: %s (pid %d, was %d)", why, r.PID, r3.PID)
	}
	if n := len(d.logLines("router started", "west")); n != starts {
		t.Fatalf("%d router starts after no-op changes, want %d", n, starts)
	}

	// A reload request (what `skupper system reload` writes) restarts it
	// and is acknowledged.
	id, err := west.RequestReload()
	if err != nil {
		t.Fatal(err)
	}
	r4 := waitRouter(t, h, "west", r3.PID)
	eventually(t, "the reload acknowledged", func() (bool, string) {
		done, err := os.ReadFile(west.ReloadDonePath())
		return err == nil && strings.TrimSpace(string(done)) == id, fmt.Sprintf("%q, %v", done, err)
	})
	// Exactly four starts: first, after the kill, after the change, for
	// the reload request. (Counted before the namespace is removed: a
	// reconcile that overlaps rm -rf can still restart the router once,
	// see TestDaemonRemoveBusyNamespace.)
	if n := len(d.logLines("router started", "west")); n != 4 {
		t.Fatalf("%d router starts, want 4", n)
	}

	// The namespace goes: its router stops.
	h.removeNamespace("west")
	eventually(t, "the router to exit", func() (bool, string) {
		return !processAlive(r4.PID), fmt.Sprintf("pid %d alive", r4.PID)
	})
	eventually(t, "the worker to end", func() (bool, string) {
		return len(d.logLines("namespace removed", "west")) == 1, "no 'namespace removed' log line"
	})
	eventually(t, "no router for the namespace", func() (bool, string) {
		got := routerStates(h)["west"]
		return len(got) == 0, fmt.Sprint(got)
	})
}

func TestRouterNotInstalled(t *testing.T) {
	h := newTestHome(t)
	west := h.addNamespace("west")
	p := freePorts(t, 2)
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[0]))
	d := startDaemon(t, h, daemonOpts{routerBinary: "/nonexistent/skrouterd"})
	d.waitReady()
	eventually(t, "Site Running False: not installed", func() (bool, string) {
		st, err := readStatusFile(west, "Site", "west")
		if err != nil || st == nil {
			return false, fmt.Sprint(err)
		}
		c, _ := st.condition("Running")
		return c.Status == "False" && strings.Contains(c.Message, "not installed"), fmt.Sprintf("%+v", c)
	})
	// Config and status still work, including changes.
	waitListener(t, west, "backend", p[0])
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[1]))
	waitListener(t, west, "backend", p[1])
	s, err := readSummary(west)
	if err != nil {
		t.Fatal(err)
	}
	if s.Outcome != "Applied" || !strings.Contains(s.Router, "not installed") {
		t.Fatalf("summary %+v", s)
	}
	if got := routerStates(h); len(got) != 0 {
		t.Fatalf("routers running: %v", got)
	}
	if !d.alive() {
		t.Fatal("daemon exited")
	}
}

// TestRouterAfterDaemonKill checks that after kill -9 of the daemon no
// router keeps the namespace's ports unmanaged: the routers die with the
// daemon (Pdeathsig), a router left behind (recorded in internal/router.pid)
// is replaced, and a restarted daemon runs exactly one router per
// namespace.
func TestRouterAfterDaemonKill(t *testing.T) {
	binaries(t)
	h := newTestHome(t)
	p := freePorts(t, 2)
	for i, ns := range []string{"east", "west"} {
		h.addNamespace(ns)
		h.put(ns, "site.yaml", siteYAML(ns))
		h.put(ns, "listener.yaml", listenerYAML("backend", "backend", p[i]))
	}
	d := startDaemon(t, h, daemonOpts{})
	d.waitReady()
	old := map[string]standinState{"east": waitRouter(t, h, "east", 0), "west": waitRouter(t, h, "west", 0)}

	// kill -9: the routers get SIGTERM from the kernel and exit.
	d.kill()
	for ns, r := range old {
		eventually(t, ns+"'s router to exit after the daemon was killed", func() (bool, string) {
			return !processAlive(r.PID), fmt.Sprintf("pid %d alive", r.PID)
		})
	}
	// Restarted: one router per namespace, bound to its ports.
	d = startDaemon(t, h, daemonOpts{})
	d.waitReady()
	for ns, r := range old {
		got := waitRouter(t, h, ns, r.PID)
		old[ns] = got
	}

	// kill -9 and restart at once, without waiting for the old routers.
	d.kill()
	d = startDaemon(t, h, daemonOpts{})
	d.waitReady()
	for ns, r := range old {
		waitRouter(t, h, ns, r.PID)
		if processAlive(r.PID) {
			t.Fatalf("%s: old router %d still alive", ns, r.PID)
		}
	}
	d.stop()
	if got := routerStates(h); len(got) != 0 {
		t.Fatalf("routers left after a graceful stop: %v", got)
	}

	// A router left behind (as if it had not received or had ignored its
	// SIGTERM), recorded in router.pid: the next daemon replaces it.
	west := h.ns("west")
	orphan := exec.Command(skrouterdBin, "-c", west.RouterConfigPath())
	orphan.Env = childEnv(h)
	orphan.Dir = west.RouterDir()
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	orphanDone := make(chan struct{})
	go func() { _ = orphan.Wait(); close(orphanDone) }()
	t.Cleanup(func() { _ = orphan.Process.Kill(); <-orphanDone })
	eventually(t, "the orphan to be up", func() (bool, string) {
		r, ok, why := oneRouter(h, "west")
		return ok && r.PID == orphan.Process.Pid, why
	})
	pidFile := filepath.Join(west.InternalDir(), "router.pid")
	if err := os.WriteFile(pidFile, fmt.Appendf(nil, "%d %s\n", orphan.Process.Pid, west.RouterConfigPath()), 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, h, daemonOpts{})
	d.waitReady()
	eventually(t, "the orphan to be replaced", func() (bool, string) {
		select {
		case <-orphanDone:
			return true, ""
		default:
			return false, fmt.Sprintf("orphan %d still running", orphan.Process.Pid)
		}
	})
	r := waitRouter(t, h, "west", orphan.Process.Pid)
	waitRouter(t, h, "east", 0)
	if !dialOK(fmt.Sprintf("127.0.0.1:%d", p[1])) {
		t.Fatalf("west's listener port is not bound")
	}
	if len(d.logLines("replacing a router left behind by a previous daemon", "west")) != 1 {
		t.Fatalf("no log of the replacement")
	}
	if data, err := os.ReadFile(pidFile); err != nil || !strings.HasPrefix(string(data), fmt.Sprintf("%d ", r.PID)) {
		t.Fatalf("router.pid %q (%v), want pid %d", data, err, r.PID)
	}
}
