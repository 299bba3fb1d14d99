package daemon_test

// Router supervision with the real skupper-router (skrouterd): traffic
// crosses it. The stand-in tests (router_test.go) cover a router that
// misbehaves or is absent; these prove the configuration the daemon
// writes carries bytes. They skip where skrouterd is not installed
// (fail with SKUPPERD_REQUIRE_ROUTER=1, as in CI).

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/test/realrouter"
)

// trafficTimeout bounds a wait for bytes to cross a real router: its start
// (the listener binds once the connector's address is reachable) plus a
// restart's backoff.
const trafficTimeout = 60 * time.Second

// recordedRouter returns the pid in the namespace's internal/router.pid
// when that process is alive and runs the namespace's configuration.
func recordedRouter(h *testHome, ns string) (int, bool, string) {
	n := h.ns(ns)
	data, err := os.ReadFile(filepath.Join(n.InternalDir(), "router.pid"))
	if err != nil {
		return 0, false, err.Error()
	}
	f := strings.Fields(string(data))
	if len(f) != 2 || f[1] != n.RouterConfigPath() {
		return 0, false, fmt.Sprintf("router.pid holds %q", data)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 1 {
		return 0, false, fmt.Sprintf("router.pid holds %q", data)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !processAlive(pid) || !strings.Contains(string(cmdline), n.RouterConfigPath()) {
		return 0, false, fmt.Sprintf("pid %d of router.pid is not a live router of %s", pid, ns)
	}
	return pid, true, ""
}

// killRecordedRouters kills the routers recorded in the router.pid files
// of h's namespaces that are still alive (cleanup after a failed test;
// the real router keeps no stand-in state file).
func killRecordedRouters(h *testHome) {
	entries, _ := os.ReadDir(h.home.NamespacesDir())
	for _, e := range entries {
		if pid, ok, _ := recordedRouter(h, e.Name()); ok {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// waitTraffic waits until msg comes back through the listener port and
// returns how long that took.
func waitTraffic(t testing.TB, port int, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	eventuallyWithin(t, trafficTimeout, fmt.Sprintf("%q echoed through the router's listener on port %d", msg, port),
		realrouter.EchoCheck(port, msg))
	return time.Since(start)
}

// TestRealRouterSupervisedTraffic runs skupperd with the process
// supervisor and the real skrouterd: a Site with a Listener and a
// Connector (same routing key) to an echo server carries bytes through the
// listener; after kill -9 of the router the supervisor restarts it and
// bytes flow again.
func TestRealRouterSupervisedTraffic(t *testing.T) {
	bin := realrouter.Binary(t)
	binaries(t) // built before the clock starts
	h := newTestHome(t)
	t.Cleanup(func() { killRecordedRouters(h) }) // runs after the daemon is stopped
	echo := realrouter.EchoServer(t)
	listen := freePorts(t, 1)[0]
	h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", listen))
	h.put("west", "connector.yaml", connectorYAML("backend", "backend", echo))
	start := time.Now()
	d := startDaemon(t, h, daemonOpts{routerBinary: bin})
	d.waitReady()

	took := waitTraffic(t, listen, "hello through skrouterd")
	t.Logf("traffic flowed %s after skupperd started (%s after ready)", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
	var first int
	eventually(t, "the router's pid file", func() (bool, string) {
		pid, ok, why := recordedRouter(h, "west")
		first = pid
		return ok, why
	})
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", first)); strings.TrimSpace(string(comm)) != "skrouterd" {
		t.Fatalf("pid %d of router.pid is %q, not skrouterd", first, strings.TrimSpace(string(comm)))
	}

	// kill -9: the supervisor restarts it and traffic flows again.
	killed := time.Now()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var second int
	eventuallyWithin(t, trafficTimeout, "a new router after kill -9", func() (bool, string) {
		pid, ok, why := recordedRouter(h, "west")
		if ok && pid == first {
			return false, fmt.Sprintf("still pid %d", pid)
		}
		second = pid
		return ok, why
	})
	waitTraffic(t, listen, "hello again after kill -9")
	t.Logf("router %d killed; restarted as %d; traffic flowed again %s after the kill",
		first, second, time.Since(killed).Round(time.Millisecond))
	if n := len(d.logLines("router started", "west")); n != 2 {
		t.Fatalf("%d router starts, want 2 (first, after the kill)", n)
	}

	// A graceful stop of the daemon stops the router.
	d.stop()
	eventually(t, "the router to exit with the daemon", func() (bool, string) {
		return !processAlive(second), fmt.Sprintf("pid %d alive", second)
	})
}

// TestRealRouterInProcessTraffic is the same in-process: daemon.Run with a
// router.ProcessSupervisor whose Binary is the real skrouterd carries
// bytes from the Listener to the Connector's echo server, and when Run
// returns the router has stopped.
func TestRealRouterInProcessTraffic(t *testing.T) {
	bin := realrouter.Binary(t)
	h := newTestHome(t)
	t.Cleanup(func() { killRecordedRouters(h) })
	echo := realrouter.EchoServer(t)
	listen := freePorts(t, 1)[0]
	h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", listen))
	h.put("west", "connector.yaml", connectorYAML("backend", "backend", echo))
	log := testLogger(t)
	var d *daemon.Daemon
	sup := &router.ProcessSupervisor{Binary: bin, Logger: log, StopTimeout: 5 * time.Second,
		OnChange: func(ns string) { d.KickNamespace(ns) }}
	d = daemon.New(daemon.Config{Home: h.home, Supervisor: sup, Logger: log, Version: "test"})
	start := time.Now()
	stop := runDaemon(t, d)

	waitTraffic(t, listen, "hello through skrouterd, in-process")
	t.Logf("traffic flowed %s after Run started", time.Since(start).Round(time.Millisecond))
	var pid int
	eventually(t, "the router's pid file", func() (bool, string) {
		p, ok, why := recordedRouter(h, "west")
		pid = p
		return ok, why
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if processAlive(pid) {
		t.Fatalf("router %d still alive after Run returned", pid)
	}
}

// keepSite is how most real-router tests begin: namespace "west" with a
// Site, a Listener "keep" on a free port and a Connector "keep" to an echo
// server, run by an in-test skupperd with the real router, and traffic
// through keep flowing.
type keepSite struct {
	h    *testHome
	ns   namespaces.Namespace
	d    *daemonProc
	echo int // the echo server's port
}

// keepSiteOpts vary the start. keep is the keep Listener's port (zero: a
// free one); site replaces the Site's document (default siteYAML("west"));
// keepListener replaces the keep Listener's; files are put besides, in
// order (name, content).
type keepSiteOpts struct {
	keep         int
	site         string
	keepListener string
	files        [][2]string
}

func startKeepSite(t *testing.T, o keepSiteOpts) *keepSite {
	t.Helper()
	bin := realrouter.Binary(t)
	binaries(t)
	h := newTestHome(t)
	t.Cleanup(func() { killRecordedRouters(h) })
	echo := realrouter.EchoServer(t)
	if o.keep == 0 {
		o.keep = freePorts(t, 1)[0]
	}
	if o.site == "" {
		o.site = siteYAML("west")
	}
	if o.keepListener == "" {
		o.keepListener = listenerYAML("keep", "keep", o.keep)
	}
	h.addNamespace("west")
	ns := h.ns("west")
	h.put("west", "site.yaml", o.site)
	h.put("west", "listener-keep.yaml", o.keepListener)
	for _, f := range o.files {
		h.put("west", f[0], f[1])
	}
	h.put("west", "connector-keep.yaml", connectorYAML("keep", "keep", echo))
	d := startDaemon(t, h, daemonOpts{routerBinary: bin})
	d.waitReady()
	waitTraffic(t, o.keep, "hello")
	return &keepSite{h: h, ns: ns, d: d, echo: echo}
}
