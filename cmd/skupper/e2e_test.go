package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/testwait"
)

// bins holds the binaries built once by TestMain: skupper, skupperd and the
// stand-in router.
var bins struct {
	skupper, skupperd, router string
}

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

// buildAndRun builds the binaries into a temporary directory and runs the
// tests.
func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skupper-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is needed to build the binaries:", err)
		return 1
	}
	for _, b := range []struct {
		pkg string
		dst *string
		out string
	}{
		{"github.com/skupperd/skupperd/cmd/skupper", &bins.skupper, "skupper"},
		{"github.com/skupperd/skupperd/cmd/skupperd", &bins.skupperd, "skupperd"},
		{"github.com/skupperd/skupperd/test/standin/skrouterd", &bins.router, "skrouterd"},
	} {
		*b.dst = filepath.Join(dir, b.out)
		cmd := exec.Command(gobin, "build", "-o", *b.dst, b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// env is the environment of one test's processes.
type env struct {
	t    testing.TB
	home string
	vars []string
}

func newEnv(t testing.TB) *env {
	home := t.TempDir()
	return &env{t: t, home: home, vars: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		namespaces.EnvDataHome + "=" + home,
		// The daemon's grant server listens on loopback, on a free port.
		"SKUPPER_GRANT_SERVER_ADDR=127.0.0.1:0",
		"SKUPPER_ADVERTISE_HOST=127.0.0.1",
		// SKUPPER_LOG_LEVEL=debug go test ... shows the daemon's debug
		// lines in the log a failing test prints.
		"SKUPPER_LOG_LEVEL=" + os.Getenv("SKUPPER_LOG_LEVEL"),
	}}
}

// result is one run of the skupper binary.
type result struct {
	code           int
	stdout, stderr string
}

// skupper runs the skupper binary with stdin.
func (e *env) skupperIn(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.skupper, args...)
	cmd.Env = e.vars
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (e *env) skupper(args ...string) result {
	e.t.Helper()
	return e.skupperIn("", args...)
}

// ok runs skupper and requires exit 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.skupper(args...)
	require.Equal(e.t, 0, r.code, "skupper %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// startDaemon runs skupperd with args and waits until it holds the data
// home's lock. It is stopped with SIGTERM at the end of the test.
func (e *env) startDaemon(args ...string) {
	e.t.Helper()
	logPath := filepath.Join(e.t.TempDir(), "skupperd.log")
	logFile, err := os.Create(logPath)
	require.NoError(e.t, err)
	logs := func() string {
		data, _ := os.ReadFile(logPath)
		return string(data)
	}
	cmd := exec.Command(bins.skupperd, args...)
	cmd.Env = e.vars
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(e.t, cmd.Start())
	logFile.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			e.t.Errorf("skupperd did not stop within 30s after SIGTERM")
		}
		if e.t.Failed() {
			e.t.Logf("skupperd log:\n%s", logs())
		}
	})
	home := namespaces.NewHome(e.home)
	var early error
	gone := false
	testwait.For(e.t, 20*time.Second, "skupperd to take its data home's lock", func() (bool, string) {
		select {
		case err := <-exited:
			early, gone = err, true
			exited <- err // for the cleanup
			return true, ""
		default:
		}
		running, _ := home.DaemonRunning()
		return running, "not locked yet; log:\n" + logs()
	})
	if gone {
		e.t.Fatalf("skupperd exited: %v\n%s", early, logs())
	}
}

// inputDir is the default namespace's input/resources.
func (e *env) inputDir() string {
	return namespaces.NewHome(e.home).Namespace("default").InputResourcesDir()
}

// snapshot maps every file under the data home's namespaces to its content.
func (e *env) snapshot() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(e.home, "namespaces"), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = string(data)
		return err
	})
	require.NoError(e.t, err)
	return out
}

// inputSnapshot is the snapshot of input directories only (the daemon
// writes runtime and internal files on its own).
func (e *env) inputSnapshot() map[string]string {
	out := map[string]string{}
	for p, v := range e.snapshot() {
		if strings.Contains(p, string(filepath.Separator)+"input"+string(filepath.Separator)) {
			out[p] = v
		}
	}
	return out
}

const threeDocs = `apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: web
spec:
  routingKey: web
  host: 127.0.0.1
  port: 18081
---
apiVersion: skupper.io/v2alpha1
kind: Connector
metadata:
  name: web
spec:
  routingKey: web
  host: localhost
  port: 8081
---
apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: api
spec:
  routingKey: api
  host: 127.0.0.1
  port: 18082
`

// badInput runs every invalid command and checks that each exits 2 with
// its message and that the input is unchanged.
func badInput(t *testing.T, e *env) {
	dir := t.TempDir()
	unknownKind := filepath.Join(dir, "kind.yaml")
	require.NoError(t, os.WriteFile(unknownKind, []byte("apiVersion: skupper.io/v2alpha1\nkind: Listenr\nmetadata:\n  name: x\n"), 0o600))
	unknownField := filepath.Join(dir, "field.yaml")
	require.NoError(t, os.WriteFile(unknownField, []byte("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: x\nspec:\n  routingKey: x\n  hots: 127.0.0.1\n  port: 80\n"), 0o600))
	before := e.inputSnapshot()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listener", "create"}, "missing <name> and <port>"},
		{[]string{"connector", "create", "x"}, "missing <port>"},
		{[]string{"listener", "create", "x", "80", "extra"}, "too many arguments"},
		{[]string{"listener", "create", "x", "0"}, "port 0 is out of range; expected 1-65535"},
		{[]string{"listener", "create", "x", "70000"}, "port 70000 is out of range; expected 1-65535"},
		{[]string{"connector", "create", "x", "abc"}, `invalid port "abc"`},
		{[]string{"listener", "create", "NotValid", "80"}, `invalid listener name: "NotValid" is not a valid name`},
		{[]string{"site", "create", "my_site"}, `invalid site name: "my_site" is not a valid name`},
		{[]string{"listener", "create", "x", "80", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"listener", "create", "x", "80", "--wait", "bogus"}, `invalid --wait "bogus": expected none, configured or ready`},
		{[]string{"site", "create", "east"}, "There is already a site resource defined for the namespace."},
		{[]string{"listener", "create", "backend", "9999"}, `Listener "backend" already exists`},
		{[]string{"listener", "create", "other", "18080", "--host", "127.0.0.1"}, "clashes with Listener/backend"},
		{[]string{"system", "apply", "-f", unknownKind}, unknownKind + `:2: kind: unknown kind "Listenr"`},
		{[]string{"system", "apply", "-f", unknownField}, unknownField + `:7: Listener/x: spec.hots: unknown field "hots"; did you mean "host"?`},
		{[]string{"system", "apply", "-f", dir}, `The file "` + dir + `" is a directory`},
		{[]string{"system", "apply", "-f", filepath.Join(dir, "missing.yaml")}, "does not exist"},
		{[]string{"--platform", "podman", "site", "status"}, `platform "podman" is not supported by this build; skupper here manages Linux sites (--platform linux)`},
	} {
		r := e.skupper(tc.args...)
		assert.Equal(t, 2, r.code, "skupper %v\nstdout: %s\nstderr: %s", tc.args, r.stdout, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "skupper %v", tc.args)
	}
	assert.Equal(t, before, e.inputSnapshot(), "refused commands write nothing")

	r := e.skupper("listener", "status", "-n", "ghost")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `namespace "ghost" does not exist`)
	r = e.skupper("listener", "delete", "ghost")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `Listener "ghost" does not exist`)
}

// notRunning is what changes print when skupperd does not run.
const notRunning = "skupperd is not running, so the change is not applied yet; start it with \"skupperd run\" (or \"systemctl start skupperd\").\n"

func TestE2EWithoutDaemon(t *testing.T) {
	e := newEnv(t)
	r := e.ok("site", "create", "west", "--enable-link-access")
	assert.Equal(t, fmt.Sprintf("Site \"west\" written to %s.\n%s", filepath.Join(e.inputDir(), "Site-west.yaml"), notRunning), r.stdout)
	e.ok("listener", "create", "backend", "18080", "--host", "127.0.0.1")
	e.ok("connector", "create", "backend", "8080")

	r = e.ok("listener", "status")
	assert.Regexp(t, `backend\s+Pending\s+backend\s+127\.0\.0\.1\s+18080\s+false\s+Not applied yet: skupperd is not running`, r.stdout)
	r = e.ok("connector", "status")
	assert.Regexp(t, `backend\s+Pending\s+backend\s+<none>\s+localhost\s+8080\s+false\s+Not applied yet`, r.stdout)
	r = e.ok("site", "status")
	assert.Regexp(t, `Name:\s+west\nStatus:\s+Pending\nMessage:\s+Not applied yet: skupperd is not running`, r.stdout)

	badInput(t, e)

	e.ok("listener", "update", "backend", "--port", "18090")
	data, err := os.ReadFile(filepath.Join(e.inputDir(), "Listener-backend.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(data), "port: 18090")

	r = e.skupperIn(threeDocs, "system", "apply", "-f", "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Listener web applied\nConnector web applied\nListener api applied\n"+notRunning, r.stdout)
	file := filepath.Join(t.TempDir(), "three.yaml")
	require.NoError(t, os.WriteFile(file, []byte(threeDocs), 0o600))
	r = e.ok("system", "delete", "-f", file)
	assert.Equal(t, "Listener web deleted\nConnector web deleted\nListener api deleted\n"+notRunning, r.stdout)

	e.ok("listener", "delete", "backend")
	e.ok("connector", "delete", "backend")
	entries, err := os.ReadDir(e.inputDir())
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "Site-west.yaml", entries[0].Name())
}

func TestE2EWithDaemon(t *testing.T) {
	e := newEnv(t)
	e.startDaemon("run", "--supervisor", "none", "--data-home", e.home)

	// Without a router (--supervisor none) the site is configured but
	// never running, so it is waited for as configured.
	r := e.ok("site", "create", "west", "--enable-link-access", "--wait", "configured")
	assert.Equal(t, "Waiting for status...\nSite \"west\" is configured.\n", r.stdout)
	r = e.ok("listener", "create", "backend", "18080", "--host", "127.0.0.1")
	assert.Equal(t, "Waiting for status...\nListener \"backend\" is configured.\n", r.stdout)
	r = e.ok("connector", "create", "backend", "8080")
	assert.Equal(t, "Waiting for status...\nConnector \"backend\" is configured.\n", r.stdout)

	r = e.ok("listener", "status")
	assert.Regexp(t, `backend\s+Ready\s+backend\s+127\.0\.0\.1\s+18080\s+true\s+OK`, r.stdout)
	r = e.ok("connector", "status", "backend")
	assert.Regexp(t, `Status:\s+Ready\n`, r.stdout)
	r = e.ok("site", "status")
	assert.Regexp(t, `Name:\s+west\nStatus:\s+Pending\nMessage:\s+router supervision is disabled`, r.stdout)
	r = e.ok("system", "status")
	assert.Contains(t, r.stdout, "skupperd is running (pid ")
	r = e.ok("link", "generate")
	assert.Contains(t, r.stdout, "kind: Link")
	r = e.ok("version")
	assert.Regexp(t, `controller\s+dev\n`, r.stdout, "the running skupperd reports its version")

	badInput(t, e)

	r = e.ok("listener", "update", "backend", "--port", "18090")
	assert.Equal(t, "Waiting for status...\nListener \"backend\" is configured.\n", r.stdout)
	r = e.ok("connector", "update", "backend", "--port", "8090")
	assert.Equal(t, "Waiting for status...\nConnector \"backend\" is configured.\n", r.stdout)
	r = e.ok("listener", "status", "backend")
	assert.Regexp(t, `Port:\s+18090\n`, r.stdout)

	r = e.skupperIn(threeDocs, "system", "apply", "-f", "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Listener web applied\nConnector web applied\nListener api applied\n", r.stdout)
	file := filepath.Join(t.TempDir(), "three.yaml")
	require.NoError(t, os.WriteFile(file, []byte(threeDocs), 0o600))
	r = e.ok("system", "delete", "-f", file)
	assert.Equal(t, "Listener web deleted\nConnector web deleted\nListener api deleted\n", r.stdout)

	r = e.ok("listener", "delete", "backend")
	assert.Equal(t, "Waiting for deletion...\nListener \"backend\" is deleted.\n", r.stdout)
	r = e.ok("connector", "delete", "backend")
	assert.Equal(t, "Waiting for deletion...\nConnector \"backend\" is deleted.\n", r.stdout)
	r = e.ok("site", "delete")
	assert.Equal(t, "Waiting for deletion...\nSite \"west\" is deleted.\n", r.stdout)
}

// walkthrough returns the commands of the README's CLI walkthrough: the
// lines of the fenced block between the walkthrough markers.
func walkthrough(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	text := string(data)
	_, rest, ok := strings.Cut(text, "<!-- skupper-cli-walkthrough:begin -->")
	require.True(t, ok, "README.md has no walkthrough begin marker")
	block, _, ok := strings.Cut(rest, "<!-- skupper-cli-walkthrough:end -->")
	require.True(t, ok, "README.md has no walkthrough end marker")
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(block))
	inFence := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
			continue
		}
		if inFence && l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines)
	return lines
}

// walkthroughPorts returns the ports of the walkthrough's "skupper <kind>
// create <name> <port>" lines (kind listener: the ports its listeners bind
// on this host).
func walkthroughPorts(lines []string, kind string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 5 && f[0] == "skupper" && f[1] == kind && f[2] == "create" {
			out = append(out, f[4])
		}
	}
	return out
}

// skipIfPortsTaken skips the test when one of ports is in use on this
// host: the walkthrough binds fixed ports, and a port taken by something
// else is a reason outside the code.
func skipIfPortsTaken(t *testing.T, ports []string) {
	t.Helper()
	for _, port := range ports {
		ln, err := net.Listen("tcp", ":"+port)
		if err != nil {
			t.Skipf("port %s is in use on this host: %v", port, err)
		}
		ln.Close()
	}
}

// runWalkthrough runs the walkthrough's lines in e, with skupperd using
// routerBinary, and checks what every step printed.
func runWalkthrough(t *testing.T, e *env, lines []string, routerBinary string) {
	t.Helper()
	e.vars = append(e.vars, "SKUPPER_ROUTER_BINARY="+routerBinary)
	var outputs []string
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case f[0] == "skupperd" && f[len(f)-1] == "&":
			e.startDaemon(f[1 : len(f)-1]...)
		case f[0] == "skupper":
			r := e.ok(f[1:]...)
			outputs = append(outputs, r.stdout)
		default:
			t.Fatalf("the walkthrough has a line this test cannot run: %q", l)
		}
	}
	all := strings.Join(outputs, "")
	assert.Contains(t, all, "Site \"west\" is ready.")
	assert.Contains(t, all, "Connector \"backend\" is configured.")
	assert.Contains(t, all, "Listener \"backend\" is configured.")
	// (The site status right after a change may read "Router starting":
	// skupperd restarts the router when its configuration changes.)
	assert.Regexp(t, `Name:\s+west\nStatus:\s+\w+\n`, all)
	assert.Regexp(t, `backend\s+Ready\s+backend\s+0\.0\.0\.0\s+8081\s+true\s+OK`, all)
	assert.Regexp(t, `backend\s+Ready\s+backend\s+<none>\s+localhost\s+8080\s+true\s+OK`, all)
}

// checkWalkthroughSettles waits until the site is ready again after the
// walkthrough's last router restart (a new listener changes its
// configuration) and checks that the checks of "skupper debug check" pass.
func checkWalkthroughSettles(t *testing.T, e *env) {
	t.Helper()
	testwait.For(t, 30*time.Second, "the site to become ready again", func() (bool, string) {
		out := e.ok("site", "status").stdout
		return strings.Contains(out, "Status:    Ready\n"), out
	})
	r := e.ok("debug", "check")
	for _, check := range []string{"skupperd", "router installed", "router running", "ports bound", "certificates", "namespace diagnostics"} {
		assert.Contains(t, r.stdout, "OK    "+check+": ")
	}
}

// TestREADMEWalkthrough runs exactly the commands of the README's "Using
// the skupper CLI" walkthrough, with skupperd supervising the stand-in
// router, and checks that every step succeeds.
func TestREADMEWalkthrough(t *testing.T) {
	lines := walkthrough(t)
	// The walkthrough binds listener ports on this host; skip when one is
	// taken rather than fail for a reason outside the code.
	skipIfPortsTaken(t, walkthroughPorts(lines, "listener"))
	e := newEnv(t)
	runWalkthrough(t, e, lines, bins.router)
	checkWalkthroughSettles(t, e)
}
