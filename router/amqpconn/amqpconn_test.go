package amqpconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/certs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTLSConfig(t *testing.T) {
	now := time.Now()
	ca, err := certs.NewCA("ca", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	client, err := certs.Issue(ca, certs.Request{CommonName: "c", Usage: certs.ClientAuth}, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "skupper-local-client")
	if _, err := certs.WriteDir(dir, client); err != nil {
		t.Fatal(err)
	}
	cfg, err := LocalConfig(5671, dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:5671" || cfg.TLS.ServerName != "127.0.0.1" || cfg.TLS.MinVersion != tls.VersionTLS13 || len(cfg.TLS.Certificates) != 1 {
		t.Fatalf("config = %+v", cfg)
	}
	if _, err := LocalConfig(0, dir); err == nil {
		t.Error("port 0 accepted")
	}
	if _, err := TLSConfig(t.TempDir()); err == nil {
		t.Error("an empty bundle directory was accepted")
	}
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestBackoffAndClose(t *testing.T) {
	c := New(Config{Addr: refusedAddr(t), MinBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	ctx := context.Background()
	if _, err := c.Conn(ctx); err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	if c.Connected() {
		t.Fatal("Connected after a refused dial")
	}
	// The second attempt waits the backoff first.
	start := time.Now()
	if _, err := c.Conn(ctx); err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("second attempt after %s, want a backoff of ~200ms", d)
	}
	// The backoff is capped.
	for range 3 {
		_, _ = c.Conn(ctx)
	}
	if d := c.backoff(); d > 400*time.Millisecond {
		t.Errorf("backoff %s above the cap", d)
	}
	// A context ends the wait.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.Conn(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Conn with an expiring context: %v", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Conn ignored its context for %s", d)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Conn(ctx); !errors.Is(err, ErrClosed) || !IsConnLost(err) {
		t.Errorf("Conn after Close: %v", err)
	}
}

// failedOnce returns a client of a refused address whose first dial
// failed, so that the next owes an hour's backoff.
func failedOnce(t *testing.T) *Client {
	t.Helper()
	c := New(Config{Addr: refusedAddr(t), MinBackoff: time.Hour, MaxBackoff: time.Hour})
	t.Cleanup(func() { c.Close() })
	if _, err := c.Conn(context.Background()); err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	return c
}

// waitingCaller starts a Conn(ctx) on c, waits until it holds the dial
// turn (sitting out a backoff, or dialling), and returns where its error
// will come.
func waitingCaller(t *testing.T, c *Client, ctx context.Context) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := c.Conn(ctx); done <- err }()
	for deadline := time.Now().Add(10 * time.Second); len(c.dialing) != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the first caller never took its turn")
		}
		runtime.Gosched()
	}
	return done
}

// ConnNow dials at once although earlier failures owe a backoff, where
// Conn waits it out.
func TestConnNowSkipsBackoff(t *testing.T) {
	c := failedOnce(t)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Conn(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Conn with a backoff owed: %v, want the deadline", err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if _, err := c.ConnNow(ctx); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ConnNow: %v, want the refused dial", err)
	}
}

// ConnNow cuts short the backoff another caller sits out while holding
// the dial turn: that caller dials at once, then ConnNow does.
func TestConnNowHurriesAWaitingDial(t *testing.T) {
	c := failedOnce(t)
	done := waitingCaller(t, c, context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ConnNow(ctx); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ConnNow: %v, want the refused dial", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("the waiting caller: %v, want the refused dial", err)
		}
	case <-ctx.Done():
		t.Fatal("the waiting caller still sits out its hour's backoff")
	}
}

// A caller that waits for another's dial (here, one sitting out a long
// backoff) gives up when its own context ends.
func TestConnWaitForAnotherDialHonoursContext(t *testing.T) {
	c := failedOnce(t)
	// The first caller now waits out the hour's backoff, holding the turn.
	first, cancelFirst := context.WithCancel(context.Background())
	done := waitingCaller(t, c, first)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Conn(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Conn behind another's dial: %v, want the deadline", err)
	}
	cancelFirst()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("first caller: %v", err)
	}
}

// A ConnNow that gives up waiting for the dial turn (held here by a dial
// to a router that accepts and never answers) takes back its hurry: a
// later caller's backoff is not cut short by it.
func TestConnNowGivingUpLeavesNoHurry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := New(Config{Addr: l.Addr().String(), DialTimeout: time.Hour})
	defer c.Close()
	first, cancelFirst := context.WithCancel(context.Background())
	done := waitingCaller(t, c, first)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.ConnNow(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ConnNow behind a hanging dial: %v, want the deadline", err)
	}
	if n := len(c.hurry); n != 0 {
		t.Errorf("%d hurry left behind", n)
	}
	cancelFirst()
	if err := <-done; err == nil {
		t.Error("the hanging dial succeeded")
	}
}
