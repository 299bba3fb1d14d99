package daemon_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/routerproc"
)

// hungTimeout bounds how long a Site takes to leave Running after its
// router stops answering: the observer's silence limit (6 s) and probe
// (3 s), the sweeper's period (2 s), a status refresh, and slack for a
// loaded CI machine. The test logs what it measured.
const hungTimeout = 40 * time.Second

// siteRunning reads the Site's Running condition and sitesInNetwork.
func siteRunning(h *testHome, ns string) (cond condition, sites int, err error) {
	st, err := readStatusFile(h.ns(ns), "Site", ns)
	if err != nil || st == nil {
		return condition{}, 0, fmt.Errorf("no Site status: %v", err)
	}
	c, _ := st.condition("Running")
	return c, st.Status.SitesInNetwork, nil
}

// TestRealRouterHungRouterIsNotRunning stops the real router of a site
// with SIGSTOP (every thread stopped): the Site leaves Running with a
// reason naming the router's pid, its observed network is no longer
// claimed, and the router is neither restarted nor killed. After SIGCONT
// the Site is Running again with its network observed.
func TestRealRouterHungRouterIsNotRunning(t *testing.T) {
	bin := realrouter.Binary(t)
	h := newTestHome(t)
	t.Cleanup(func() { killRecordedRouters(h) })
	h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	d := startDaemon(t, h, daemonOpts{routerBinary: bin})
	d.waitReady()
	eventuallyWithin(t, trafficTimeout, "the Site Running with its network observed", func() (bool, string) {
		c, sites, err := siteRunning(h, "west")
		if err != nil {
			return false, err.Error()
		}
		return c.Status == "True" && sites == 1, fmt.Sprintf("Running=%s (%s), sitesInNetwork=%d", c.Status, c.Message, sites)
	})
	var pid int
	eventually(t, "the router's pid file", func() (bool, string) {
		p, ok, why := recordedRouter(h, "west")
		pid = p
		return ok, why
	})

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = syscall.Kill(pid, syscall.SIGCONT) // so that it can be stopped
		}
	})
	routerproc.WaitThreads(t, pid, true)
	stopped := time.Now()
	var msg string
	eventuallyWithin(t, hungTimeout, "the Site to leave Running", func() (bool, string) {
		c, sites, err := siteRunning(h, "west")
		if err != nil {
			return false, err.Error()
		}
		msg = c.Message
		return c.Status == "False" && sites == 0, fmt.Sprintf("Running=%s (%s), sitesInNetwork=%d", c.Status, c.Message, sites)
	})
	t.Logf("Site left Running %s after every router thread stopped: %q", time.Since(stopped).Round(time.Millisecond), msg)
	if want := fmt.Sprintf("Router not answering (pid %d) since ", pid); !strings.HasPrefix(msg, want) {
		t.Fatalf("Running message %q does not start with %q", msg, want)
	}
	eventually(t, "the summary to report the router not answering", func() (bool, string) {
		s, err := h.ns("west").ReadSummary()
		if err != nil || s == nil {
			return false, fmt.Sprint("no summary: ", err)
		}
		return strings.HasPrefix(s.Router, "NotRunning: Router not answering"), s.Router
	})
	if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
		t.Fatalf("the stopped router was replaced or is gone: %s (pid %d, want %d)", why, p, pid)
	}
	if n := len(d.logLines("router started", "west")); n != 1 {
		t.Fatalf("%d router starts, want 1: a router that does not answer is reported, not restarted", n)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	routerproc.WaitThreads(t, pid, false)
	continued := time.Now()
	eventuallyWithin(t, hungTimeout, "the Site Running again with its network observed", func() (bool, string) {
		c, sites, err := siteRunning(h, "west")
		if err != nil {
			return false, err.Error()
		}
		return c.Status == "True" && sites == 1, fmt.Sprintf("Running=%s (%s), sitesInNetwork=%d", c.Status, c.Message, sites)
	})
	t.Logf("Site Running again %s after SIGCONT", time.Since(continued).Round(time.Millisecond))
	eventually(t, "the summary to report the router running", func() (bool, string) {
		s, err := h.ns("west").ReadSummary()
		if err != nil || s == nil {
			return false, fmt.Sprint("no summary: ", err)
		}
		return s.Router == "Running", s.Router
	})
	if n := len(d.logLines("router started", "west")); n != 1 {
		t.Fatalf("%d router starts, want 1", n)
	}
}
