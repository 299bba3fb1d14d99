// Package routerproc is test support: it runs a real skrouterd with a
// minimal configuration in a test's temporary directory, on loopback
// ports, with a skupper-local-normal listener secured like skupperd's
// (mutual TLS, SASL EXTERNAL) and the client bundle a test connects with.
// Routers are killed when the test ends. No product package may import it.
package routerproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// StartTimeout bounds a router's start, until its local port accepts.
const StartTimeout = 20 * time.Second

// Options describe one router.
type Options struct {
	// ID is the router id (default "router").
	ID string
	// SiteID, when set, is exported as SKUPPER_SITE_ID and the config gets
	// a site entity named SiteName (default: SiteID) in Namespace.
	SiteID, SiteName, Namespace string
	// InterRouterPort, when nonzero, adds a plain inter-router listener
	// named "inter-router" on 127.0.0.1:InterRouterPort.
	InterRouterPort int
	// LinkPort, when nonzero, adds an inter-router connector named
	// LinkName (default "link") to 127.0.0.1:LinkPort.
	LinkPort int
	LinkName string
	// Entities are appended to the configuration as [type, attributes].
	Entities [][2]any
	// LocalIdleTimeout, when nonzero, is the local listener's
	// idleTimeoutSeconds (the router's default otherwise).
	LocalIdleTimeout int
}

// Router is one running (or killed) skrouterd.
type Router struct {
	t    testing.TB
	bin  string
	opts Options
	dir  string
	// Port is the local normal (mTLS) listener's port on 127.0.0.1.
	Port int
	// ClientBundle is the directory of the client bundle (ca.crt, tls.crt,
	// tls.key) for the local listener.
	ClientBundle string
	cmd          *exec.Cmd
	done         chan struct{}
	logPath      string
	starts       int
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start writes the router's certificates and configuration under a new
// temporary directory and starts it, waiting until its local port
// accepts connections. It skips the test when skrouterd is not installed
// (see realrouter.Binary).
func Start(t testing.TB, opts Options) *Router {
	t.Helper()
	bin := realrouter.Binary(t)
	if opts.ID == "" {
		opts.ID = "router"
	}
	if opts.SiteName == "" {
		opts.SiteName = opts.SiteID
	}
	if opts.LinkName == "" {
		opts.LinkName = "link"
	}
	r := &Router{t: t, bin: bin, opts: opts, dir: t.TempDir(), Port: FreePort(t)}
	r.writeCerts()
	r.writeConfig()
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(r.logPath); err == nil {
				t.Logf("router %s log (tail):\n%s", opts.ID, tail(b, 4000))
			}
		}
	})
	r.Restart()
	return r
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (r *Router) writeCerts() {
	t := r.t
	now := time.Now()
	ca, err := certs.NewCA("routerproc-ca", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	server, err := certs.Issue(ca, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth}, now)
	if err != nil {
		t.Fatal(err)
	}
	client, err := certs.Issue(ca, certs.Request{CommonName: "skupperd-test", Usage: certs.ClientAuth}, now)
	if err != nil {
		t.Fatal(err)
	}
	r.ClientBundle = filepath.Join(r.dir, "skupper-local-client")
	for dir, b := range map[string]certs.Bundle{filepath.Join(r.dir, "skupper-local-server"): server, r.ClientBundle: client} {
		if _, err := certs.WriteDir(dir, b); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *Router) writeConfig() {
	o := r.opts
	srv := filepath.Join(r.dir, "skupper-local-server")
	cfg := [][2]any{
		{"router", map[string]any{"id": o.ID, "mode": "interior"}},
		{"sslProfile", map[string]any{
			"name":           "skupper-local-server",
			"caCertFile":     filepath.Join(srv, "ca.crt"),
			"certFile":       filepath.Join(srv, "tls.crt"),
			"privateKeyFile": filepath.Join(srv, "tls.key"),
		}},
		{"listener", map[string]any{
			"name": "skupper-local-normal", "role": "normal", "host": "127.0.0.1", "port": strconv.Itoa(r.Port),
			"sslProfile": "skupper-local-server", "saslMechanisms": "EXTERNAL", "authenticatePeer": true, "requireSsl": true,
		}},
		{"address", map[string]any{"prefix": "mc", "distribution": "multicast"}},
		{"log", map[string]any{"module": "DEFAULT", "enable": "warning+"}},
	}
	if o.LocalIdleTimeout != 0 {
		cfg[2][1].(map[string]any)["idleTimeoutSeconds"] = o.LocalIdleTimeout
	}
	if o.SiteID != "" {
		cfg = append(cfg, [2]any{"site", map[string]any{"name": o.SiteName, "namespace": o.Namespace, "platform": "linux", "version": "test"}})
	}
	if o.InterRouterPort != 0 {
		cfg = append(cfg, [2]any{"listener", map[string]any{
			"name": "inter-router", "role": "inter-router", "host": "127.0.0.1", "port": strconv.Itoa(o.InterRouterPort),
			"saslMechanisms": "ANONYMOUS", "authenticatePeer": false,
		}})
	}
	if o.LinkPort != 0 {
		cfg = append(cfg, [2]any{"connector", map[string]any{
			"name": o.LinkName, "role": "inter-router", "host": "127.0.0.1", "port": strconv.Itoa(o.LinkPort), "cost": 1,
		}})
	}
	cfg = append(cfg, o.Entities...)
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.ConfigPath(), b, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// ConfigPath is the router's skrouterd.json.
func (r *Router) ConfigPath() string { return filepath.Join(r.dir, "skrouterd.json") }

// Restart starts the router if it is not running, and waits until its
// local port accepts connections. The vanflow source id changes with each
// start, as it does for a real restart.
func (r *Router) Restart() {
	t := r.t
	t.Helper()
	if r.cmd != nil {
		return
	}
	r.starts++
	r.logPath = filepath.Join(r.dir, fmt.Sprintf("router-%d.log", r.starts))
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "-c", r.ConfigPath())
	cmd.Env = append(os.Environ(), "HOSTNAME=routerproc")
	if r.opts.SiteID != "" {
		cmd.Env = append(cmd.Env, "SKUPPER_SITE_ID="+r.opts.SiteID)
	}
	if r.opts.Namespace != "" {
		cmd.Env = append(cmd.Env, "POD_NAMESPACE="+r.opts.Namespace)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", r.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	r.cmd, r.done = cmd, done
	testwait.For(t, StartTimeout, "router "+r.opts.ID+" to accept connections", func() (bool, string) {
		select {
		case <-done:
			b, _ := os.ReadFile(r.logPath)
			t.Fatalf("router %s exited during start: %s\n%s", r.opts.ID, cmd.ProcessState, tail(b, 4000))
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)), time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// Kill sends SIGKILL to the router and waits for it to exit. It does
// nothing when the router is not running.
func (r *Router) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd, r.done = nil, nil
}

// Log returns the current run's output.
func (r *Router) Log() []byte {
	b, _ := os.ReadFile(r.logPath)
	return bytes.Clone(b)
}

// Signal sends sig to the running router (e.g. SIGSTOP/SIGCONT to make it
// hang and resume).
func (r *Router) Signal(sig syscall.Signal) {
	r.t.Helper()
	if r.cmd == nil {
		r.t.Fatalf("router %s is not running", r.opts.ID)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal router %s: %v", r.opts.ID, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		// kill(2) returns before every thread has stopped: wait until
		// they all have, so that nothing the test sends next is answered.
		WaitThreads(r.t, r.cmd.Process.Pid, true)
	case syscall.SIGCONT:
		WaitThreads(r.t, r.cmd.Process.Pid, false)
	}
}

// WaitThreads waits until every thread of process pid is stopped (state
// T, after SIGSTOP) or, with stopped false, none is (after SIGCONT): kill(2)
// returns before every thread has changed state. It works for any process,
// e.g. a router a daemon under test started.
func WaitThreads(t testing.TB, pid int, stopped bool) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	testwait.For(t, 10*time.Second, fmt.Sprintf("process %d threads stopped=%v", pid, stopped), func() (bool, string) {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return false, err.Error()
		}
		for _, task := range tasks {
			data, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
			if err != nil {
				continue // the thread ended
			}
			// The state follows the parenthesised command name.
			rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				continue
			}
			if isStopped := fields[0] == "T" || fields[0] == "t"; isStopped != stopped {
				return false, fmt.Sprintf("thread %s is in state %s", task.Name(), fields[0])
			}
		}
		return true, ""
	})
}
