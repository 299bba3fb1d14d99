package daemon_test

// Busy ports with the real skupper-router: a listener whose port another
// process holds reports Error naming the port on its own resource only,
// every other listener keeps working, and once the port frees skupperd
// retries it (DELETE + CREATE through management) and the status returns
// to Ready, with no user action and no router restart.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// portHeldStatus is a condition: the status of kind/name is Error, its
// Operational condition is False with reason PortInUse, and its message
// names port and another process.
func portHeldStatus(ns namespaces.Namespace, kind, name string, port int) func() (bool, string) {
	return func() (bool, string) {
		s, err := readStatusFile(ns, kind, name)
		if err != nil || s == nil {
			return false, fmt.Sprintf("no status: %v", err)
		}
		c, _ := s.condition(v2alpha1.ConditionOperational)
		ok := s.Status.Status == string(v2alpha1.StatusError) && c.Status == "False" && c.Reason == v2alpha1.ReasonPortInUse &&
			strings.Contains(s.Status.Message, "port "+strconv.Itoa(port)+" ") && strings.Contains(s.Status.Message, "another process")
		return ok, fmt.Sprintf("status %s: %s (Operational %+v)", s.Status.Status, s.Status.Message, c)
	}
}

// readyStatus is a condition: the status of kind/name is Ready.
func readyStatus(ns namespaces.Namespace, kind, name string) func() (bool, string) {
	return func() (bool, string) {
		s, err := readStatusFile(ns, kind, name)
		if err != nil || s == nil {
			return false, fmt.Sprintf("no status: %v", err)
		}
		return s.Status.Status == string(v2alpha1.StatusReady), fmt.Sprintf("status %s: %s", s.Status.Status, s.Status.Message)
	}
}

// grab listens on addr as soon as it can (the port's previous holder,
// a router killed with -9, is exiting), and closes it when the test ends.
func grab(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	testwait.For(t, 5*time.Second, "listening on "+addr, func() (bool, string) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false, err.Error()
		}
		ln = l
		return true, ""
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

// routerPID waits for the namespace's live router and returns its pid.
func routerPID(t *testing.T, h *testHome, ns string, not int) int {
	t.Helper()
	var pid int
	eventuallyWithin(t, trafficTimeout, "a live router", func() (bool, string) {
		p, ok, why := recordedRouter(h, ns)
		if ok && p == not {
			return false, fmt.Sprintf("still pid %d", p)
		}
		pid = p
		return ok, why
	})
	return pid
}

// TestRealRouterBusyListenerAdded: a Listener added (hot apply) on a port
// another process holds reports Error naming the port; the held
// connection through another listener keeps echoing; once the port is
// released, traffic flows through the listener and its status is Ready,
// without a change of input or a router restart.
func TestRealRouterBusyListenerAdded(t *testing.T) {
	keep := freePorts(t, 1)[0]
	s := startKeepSite(t, keepSiteOpts{keep: keep})
	h, ns, d := s.h, s.ns, s.d
	pid := routerPID(t, h, "west", 0)
	held := holdConn(t, keep)
	waitSkupperdConnected(t, routerMgmt(t, ns), "west")

	occupier, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := occupier.Addr().(*net.TCPAddr).Port
	h.put("west", "listener-busy.yaml", listenerYAML("busy", "keep", busy))
	testwait.For(t, convergeTimeout, "Listener busy reports its port held", portHeldStatus(ns, "Listener", "busy", busy))
	testwait.For(t, convergeTimeout, "Listener keep stays Ready", readyStatus(ns, "Listener", "keep"))
	held.check(t, "the busy listener was added")
	if ok, why := realrouter.EchoCheck(keep, "a new connection")(); !ok {
		t.Fatalf("a new connection through listener keep: %s", why)
	}

	occupier.Close()
	released := time.Now()
	testwait.For(t, trafficTimeout, "traffic through the retried listener", realrouter.EchoCheck(busy, "hello through the retried listener"))
	flowed := time.Since(released)
	testwait.For(t, convergeTimeout, "Listener busy Ready again", readyStatus(ns, "Listener", "busy"))
	t.Logf("port released: traffic through the listener after %s, status Ready after %s", flowed.Round(time.Millisecond), time.Since(released).Round(time.Millisecond))
	if len(d.logLines("retried a listener that could not listen (deleted and created again)", "west")) == 0 {
		t.Fatal("no retry logged")
	}
	if p := routerPID(t, h, "west", 0); p != pid {
		t.Fatalf("router pid %d, want %d unchanged", p, pid)
	}
	n := held.check(t, "the retry")
	t.Logf("held connection: %d echoes", n)
}

// TestRealRouterBusyListenerAfterRestart: the router is killed (-9) and
// another process takes a listener's port before the supervisor restarts
// it: the restarted router runs, only that Listener reports Error naming
// the port, another listener carries traffic, and once the port is
// released the listener comes up and is Ready again.
func TestRealRouterBusyListenerAfterRestart(t *testing.T) {
	ports := freePorts(t, 2)
	keep, late := ports[0], ports[1]
	s := startKeepSite(t, keepSiteOpts{keep: keep, files: [][2]string{{"listener-late.yaml", listenerYAML("late", "keep", late)}}})
	h, ns, d := s.h, s.ns, s.d
	waitTraffic(t, late, "hello")
	pid := routerPID(t, h, "west", 0)

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	occupier := grab(t, "127.0.0.1:"+strconv.Itoa(late))
	pid = routerPID(t, h, "west", pid)
	waitTraffic(t, keep, "hello after the restart")
	testwait.For(t, convergeTimeout, "Listener late reports its port held", portHeldStatus(ns, "Listener", "late", late))
	testwait.For(t, convergeTimeout, "Listener keep stays Ready", readyStatus(ns, "Listener", "keep"))
	held := holdConn(t, keep)

	occupier.Close()
	released := time.Now()
	testwait.For(t, trafficTimeout, "traffic through the retried listener", realrouter.EchoCheck(late, "hello through the retried listener"))
	flowed := time.Since(released)
	testwait.For(t, convergeTimeout, "Listener late Ready again", readyStatus(ns, "Listener", "late"))
	t.Logf("port released: traffic after %s, status Ready after %s", flowed.Round(time.Millisecond), time.Since(released).Round(time.Millisecond))
	if p := routerPID(t, h, "west", 0); p != pid {
		t.Fatalf("router pid %d, want %d unchanged since the restart", p, pid)
	}
	if n := len(d.logLines("router started", "west")); n != 2 {
		t.Fatalf("%d router starts, want 2 (first, after the kill)", n)
	}
	held.check(t, "the retry")
}

// TestRealRouterLinkAccessPortHeld: another process takes the site's
// inter-router (link access) port while the router restarts. The router
// keeps running (it does not crash-loop: only a normal-role listener is
// required at startup), the RouterAccess reports Error naming the port,
// the Site says so, a Listener keeps carrying traffic, and once the port
// is released the router listens on it again without a restart.
func TestRealRouterLinkAccessPortHeld(t *testing.T) {
	keep := freePorts(t, 1)[0]
	s := startKeepSite(t, keepSiteOpts{keep: keep, site: siteYAML("west") + "spec:\n  linkAccess: default\n"})
	h, ns, d := s.h, s.ns, s.d
	es, err := routerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	ir, ok := findEntity(es, "listener", render.RouterAccessEntityName("west", "inter-router"))
	if !ok {
		t.Fatal("no inter-router listener in the router configuration")
	}
	port, _ := strconv.Atoi(ir.attr("port"))
	pid := routerPID(t, h, "west", 0)
	owns := func(pid int) func() (bool, string) {
		return func() (bool, string) {
			ours, others, err := router.PortHolders(pid, port)
			return err == nil && ours > 0 && others == 0, fmt.Sprintf("port %d: %d sockets of the router, %d of others (%v)", port, ours, others, err)
		}
	}
	testwait.For(t, convergeTimeout, "the router listens on its inter-router port", owns(pid))
	testwait.For(t, convergeTimeout, "RouterAccess west Ready", readyStatus(ns, "RouterAccess", "west"))

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	occupier := grab(t, ":"+strconv.Itoa(port))
	pid = routerPID(t, h, "west", pid)
	waitTraffic(t, keep, "hello after the restart")
	testwait.For(t, convergeTimeout, "RouterAccess west reports its port held", portHeldStatus(ns, "RouterAccess", "west", port))
	testwait.For(t, convergeTimeout, "the Site names the port", func() (bool, string) {
		s, err := readStatusFile(ns, "Site", "west")
		if err != nil || s == nil {
			return false, fmt.Sprintf("no status: %v", err)
		}
		c, _ := s.condition(v2alpha1.ConditionOperational)
		return s.Status.Status != string(v2alpha1.StatusReady) && c.Reason == v2alpha1.ReasonPortInUse && strings.Contains(c.Message, strconv.Itoa(port)),
			fmt.Sprintf("status %s: %s (Operational %+v)", s.Status.Status, s.Status.Message, c)
	})
	testwait.For(t, convergeTimeout, "Listener keep stays Ready", readyStatus(ns, "Listener", "keep"))
	if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
		t.Fatalf("router pid %d (%v, %s), want %d: the router must not restart while the port is held", p, ok, why, pid)
	}

	occupier.Close()
	released := time.Now()
	testwait.For(t, convergeTimeout, "the router listens on its inter-router port again", owns(pid))
	testwait.For(t, convergeTimeout, "RouterAccess west Ready again", readyStatus(ns, "RouterAccess", "west"))
	testwait.For(t, convergeTimeout, "Site west Ready again", readyStatus(ns, "Site", "west"))
	t.Logf("port released: the router listens on it again and the status is Ready %s later", time.Since(released).Round(time.Millisecond))
	if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
		t.Fatalf("router pid %d (%v, %s), want %d unchanged", p, ok, why, pid)
	}
	if n := len(d.logLines("router started", "west")); n != 2 {
		t.Fatalf("%d router starts, want 2 (first, after the kill)", n)
	}
}
