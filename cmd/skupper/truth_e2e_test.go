package main

// End-to-end tests of "the CLI tells the truth and fails fast": each
// drives the real skupper and skupperd binaries.

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// failFastBound is how soon after its cause is written a wait must end.
const failFastBound = 3 * time.Second

// timed runs skupper and returns its result and how long it took.
func (e *env) timed(args ...string) (result, time.Duration) {
	e.t.Helper()
	start := time.Now()
	r := e.skupper(args...)
	return r, time.Since(start)
}

// TestFailFastRouterNotInstalled: with a router binary that does not
// exist, site create ends its wait at once, naming the cause and the fix.
func TestFailFastRouterNotInstalled(t *testing.T) {
	e := newEnv(t)
	missing := filepath.Join(t.TempDir(), "no-such-skrouterd")
	e.startDaemon("run", "--supervisor", "process", "--router-binary", missing)
	r, took := e.timed("site", "create", "west")
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, `Site "west" cannot become ready: the router (`+missing+`) is not installed`)
	assert.Contains(t, r.stderr, "install the skupper-router package")
	assert.Less(t, took, failFastBound)
	t.Logf("site create ended %s after it started (router not installed)", took.Round(time.Millisecond))
}

// TestFailFastSupervisorNone: under --supervisor none no site can become
// ready; site create (waiting for ready by default) says so at once.
func TestFailFastSupervisorNone(t *testing.T) {
	e := newEnv(t)
	e.startDaemon("run", "--supervisor", "none")
	r, took := e.timed("site", "create", "west")
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, `Site "west" cannot become ready: router supervision is disabled`)
	assert.Contains(t, r.stderr, "--supervisor auto, process or systemd")
	assert.Less(t, took, failFastBound)
	t.Logf("site create ended %s after it started (--supervisor none)", took.Round(time.Millisecond))
}

// TestFailFastTokenRefusedAndUnreachable: a used-up token, a token with a
// wrong code and a token whose grant server is down each end token redeem
// at once, in the user's words; a refused token stays in the input marked
// Error, and debug check reports it.
func TestFailFastTokenRefusedAndUnreachable(t *testing.T) {
	e := newEnv(t)
	addr := freePort(t)
	startLinkingDaemon(t, e, addr)
	home := namespaces.NewHome(e.home)
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	e.ok("-n", "east", "site", "create", "east", "--wait", "configured")
	e.ok("-n", "south", "site", "create", "south", "--wait", "configured")
	tok := filepath.Join(t.TempDir(), "token.yaml")
	e.ok("-n", "west", "token", "issue", tok)
	e.ok("-n", "east", "token", "redeem", tok)

	// Used up.
	r, took := e.timed("-n", "south", "token", "redeem", tok)
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, "this token has already been used")
	assert.NotContains(t, r.stderr, "Received HTTP Response")
	assert.Contains(t, r.stderr, "remove it by deleting input/resources/AccessToken-")
	assert.Less(t, took, failFastBound)
	t.Logf("token redeem (used up) ended after %s", took.Round(time.Millisecond))
	name := grantOfToken(t, tok)
	st := readObj[*v2alpha1.AccessToken](t, home.Namespace("south"), v2alpha1.KindAccessToken, name)
	assert.Equal(t, v2alpha1.StatusError, st.Status.StatusType)
	r = e.skupper("-n", "south", "debug", "check")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "FAIL  resources: 1 resource in error, the first: AccessToken/"+name+": Redemption refused: this token has already been used")

	// A wrong code.
	tok2 := filepath.Join(t.TempDir(), "token2.yaml")
	e.ok("-n", "west", "token", "issue", tok2)
	data, err := os.ReadFile(tok2)
	require.NoError(t, err)
	g2 := readObj[*v2alpha1.AccessGrant](t, home.Namespace("west"), v2alpha1.KindAccessGrant, grantOfToken(t, tok2))
	require.NoError(t, os.WriteFile(tok2, []byte(strings.Replace(string(data), g2.Status.Code, "wrong-code", 1)), 0o600))
	r, took = e.timed("-n", "south", "token", "redeem", tok2)
	require.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "the token's code was not accepted")
	assert.Less(t, took, failFastBound)

	// Unreachable: the token of a grant server that does not listen.
	tok3 := filepath.Join(t.TempDir(), "token3.yaml")
	e.ok("-n", "west", "token", "issue", tok3)
	data, err = os.ReadFile(tok3)
	require.NoError(t, err)
	closed := freePort(t)
	_, closedPort, _ := net.SplitHostPort(closed)
	_, openPort, _ := net.SplitHostPort(addr)
	require.NoError(t, os.WriteFile(tok3, []byte(strings.Replace(string(data), ":"+openPort+"/", ":"+closedPort+"/", 1)), 0o600))
	r, took = e.timed("-n", "south", "token", "redeem", tok3)
	require.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stderr, "cannot be redeemed now")
	assert.Contains(t, r.stderr, "could not reach the grant server at 127.0.0.1:"+closedPort)
	assert.Contains(t, r.stderr, "skupperd keeps retrying")
	assert.Less(t, took, failFastBound)
	t.Logf("token redeem (grant server unreachable) ended after %s", took.Round(time.Millisecond))
}

// TestStatusAfterDaemonStops: with the real router run by the process
// supervisor, after kill -TERM of skupperd, site status no longer says
// Ready without saying that skupperd is not running, and system status
// no longer says the router is Running.
func TestStatusAfterDaemonStops(t *testing.T) {
	bin := realrouter.Binary(t)
	e := newEnv(t)
	t.Cleanup(func() { killRecordedRouters(e) })
	p := startDaemonProc(t, e, "run", "--supervisor", "process", "--router-binary", bin)
	e.ok("site", "create", "west")
	r := e.ok("site", "status")
	require.Regexp(t, `Status:\s+Ready`, r.stdout)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("skupperd did not stop within 30s of SIGTERM")
	}
	r = e.ok("site", "status")
	assert.NotRegexp(t, `Status:\s+Ready`, r.stdout)
	assert.Contains(t, r.stdout, "skupperd is not running; status as of ")
	r = e.ok("site", "status", "-o", "yaml")
	assert.NotContains(t, r.stdout, "status: Ready")
	assert.Contains(t, r.stderr, "skupperd is not running; status as of ")
	r = e.ok("system", "status")
	assert.NotRegexp(t, `default\s+west\s+Applied\s+Running`, r.stdout)
	assert.Regexp(t, `default\s+west\s+Applied\s+Unknown`, r.stdout)
	assert.Contains(t, r.stdout, "skupperd is not running; status as of ")
}

// newDaemonCmd is the skupperd command of e, killed if the test dies.
func newDaemonCmd(e *env, args ...string) *exec.Cmd {
	cmd := exec.Command(bins.skupperd, args...)
	cmd.Env = e.vars
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startDaemonProc runs skupperd with args (for tests that stop it
// themselves) and waits until it holds the data home's lock.
func startDaemonProc(t *testing.T, e *env, args ...string) *daemonProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "skupperd.log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := newDaemonCmd(e, args...)
	cmd.Stdout, cmd.Stderr = f, f
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
	testwait.Until(t, 20*time.Second, "skupperd to take its data home's lock", func() bool {
		running, _ := home.DaemonRunning()
		return running
	})
	return p
}

// TestMistypedNamespaceRefused: a resource command naming a namespace
// without a site exits 2, writes nothing (no namespace is created) and
// suggests the namespace meant.
func TestMistypedNamespaceRefused(t *testing.T) {
	e := newEnv(t)
	e.startDaemon("run", "--supervisor", "none")
	e.ok("-n", "west", "site", "create", "west", "--wait", "configured")
	before := e.inputSnapshot()
	for _, args := range [][]string{
		{"-n", "wset", "listener", "create", "backend", "8080"},
		{"-n", "wset", "connector", "create", "backend", "8080"},
	} {
		r := e.skupper(args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, `namespace "wset" has no site; did you mean "west"?`)
	}
	r := e.skupper("-n", "wset", "listener", "status")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `namespace "wset" does not exist`)
	assert.Contains(t, r.stderr, `did you mean "west"?`)
	assert.Equal(t, before, e.inputSnapshot(), "nothing was written")
	_, err := os.Stat(namespaces.NewHome(e.home).Namespace("wset").Dir)
	assert.True(t, os.IsNotExist(err), "no namespace directory was created")
}

// TestRunningMeansOurRouter: with the real router, when another process
// holds the router's local port, the router cannot bind it; the port
// still answers, but the site is never reported Running or Ready.
func TestRunningMeansOurRouter(t *testing.T) {
	bin := realrouter.Binary(t)
	e := newEnv(t)
	t.Cleanup(func() { killRecordedRouters(e) })
	p := startDaemonProc(t, e, "run", "--supervisor", "process", "--router-binary", bin)
	e.ok("site", "create", "west")
	ns := namespaces.NewHome(e.home).Namespace("default")
	port := routerLocalPort(t, ns)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	err := <-p.exited
	p.exited <- err
	var holder net.Listener
	testwait.For(t, 20*time.Second, "the router's local port to be free", func() (bool, string) {
		holder, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		return err == nil, fmt.Sprint(err)
	})
	defer holder.Close()
	go func() { // answer, as a squatter would
		for {
			c, err := holder.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	restart := time.Now()
	startDaemonProc(t, e, "run", "--supervisor", "process", "--router-binary", bin)
	key := v2alpha1.Key{Kind: v2alpha1.KindSite, Name: "west"}
	var seen []string
	testwait.For(t, 30*time.Second, "the site status to show that the router is not running", func() (bool, string) {
		// Only what the restarted daemon wrote counts.
		sum, err := ns.ReadSummary()
		if err != nil || sum == nil {
			return false, fmt.Sprint("no summary: ", err)
		}
		if last, err := time.Parse(time.RFC3339Nano, sum.LastReconcile); err != nil || last.Before(restart) {
			return false, "the restarted skupperd has not reconciled yet"
		}
		obj, err := ns.ReadStatus(key)
		if err != nil {
			return false, err.Error()
		}
		st := obj.GetStatus()
		c, _ := conditionOf(st, v2alpha1.ConditionRunning)
		if len(seen) == 0 || seen[len(seen)-1] != c.Status+" "+c.Message {
			seen = append(seen, c.Status+" "+c.Message)
		}
		return strings.Contains(c.Message, "held by another process") || strings.Count(strings.Join(seen, "\n"), "Router exited") >= 2, st.Message
	})
	for _, s := range seen {
		assert.False(t, strings.HasPrefix(s, "True "), "the site was reported Running: %q", seen)
	}
	t.Logf("site Running condition over time: %q", seen)
	r := e.skupper("site", "status")
	assert.NotRegexp(t, `Status:\s+Ready`, r.stdout)
}

// routerLocalPort reads the router's local port from the namespace's
// ports table.
func routerLocalPort(t *testing.T, ns namespaces.Namespace) int {
	t.Helper()
	data, err := os.ReadFile(ports.TablePath(ns))
	require.NoError(t, err)
	var tbl struct {
		Ports []ports.Entry `json:"ports"`
	}
	require.NoError(t, yaml.Unmarshal(data, &tbl))
	for _, p := range tbl.Ports {
		if p.Key == "router/normal" {
			return p.Port
		}
	}
	t.Fatalf("no router/normal port in %s", data)
	return 0
}

// conditionOf returns the condition of type typ.
func conditionOf(st *v2alpha1.ResourceStatus, typ string) (v2alpha1.Condition, bool) {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return v2alpha1.Condition{}, false
}

// TestAccessGrantStatusIsTrue: a redemption updates the grant's
// redemptions at once and a used-up grant is not Ready; token issue
// --grant reuses an existing grant (refusing a used-up one); debug dump
// holds neither a grant's code nor a private key.
func TestAccessGrantStatusIsTrue(t *testing.T) {
	e := newEnv(t)
	addr := freePort(t)
	startLinkingDaemon(t, e, addr)
	west := namespaces.NewHome(e.home).Namespace("west")
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	e.ok("-n", "east", "site", "create", "east", "--wait", "configured")
	e.ok("-n", "south", "site", "create", "south", "--wait", "configured")
	dir := t.TempDir()
	tok := filepath.Join(dir, "g1.yaml")
	e.ok("-n", "west", "token", "issue", tok, "--grant", "g1")
	g := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, "g1")
	require.Equal(t, v2alpha1.StatusReady, g.Status.StatusType)
	code := g.Status.Code
	require.NotEmpty(t, code)

	e.ok("-n", "east", "token", "redeem", tok)
	start := time.Now()
	testwait.For(t, failFastBound, "the grant's status to count the redemption", func() (bool, string) {
		g = readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, "g1")
		return g.Status.Redemptions == 1, fmt.Sprintf("redemptions %d, status %s", g.Status.Redemptions, g.Status.StatusType)
	})
	t.Logf("the grant's status counted the redemption %s after token redeem returned", time.Since(start).Round(time.Millisecond))
	assert.NotEqual(t, v2alpha1.StatusReady, g.Status.StatusType)
	c, ok := conditionOf(&g.Status.ResourceStatus, v2alpha1.ConditionRedeemable)
	require.True(t, ok, "%+v", g.Status.Conditions)
	assert.Equal(t, v2alpha1.ReasonUsedUp, c.Reason)

	// A used-up grant issues no token; an existing one with uses left is
	// reused.
	r := e.skupper("-n", "west", "token", "issue", filepath.Join(dir, "again.yaml"), "--grant", "g1")
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, `AccessGrant "g1" cannot issue tokens: All 1 redemption used`)
	tok2 := filepath.Join(dir, "g2.yaml")
	e.ok("-n", "west", "token", "issue", tok2, "--grant", "g2", "--redemptions-allowed", "2")
	tok3 := filepath.Join(dir, "g2-again.yaml")
	r = e.ok("-n", "west", "token", "issue", tok3, "--grant", "g2")
	assert.Contains(t, r.stdout, `The token uses access grant "g2"`)
	e.ok("-n", "east", "token", "redeem", tok2)
	e.ok("-n", "south", "token", "redeem", tok3)

	// An expired grant issues no token either.
	// (On a loaded machine the grant may expire before skupperd serves
	// it: then this first issue fails at once, saying so.)
	r = e.skupper("-n", "west", "token", "issue", filepath.Join(dir, "g3.yaml"), "--grant", "g3", "--expiration-window", "1s")
	if r.code != 0 {
		assert.Equal(t, 1, r.code, r.stdout)
		assert.Contains(t, r.stderr, `AccessGrant "g3" cannot issue tokens: `)
	}
	g3 := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, "g3")
	exp, err := time.Parse(time.RFC3339, g3.Status.ExpirationTime)
	require.NoError(t, err)
	testwait.Until(t, 5*time.Second, "the grant's expiry (the clock itself)", func() bool { return time.Now().After(exp) })
	r = e.skupper("-n", "west", "token", "issue", filepath.Join(dir, "g3-again.yaml"), "--grant", "g3")
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stderr, `AccessGrant "g3" cannot issue tokens: Expired at `+g3.Status.ExpirationTime)

	// debug dump: no grant code, no private key.
	dump := filepath.Join(dir, "dump.tar.gz")
	e.ok("-n", "west", "debug", "dump", dump)
	out, err := exec.Command("tar", "-xzOf", dump).Output()
	require.NoError(t, err)
	assert.NotContains(t, string(out), code)
	assert.NotContains(t, string(out), "PRIVATE KEY")
	assert.Contains(t, string(out), "<redacted>")
}

// TestRoundTrips: link generate -o json applies with system apply -f like
// the YAML form; a site's own token is refused (exit 2, input unchanged);
// link delete removes the credentials the redemption wrote.
func TestRoundTrips(t *testing.T) {
	e := newEnv(t)
	addr := freePort(t)
	startLinkingDaemon(t, e, addr)
	home := namespaces.NewHome(e.home)
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	e.ok("-n", "east", "site", "create", "east", "--wait", "configured")

	// JSON, from a file and from standard input.
	gen := e.ok("-n", "west", "link", "generate", "to-west", "-o", "json").stdout
	file := filepath.Join(t.TempDir(), "link.json")
	require.NoError(t, os.WriteFile(file, []byte(gen), 0o600))
	r := e.ok("-n", "east", "system", "apply", "-f", file)
	assert.Equal(t, "Secret to-west applied\nLink to-west applied\n", r.stdout)
	e.ok("-n", "east", "link", "update", "to-west", "--cost", "3", "--wait", "configured")
	e.ok("-n", "east", "link", "delete", "to-west")
	r = e.okIn(gen, "-n", "east", "system", "apply", "-f", "-")
	assert.Equal(t, "Secret to-west applied\nLink to-west applied\n", r.stdout)
	e.ok("-n", "east", "link", "delete", "to-west")

	// Two links sharing one Secret: link delete, with no terminal to ask
	// on, refuses with a hint and removes nothing.
	yamlGen := e.ok("-n", "west", "link", "generate", "shared").stdout
	parts := strings.SplitN(yamlGen, "---\n", 2)
	require.Len(t, parts, 2, yamlGen)
	second := strings.Replace(parts[1], "name: shared\n", "name: shared-2\n", 1)
	e.okIn(yamlGen+"---\n"+second, "-n", "east", "system", "apply", "-f", "-")
	shared := e.inputSnapshot()
	r = e.skupper("-n", "east", "link", "delete", "shared")
	assert.Equal(t, 2, r.code, r.stdout)
	assert.Contains(t, r.stderr, `the credentials "shared" of Link "shared" are also used by Link/shared-2; give --credentials keep`)
	assert.Equal(t, shared, e.inputSnapshot(), "input unchanged")
	e.ok("-n", "east", "link", "delete", "shared", "--credentials", "keep")
	e.ok("-n", "east", "link", "delete", "shared-2")
	assert.Equal(t, []string{"Site-east.yaml"}, inputNames(t, home.Namespace("east")))

	// A site's own token.
	tok := filepath.Join(t.TempDir(), "token.yaml")
	e.ok("-n", "west", "token", "issue", tok)
	before := e.inputSnapshot()
	r = e.skupper("-n", "west", "token", "redeem", tok)
	assert.Equal(t, 2, r.code, r.stdout)
	assert.Contains(t, r.stderr, "this token was issued by this site")
	assert.Contains(t, r.stderr, "a site cannot link to itself")
	assert.Equal(t, before, e.inputSnapshot(), "input unchanged")

	// link delete removes what the redemption wrote.
	e.ok("-n", "east", "token", "redeem", tok)
	east := home.Namespace("east")
	link := grantOfToken(t, tok)
	l := readObj[*v2alpha1.Link](t, east, v2alpha1.KindLink, link)
	certDir := east.InputCertDir(l.Spec.TLSCredentials)
	require.DirExists(t, certDir)
	r = e.ok("-n", "east", "link", "delete", link)
	assert.Contains(t, r.stdout, "Removed the link's credentials "+certDir)
	assert.NoDirExists(t, certDir)
	assert.Equal(t, []string{"AccessToken-" + link + ".yaml", "Site-east.yaml"}, inputNames(t, east))
}

// inputNames lists the files of a namespace's input/resources.
func inputNames(t *testing.T, ns namespaces.Namespace) []string {
	t.Helper()
	entries, err := os.ReadDir(ns.InputResourcesDir())
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestPortClashesRefusedBeforeWriting: a listener port that clashes with
// another namespace's listener, with a router port skupperd allocated, or
// with a port another process listens on is refused (exit 2) and nothing
// is written; system apply is checked the same way.
func TestPortClashesRefusedBeforeWriting(t *testing.T) {
	e := newEnv(t)
	e.startDaemon("run", "--supervisor", "none")
	home := namespaces.NewHome(e.home)
	e.ok("-n", "west", "site", "create", "west", "--wait", "configured")
	e.ok("-n", "east", "site", "create", "east", "--wait", "configured")
	_, westPort, _ := net.SplitHostPort(freePort(t))
	e.ok("-n", "west", "listener", "create", "web", westPort, "--host", "127.0.0.1")
	routerPort := strconv.Itoa(routerLocalPort(t, home.Namespace("west")))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())

	before := e.inputSnapshot()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "east", "listener", "create", "web", westPort, "--host", "127.0.0.1"},
			`port ` + westPort + ` is already used by Listener/web in namespace "west"`},
		{[]string{"-n", "east", "listener", "create", "web", westPort},
			`port ` + westPort + ` is already used by Listener/web in namespace "west"`},
		{[]string{"-n", "east", "listener", "create", "web", routerPort, "--host", "127.0.0.1"},
			`port ` + routerPort + ` is the router local port of namespace "west", allocated by skupperd`},
		{[]string{"-n", "west", "listener", "create", "api", routerPort},
			`port ` + routerPort + ` is the router local port of namespace "west", allocated by skupperd`},
		{[]string{"-n", "east", "listener", "create", "web", busyPort, "--host", "127.0.0.1"},
			`port ` + busyPort + ` is already in use on this host by another process (listening on 127.0.0.1:` + busyPort + `)`},
		{[]string{"-n", "west", "listener", "update", "web", "--port", busyPort},
			`port ` + busyPort + ` is already in use on this host by another process`},
	} {
		r := e.skupper(tc.args...)
		assert.Equal(t, 2, r.code, "%v: %s%s", tc.args, r.stdout, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
	manifest := "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: web\nspec:\n  routingKey: web\n  host: 127.0.0.1\n  port: " + busyPort + "\n"
	r := e.skupperIn(manifest, "-n", "east", "system", "apply", "-f", "-")
	assert.Equal(t, 2, r.code, r.stdout)
	assert.Contains(t, r.stderr, "Listener/web: spec.port: port "+busyPort+" is already in use on this host by another process")
	assert.Equal(t, before, e.inputSnapshot(), "nothing was written")

	// A clash that appears behind the CLI's back (a file written by hand):
	// only that listener reports Error, naming the port.
	e.ok("-n", "east", "listener", "create", "fine", "--host", "127.0.0.1", strings.Split(freePort(t), ":")[1])
	east := home.Namespace("east")
	clash := "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: late\nspec:\n  routingKey: late\n  host: 127.0.0.1\n  port: " + westPort + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(east.InputResourcesDir(), "late.yaml"), []byte(clash), 0o600))
	testwait.For(t, 20*time.Second, "the late listener to report the clash", func() (bool, string) {
		obj, err := east.ReadStatus(v2alpha1.Key{Kind: v2alpha1.KindListener, Name: "late"})
		if err != nil {
			return false, err.Error()
		}
		st := obj.GetStatus()
		return st.StatusType == v2alpha1.StatusError && strings.Contains(st.Message, "port "+westPort), st.Message
	})
	fine := readObj[*v2alpha1.Listener](t, east, v2alpha1.KindListener, "fine")
	assert.NotEqual(t, v2alpha1.StatusError, fine.Status.StatusType, fine.Status.Message)
	web := readObj[*v2alpha1.Listener](t, home.Namespace("west"), v2alpha1.KindListener, "web")
	assert.NotEqual(t, v2alpha1.StatusError, web.Status.StatusType, web.Status.Message)
}

// TestDebugDumpHasLogsAndChecks: with the real router run by the process
// supervisor, debug dump holds skupperd's recent log, the namespace's lines
// of it with the router's output, and the output of debug check.
func TestDebugDumpHasLogsAndChecks(t *testing.T) {
	bin := realrouter.Binary(t)
	e := newEnv(t)
	t.Cleanup(func() { killRecordedRouters(e) })
	startDaemonProc(t, e, "run", "--supervisor", "process", "--router-binary", bin)
	e.ok("site", "create", "west")
	dump := filepath.Join(t.TempDir(), "dump.tar.gz")
	e.ok("debug", "dump", dump)
	files := map[string]string{}
	list, err := exec.Command("tar", "-tzf", dump).Output()
	require.NoError(t, err)
	for _, name := range strings.Fields(string(list)) {
		out, err := exec.Command("tar", "-xzOf", dump, name).Output()
		require.NoError(t, err)
		files[name] = string(out)
	}
	assert.Contains(t, files["logs/skupperd.log"], "skupperd started")
	ns := files["logs/namespace-default.log"]
	assert.Contains(t, ns, "router started")
	assert.Contains(t, ns, "msg=router ", "the router's own output")
	assert.NotContains(t, ns, "namespace=other")
	assert.Contains(t, files["check.txt"], "OK    skupperd: running")
	assert.Contains(t, files["check.txt"], "router running")
}

// TestTransientCauseKeepsWaiting: a grant server that answers 502 is a
// transient cause: token redeem keeps waiting (the daemon retries), shows
// the cause on a "Waiting for status:" line, and times out. (A 503 is
// retried inside the redemption itself, honouring Retry-After.)
func TestTransientCauseKeepsWaiting(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Internal error", http.StatusBadGateway)
	}))
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	tok := &v2alpha1.AccessToken{
		TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindAccessToken},
		ObjectMeta: v2alpha1.ObjectMeta{Name: "busy"},
		Spec:       v2alpha1.AccessTokenSpec{URL: srv.URL + "/0f6e2c1e-8d5b-4c8e-9a51-3e6f1b7c2d40", Code: "abc", CA: string(ca)},
	}
	data, err := v2alpha1.Marshal(tok)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "token.yaml")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	e := newEnv(t)
	e.startDaemon("run", "--supervisor", "none")
	e.ok("site", "create", "east", "--wait", "configured")
	r, took := e.timed("token", "redeem", file, "--timeout", "3s")
	assert.Equal(t, 1, r.code, r.stdout)
	assert.Contains(t, r.stdout, "Waiting for status: Redemption failed, retrying: Received HTTP Response 502: Internal error")
	assert.Contains(t, r.stderr, `timed out after 3s waiting for token "busy" to be redeemed`)
	assert.GreaterOrEqual(t, took, 3*time.Second)
}
