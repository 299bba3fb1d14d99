package daemon_test

// Hot apply with the real skupper-router: Listener and Connector changes
// reach the running router through management. The router keeps its
// process (router.pid unchanged), its entities equal the rendered
// configuration, and a connection held open through an untouched listener
// keeps echoing through every change.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router/amqpconn"
	"github.com/skupperd/skupperd/router/hotapply"
	"github.com/skupperd/skupperd/router/mgmt"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// heldConn is a TCP connection through the router kept open for the whole
// test; a pinger checks it echoes every 100 ms and counts failures.
type heldConn struct {
	mu     sync.Mutex
	c      net.Conn
	r      *bufio.Reader
	pings  int
	failed error
	stop   chan struct{}
	done   chan struct{}
}

func holdConn(t testing.TB, port int) *heldConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := &heldConn{c: c, r: bufio.NewReader(c), stop: make(chan struct{}), done: make(chan struct{})}
	if err := h.ping(); err != nil {
		t.Fatalf("held connection: %v", err)
	}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			if err := h.ping(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { h.close() })
	return h
}

func (h *heldConn) ping() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return h.failed
	}
	msg := fmt.Sprintf("ping %d", h.pings)
	_ = h.c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := fmt.Fprintf(h.c, "%s\n", msg)
	var line string
	if err == nil {
		line, err = h.r.ReadString('\n')
	}
	if err == nil && strings.TrimSuffix(line, "\n") != msg {
		err = fmt.Errorf("echoed %q, want %q", line, msg)
	}
	if err != nil {
		h.failed = fmt.Errorf("held connection failed after %d echoes: %w", h.pings, err)
		return h.failed
	}
	h.pings++
	return nil
}

// check fails the test unless the held connection still echoes.
func (h *heldConn) check(t testing.TB, after string) int {
	t.Helper()
	if err := h.ping(); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pings
}

func (h *heldConn) close() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	_ = h.c.Close()
}

// routerMgmt is a management client to the namespace's router on its
// local listener, with skupperd's client credentials.
func routerMgmt(t testing.TB, ns namespaces.Namespace) *mgmt.Client {
	t.Helper()
	es, err := routerConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	local, ok := findEntity(es, "listener", render.LocalListenerName)
	if !ok {
		t.Fatal("no local listener in the router configuration")
	}
	port, _ := strconv.Atoi(local.attr("port"))
	cfg, err := amqpconn.LocalConfig(port, ns.RuntimeCertDir(render.LocalClientCreds))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ContainerID = "hotapply-test"
	conn := amqpconn.New(cfg)
	c := mgmt.New(conn, mgmt.Options{Timeout: 5 * time.Second})
	t.Cleanup(func() { _ = c.Close(); _ = conn.Close() })
	return c
}

// routerMatchesConfig is a condition: the router's entities (queried
// through management) equal those of the rendered skrouterd.json.
func routerMatchesConfig(c *mgmt.Client, ns namespaces.Namespace) func() (bool, string) {
	return func() (bool, string) {
		data, err := os.ReadFile(ns.RouterConfigPath())
		if err != nil {
			return false, err.Error()
		}
		want, err := hotapply.ParseConfig(data)
		if err != nil {
			return false, err.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		running, err := hotapply.Running(ctx, c)
		if err != nil {
			return false, err.Error()
		}
		if p := hotapply.Compute(running, want, want, hotapply.Options{}); len(p.Ops) > 0 {
			return false, fmt.Sprintf("router differs from the configuration: %v", p.Ops)
		}
		return true, ""
	}
}

// waitSkupperdConnected waits until skupperd's observer is connected to
// the router of ns, so that a step's hot apply does not start with a
// dial (which it would wait for only briefly before restarting).
func waitSkupperdConnected(t testing.TB, mc *mgmt.Client, ns string) {
	t.Helper()
	testwait.For(t, convergeTimeout, "skupperd connected to the router", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rows, err := mc.Query(ctx, "connection", "container")
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			if r["container"] == "skupperd-"+ns {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no connection from skupperd-%s among %v", ns, rows)
	})
}

// hotApplied is the daemon's log message for a hot apply.
const hotApplied = "router configuration applied without a restart"

func TestRealRouterHotApply(t *testing.T) {
	ports := freePorts(t, 8)
	keep, la, la2 := ports[0], ports[1], ports[2]
	burst := ports[3:6]
	after := ports[6]
	s := startKeepSite(t, keepSiteOpts{keep: keep})
	h, ns, d, echo := s.h, s.ns, s.d, s.echo
	var pid int
	eventually(t, "the router's pid file", func() (bool, string) {
		p, ok, why := recordedRouter(h, "west")
		pid = p
		return ok, why
	})
	held := holdConn(t, keep)
	mc := routerMgmt(t, ns)
	waitSkupperdConnected(t, mc, "west")

	// step writes (or removes) input, then waits for the router to equal
	// the configuration and for traffic through port (0: none), and checks
	// the router kept its process and the held connection echoes.
	step := func(what string, change func(), port int) time.Duration {
		t.Helper()
		before, _ := os.ReadFile(ns.RouterConfigPath())
		appliedBefore := len(d.logLines(hotApplied, "west"))
		start := time.Now()
		change()
		testwait.For(t, convergeTimeout, what+": the configuration rendered", func() (bool, string) {
			now, err := os.ReadFile(ns.RouterConfigPath())
			return err == nil && string(now) != string(before), "skrouterd.json unchanged"
		})
		testwait.For(t, convergeTimeout, what+": the router equals the configuration", routerMatchesConfig(mc, ns))
		matched := time.Since(start)
		var took time.Duration
		if port != 0 {
			testwait.For(t, trafficTimeout, what+": traffic through port "+strconv.Itoa(port),
				realrouter.EchoCheck(port, "hello after "+what))
			took = time.Since(start)
		}
		// The router can equal the configuration before skupperd's
		// read-back ends and it logs the hot apply.
		testwait.For(t, convergeTimeout, what+": the hot apply logged", func() (bool, string) {
			n := len(d.logLines(hotApplied, "west"))
			return n > appliedBefore, fmt.Sprintf("%d hot applies logged, as before the change", n)
		})
		if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
			t.Fatalf("after %s: router pid %d (ok=%v, %s), want %d unchanged", what, p, ok, why, pid)
		}
		n := held.check(t, what)
		t.Logf("%s: router equal to the configuration %s after the write, traffic through the new port %s after it; router pid %d unchanged; held connection %d echoes",
			what, matched.Round(time.Millisecond), took.Round(time.Millisecond), pid, n)
		return took
	}
	closed := func(port int) func() (bool, string) {
		return func() (bool, string) {
			if dialOK(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) {
				return false, fmt.Sprintf("port %d still accepts", port)
			}
			return true, ""
		}
	}

	step("connector a added", func() { h.put("west", "connector-a.yaml", connectorYAML("a", "a", echo)) }, 0)
	step("listener a added", func() { h.put("west", "listener-a.yaml", listenerYAML("a", "a", la)) }, la)
	step("listener a port changed", func() { h.put("west", "listener-a.yaml", listenerYAML("a", "a", la2)) }, la2)
	testwait.For(t, convergeTimeout, "the old port of listener a closed", closed(la))
	step("connector a routing key changed", func() { h.put("west", "connector-a.yaml", connectorYAML("a", "b", echo)) }, 0)
	step("listener a routing key changed", func() { h.put("west", "listener-a.yaml", listenerYAML("a", "b", la2)) }, la2)
	step("listener a removed", func() { h.remove("west", "listener-a.yaml") }, 0)
	testwait.For(t, convergeTimeout, "the port of the removed listener closed", closed(la2))
	step("connector a removed", func() { h.remove("west", "connector-a.yaml") }, 0)
	step("burst of three listeners and connectors", func() {
		for i, p := range burst {
			n := fmt.Sprintf("burst%d", i)
			h.put("west", "connector-"+n+".yaml", connectorYAML(n, n, echo))
			h.put("west", "listener-"+n+".yaml", listenerYAML(n, n, p))
		}
	}, burst[2])
	for _, p := range burst {
		waitTraffic(t, p, "burst")
	}
	step("burst removed", func() {
		for i := range burst {
			n := fmt.Sprintf("burst%d", i)
			h.remove("west", "connector-"+n+".yaml")
			h.remove("west", "listener-"+n+".yaml")
		}
	}, 0)
	if n := len(d.logLines("router started", "west")); n != 1 {
		t.Fatalf("%d router starts during hot apply, want 1", n)
	}
	applied := len(d.logLines(hotApplied, "west"))
	if applied < 8 {
		t.Fatalf("%d hot applies logged, want at least 8", applied)
	}

	// kill -9: the supervisor restarts the router with the full current
	// configuration, and hot apply resumes against the new process.
	held.close()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first := pid
	eventuallyWithin(t, trafficTimeout, "a new router after kill -9", func() (bool, string) {
		p, ok, why := recordedRouter(h, "west")
		if ok && p == first {
			return false, fmt.Sprintf("still pid %d", p)
		}
		pid = p
		return ok, why
	})
	waitTraffic(t, keep, "hello after kill -9")
	testwait.For(t, convergeTimeout, "the restarted router equals the configuration", routerMatchesConfig(mc, ns))
	waitSkupperdConnected(t, mc, "west")
	held = holdConn(t, keep)
	step("listener added after the kill", func() {
		h.put("west", "connector-c.yaml", connectorYAML("c", "c", echo))
		h.put("west", "listener-c.yaml", listenerYAML("c", "c", after))
	}, after)
	if n := len(d.logLines("router started", "west")); n != 2 {
		t.Fatalf("%d router starts, want 2 (first, after the kill)", n)
	}
	if n := len(d.logLines(hotApplied, "west")); n <= applied {
		t.Fatalf("no hot apply after the kill (%d, before %d)", n, applied)
	}
}

// TestRealRouterHotApplyUpdatesAndFallback: a log level and a listener's
// observer are UPDATEd in place (same router process, the held connection
// through that very listener keeps echoing); a change of the router
// entity, which the router reads at startup only, restarts the router,
// with the reason logged, and traffic flows again.
func TestRealRouterHotApplyUpdatesAndFallback(t *testing.T) {
	keep := freePorts(t, 1)[0]
	s := startKeepSite(t, keepSiteOpts{keep: keep})
	h, ns, d := s.h, s.ns, s.d
	var pid int
	eventually(t, "the router's pid file", func() (bool, string) {
		p, ok, why := recordedRouter(h, "west")
		pid = p
		return ok, why
	})
	held := holdConn(t, keep)
	mc := routerMgmt(t, ns)
	waitSkupperdConnected(t, mc, "west")
	hot := func(what, want string) {
		t.Helper()
		eventually(t, what+" applied without a restart", func() (bool, string) {
			for _, l := range d.logLines(hotApplied, "west") {
				if strings.Contains(fmt.Sprint(l["operations"]), want) {
					return true, ""
				}
			}
			return false, "no hot apply with " + want
		})
		testwait.For(t, convergeTimeout, what+": the router equals the configuration", routerMatchesConfig(mc, ns))
		if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
			t.Fatalf("after %s: router pid %d (ok=%v, %s), want %d unchanged", what, p, ok, why, pid)
		}
		held.check(t, what)
	}

	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  settings:\n    routerLogging: debug\n")
	hot("log level", "UPDATE log log/DEFAULT")
	h.put("west", "listener-keep.yaml", listenerYAML("keep", "keep", keep)+"  settings:\n    observer: none\n")
	hot("observer of the held connection's listener", "UPDATE tcpListener listener/keep")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	attrs, err := mc.Read(ctx, "tcpListener", "listener/keep")
	if err != nil || attrs["observer"] != "none" {
		t.Fatalf("tcpListener listener/keep: %v %v, want observer none", attrs, err)
	}

	// A listener on a port another process holds stays down (the router
	// never retries it); skupperd reports it and retries it once the port
	// is free (see ports_realrouter_test.go).
	occupier, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busyPort := occupier.Addr().(*net.TCPAddr).Port
	h.put("west", "listener-busy.yaml", listenerYAML("busy", "keep", busyPort))
	hot("a listener on a busy port", "CREATE tcpListener listener/busy")
	testwait.For(t, convergeTimeout, "the busy listener reported", portHeldStatus(ns, "Listener", "busy", busyPort))
	occupier.Close()
	waitTraffic(t, busyPort, "hello through the retried listener")

	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  settings:\n    routerLogging: debug\n    routerDataConnections: \"2\"\n")
	eventually(t, "the restart-only change logged with its reason", func() (bool, string) {
		for _, l := range d.logLines("router configuration not applied at run time; restarting the router", "west") {
			if strings.Contains(l.str("reason"), "router entity changed (dataConnectionCount)") {
				return true, ""
			}
		}
		return false, "no fallback logged"
	})
	eventuallyWithin(t, trafficTimeout, "a new router for the restart-only change", func() (bool, string) {
		p, ok, why := recordedRouter(h, "west")
		if ok && p == pid {
			return false, fmt.Sprintf("still pid %d", p)
		}
		return ok, why
	})
	waitTraffic(t, keep, "hello after the restart")
	testwait.For(t, convergeTimeout, "the restarted router equals the configuration", routerMatchesConfig(mc, ns))
	if n := len(d.logLines("router started", "west")); n != 2 {
		t.Fatalf("%d router starts, want 2 (first, the restart-only change)", n)
	}
}

// tlsSerial connects with TLS to the listener on port and returns the
// serial number of the certificate it presents.
func tlsSerial(port int) (string, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the certificate, it trusts nothing
	if err != nil {
		return "", err
	}
	defer c.Close()
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("no certificate")
	}
	return certs[0].SerialNumber.String(), nil
}

// TestRealRouterHotApplyRenewedCertificate: new certificate files for a
// TLS Listener reach the running router by an sslProfile UPDATE (which
// re-reads the files): new connections get the new certificate, the
// router keeps its process, and a connection held through a plain
// listener keeps echoing.
func TestRealRouterHotApplyRenewedCertificate(t *testing.T) {
	bin := realrouter.Binary(t)
	binaries(t)
	h := newTestHome(t)
	t.Cleanup(func() { killRecordedRouters(h) })
	echo := realrouter.EchoServer(t)
	ports := freePorts(t, 2)
	keep, secure := ports[0], ports[1]
	h.addNamespace("west")
	ns := h.ns("west")
	now := time.Now()
	ca, err := certs.NewCA("test-ca", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() (certs.Bundle, string) {
		b, err := certs.Issue(ca, certs.Request{CommonName: "secure", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth, Validity: 24 * time.Hour}, now)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b.Cert)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return certs.Bundle{Cert: b.Cert, Key: b.Key}, cert.SerialNumber.String()
	}
	first, firstSerial := issue()
	if _, err := certs.WriteDir(ns.InputCertDir("secure"), first); err != nil {
		t.Fatal(err)
	}
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener-keep.yaml", listenerYAML("keep", "keep", keep))
	h.put("west", "listener-secure.yaml", listenerYAML("secure", "keep", secure)+"  tlsCredentials: secure\n")
	h.put("west", "connector-keep.yaml", connectorYAML("keep", "keep", echo))
	d := startDaemon(t, h, daemonOpts{routerBinary: bin})
	d.waitReady()
	waitTraffic(t, keep, "hello")
	testwait.For(t, trafficTimeout, "the first certificate on the TLS listener", func() (bool, string) {
		s, err := tlsSerial(secure)
		if err != nil {
			return false, err.Error()
		}
		return s == firstSerial, "serial " + s
	})
	pid, ok, why := recordedRouter(h, "west")
	if !ok {
		t.Fatal(why)
	}
	held := holdConn(t, keep)
	waitSkupperdConnected(t, routerMgmt(t, ns), "west")

	second, secondSerial := issue()
	start := time.Now()
	renewBundle(t, ns.InputCertDir("secure"), second)
	testwait.For(t, convergeTimeout, "the renewed certificate on the TLS listener", func() (bool, string) {
		s, err := tlsSerial(secure)
		if err != nil {
			return false, err.Error()
		}
		return s == secondSerial, "serial " + s
	})
	took := time.Since(start)
	if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
		t.Fatalf("router pid %d (ok=%v, %s), want %d unchanged", p, ok, why, pid)
	}
	eventually(t, "the hot apply with UPDATE sslProfile tls/secure logged", func() (bool, string) {
		for _, l := range d.logLines(hotApplied, "west") {
			if strings.Contains(fmt.Sprint(l["operations"]), "UPDATE sslProfile tls/secure") {
				return true, ""
			}
		}
		return false, "not logged"
	})
	if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
		t.Fatalf("router pid %d (ok=%v, %s), want %d unchanged", p, ok, why, pid)
	}
	n := held.check(t, "the certificate renewal")
	t.Logf("renewed certificate served %s after its files were written; router pid %d unchanged; held connection %d echoes", took.Round(time.Millisecond), pid, n)
}

// logLevel reads a log module's level from the router ("" when unset).
func logLevel(t *testing.T, mc *mgmt.Client, module string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	attrs, err := mc.Read(ctx, "log", "log/"+module)
	if err != nil {
		t.Fatalf("read log/%s: %v", module, err)
	}
	s, _ := attrs["enable"].(string)
	return s
}

// setLogLevelBehindSkupperd sets a log module's level the way an operator
// would, with skmanage over skupperd's local listener (the client
// credentials skupperd uses); without skmanage, through management
// directly.
func setLogLevelBehindSkupperd(t *testing.T, ns namespaces.Namespace, mc *mgmt.Client, module, level string) {
	t.Helper()
	if skmanage, err := exec.LookPath("skmanage"); err == nil {
		es, err := routerConfig(ns)
		if err != nil {
			t.Fatal(err)
		}
		local, _ := findEntity(es, "listener", render.LocalListenerName)
		dir := ns.RuntimeCertDir(render.LocalClientCreds)
		out, err := exec.Command(skmanage, "-b", "amqps://127.0.0.1:"+local.attr("port"),
			"--ssl-certificate", filepath.Join(dir, "tls.crt"), "--ssl-key", filepath.Join(dir, "tls.key"),
			"--ssl-trustfile", filepath.Join(dir, "ca.crt"), "--ssl-disable-peer-name-verify", "--sasl-mechanisms", "EXTERNAL",
			"update", "--type", "log", "--name", "log/"+module, "enable="+level).CombinedOutput()
		if err != nil {
			t.Fatalf("skmanage update log/%s: %v\n%s", module, err, out)
		}
		return
	}
	t.Log("skmanage not found: setting the level through management")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mc.Update(ctx, "log", "log/"+module, map[string]any{"enable": level}); err != nil {
		t.Fatal(err)
	}
}

// TestRealRouterLogLevels: changes of the Site's routerLogging reach the
// running router as UPDATEs of its log entities (same process, the held
// connection keeps echoing), including a module no longer named, which
// goes back to following DEFAULT; a level changed behind skupperd's back
// with skmanage is set back by the next reconcile, even one that changes
// nothing in the configuration.
func TestRealRouterLogLevels(t *testing.T) {
	keep := freePorts(t, 1)[0]
	s := startKeepSite(t, keepSiteOpts{keep: keep})
	h, ns, d := s.h, s.ns, s.d
	pid := routerPID(t, h, "west", 0)
	held := holdConn(t, keep)
	mc := routerMgmt(t, ns)
	waitSkupperdConnected(t, mc, "west")
	levels := func(what string, want map[string]string) {
		t.Helper()
		testwait.For(t, convergeTimeout, what, func() (bool, string) {
			got := map[string]string{}
			for m := range want {
				got[m] = logLevel(t, mc, m)
			}
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("levels %v, want %v", got, want)
		})
		if p, ok, why := recordedRouter(h, "west"); !ok || p != pid {
			t.Fatalf("after %s: router pid %d (%v, %s), want %d unchanged", what, p, ok, why, pid)
		}
		held.check(t, what)
	}
	levels("the initial levels", map[string]string{"DEFAULT": "info+"})

	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  settings:\n    routerLogging: ROUTER_CORE:debug,TCP_ADAPTOR:trace\n")
	levels("module levels applied", map[string]string{"DEFAULT": "info+", "ROUTER_CORE": "debug+", "TCP_ADAPTOR": "debug+"})
	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  settings:\n    routerLogging: warning\n")
	levels("a level for every module; the modules named before follow it", map[string]string{"DEFAULT": "warning+", "ROUTER_CORE": "default", "TCP_ADAPTOR": "default"})

	// Behind skupperd's back: the next reconcile sets it back, though
	// the configuration does not change.
	setLogLevelBehindSkupperd(t, ns, mc, "DEFAULT", "debug+")
	setLogLevelBehindSkupperd(t, ns, mc, "ROUTER", "error+")
	if got := logLevel(t, mc, "DEFAULT"); got != "debug+" {
		t.Fatalf("log/DEFAULT at %q after skmanage, want debug+", got)
	}
	before, _ := os.ReadFile(ns.RouterConfigPath())
	h.put("west", "site.yaml", "# touched\n"+siteYAML("west")+"spec:\n  settings:\n    routerLogging: warning\n")
	levels("the drift corrected", map[string]string{"DEFAULT": "warning+", "ROUTER": "default"})
	if after, _ := os.ReadFile(ns.RouterConfigPath()); string(after) != string(before) {
		t.Fatal("the touched input changed the router configuration")
	}
	eventually(t, "the drift correction logged", func() (bool, string) {
		for _, l := range d.logLines("router configuration drift corrected", "west") {
			if ops := fmt.Sprint(l["operations"]); strings.Contains(ops, "UPDATE log log/DEFAULT") && strings.Contains(ops, "UPDATE log log/ROUTER") {
				return true, ""
			}
		}
		return false, "not logged"
	})
	if n := len(d.logLines("router started", "west")); n != 1 {
		t.Fatalf("%d router starts, want 1", n)
	}
}

// renewBundle replaces the certificate and key of the bundle in dir as a
// renewal tool does: both written and fsync'd under hidden names, then
// renamed into place one right after the other. (Written one by one with
// their fsyncs, the two files can land further apart than the daemon's
// quiet period on a loaded machine, and a pass would then see a key that
// does not match its certificate.)
func renewBundle(t *testing.T, dir string, b certs.Bundle) {
	t.Helper()
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{{certs.KeyFile, b.Key, certs.KeyPerm}, {certs.CertFile, b.Cert, certs.CertPerm}}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, "."+f.name+".renew"), f.data, f.perm); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(dir, "."+f.name+".renew"), filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}
