package daemon_test

// Rotating a link's certificates with the real router: two sites under one
// skupperd, linked by a token; the link-access (server) certificate and the
// link's client certificate are renewed while a TCP connection across the
// link is held open.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router/mgmt"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// linkOf returns the name of the Link of ns and its status.
func linkOf(ns namespaces.Namespace) (*v2alpha1.Link, error) {
	keys, err := ns.ListStatus()
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Kind != v2alpha1.KindLink {
			continue
		}
		obj, err := ns.ReadStatus(k)
		if err != nil {
			return nil, err
		}
		if l, ok := obj.(*v2alpha1.Link); ok {
			return l, nil
		}
	}
	return nil, errors.New("no Link")
}

// linkReady reports whether Link name of ns is Ready and Operational.
func linkReady(ns namespaces.Namespace, name string) (bool, string) {
	obj, err := ns.ReadStatus(v2alpha1.Key{Kind: v2alpha1.KindLink, Name: name})
	if err != nil {
		return false, err.Error()
	}
	l, ok := obj.(*v2alpha1.Link)
	if !ok {
		return false, fmt.Sprintf("%T", obj)
	}
	op := false
	for _, c := range l.Status.Conditions {
		if c.Type == v2alpha1.ConditionOperational && c.Status == "True" {
			op = true
		}
	}
	return op && l.Status.StatusType == v2alpha1.StatusReady, fmt.Sprintf("%s: %s", l.Status.StatusType, l.Status.Message)
}

// serverSerial returns the serial of the certificate the TLS server on
// 127.0.0.1:port presents (whether or not the handshake then succeeds:
// a router's link port also wants a client certificate).
func serverSerial(port int) (string, error) {
	var serial string
	cfg := &tls.Config{InsecureSkipVerify: true, //nolint:gosec // the test reads the certificate, it trusts nothing
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				if c, err := x509.ParseCertificate(raw[0]); err == nil {
					serial = c.SerialNumber.String()
				}
			}
			return nil
		}}
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cfg)
	if c != nil {
		c.Close()
	}
	if serial == "" {
		return "", fmt.Errorf("no certificate: %v", err)
	}
	return serial, nil
}

// certSerial returns the serial of the first certificate of a PEM bundle.
func certSerial(t *testing.T, pemData []byte) string {
	t.Helper()
	block, _ := pem.Decode(pemData)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// linkConnections returns the tlsOrdinal of each outbound inter-router
// connection of the router mc manages.
func linkConnections(mc *mgmt.Client) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := mc.Query(ctx, "connection", "role", "dir", "tlsOrdinal", "opened")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, r := range rows {
		if r["role"] != "inter-router" || r["dir"] != "out" {
			continue
		}
		n, _ := strconv.Atoi(fmt.Sprint(r["tlsOrdinal"]))
		out = append(out, n)
	}
	return out, nil
}

// profileOrdinal reads the ordinal the router holds for sslProfile name.
func profileOrdinal(mc *mgmt.Client, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := mc.Read(ctx, "sslProfile", name)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(e["ordinal"]), nil
}

// linkSampler checks every 50 ms that the held connection echoes and that
// the Link is Ready, counting the samples where either is not so.
type linkSampler struct {
	mu                sync.Mutex
	samples, notReady int
	firstNotReady     string
	echoErr           error
	done, stopped     chan struct{}
}

func sampleLink(t *testing.T, held *heldConn, ns namespaces.Namespace, link string) *linkSampler {
	s := &linkSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(50 * time.Millisecond) // the sampling period
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
			err := held.ping()
			ok, why := linkReady(ns, link)
			s.mu.Lock()
			s.samples++
			if err != nil && s.echoErr == nil {
				s.echoErr = err
			}
			if !ok {
				s.notReady++
				if s.firstNotReady == "" {
					s.firstNotReady = why
				}
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *linkSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	<-s.stopped
}

func (s *linkSampler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// TestRealRouterLinkCertificateRotation: west (link access, a listener)
// and east (a connector to an echo server) under one skupperd, east linked
// to west by a token. With a TCP connection from west's listener to the
// echo server held open, west's link-access certificate is reissued
// (removed, then a reconcile) and east's link client certificate is
// replaced by a new one from west's CA. Sampled every 50 ms throughout,
// the held connection echoes and east's Link stays Ready; west serves
// the new certificate, east's router holds the new ordinal and connects
// with it, both routers keep their processes, and a new connection across
// the link works.
func TestRealRouterLinkCertificateRotation(t *testing.T) {
	bin := realrouter.Binary(t)
	binaries(t)
	h := newTestHome(t)
	t.Cleanup(func() { killRecordedRouters(h) })
	echo := realrouter.EchoServer(t)
	listen := freePorts(t, 1)[0]
	west, east := h.addNamespace("west"), h.addNamespace("east")
	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  linkAccess: default\n")
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", listen))
	h.put("west", "grant.yaml", grantYAML)
	h.put("east", "site.yaml", siteYAML("east"))
	h.put("east", "connector.yaml", connectorYAML("backend", "backend", echo))
	d := startDaemon(t, h, daemonOpts{routerBinary: bin})
	d.waitReady()
	tok := grantToken(t, west)
	h.put("east", "token.yaml", fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: AccessToken\nmetadata:\n  name: to-west\nspec:\n  url: %s\n  code: %s\n  ca: |\n%s",
		tok.Spec.URL, tok.Spec.Code, indentLines(tok.Spec.CA, "    ")))
	took := waitTraffic(t, listen, "west to east")
	var link *v2alpha1.Link
	eventually(t, "east's Link", func() (bool, string) {
		l, err := linkOf(east)
		link = l
		return err == nil, fmt.Sprint(err)
	})
	testwait.For(t, trafficTimeout, "east's Link Ready", func() (bool, string) { return linkReady(east, link.Name) })
	t.Logf("traffic across the link %s after the token was written", took.Round(time.Millisecond))
	westPID, ok, why := recordedRouter(h, "west")
	if !ok {
		t.Fatal(why)
	}
	eastPID, ok, why := recordedRouter(h, "east")
	if !ok {
		t.Fatal(why)
	}
	es, err := routerConfig(west)
	if err != nil {
		t.Fatal(err)
	}
	ir, ok := findEntity(es, "listener", "routeraccess/west/inter-router")
	if !ok {
		t.Fatal("west has no inter-router listener")
	}
	linkPort, _ := strconv.Atoi(ir.attr("port"))
	eastMgmt := routerMgmt(t, east)
	waitSkupperdConnected(t, eastMgmt, "east")
	waitSkupperdConnected(t, routerMgmt(t, west), "west")
	oldServer, err := serverSerial(linkPort)
	if err != nil {
		t.Fatal(err)
	}
	before, err := linkConnections(eastMgmt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: west serves certificate %s on its link port %d; east's link connections have ordinals %v", oldServer, linkPort, before)

	held := holdConn(t, listen)
	s := sampleLink(t, held, east, link.Name)
	start := time.Now()

	// 1. West's link-access certificate is reissued: removed, then a
	// reconcile (SIGHUP: a full pass, no restart).
	if err := os.RemoveAll(west.RuntimeCertDir("west")); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	var newServer string
	testwait.For(t, convergeTimeout, "west serving its new link-access certificate", func() (bool, string) {
		s, err := serverSerial(linkPort)
		newServer = s
		return err == nil && s != oldServer, fmt.Sprintf("serial %s: %v", s, err)
	})
	serverTook := time.Since(start)

	// 2. East's link client certificate is replaced by a new one from
	// west's CA (as a renewal by the grant's issuer would).
	creds := link.Spec.TLSCredentials
	oldClient, err := certs.ReadDir(east.InputCertDir(creds))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.ReadDir(west.RuntimeIssuerDir(reconcile.SiteCA))
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := certs.Issue(ca, certs.Request{CommonName: "east", Hosts: []string{"127.0.0.1"}, Usage: certs.ClientAuth, Validity: 24 * time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clientStart := time.Now()
	if _, err := certs.WriteDir(east.InputCertDir(creds), renewed); err != nil {
		t.Fatal(err)
	}
	profile := render.SSLProfileName(creds + "-profile")
	testwait.For(t, convergeTimeout, "east's router holding the new ordinal of "+profile, func() (bool, string) {
		o, err := profileOrdinal(eastMgmt, profile)
		return err == nil && o == "1", fmt.Sprintf("ordinal %s: %v", o, err)
	})
	testwait.For(t, trafficTimeout, "east connected with the new ordinal", func() (bool, string) {
		got, err := linkConnections(eastMgmt)
		for _, n := range got {
			if n == 1 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("ordinals %v: %v", got, err)
	})
	clientTook := time.Since(clientStart)
	after, _ := linkConnections(eastMgmt)
	// A new connection across the link.
	testwait.For(t, trafficTimeout, "a new connection across the link", realrouter.EchoCheck(listen, "a new connection after the rotation"))
	// Sample on a while (2 s) after the new certificates are in use.
	n := s.count()
	testwait.Until(t, 30*time.Second, "more samples", func() bool { return s.count() >= n+40 })
	s.stop()

	for _, c := range []struct {
		ns  string
		pid int
	}{{"west", westPID}, {"east", eastPID}} {
		if p, ok, why := recordedRouter(h, c.ns); !ok || p != c.pid {
			t.Fatalf("%s's router pid %d (ok=%v, %s), want %d unchanged", c.ns, p, ok, why, c.pid)
		}
	}
	for _, want := range []struct{ ns, op string }{{"west", "UPDATE sslProfile tls/west"}, {"east", "UPDATE sslProfile " + profile}} {
		found := false
		for _, l := range d.logLines(hotApplied, want.ns) {
			found = found || strings.Contains(fmt.Sprint(l["operations"]), want.op)
		}
		if !found {
			t.Errorf("no hot apply with %s logged for %s", want.op, want.ns)
		}
	}
	pings := held.check(t, "the rotation")
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Logf("%d samples every 50 ms over %s: %d with the Link not Ready, echo failure: %v; west served its new certificate %s after the removal (serial %s → %s); east connected with ordinal 1 %s after its new client certificate was written (serial %s → %s); east's link connections: ordinals %v → %v; held connection %d echoes",
		s.samples, time.Since(start).Round(time.Millisecond), s.notReady, s.echoErr, serverTook.Round(time.Millisecond), oldServer, newServer,
		clientTook.Round(time.Millisecond), certSerial(t, oldClient.Cert), certSerial(t, renewed.Cert), before, after, pings)
	if s.echoErr != nil {
		t.Errorf("the held connection stopped echoing: %v", s.echoErr)
	}
	if s.notReady > 0 {
		t.Errorf("east's Link was not Ready in %d of %d samples (first: %s)", s.notReady, s.samples, s.firstNotReady)
	}
}

// indentLines prefixes every line of s with prefix.
func indentLines(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
