package main

// Tests of `skupperd run`: flag and environment validation, exit codes,
// the single-instance lock, signals and a graceful stop. The daemon runs as
// a child process (this test binary re-executed, see
// TestSkupperdHelperProcess) so that its signal handling is real.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/testwait"
)

func TestRunUsageErrors(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--data-home", home, "--log-format", "xml"}, `invalid --log-format "xml"`},
		{[]string{"run", "--data-home", home, "--log-level", "loud"}, `invalid --log-level "loud"`},
		{[]string{"run", "--data-home", home, "--supervisor", "docker"}, `invalid --supervisor "docker"`},
		{[]string{"run", "--data-home", home, "--resync", "0s"}, "--resync must be positive"},
		{[]string{"run", "--data-home", home, "--reconcile-timeout", "0s"}, "--reconcile-timeout must be positive"},
		{[]string{"run", "--data-home", home, "-n", "Not_Valid"}, `invalid namespace "Not_Valid"`},
		{[]string{"run", "--data-home", home, "extra"}, "unknown command"},
		{[]string{"--data-home", home, "--bogus"}, "unknown flag"},
	} {
		code, _, errOut := runCmd(t, c.args...)
		require.Equal(t, 2, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want, "%v", c.args)
	}
	// The environment supplies the defaults, and is checked the same way.
	t.Setenv("SKUPPER_SUPERVISOR", "docker")
	code, _, errOut := runCmd(t, "run", "--data-home", home)
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, `invalid --supervisor "docker"`)

	t.Setenv("SKUPPER_SUPERVISOR", "systemd")
	code, _, errOut = runCmd(t, "run", "--data-home", home)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "--supervisor systemd is not available")
}

func TestRunRefusesASecondInstance(t *testing.T) {
	home := t.TempDir()
	release, err := namespaces.NewHome(home).Lock()
	require.NoError(t, err)
	defer release()
	code, _, errOut := runCmd(t, "run", "--data-home", home, "--supervisor", "none")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, fmt.Sprintf("another skupperd (pid %d) manages data home %s", os.Getpid(), home))
}

// TestSkupperdHelperProcess is not a test: it runs skupperd's main when
// the tests re-execute this binary with SKUPPERD_HELPER_PROCESS=1.
func TestSkupperdHelperProcess(t *testing.T) {
	if os.Getenv("SKUPPERD_HELPER_PROCESS") != "1" {
		t.Skip("helper process for the daemon tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// skupperdProc is `skupperd <args>` run as a child process.
type skupperdProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func (p *skupperdProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *skupperdProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// logged returns the JSON log records with message msg.
func (p *skupperdProc) logged(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func startSkupperd(t *testing.T, extraEnv []string, args ...string) *skupperdProc {
	t.Helper()
	p := &skupperdProc{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^TestSkupperdHelperProcess$", "--"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SKUPPER_") {
			env = append(env, kv)
		}
	}
	p.cmd.Env = append(append(env, "SKUPPERD_HELPER_PROCESS=1"), extraEnv...)
	p.cmd.Stderr = p
	p.cmd.Stdout = p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("skupperd output:\n%s", p.output())
		}
	})
	return p
}

// exitCode waits (bounded) for the process and returns its exit code.
func (p *skupperdProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("skupperd did not exit within 30s")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, 20*time.Second, what, cond)
}

func TestRunSignalsAndGracefulStop(t *testing.T) {
	home := t.TempDir()
	res := filepath.Join(home, "namespaces", "west", "input", "resources")
	require.NoError(t, os.MkdirAll(res, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(res, "site.yaml"), []byte("apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n"), 0o600))

	// Settings from the environment.
	p := startSkupperd(t, []string{"SKUPPER_DATA_HOME=" + home, "SKUPPER_GRANT_SERVER_ADDR=127.0.0.1:0", "SKUPPER_SUPERVISOR=none", "SKUPPER_LOG_FORMAT=json", "SKUPPER_LOG_LEVEL=debug"}, "run")
	status := filepath.Join(home, "namespaces", "west", "runtime", "resources", "Site-west.yaml")
	waitUntil(t, "the ready log line", func() bool { return len(p.logged("ready")) == 1 })
	_, err := os.Stat(status)
	require.NoError(t, err)
	started := p.logged("skupperd started")
	require.Len(t, started, 1)
	require.Equal(t, "none", started[0]["supervisor"])
	require.Equal(t, home, started[0]["data_home"])

	// A second daemon on the same home exits 1 at once.
	second := startSkupperd(t, nil, "run", "--data-home", home, "--supervisor", "none")
	require.Equal(t, 1, second.exitCode(t), second.output())
	require.Contains(t, second.output(), fmt.Sprintf("another skupperd (pid %d) manages data home %s", p.cmd.Process.Pid, home))

	// SIGHUP: a full pass, and the daemon keeps running.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	waitUntil(t, "the reload", func() bool { return len(p.logged("reload requested: full pass")) == 1 })
	select {
	case <-p.done:
		t.Fatalf("skupperd exited on SIGHUP: %v", p.err)
	default:
	}

	// SIGTERM: a graceful stop, exit 0, lock released.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.exitCode(t), p.output())
	require.Len(t, p.logged("skupperd stopped"), 1)
	running, _ := namespaces.NewHome(home).DaemonRunning()
	require.False(t, running, "lock still held after exit")

	// SIGINT works the same way.
	p = startSkupperd(t, nil, "--data-home", home, "--supervisor", "none", "--log-format", "json")
	waitUntil(t, "the ready log line", func() bool { return len(p.logged("ready")) == 1 })
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 0, p.exitCode(t), p.output())
}
