// Package realrouter is test support for tests that run the real
// skupper-router (skrouterd) and prove traffic crosses it.
//
// Tests that need the real router call Binary: where skrouterd is not
// installed the test is skipped with a message saying how to get it,
// unless SKUPPERD_REQUIRE_ROUTER=1 (set by CI), where the test fails
// instead, naming the missing package. No product package may import it.
package realrouter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing router from
// a skip into a failure.
const RequireEnv = "SKUPPERD_REQUIRE_ROUTER"

// Hint says how to install the router on this kind of machine.
const Hint = "install the skupper-router package (Fedora/RHEL: dnf install skupper-router; " +
	"Debian: apt-get install ./skupper-router_*.deb from ../shared/router, or build it from the skupper-router sources)"

// Binary returns the absolute path of skrouterd, skipping the test (or
// failing it when SKUPPERD_REQUIRE_ROUTER=1) when it is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := Lookup()
	if err == nil {
		return path
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("the real router is required (%s=1) but %v: %s", RequireEnv, err, Hint)
	}
	t.Skipf("real-router test skipped: %v; %s", err, Hint)
	return ""
}

// Lookup finds skrouterd on PATH or in /usr/sbin.
func Lookup() (string, error) {
	if p, err := exec.LookPath("skrouterd"); err == nil {
		return p, nil
	}
	const sbin = "/usr/sbin/skrouterd"
	if fi, err := os.Stat(sbin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return sbin, nil
	}
	return "", errors.New("skrouterd (package skupper-router) is not installed")
}

// EchoServer listens on 127.0.0.1 on a free port and echoes every line
// back. It is closed when the test ends. It returns the port.
func EchoServer(t testing.TB) int {
	t.Helper()
	l, err := EchoOn(t, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	return l.Addr().(*net.TCPAddr).Port
}

// EchoOn runs an echo server on addr until the test ends; the error says
// why addr could not be bound.
func EchoOn(t testing.TB, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l, nil
}

// Echo connects to 127.0.0.1:port, sends msg plus a newline and returns
// the line that comes back. The whole exchange is bounded by timeout.
func Echo(port int, msg string, timeout time.Duration) (string, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read echo from %s: %w", addr, err)
	}
	return line[:len(line)-1], nil
}

// EchoCheck is Echo as a condition for testwait.For: true once msg comes
// back through port.
func EchoCheck(port int, msg string) func() (bool, string) {
	return func() (bool, string) {
		got, err := Echo(port, msg, 2*time.Second)
		if err != nil {
			return false, err.Error()
		}
		if got != msg {
			return false, fmt.Sprintf("echoed %q, want %q", got, msg)
		}
		return true, ""
	}
}
