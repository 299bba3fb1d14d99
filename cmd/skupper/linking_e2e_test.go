package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/test/testwait"
)

// freePort returns a loopback port that is free now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// daemonProc is a skupperd the test may kill -9.
type daemonProc struct {
	cmd    *exec.Cmd
	exited chan error
	log    string
}

// startLinkingDaemon runs skupperd with its grant server on addr.
func startLinkingDaemon(t *testing.T, e *env, addr string) *daemonProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "skupperd.log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bins.skupperd, "run", "--supervisor", "none", "--grant-server-addr", addr, "--advertise-host", "127.0.0.1")
	cmd.Env = e.vars
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	f.Close()
	p := &daemonProc{cmd: cmd, exited: make(chan error, 1), log: logPath}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("skupperd log:\n%s", data)
		}
	})
	home := namespaces.NewHome(e.home)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if running, _ := home.DaemonRunning(); running {
			break
		}
		require.True(t, time.Now().Before(deadline), "skupperd did not start")
		time.Sleep(20 * time.Millisecond)
	}
	// Wait until the grant server answers.
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return p
		}
		require.True(t, time.Now().Before(deadline), "the grant server did not listen on %s", addr)
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *daemonProc) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited
}

func readObj[T v2alpha1.Object](t *testing.T, ns namespaces.Namespace, kind, name string) T {
	t.Helper()
	obj, err := ns.ReadStatus(v2alpha1.Key{Kind: kind, Name: name})
	require.NoError(t, err)
	return obj.(T)
}

func grantOfToken(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	docs, diags := v2alpha1.Decode(file, data)
	require.False(t, diags.HasErrors(), "%v", diags)
	return docs[0].GetName()
}

// TestTokenLinkingEndToEnd is the linking acceptance: two namespaces under
// one running skupperd, real HTTPS on 127.0.0.1.
func TestTokenLinkingEndToEnd(t *testing.T) {
	e := newEnv(t)
	addr := freePort(t)
	d := startLinkingDaemon(t, e, addr)
	home := namespaces.NewHome(e.home)
	west, east := home.Namespace("west"), home.Namespace("east")
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	e.ok("-n", "east", "site", "create", "east", "--wait", "configured")

	tok := filepath.Join(t.TempDir(), "t.yaml")
	r := e.ok("-n", "west", "token", "issue", tok)
	require.Contains(t, r.stdout, "Token file "+tok+" created.")
	require.Contains(t, r.stdout, "The token expires after 1 use or after 15 minutes.")
	fi, err := os.Stat(tok)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	r = e.ok("-n", "east", "token", "redeem", tok)
	grant := grantOfToken(t, tok)
	require.Contains(t, r.stdout, fmt.Sprintf("Link %q is configured.", grant))

	// east's Link points at west's link-access ports, its certificate
	// verifies against west's skupper-site-ca, and east's router config
	// holds the connector.
	link := readObj[*v2alpha1.Link](t, east, v2alpha1.KindLink, grant)
	site := readObj[*v2alpha1.Site](t, west, v2alpha1.KindSite, "west")
	require.Equal(t, site.Status.Endpoints, link.Spec.Endpoints)
	require.Equal(t, "127.0.0.1", link.Spec.Endpoints[0].Host)
	ca, err := certs.ReadDir(west.RuntimeIssuerDir(reconcile.SiteCA))
	require.NoError(t, err)
	cl, err := certs.ReadDir(east.InputCertDir(grant))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Cert)
	blk, _ := pem.Decode(cl.Cert)
	crt, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	_, err = crt.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	cfg, err := os.ReadFile(east.RouterConfigPath())
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"name": "link/`+grant+`"`)

	// A second redemption of the single-use token is refused.
	e.ok("-n", "south", "site", "create", "south", "--wait", "configured")
	r = e.skupper("-n", "south", "token", "redeem", tok)
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "this token has already been used")

	// A wrong code → 403.
	tok2 := filepath.Join(t.TempDir(), "t2.yaml")
	e.ok("-n", "west", "token", "issue", tok2)
	data, err := os.ReadFile(tok2)
	require.NoError(t, err)
	g2 := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, grantOfToken(t, tok2))
	require.NoError(t, os.WriteFile(tok2, []byte(strings.Replace(string(data), g2.Status.Code, "wrong-code", 1)), 0o600))
	r = e.skupper("-n", "south", "token", "redeem", tok2)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "the token's code was not accepted")

	// An expired token → the compat message.
	tok3 := filepath.Join(t.TempDir(), "t3.yaml")
	// (Long enough for skupperd to serve the grant before it expires on
	// a loaded machine: an expired grant issues no token.)
	e.ok("-n", "west", "token", "issue", tok3, "--expiration-window", "4s")
	g3 := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, grantOfToken(t, tok3))
	exp, err := time.Parse(time.RFC3339, g3.Status.ExpirationTime)
	require.NoError(t, err)
	time.Sleep(time.Until(exp) + 1100*time.Millisecond) // waiting for the clock itself
	r = e.skupper("-n", "south", "token", "redeem", tok3)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "this token expired at "+g3.Status.ExpirationTime)

	// Restarting the daemon does not redeem again.
	d.kill9(t)
	startLinkingDaemon(t, e, addr)
	e.ok("-n", "east", "system", "reload")
	g := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, grant)
	require.Equal(t, 1, g.Status.Redemptions)
	st := readObj[*v2alpha1.AccessToken](t, east, v2alpha1.KindAccessToken, grant)
	require.True(t, st.Status.Redeemed)

	// The same with a static link: link generate piped to system apply.
	gen := e.ok("-n", "west", "link", "generate")
	e.ok("-n", "north", "site", "create", "north", "--wait", "configured")
	e.okIn(gen.stdout, "-n", "north", "system", "apply", "-f", "-")
	north := home.Namespace("north")
	deadline := time.Now().Add(20 * time.Second)
	for {
		cfg, _ := os.ReadFile(north.RouterConfigPath())
		if strings.Contains(string(cfg), `"name": "link/link-west"`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "north never got the static link:\n%s", cfg)
		time.Sleep(50 * time.Millisecond)
	}
}

// okIn runs skupper with stdin and requires exit 0.
func (e *env) okIn(stdin string, args ...string) result {
	e.t.Helper()
	r := e.skupperIn(stdin, args...)
	require.Equal(e.t, 0, r.code, "skupper %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// TestConcurrentRedemptionsAcrossDaemonKill: 50 parallel redemptions of a
// grant allowing 10 — half of them around a kill -9 of the daemon — never
// let more than 10 succeed, and the durable count never exceeds 10.
func TestConcurrentRedemptionsAcrossDaemonKill(t *testing.T) {
	e := newEnv(t)
	addr := freePort(t)
	d := startLinkingDaemon(t, e, addr)
	home := namespaces.NewHome(e.home)
	west := home.Namespace("west")
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	tokFile := filepath.Join(t.TempDir(), "t.yaml")
	e.ok("-n", "west", "token", "issue", tokFile, "--redemptions-allowed", "10")
	data, err := os.ReadFile(tokFile)
	require.NoError(t, err)
	docs, _ := v2alpha1.Decode(tokFile, data)
	token := docs[0].Object.(*v2alpha1.AccessToken)

	var ok atomic.Int32
	redeem := func(wg *sync.WaitGroup, i int) {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		tk := *token
		tk.Name = fmt.Sprintf("site-%d", i)
		_, err := grantclient.Redeem(ctx, &tk, tk.Name, grantclient.Options{Timeout: 10 * time.Second})
		if err == nil {
			ok.Add(1)
		} else if i >= 25 && !strings.Contains(err.Error(), "No such access granted") {
			t.Logf("redemption %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go redeem(&wg, i)
	}
	// Kill -9 the daemon in the middle of the burst: once a few
	// redemptions succeeded, while others are in flight.
	for deadline := time.Now().Add(15 * time.Second); ok.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	d.kill9(t)
	wg.Wait()
	first := ok.Load()
	require.LessOrEqual(t, first, int32(10))
	restarted := time.Now()
	startLinkingDaemon(t, e, addr)
	// The restarted daemon serves the same grant (uid, code) again once it
	// has reconciled west: Ready, or (when the burst before the kill used
	// it up) not redeemable any more, which its status says.
	testwait.For(t, 20*time.Second, "west reconciled after the restart, its grant served", func() (bool, string) {
		data, _ := os.ReadFile(west.SummaryPath())
		var sum namespaces.Summary
		_ = yaml.Unmarshal(data, &sum)
		at, _ := time.Parse(time.RFC3339Nano, sum.LastReconcile)
		g := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, docs[0].GetName())
		ready, _ := conditionTrue(g.Status.Conditions, v2alpha1.ConditionReady)
		redeemable, set := conditionTrue(g.Status.Conditions, v2alpha1.ConditionRedeemable)
		usedUp := set && !redeemable
		return (ready || usedUp) && at.After(restarted), fmt.Sprintf("summary at %s; grant %s: %s", sum.LastReconcile, g.Status.StatusType, g.Status.Message)
	})
	for i := 25; i < 50; i++ {
		wg.Add(1)
		go redeem(&wg, i)
	}
	wg.Wait()
	total := ok.Load()
	t.Logf("%d redemptions succeeded before the kill, %d in all", first, total)
	require.LessOrEqual(t, total, int32(10), "never more than 10")
	// Redemptions recorded durably but cut off by the kill count too: the
	// grant is used up, and the record never exceeds 10.
	g := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, docs[0].GetName())
	count, err := grantserver.FileStore{Home: home}.Count(grantserver.Grant{Namespace: "west", UID: strings.TrimPrefix(g.Status.URL[strings.LastIndex(g.Status.URL, "/"):], "/")})
	require.NoError(t, err)
	require.LessOrEqual(t, count, 10)
	require.GreaterOrEqual(t, count, int(total))
	require.Greater(t, first, int32(0), "the kill came after some redemptions")
}

func conditionTrue(cs []v2alpha1.Condition, typ string) (bool, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == "True", true
		}
	}
	return false, false
}
