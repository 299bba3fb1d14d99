package daemon_test

// The grant server of a starting daemon: until every namespace handed over
// its grants, a valid token is answered 503 with Retry-After (the client
// retries), never 404 "No such claim", which would make the client give
// the token up.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grants"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/test/testwait"
)

const grantYAML = `apiVersion: skupper.io/v2alpha1
kind: AccessGrant
metadata:
  name: join
spec:
  redemptionsAllowed: 5
  expirationWindow: 1h
`

// counting is a log handler that counts the records with message msg.
type counting struct {
	slog.Handler
	msg string
	n   *atomic.Int64
}

func (c counting) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return c.Handler.Handle(ctx, r)
}

func (c counting) WithAttrs(as []slog.Attr) slog.Handler {
	return counting{c.Handler.WithAttrs(as), c.msg, c.n}
}

func (c counting) WithGroup(name string) slog.Handler {
	return counting{c.Handler.WithGroup(name), c.msg, c.n}
}

// deferred is the grant server's log message for a 503 while starting.
const deferred = "redemption deferred: the grant server is starting"

// grantDaemon is an in-process daemon with its grant service on addr;
// answers counts the redemptions it deferred while starting.
func grantDaemon(t *testing.T, h *testHome, addr string, answers *atomic.Int64, gate func(context.Context) error) (*daemon.Daemon, func() error) {
	t.Helper()
	log := slog.New(counting{testLogger(t).Handler(), deferred, answers})
	svc, err := grants.New(grants.Config{Home: h.home, Addr: addr, AdvertiseHost: "127.0.0.1", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	run := reconcile.Run
	if gate != nil {
		run = func(ctx context.Context, ns namespaces.Namespace, o reconcile.Options) (*reconcile.Result, error) {
			if err := gate(ctx); err != nil {
				return nil, err
			}
			return reconcile.Run(ctx, ns, o)
		}
	}
	d := daemon.New(daemon.Config{Home: h.home, Logger: log, Grants: svc, Reconcile: run,
		Ports: ports.New(h.home, ports.WithProbe(func(string, int) bool { return true }))})
	return d, runDaemon(t, d)
}

// grantToken waits for AccessGrant join of ns to be served and returns a
// token for it.
func grantToken(t *testing.T, ns namespaces.Namespace) *v2alpha1.AccessToken {
	t.Helper()
	var g *v2alpha1.AccessGrant
	eventually(t, "the AccessGrant served", func() (bool, string) {
		obj, err := ns.ReadStatus(v2alpha1.Key{Kind: v2alpha1.KindAccessGrant, Name: "join"})
		if err != nil {
			return false, err.Error()
		}
		g, _ = obj.(*v2alpha1.AccessGrant)
		return g != nil && g.Status.URL != "" && g.Status.Code != "" && g.Status.CA != "", fmt.Sprintf("%+v", obj)
	})
	tok := &v2alpha1.AccessToken{Spec: v2alpha1.AccessTokenSpec{URL: g.Status.URL, Code: g.Status.Code, CA: g.Status.CA}}
	tok.Name = "join-token"
	return tok
}

// redeemOnce sends one redemption request for tok and returns the status
// code, the Retry-After header and the body.
func redeemOnce(tok *v2alpha1.AccessToken) (int, string, string, error) {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(tok.Spec.CA))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodPost, tok.Spec.URL, strings.NewReader(tok.Spec.Code))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("name", tok.Name)
	req.Header.Set("subject", "east")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body), nil
}

// TestGrantServerAnswers503UntilGrantsLoaded: skupperd (in-process, its
// real grant service on HTTPS) starts on a data home whose AccessGrant
// already exists, and its first reconcile is held back. The port accepts
// at once; a redemption then gets 503 with Retry-After, not 404; a
// client redeeming meanwhile keeps retrying and gets its link once the
// reconcile is let through.
func TestGrantServerAnswers503UntilGrantsLoaded(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := newTestHome(t)
	west := h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  linkAccess: default\n")
	h.put("west", "grant.yaml", grantYAML)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePorts(t, 1)[0]))

	// A first run creates the grant.
	var answers atomic.Int64
	_, stop := grantDaemon(t, h, addr, &answers, nil)
	tok := grantToken(t, west)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The daemon starts again; its first reconcile waits for release.
	release := make(chan struct{})
	var once sync.Once
	held := make(chan struct{})
	_, stop = grantDaemon(t, h, addr, &answers, func(ctx context.Context) error {
		once.Do(func() { close(held) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	testwait.For(t, convergeTimeout, "the first reconcile to start", func() (bool, string) {
		select {
		case <-held:
			return true, ""
		default:
			return false, "not started"
		}
	})
	testwait.For(t, convergeTimeout, "the grant server port to accept", func() (bool, string) {
		return dialOK(addr), "refused"
	})
	code, retry, body, err := redeemOnce(tok)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("redemption before the grants are loaded: %d (Retry-After %q) %q, want 503 with Retry-After", code, retry, body)
	}
	t.Logf("before the grants were loaded: %d, Retry-After %s, %q", code, retry, strings.TrimSpace(body))

	// A client redeeming now retries until the grants are loaded.
	type outcome struct {
		res *grantclient.Result
		err error
		at  time.Time
	}
	done := make(chan outcome, 1)
	started := time.Now()
	go func() {
		res, err := grantclient.Redeem(context.Background(), tok, "east", grantclient.Options{})
		done <- outcome{res, err, time.Now()}
	}()
	// It got its 503 (and waits Retry-After) before the release.
	testwait.For(t, convergeTimeout, "the client's first attempt deferred", func() (bool, string) {
		n := answers.Load()
		return n >= 2, fmt.Sprintf("%d redemptions deferred", n)
	})
	close(release)
	released := time.Now()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the redemption did not end")
	}
	if o.err != nil {
		t.Fatalf("redemption across the start-up: %v", o.err)
	}
	if o.res == nil || len(o.res.Links) == 0 {
		t.Fatalf("redemption returned no link: %+v", o.res)
	}
	t.Logf("the client's redemption succeeded %s after the grants were let load (%s after it began)",
		o.at.Sub(released).Round(time.Millisecond), o.at.Sub(started).Round(time.Millisecond))
	t.Logf("%d redemptions answered 503 while the grants loaded", answers.Load())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestGrantServerFromTheFirstAccept: the skupperd binary restarts on a
// data home whose AccessGrant exists while a client redeems its token
// from the very first moment the grant server's port accepts. Every
// answer before the redemption succeeds is 503 with Retry-After (how
// many depends on the machine's speed, and may be none); none is 404.
func TestGrantServerFromTheFirstAccept(t *testing.T) {
	h := newTestHome(t)
	west := h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  linkAccess: default\n")
	h.put("west", "grant.yaml", grantYAML)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePorts(t, 1)[0]))
	opts := daemonOpts{supervisor: "none", args: []string{"--grant-server-addr", addr}}
	first := startDaemon(t, h, opts)
	first.waitReady()
	tok := grantToken(t, west)
	first.stop()

	type answer struct {
		code  int
		retry string
		body  string
	}
	var answers []answer
	refused := 0
	done := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				done <- fmt.Errorf("stopped")
				return
			default:
			}
			code, retry, body, err := redeemOnce(tok)
			if err != nil {
				refused++
				time.Sleep(time.Millisecond) // the polling period
				continue
			}
			answers = append(answers, answer{code, retry, strings.TrimSpace(body)})
			if code != http.StatusServiceUnavailable {
				done <- nil
				return
			}
		}
	}()
	start := time.Now()
	startDaemon(t, h, opts)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no answer but 503 within a minute")
	}
	took := time.Since(start)
	deferred := 0
	for i, a := range answers {
		if i < len(answers)-1 {
			if a.code != http.StatusServiceUnavailable || a.retry == "" {
				t.Fatalf("answer %d: %d (Retry-After %q) %q, want 503 with Retry-After", i, a.code, a.retry, a.body)
			}
			deferred++
			continue
		}
		if a.code != http.StatusOK {
			t.Fatalf("answers %+v: the last is not a redemption", answers)
		}
		if _, err := grantclient.ParseResponse([]byte(a.body)); err != nil {
			t.Fatalf("the redemption's answer: %v", err)
		}
	}
	t.Logf("%d attempts refused before the port accepted, then %d answered 503 while the grants loaded, then redeemed %s after the daemon was started",
		refused, deferred, took.Round(time.Millisecond))
}
