package main

// End-to-end tests with the real skupper-router (skrouterd): the skupper
// CLI and skupperd configure it, and bytes cross it. They skip where
// skrouterd is not installed (fail with SKUPPERD_REQUIRE_ROUTER=1, as in
// CI). The stand-in variants beside them (TestTokenLinkingEndToEnd,
// TestREADMEWalkthrough) cover the rest of each flow.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// realTrafficTimeout bounds a wait for bytes to cross real routers: their
// start, a restart for a configuration change and, across a link, the
// inter-router connection and the spread of the connector's address.
const realTrafficTimeout = 90 * time.Second

// killRecordedRouters kills routers still alive that the daemon recorded
// in the internal/router.pid files of e's namespaces (cleanup after a
// failed test, so that no router outlives it).
func killRecordedRouters(e *env) {
	home := namespaces.NewHome(e.home)
	entries, _ := os.ReadDir(home.NamespacesDir())
	for _, ent := range entries {
		ns := home.Namespace(ent.Name())
		data, err := os.ReadFile(filepath.Join(ns.InternalDir(), "router.pid"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(data))
		if len(f) != 2 || f[1] != ns.RouterConfigPath() {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid <= 1 {
			continue
		}
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(cmdline), f[1]) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// startRealRouterDaemon runs skupperd supervising the real router, with
// its grant server on a free loopback port (SKUPPER_GRANT_SERVER_ADDR)
// advertising 127.0.0.1.
func startRealRouterDaemon(t testing.TB, e *env, bin string) {
	t.Helper()
	t.Cleanup(func() { killRecordedRouters(e) }) // after the daemon's stop
	e.startDaemon("run", "--supervisor", "process", "--router-binary", bin)
}

// waitRealTraffic waits until msg comes back through 127.0.0.1:port and
// returns how long that took.
func waitRealTraffic(t *testing.T, port int, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	testwait.For(t, realTrafficTimeout, fmt.Sprintf("%q echoed through the listener on port %d", msg, port),
		realrouter.EchoCheck(port, msg))
	return time.Since(start)
}

// linkedPair runs one skupperd with the real router and two sites, west
// (link access; a listener) and east (a connector to an echo server),
// links east to west with link, and checks that TCP to west's listener
// reaches the echo server behind east's connector.
func linkedPair(t *testing.T, link func(e *env)) {
	bin := realrouter.Binary(t)
	e := newEnv(t)
	startRealRouterDaemon(t, e, bin)
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access")
	e.ok("-n", "east", "site", "create", "east")
	echo := realrouter.EchoServer(t)
	_, p, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	listen, err := strconv.Atoi(p)
	require.NoError(t, err)
	e.ok("-n", "west", "listener", "create", "backend", p, "--host", "127.0.0.1")
	e.ok("-n", "east", "connector", "create", "backend", strconv.Itoa(echo), "--host", "127.0.0.1")

	link(e)
	took := waitRealTraffic(t, listen, "west to east across the link")
	t.Logf("traffic from west's listener (port %d) reached east's echo server (port %d) %s after the link was made",
		listen, echo, took.Round(time.Millisecond))
	// Several connections, each echoed whole.
	for i := range 5 {
		msg := fmt.Sprintf("message %d %s", i, strings.Repeat("x", 1000*i))
		got, err := realrouter.Echo(listen, msg, 10*time.Second)
		require.NoError(t, err)
		require.Equal(t, msg, got)
	}
}

// TestRealRouterTokenLinkTraffic: with the real router, after `skupper
// token issue` on west and `skupper token redeem` on east, TCP to west's
// listener reaches the echo server behind east's connector across the
// mutual-TLS link.
func TestRealRouterTokenLinkTraffic(t *testing.T) {
	linkedPair(t, func(e *env) {
		tok := filepath.Join(t.TempDir(), "token.yaml")
		e.ok("-n", "west", "token", "issue", tok)
		r := e.ok("-n", "east", "token", "redeem", tok)
		require.Contains(t, r.stdout, "is configured.")
	})
}

// TestRealRouterStaticLinkTraffic: the same across a static link, `skupper
// link generate` on west piped to `skupper system apply -f -` on east.
func TestRealRouterStaticLinkTraffic(t *testing.T) {
	linkedPair(t, func(e *env) {
		gen := e.ok("-n", "west", "link", "generate")
		require.Contains(t, gen.stdout, "kind: Link")
		e.okIn(gen.stdout, "-n", "east", "system", "apply", "-f", "-")
	})
}

// echoOn runs an echo server on addr until the test ends; it reports
// false when addr cannot be bound.
func echoOn(t *testing.T, addr string) bool {
	_, err := realrouter.EchoOn(t, addr)
	return err == nil
}

// TestRealRouterREADMEWalkthrough runs the README's walkthrough verbatim
// with skupperd supervising the real router, an echo server on the
// connector's port: TCP to the walkthrough's listener reaches it.
func TestRealRouterREADMEWalkthrough(t *testing.T) {
	bin := realrouter.Binary(t)
	lines := walkthrough(t)
	listeners, connectors := walkthroughPorts(lines, "listener"), walkthroughPorts(lines, "connector")
	require.Len(t, listeners, 1, "the walkthrough's listener")
	require.Len(t, connectors, 1, "the walkthrough's connector")
	skipIfPortsTaken(t, listeners)
	// The server behind the connector (host localhost): loopback only.
	if !echoOn(t, net.JoinHostPort("127.0.0.1", connectors[0])) {
		t.Skipf("port %s is in use on this host", connectors[0])
	}
	echoOn(t, net.JoinHostPort("::1", connectors[0])) // where localhost is ::1 first; best effort
	e := newEnv(t)
	t.Cleanup(func() { killRecordedRouters(e) }) // after the daemon's stop
	start := time.Now()
	runWalkthrough(t, e, lines, bin)
	listen, err := strconv.Atoi(listeners[0])
	require.NoError(t, err)
	took := waitRealTraffic(t, listen, "hello through the walkthrough")
	t.Logf("traffic through the walkthrough's listener (port %d) reached the echo server on the connector's port %s %s after the walkthrough ended (%s after it began)",
		listen, connectors[0], took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	checkWalkthroughSettles(t, e)
}
