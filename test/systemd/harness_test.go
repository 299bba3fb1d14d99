//go:build linux

// Package harness is the real-systemd integration test of skupperd.
//
// TestRealSystemd boots systemd as PID 1 of a private PID and mount
// namespace (unshare --pid --fork --mount --mount-proc --propagation
// private /lib/systemd/systemd --system), installs the skupperd .deb built
// by `make deb` inside it, and drives skupperd through its whole life under
// systemd: install (Type=notify reaches active), a Site + Listener dropped
// into input gets its skupper-<ns>.service written, verified and started,
// a configuration change restarts it, kill -9 of the daemon is followed by
// a systemd restart and convergence, removing the Site stops and removes
// the unit, uninstall leaves no unit behind, and removing the package
// keeps the data home.
//
// The router units run the real skupper-router when skrouterd is
// installed on the host (the namespace sees the host's /usr through its
// overlay): the site then also has a Connector to an echo server the test
// runs on 127.0.0.1 (the namespace shares the host's network namespace),
// and bytes must come back through the Listener after every start of the
// unit. Without it (SKUPPERD_REQUIRE_ROUTER=1 makes that a failure), the
// stand-in router is installed in the namespace on the unit's path.
//
// Isolation: a mount namespace does not isolate files, and systemd at boot
// writes /etc, /var and /run and empties /tmp (systemd-tmpfiles). Before
// systemd starts, the namespace therefore gets copy-on-write overlays over
// /etc, /usr, /var, /root and /home (upper layers on a tmpfs) and fresh
// tmpfs on /run and /tmp, so the package, units and data home it creates
// never reach the host. The test's build directory is bind-mounted at
// /run/skupperd-harness.
//
// It runs as root where /lib/systemd/systemd, unshare, nsenter and dpkg
// exist, and skips otherwise, unless SKUPPERD_REQUIRE_SYSTEMD_HARNESS=1
// (set by .ci/run), which turns a missing prerequisite into a failure.
// systemd is always powered off (t.Cleanup; SIGKILL of the namespace's PID
// 1 as last resort).
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/systemd"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

const (
	requireEnv = "SKUPPERD_REQUIRE_SYSTEMD_HARNESS"
	helperEnv  = "SKUPPERD_HARNESS_HELPER"
	// inside is where the test's build directory appears in the namespace.
	inside   = "/run/skupperd-harness"
	dataHome = "/var/lib/skupper"
	// trafficTimeout bounds a wait for bytes to cross a real router unit
	// (its start or restart, and the listener binding once the connector's
	// address is reachable).
	trafficTimeout = 60 * time.Second
)

// TestMain doubles as the in-namespace helper that calls the install API
// when the skupper CLI has no `system install` yet.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper runs systemd.InstallDaemon or UninstallDaemon (system manager)
// and prints the result as JSON; exit 3 means "refused: active sites".
func helper(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res any
	var err error
	switch mode {
	case "install":
		res, err = systemd.InstallDaemon(ctx, systemd.InstallOptions{})
	case "uninstall", "uninstall-force":
		res, err = systemd.UninstallDaemon(ctx, systemd.UninstallOptions{DataHome: dataHome, Force: mode == "uninstall-force"})
	case "install-user":
		res, err = systemd.InstallDaemon(ctx, systemd.InstallOptions{User: true})
	case "uninstall-user-force":
		home, _ := os.UserHomeDir()
		res, err = systemd.UninstallDaemon(ctx, systemd.UninstallOptions{User: true, Force: true, DataHome: filepath.Join(home, ".local/share/skupper")})
	case "client-checks":
		res, err = clientChecks(ctx)
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		var active *systemd.ActiveSitesError
		if errors.As(err, &active) {
			return 3
		}
		return 1
	}
	return 0
}

// clientChecks exercises the D-Bus client's edge cases against the real
// manager: unknown units, a unit whose start fails, reset-failed.
func clientChecks(ctx context.Context) (any, error) {
	c, err := systemd.Connect(ctx, false)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var done []string
	check := func(what string, ok bool, detail any) error {
		if !ok {
			return fmt.Errorf("%s: %v", what, detail)
		}
		done = append(done, what)
		return nil
	}
	const missing = "skupper-harness-missing.service"
	if err := check("stop of an unknown unit is not an error", c.Stop(ctx, missing) == nil, c.Stop(ctx, missing)); err != nil {
		return done, err
	}
	err = c.Start(ctx, missing)
	if err := check("start of an unknown unit is ErrNoSuchUnit", errors.Is(err, systemd.ErrNoSuchUnit), err); err != nil {
		return done, err
	}
	st, err := c.UnitState(ctx, missing)
	if err := check("an unknown unit is not-found", err == nil && st.LoadState == "not-found" && !st.Active(), fmt.Sprint(st, err)); err != nil {
		return done, err
	}
	if _, err := c.Disable(ctx, missing); err != nil {
		return done, fmt.Errorf("disable of an unknown unit: %w", err)
	}
	// A unit whose start job fails reports a JobError with the service
	// result, and reset-failed clears it (twice is fine).
	const failing = "skupperd-harness-fails.service"
	if err := os.WriteFile("/run/systemd/system/"+failing, []byte("[Service]\nType=oneshot\nExecStart=/bin/false\n"), 0o644); err != nil {
		return done, err
	}
	if err := c.DaemonReload(ctx); err != nil {
		return done, err
	}
	err = c.Start(ctx, failing)
	var jerr *systemd.JobError
	if err := check("a failing start is a JobError with its result", errors.As(err, &jerr) && jerr.Result == "failed" && jerr.ServiceResult == "exit-code", err); err != nil {
		return done, err
	}
	st, _ = c.UnitState(ctx, failing)
	if err := check("the failing unit is failed", st.ActiveState == "failed", st); err != nil {
		return done, err
	}
	units, err := c.ListUnits(ctx, "skupperd-harness-*")
	if err := check("ListUnits by pattern finds the loaded (failed) unit", err == nil && len(units) == 1 && units[0].Name == failing, fmt.Sprint(units, err)); err != nil {
		return done, err
	}
	first := c.ResetFailed(ctx, failing)
	again := c.ResetFailed(ctx, failing) // not failed any more: still no error
	if err := check("reset-failed, twice", first == nil && again == nil, fmt.Sprint(first, again)); err != nil {
		return done, err
	}
	st, _ = c.UnitState(ctx, failing)
	if err := check("reset-failed clears the failed state", st.ActiveState == "inactive", st); err != nil {
		return done, err
	}
	if err := os.Remove("/run/systemd/system/" + failing); err != nil {
		return done, err
	}
	return done, c.DaemonReload(ctx)
}

// prerequisites returns why the harness cannot run here, or "".
func prerequisites() string {
	if runtime.GOOS != "linux" {
		return "not Linux"
	}
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, p := range []string{"/lib/systemd/systemd", "/usr/bin/systemctl"} {
		if _, err := os.Stat(p); err != nil {
			return p + " is missing (apt-get install systemd)"
		}
	}
	for _, c := range []string{"unshare", "nsenter", "dpkg", "make", "mount"} {
		if _, err := exec.LookPath(c); err != nil {
			return c + " is not installed"
		}
	}
	if err := exec.Command("unshare", "--mount", "--pid", "--fork", "true").Run(); err != nil {
		return "unshare --mount --pid does not work here: " + err.Error()
	}
	return ""
}

// systemdSupervisorMissing returns why skupperd cannot run routers as
// systemd units: cmd/skupperd does not wire --supervisor systemd to
// systemd.NewSupervisor yet. It returns "" when it does.
func systemdSupervisorMissing(repo string) string {
	files, _ := filepath.Glob(filepath.Join(repo, "cmd", "skupperd", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte("systemd.NewSupervisor(")) {
			return ""
		}
	}
	return "skupperd does not support --supervisor systemd yet: cmd/skupperd must wire it to systemd.NewSupervisor (see systemd/doc.go)"
}

// ns is a booted systemd in its namespaces.
type ns struct {
	t     *testing.T
	pid   int // host PID of the namespace's PID 1 (systemd)
	cmd   *exec.Cmd
	exit  chan error
	log   string // file receiving the namespace's console output
	start time.Time
}

// bootScript prepares the namespace's mounts and execs systemd as PID 1.
// (mount -n: nothing is recorded in the host's /run/mount/utab.)
const bootScript = `set -eu
stage=$1
ovl=$stage/ovl
mkdir -p "$ovl"
mount -n -t tmpfs -o mode=0755 skupperd-harness-ovl "$ovl"
for d in etc usr var root home; do
	[ -d "/$d" ] || continue
	mkdir -p "$ovl/$d.up" "$ovl/$d.work"
	mount -n -t overlay "skupperd-harness-$d" -o "lowerdir=/$d,upperdir=$ovl/$d.up,workdir=$ovl/$d.work" "/$d"
done
mount -n -t tmpfs -o mode=0755 skupperd-harness-run /run
mkdir -p ` + inside + `
mount -n --bind "$stage" ` + inside + `
mount -n -t tmpfs -o mode=1777 skupperd-harness-tmp /tmp
exec /lib/systemd/systemd --system --show-status=no
`

// boot starts systemd and waits until it reports running (or degraded).
func boot(t *testing.T, stage string) *ns {
	t.Helper()
	n := &ns{t: t, exit: make(chan error, 1), log: filepath.Join(stage, "console.log"), start: time.Now()}
	console, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	// --kill-child: if unshare dies (this test killed), the namespace's
	// PID 1 gets SIGKILL, which ends the whole PID namespace.
	n.cmd = exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--propagation", "private",
		"/bin/sh", "-c", bootScript, "boot", stage)
	n.cmd.Stdout, n.cmd.Stderr = console, console
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start unshare: %v", err)
	}
	go func() { n.exit <- n.cmd.Wait() }()
	t.Cleanup(n.poweroff)

	// The namespace's PID 1 is unshare's child, once it has exec'd systemd.
	n.waitFor("systemd to be PID 1 of the namespace", 30*time.Second, func() (bool, string) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", n.cmd.Process.Pid, n.cmd.Process.Pid))
		if err != nil {
			return false, err.Error()
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			return false, "no child yet"
		}
		pid, _ := strconv.Atoi(f[0])
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) != "systemd" {
			return false, "child is " + strings.TrimSpace(string(comm))
		}
		n.pid = pid
		return true, ""
	})
	n.waitFor("systemctl is-system-running", 5*time.Minute, func() (bool, string) {
		out, _ := n.sh("systemctl is-system-running")
		s := strings.TrimSpace(out)
		return s == "running" || s == "degraded", s
	})
	t.Logf("systemd booted in %s (namespace PID 1 = host pid %d)", time.Since(n.start).Round(time.Millisecond), n.pid)
	if out, _ := n.sh("systemctl --failed --no-legend --plain"); strings.TrimSpace(out) != "" {
		t.Logf("units failed at boot (not ours):\n%s", out)
	}
	return n
}

// poweroff ends the namespace: systemctl poweroff, then SIGKILL of its
// PID 1 (which kills every process in the PID namespace) if it lingers.
func (n *ns) poweroff() {
	if n.pid > 0 {
		cmd := exec.Command("nsenter", "-t", strconv.Itoa(n.pid), "-m", "-p", "systemctl", "poweroff", "--no-block")
		_ = cmd.Run()
	}
	select {
	case <-n.exit:
		n.t.Logf("systemd powered off (namespace lived %s)", time.Since(n.start).Round(time.Millisecond))
		return
	case <-time.After(45 * time.Second):
	}
	n.t.Errorf("systemd did not power off within 45s; killing the namespace")
	if n.pid > 0 {
		_ = syscall.Kill(n.pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-n.exit:
	case <-time.After(15 * time.Second):
		n.t.Errorf("unshare (pid %d) still running after SIGKILL", n.cmd.Process.Pid)
	}
}

// sh runs a shell script inside the namespace (bounded to 3 minutes).
func (n *ns) sh(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(n.pid), "-m", "-p", "--", "/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a script and fails the test if it fails.
func (n *ns) must(script string) string {
	n.t.Helper()
	out, err := n.sh(script)
	if err != nil {
		n.t.Fatalf("in the namespace: %s: %v\n%s", script, err, out)
	}
	return out
}

// path is the host path of a file of the namespace.
func (n *ns) path(p string) string { return fmt.Sprintf("/proc/%d/root%s", n.pid, p) }

// show returns systemctl show properties of a unit.
func (n *ns) show(unit string) map[string]string {
	out, _ := n.sh("systemctl show -p LoadState -p ActiveState -p SubState -p MainPID -p NRestarts -p UnitFileState -p Result " + unit)
	m := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

// waitFor polls cond until it holds or timeout passes (then the test fails
// with cond's last explanation).
func (n *ns) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	n.t.Helper()
	testwait.For(n.t, timeout, what, cond)
}

// waitTraffic waits until msg comes back through 127.0.0.1:port: a
// listener of a router unit carries bytes to the echo server behind the
// site's connector. (The namespace shares the host's network namespace,
// so loopback is the same on both sides.)
func (n *ns) waitTraffic(port int, msg string) time.Duration {
	n.t.Helper()
	start := time.Now()
	testwait.For(n.t, trafficTimeout, fmt.Sprintf("%q echoed through the router's listener on port %d", msg, port),
		realrouter.EchoCheck(port, msg))
	return time.Since(start)
}

// dumpOnFailure prints what helps to understand a failure (always with
// SKUPPERD_HARNESS_DUMP=1).
func (n *ns) dumpOnFailure() {
	if (!n.t.Failed() && os.Getenv("SKUPPERD_HARNESS_DUMP") != "1") || n.pid == 0 {
		return
	}
	for _, s := range []string{
		"systemctl list-units --all --no-pager --plain 'skupper*'",
		"systemctl status --no-pager -l skupperd.service 'skupper-*.service'",
		"journalctl --no-pager -o short-monotonic -u skupperd.service -u 'skupper-*.service' | tail -n 200",
		"ls -la /etc/systemd/system; cat /etc/systemd/system/skupper-*.service",
		"find " + dataHome + " -maxdepth 4; cat " + dataHome + "/namespaces/*/internal/status.yaml",
	} {
		out, _ := n.sh(s)
		n.t.Logf("$ %s\n%s", s, out)
	}
	if data, err := os.ReadFile(n.log); err == nil {
		n.t.Logf("namespace console:\n%s", data)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "packaging", "nfpm.yaml")); err != nil {
		t.Fatalf("repository root not found at %s: %v", dir, err)
	}
	return dir
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

const siteYAML = `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
spec:
  linkAccess: none
`

// connectorYAML is the site's connector to the echo server on port, for
// the real router: its tcpListener binds only while a connector for the
// routing key is reachable.
func connectorYAML(port int) string {
	return fmt.Sprintf(`apiVersion: skupper.io/v2alpha1
kind: Connector
metadata:
  name: backend
spec:
  routingKey: backend
  host: 127.0.0.1
  port: %d
`, port)
}

func listenerYAML(port int) string {
	return fmt.Sprintf(`apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: backend
spec:
  routingKey: backend
  host: 127.0.0.1
  port: %d
`, port)
}

func TestRealSystemd(t *testing.T) {
	if why := prerequisites(); why != "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("the real-systemd harness cannot run: %s (%s=1 requires it)", why, requireEnv)
		}
		t.Skipf("the real-systemd harness cannot run: %s (set %s=1 to make this a failure)", why, requireEnv)
	}
	begin := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%6.1fs] %s", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
	}
	// The router units run the real router when it is installed on the
	// host (the namespace sees the host's /usr through its overlay), and
	// traffic through them is checked; else the stand-in, installed in the
	// namespace only. SKUPPERD_REQUIRE_ROUTER=1 requires the real one.
	_, lookupErr := realrouter.Lookup()
	realRouter := lookupErr == nil
	if !realRouter && os.Getenv(realrouter.RequireEnv) == "1" {
		realrouter.Binary(t) // fails, naming the package
	}
	repo := repoRoot(t)
	if why := systemdSupervisorMissing(repo); why != "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s (%s=1 requires the harness)", why, requireEnv)
		}
		t.Skip(why)
	}
	stage := t.TempDir()
	if err := os.Chmod(stage, 0o755); err != nil {
		t.Fatal(err)
	}

	// Build on the host: the package (make deb), the stand-in router and a
	// copy of this test binary as the install-API helper.
	step("building the .deb (make deb)")
	run(t, repo, nil, "make", "deb", "BIN="+filepath.Join(stage, "bin"), "DIST="+filepath.Join(stage, "dist"))
	debs, _ := filepath.Glob(filepath.Join(stage, "dist", "skupperd_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb produced %v", debs)
	}
	deb := inside + "/dist/" + filepath.Base(debs[0])
	run(t, repo, []string{"CGO_ENABLED=0"}, "go", "build", "-o", filepath.Join(stage, "skrouterd-standin"), "./test/standin/skrouterd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run(t, repo, nil, "cp", self, filepath.Join(stage, "helper"))
	step("built")

	n := boot(t, stage)
	t.Cleanup(n.dumpOnFailure)
	step("systemd is running")

	// Nothing of ours exists in the fresh namespace.
	if out, _ := n.sh("ls /usr/bin/skupperd /etc/systemd/system/skupper-*.service " + dataHome + " 2>/dev/null"); strings.TrimSpace(out) != "" {
		t.Fatalf("the namespace is not pristine:\n%s", out)
	}

	// Install the package; the unit files it ships pass systemd-analyze.
	n.must("dpkg -i " + deb)
	n.must("systemd-analyze verify /usr/lib/systemd/system/skupperd.service")
	if st := n.show("skupperd.service"); st["UnitFileState"] != "enabled" || st["ActiveState"] != "inactive" {
		t.Fatalf("after dpkg -i, skupperd.service should be enabled and not started: %v", st)
	}
	step("package installed: skupperd.service enabled")

	// The real router when present, else the stand-in where the unit
	// will look for it.
	routerBin := strings.TrimSpace(n.must("command -v skrouterd || true"))
	switch {
	case realRouter && routerBin == "":
		t.Fatalf("skrouterd is installed on the host but not found in the namespace")
	case realRouter:
		step("real router: %s %s", routerBin, strings.TrimSpace(n.must(routerBin+" --version")))
	case routerBin == "":
		routerBin = "/usr/sbin/skrouterd"
		n.must("install -m 0755 " + inside + "/skrouterd-standin " + routerBin)
		step("stand-in router installed at %s", routerBin)
	default:
		t.Fatalf("the namespace has a router at %s that the host does not have", routerBin)
	}
	// With the real router, the site gets a connector to an echo server
	// (on the host's loopback, which the namespace shares) and bytes must
	// cross every router unit through the listener.
	echo := 0
	if realRouter {
		echo = realrouter.EchoServer(t)
	}

	// The D-Bus client against the real manager.
	step("client checks: %s", strings.TrimSpace(n.must(helperEnvFor("client-checks")+" "+inside+"/helper")))

	// A short watchdog for the test: skupperd must keep pinging it.
	n.must("mkdir -p /etc/systemd/system/skupperd.service.d && printf '[Service]\\nWatchdogSec=2s\\n' > /etc/systemd/system/skupperd.service.d/50-harness-watchdog.conf")

	// skupper system install when the CLI has it, else the install API.
	installCmd := inside + "/helper"
	if out, _ := n.sh("skupper system install --help 2>&1"); strings.Contains(out, "skupper system install") {
		installCmd = "skupper system install"
	}
	out := n.must(helperEnvFor("install") + " " + installCmd)
	step("%s: %s", installCmd, strings.TrimSpace(out))
	st := n.show("skupperd.service")
	if st["ActiveState"] != "active" || st["SubState"] != "running" {
		t.Fatalf("skupperd.service after install: %v", st)
	}
	daemonPID := st["MainPID"]
	// Idempotent.
	n.must(helperEnvFor("install") + " " + installCmd)
	if st := n.show("skupperd.service"); st["MainPID"] != daemonPID || st["ActiveState"] != "active" {
		t.Fatalf("a second install changed the daemon: %v (pid was %s)", st, daemonPID)
	}
	step("skupperd active (Type=notify), pid %s; second install left it alone", daemonPID)
	time.Sleep(5 * time.Second) // 2.5 watchdog periods
	st = n.show("skupperd.service")
	if st["MainPID"] != daemonPID || st["ActiveState"] != "active" || st["NRestarts"] != "0" {
		t.Fatalf("skupperd did not survive a 2s watchdog: %v", st)
	}
	if wd := strings.TrimSpace(n.must("systemctl show -p WatchdogTimestampMonotonic --value skupperd.service")); wd == "" || wd == "0" {
		t.Fatalf("skupperd never pinged the watchdog (WatchdogTimestampMonotonic=%q)", wd)
	}
	step("watchdog: skupperd pings it (WatchdogSec=2s drop-in, 5s later still pid %s)", daemonPID)

	// A Site + Listener gets its router unit.
	res := dataHome + "/namespaces/west/input/resources"
	n.must("mkdir -p " + res + " && chmod 0700 " + dataHome + "/namespaces/west " + dataHome + "/namespaces/west/input " + res)
	writeFile(t, n.path(res+"/listener.yaml"), listenerYAML(18080))
	if realRouter {
		writeFile(t, n.path(res+"/connector.yaml"), connectorYAML(echo))
	}
	writeFile(t, n.path(res+"/site.yaml"), siteYAML)
	unit := "skupper-west.service"
	unitFile := "/etc/systemd/system/" + unit
	var routerPID string
	n.waitFor(unit+" running", 60*time.Second, func() (bool, string) {
		st := n.show(unit)
		routerPID = st["MainPID"]
		return st["ActiveState"] == "active" && st["SubState"] == "running" && routerPID != "0", fmt.Sprint(st)
	})
	n.waitFor("the site's status to report the router running", 30*time.Second, func() (bool, string) {
		out, _ := n.sh("cat " + dataHome + "/namespaces/west/internal/status.yaml")
		return strings.Contains(out, "router: Running"), out
	})
	if st := n.show(unit); st["UnitFileState"] != "enabled" {
		t.Fatalf("%s is not enabled: %v", unit, st)
	}
	unitText := n.must("cat " + unitFile)
	for _, want := range []string{
		"ExecStart=\"" + routerBin + "\" -c \"" + dataHome + "/namespaces/west/runtime/router/skrouterd.json\"",
		"Environment=\"SKUPPER_SITE_ID=", "Restart=always", "StartLimitBurst=", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(unitText, want) {
			t.Errorf("%s lacks %q:\n%s", unitFile, want, unitText)
		}
	}
	n.must("systemd-analyze verify " + unitFile)
	n.must("cat /proc/" + routerPID + "/environ | tr '\\0' '\\n' | grep -q '^SKUPPER_SITE_ID=.'")
	step("%s written, verified and running (pid %s), status Running", unit, routerPID)
	if realRouter {
		took := n.waitTraffic(18080, "hello through the router unit")
		step("traffic: port 18080 -> %s -> echo server on port %d (%s)", unit, echo, took.Round(time.Millisecond))
	}

	// A configuration change reaches the router: applied at run time
	// through management with the real router (same process), by a
	// restart with the stand-in (which speaks no management).
	writeFile(t, n.path(res+"/listener.yaml"), listenerYAML(18081))
	if !realRouter {
		n.waitFor(unit+" restarted with a new main pid", 60*time.Second, func() (bool, string) {
			st := n.show(unit)
			return st["ActiveState"] == "active" && st["SubState"] == "running" && st["MainPID"] != routerPID && st["MainPID"] != "0", fmt.Sprint(st)
		})
	}
	n.waitFor("the router to listen on the new port", 30*time.Second, func() (bool, string) {
		out, err := n.sh("grep -q 18081 " + dataHome + "/namespaces/west/runtime/router/skrouterd.json && ss -ltnH 'sport = :18081'")
		return err == nil && strings.Contains(out, "18081"), out
	})
	newPID := n.show(unit)["MainPID"]
	if realRouter {
		if newPID != routerPID {
			t.Errorf("a listener change restarted the router (pid %s -> %s); it must be applied at run time", routerPID, newPID)
		}
		took := n.waitTraffic(18081, "hello after a configuration change")
		step("config change applied at run time: %s kept pid %s; traffic on the new port 18081 (%s)", unit, newPID, took.Round(time.Millisecond))
	} else {
		step("config change: %s restarted (pid %s -> %s)", unit, routerPID, newPID)
	}
	routerPID = newPID

	// kill -9 of the daemon: systemd restarts it, and it converges (the
	// router is left alone; a change after the restart is applied).
	n.must("kill -9 " + daemonPID)
	n.waitFor("skupperd.service to be restarted by systemd", 60*time.Second, func() (bool, string) {
		st := n.show("skupperd.service")
		return st["ActiveState"] == "active" && st["SubState"] == "running" && st["MainPID"] != daemonPID && st["MainPID"] != "0", fmt.Sprint(st)
	})
	st = n.show("skupperd.service")
	step("skupperd killed (-9): restarted by systemd, pid %s -> %s, NRestarts=%s", daemonPID, st["MainPID"], st["NRestarts"])
	daemonPID = st["MainPID"]
	if st := n.show(unit); st["MainPID"] != routerPID {
		t.Errorf("the daemon's restart restarted the router: %v (pid was %s)", st, routerPID)
	}
	writeFile(t, n.path(res+"/listener.yaml"), listenerYAML(18082))
	n.waitFor("the router to listen on port 18082", 60*time.Second, func() (bool, string) {
		st := n.show(unit)
		out, err := n.sh("ss -ltnH 'sport = :18082'")
		return st["ActiveState"] == "active" && st["SubState"] == "running" && err == nil && strings.Contains(out, "18082"), fmt.Sprint(st, " ", out)
	})
	n.waitFor("the status to report the router running", 30*time.Second, func() (bool, string) {
		out, _ := n.sh("cat " + dataHome + "/namespaces/west/internal/status.yaml")
		return strings.Contains(out, "router: Running"), out
	})
	step("converged after the daemon's restart: the change reached the router (pid %s -> %s)", routerPID, n.show(unit)["MainPID"])
	if realRouter {
		took := n.waitTraffic(18082, "hello after the daemon's restart")
		step("traffic through the router on port 18082 after the daemon's restart (%s)", took.Round(time.Millisecond))
	}

	// Removing the Site stops, disables and removes the unit.
	if err := os.Remove(n.path(res + "/site.yaml")); err != nil {
		t.Fatal(err)
	}
	n.waitFor(unit+" stopped and removed", 60*time.Second, func() (bool, string) {
		st := n.show(unit)
		_, err := os.Stat(n.path(unitFile))
		return st["LoadState"] == "not-found" && st["ActiveState"] == "inactive" && os.IsNotExist(err), fmt.Sprint(st, " file: ", err)
	})
	if out, _ := n.sh("ls /etc/systemd/system/*.wants/ | grep skupper-"); strings.TrimSpace(out) != "" {
		t.Errorf("enablement symlinks left behind: %s", out)
	}
	step("Site removed: %s stopped, disabled and deleted", unit)

	// Uninstall: refused while a site is active, forced, no unit left.
	n.must("rm -r /etc/systemd/system/skupperd.service.d")
	writeFile(t, n.path(res+"/site.yaml"), siteYAML)
	n.waitFor(unit+" running again", 60*time.Second, func() (bool, string) {
		st := n.show(unit)
		return st["ActiveState"] == "active" && st["SubState"] == "running", fmt.Sprint(st)
	})
	uninstallCmd, forceCmd := inside+"/helper", inside+"/helper"
	if out, _ := n.sh("skupper system uninstall --help 2>&1"); strings.Contains(out, "skupper system uninstall") {
		uninstallCmd, forceCmd = "skupper system uninstall", "skupper system uninstall --force"
	}
	out, err = n.sh(helperEnvFor("uninstall") + " " + uninstallCmd)
	if err == nil {
		t.Fatalf("uninstall with an active site should be refused:\n%s", out)
	}
	if st := n.show(unit); st["ActiveState"] != "active" {
		t.Fatalf("a refused uninstall stopped the router: %v", st)
	}
	step("uninstall refused while site west is active: %s", strings.TrimSpace(out))
	out = n.must(helperEnvFor("uninstall-force") + " " + forceCmd)
	step("forced uninstall: %s", strings.TrimSpace(out))
	if out, _ := n.sh("systemctl list-units --all --no-legend --plain 'skupper-*' ; ls /etc/systemd/system | grep skupper-"); strings.TrimSpace(out) != "" {
		t.Errorf("units left behind after uninstall:\n%s", out)
	}
	if st := n.show("skupperd.service"); st["ActiveState"] != "inactive" || st["UnitFileState"] != "disabled" {
		t.Errorf("skupperd.service after uninstall: %v", st)
	}
	n.must("test -f " + res + "/listener.yaml && test -d " + dataHome + "/namespaces/west/runtime")
	step("uninstalled: no router unit, skupperd stopped and disabled, data home kept")

	userMode(t, n, step, routerBin, echo)

	// Removing and purging the package keeps the data home.
	n.must("dpkg -r skupperd && dpkg -P skupperd")
	n.must("test -f " + res + "/site.yaml && test -f " + res + "/listener.yaml")
	if out, _ := n.sh("ls /usr/bin/skupperd /usr/lib/systemd/system/skupperd.service /etc/systemd/system/multi-user.target.wants/skupperd.service 2>/dev/null"); strings.TrimSpace(out) != "" {
		t.Errorf("files left after dpkg -P:\n%s", out)
	}
	if st := n.show("skupperd.service"); st["LoadState"] != "not-found" {
		t.Errorf("skupperd.service still known after removal: %v", st)
	}
	step("package removed and purged: data home intact")
}

// helperEnvFor sets the helper's mode (ignored by the skupper CLI).
func helperEnvFor(mode string) string { return helperEnv + "=" + mode }

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// userMode runs skupperd in a user's manager: the user unit is installed
// through the install API as that user (with lingering, so the manager
// runs without a session), a Site gets a user router unit in
// ~/.config/systemd/user, and a forced uninstall removes it. With echo
// (the port of an echo server; 0 for the stand-in router) the site also
// gets a connector to it, and bytes must cross the user's router unit.
func userMode(t *testing.T, n *ns, step func(string, ...any), routerBin string, echo int) {
	const user, uid = "skharness", "4242"
	home := "/home/" + user
	n.must("useradd --create-home --uid " + uid + " --shell /bin/sh " + user)
	n.must("loginctl enable-linger " + user)
	n.waitFor("the user manager of "+user, 60*time.Second, func() (bool, string) {
		st := n.show("user@" + uid + ".service")
		return st["ActiveState"] == "active", fmt.Sprint(st)
	})
	// as runs a command as the user, with the environment of its manager.
	as := func(cmd string) string {
		return "runuser -u " + user + " -- env HOME=" + home + " XDG_RUNTIME_DIR=/run/user/" + uid + " " + cmd
	}
	showUser := func(unit string) map[string]string {
		out, _ := n.sh(as("systemctl --user show -p LoadState -p ActiveState -p SubState -p MainPID -p UnitFileState " + unit))
		m := map[string]string{}
		for line := range strings.Lines(out) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				m[k] = v
			}
		}
		return m
	}
	step("user manager of %s (uid %s) running, lingering enabled", user, uid)

	installCmd := inside + "/helper"
	if out, _ := n.sh("skupper system install --help 2>&1"); strings.Contains(out, "skupper system install") {
		installCmd = "skupper system install"
	}
	out := n.must(as(helperEnvFor("install-user") + " " + installCmd))
	step("user install (%s): %s", installCmd, strings.TrimSpace(out))
	if st := showUser("skupperd.service"); st["ActiveState"] != "active" || st["UnitFileState"] != "enabled" {
		t.Fatalf("the user's skupperd.service after install: %v", st)
	}

	res := home + "/.local/share/skupper/namespaces/west/input/resources"
	n.waitFor("the user's data home", 30*time.Second, func() (bool, string) {
		_, err := os.Stat(n.path(home + "/.local/share/skupper/namespaces"))
		return err == nil, fmt.Sprint(err)
	})
	n.must(as("mkdir -p " + res))
	writeFile(t, n.path(res+"/listener.yaml"), listenerYAML(18090))
	files := res + "/listener.yaml " + res + "/site.yaml"
	if echo != 0 {
		writeFile(t, n.path(res+"/connector.yaml"), connectorYAML(echo))
		files += " " + res + "/connector.yaml"
	}
	writeFile(t, n.path(res+"/site.yaml"), siteYAML)
	n.must("chown " + user + ": " + files)
	unit := "skupper-west.service"
	unitFile := home + "/.config/systemd/user/" + unit
	n.waitFor("the user's "+unit+" running", 60*time.Second, func() (bool, string) {
		st := showUser(unit)
		return st["ActiveState"] == "active" && st["SubState"] == "running", fmt.Sprint(st)
	})
	n.waitFor("the user's site status to report the router running", 30*time.Second, func() (bool, string) {
		out, _ := n.sh("cat " + home + "/.local/share/skupper/namespaces/west/internal/status.yaml")
		return strings.Contains(out, "router: Running"), out
	})
	text := n.must("cat " + unitFile)
	for _, want := range []string{"ExecStart=\"" + routerBin + "\" -c \"" + home + "/.local/share/skupper/namespaces/west/runtime/router/skrouterd.json\"", "WantedBy=default.target"} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", unitFile, want, text)
		}
	}
	n.must(as("systemd-analyze --user verify " + unitFile))
	if out, _ := n.sh("ls /etc/systemd/system | grep skupper-"); strings.TrimSpace(out) != "" {
		t.Errorf("a user's router unit leaked into the system: %s", out)
	}
	step("user router unit %s written, verified and running; status Running", unitFile)
	if echo != 0 {
		took := n.waitTraffic(18090, "hello through the user's router unit")
		step("traffic: port 18090 -> the user's %s -> echo server on port %d (%s)", unit, echo, took.Round(time.Millisecond))
	}

	out = n.must(as(helperEnvFor("uninstall-user-force") + " " + inside + "/helper"))
	step("user uninstall (forced): %s", strings.TrimSpace(out))
	if st := showUser(unit); st["LoadState"] != "not-found" {
		t.Errorf("the user's %s after uninstall: %v", unit, st)
	}
	if st := showUser("skupperd.service"); st["ActiveState"] != "inactive" || st["UnitFileState"] != "disabled" {
		t.Errorf("the user's skupperd.service after uninstall: %v", st)
	}
	n.must("test ! -e " + unitFile + " && test -f " + res + "/site.yaml")
	n.must("loginctl disable-linger " + user)
}
