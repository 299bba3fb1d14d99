package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/testwait"
)

// TestIdleConnectionsCannotStarveTheDaemon: a daemon limited to 256
// descriptors, whose grant server is flooded with 400 idle connections,
// keeps descriptors for its own work: a change written to input meanwhile
// is applied without any signal, and so is one written after the
// connections are released, within the worker's backoff bound (1 min).
func TestIdleConnectionsCannotStarveTheDaemon(t *testing.T) {
	e := newEnv(t)
	addr := freePort(t)
	logPath := filepath.Join(t.TempDir(), "skupperd.log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command("sh", "-c", `ulimit -n 256 && exec "$0" "$@"`, bins.skupperd,
		"run", "--supervisor", "none", "--grant-server-addr", addr, "--advertise-host", "127.0.0.1")
	cmd.Env = e.vars
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	f.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("skupperd log:\n%s", data)
		}
	})
	home := namespaces.NewHome(e.home)
	testwait.Until(t, 20*time.Second, "skupperd to run", func() bool { ok, _ := home.DaemonRunning(); return ok })
	testwait.Until(t, 20*time.Second, "the grant server to listen", func() bool { return dialOK(addr) })
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cmd.Process.Pid))
	require.NoError(t, err)
	require.Regexp(t, `Max open files\s+256\s+256`, string(limits))
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	west := home.Namespace("west")

	applied := func(name string) func() (bool, string) {
		return func() (bool, string) {
			cfg, err := os.ReadFile(west.RouterConfigPath())
			if err != nil {
				return false, err.Error()
			}
			return strings.Contains(string(cfg), `"name": "listener/`+name+`"`), "not in the router config"
		}
	}
	listener := func(name string, port int) string {
		return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: %s\nspec:\n  routingKey: %s\n  host: 127.0.0.1\n  port: %d\n", name, name, port)
	}

	// 400 idle connections: more than the daemon's descriptors.
	var conns []net.Conn
	for range 400 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
	t.Logf("daemon descriptors with 400 idle connections held: %d of 256", len(fds))
	require.Less(t, len(fds), 200)
	start := time.Now()
	require.NoError(t, os.WriteFile(filepath.Join(west.InputResourcesDir(), "during.yaml"), []byte(listener("during", 30001)), 0o600))
	testwait.For(t, 70*time.Second, "the change written while the connections are held", applied("during"))
	t.Logf("change applied %v after it was written, connections held", time.Since(start).Round(time.Millisecond))

	for _, c := range conns {
		c.Close()
	}
	start = time.Now()
	require.NoError(t, os.WriteFile(filepath.Join(west.InputResourcesDir(), "after.yaml"), []byte(listener("after", 30002)), 0o600))
	testwait.For(t, 70*time.Second, "the change written after the connections were released", applied("after"))
	t.Logf("change applied %v after release", time.Since(start).Round(time.Millisecond))
	require.True(t, dialOK(addr), "the grant server still accepts connections")
	select {
	case err := <-exited:
		t.Fatalf("skupperd exited: %v", err)
	default:
	}
}

func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
