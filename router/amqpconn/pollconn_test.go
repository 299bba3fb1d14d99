package amqpconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pollPair returns both ends of a loopback TCP connection, the client's a
// pollConn batched at ticks of tick, quiet eagerFor after a write.
func pollPair(t *testing.T, tick, eagerFor time.Duration) (*pollConn, net.Conn) {
	t.Helper()
	c, s := tcpPairWith(t, func(c net.Conn) net.Conn {
		pc, err := newPollConn(c, tick, eagerFor)
		if err != nil {
			t.Fatal(err)
		}
		return pc
	})
	return c.(*pollConn), s
}

// isQuiet reports whether c is quiet (its data waits for a tick).
func isQuiet(c *pollConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quiet
}

// waiting is how many bytes c's socket holds (SIOCINQ).
func waiting(t *testing.T, c *pollConn) int {
	t.Helper()
	var n int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), unix.SIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	return int(n)
}

// untilWaiting returns once c's socket holds data (what the other end
// wrote reached it), failing after a bound.
func untilWaiting(t *testing.T, c *pollConn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for waiting(t, c) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the written data never reached the socket")
		}
		runtime.Gosched()
	}
}

// waitingRead starts a read of c in the background and returns once it
// waits for data.
func waitingRead(t *testing.T, c *pollConn, n int) <-chan readResult {
	t.Helper()
	before := c.readWaits.Load()
	done := readAsync(c, n)
	deadline := time.Now().Add(5 * time.Second)
	for c.readWaits.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("the read never waited")
		}
		runtime.Gosched()
	}
	return done
}

// readAsync reads once into a buffer of n bytes in the background.
func readAsync(c net.Conn, n int) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		buf := make([]byte, n)
		k, err := c.Read(buf)
		done <- readResult{buf[:k], err}
	}()
	return done
}

type readResult struct {
	data []byte
	err  error
}

// await is the result of a readAsync, or a failure after a bound far
// beyond any tick the test uses.
func await(t *testing.T, done <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
		return readResult{}
	}
}

// notYet checks that the read behind done is still waiting after a
// moment (it would have returned at once if woken).
func notYet(t *testing.T, done <-chan readResult) {
	t.Helper()
	select {
	case r := <-done:
		t.Fatalf("a quiet connection's read returned before a tick: %q, %v", r.data, r.err)
	case <-time.After(50 * time.Millisecond): // a negative check: a wrong wakeup comes at once
	}
}

// quieten ticks c's poller long after c's last write, which makes it
// quiet.
func quieten(t *testing.T, c *pollConn) {
	t.Helper()
	c.poller.tickAll(time.Now().Add(time.Second))
	if !isQuiet(c) {
		t.Fatal("not quiet after a tick long after its last write")
	}
}

// wantRead checks that the read behind done returned want.
func wantRead(t *testing.T, done <-chan readResult, want string) {
	t.Helper()
	if r := await(t, done); r.err != nil || string(r.data) != want {
		t.Fatalf("read %q, %v; want %q", r.data, r.err, want)
	}
}

// sendAndRead has the router's end s send msg and checks that a read of
// c returns it.
func sendAndRead(t *testing.T, c net.Conn, s net.Conn, msg string) {
	t.Helper()
	done := readAsync(c, 64)
	if _, err := s.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	wantRead(t, done, msg)
}

// With real ticks, a quiet connection delivers a small message at a tick.
func TestPollReadsAtTicks(t *testing.T) {
	c, s := pollPair(t, 2*time.Millisecond, time.Millisecond)
	sendAndRead(t, c, s, "heartbeat")
	deadline := time.Now().Add(5 * time.Second)
	for !isQuiet(c) {
		if time.Now().After(deadline) {
			t.Fatal("never quiet")
		}
		runtime.Gosched()
	}
	sendAndRead(t, c, s, "record")
}

// While quiet, data wakes nobody until a tick; the tick wakes only the
// readers that have data.
func TestTickWakesOnlyReadersWithData(t *testing.T) {
	c, s := pollPair(t, never, time.Millisecond)
	quieten(t, c)
	done := waitingRead(t, c, 64)
	before := c.pokes.Load()
	c.poller.tickAll(time.Now().Add(2 * time.Second))
	if got := c.pokes.Load(); got != before {
		t.Fatalf("a tick with nothing to read woke the reader (%d pokes)", got-before)
	}
	if _, err := s.Write([]byte("heartbeat")); err != nil {
		t.Fatal(err)
	}
	untilWaiting(t, c)
	notYet(t, done)
	c.poller.tickAll(time.Now().Add(3 * time.Second))
	if got := c.pokes.Load(); got != before+1 {
		t.Fatalf("a tick with data to read: %d pokes, want 1", got-before)
	}
	wantRead(t, done, "heartbeat")
}

// A write makes a quiet connection eager: a reader waiting for the next
// tick gets what is already there at once, and answers come at once.
func TestPollWriteWakesReader(t *testing.T) {
	c, s := pollPair(t, never, time.Millisecond)
	quieten(t, c)
	done := waitingRead(t, c, 64)
	if _, err := s.Write([]byte("waiting")); err != nil {
		t.Fatal(err)
	}
	untilWaiting(t, c)
	notYet(t, done)
	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if isQuiet(c) {
		t.Fatal("quiet after a write")
	}
	wantRead(t, done, "waiting")
	sendAndRead(t, c, s, "reply")
}

// A quiet connection reports its end (and what came before it) without
// waiting for a tick.
func TestPollQuietEnd(t *testing.T) {
	c, s := pollPair(t, never, time.Millisecond)
	quieten(t, c)
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	go func() {
		_, _ = s.Write(big)
		s.Close()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(big))
	}
}

// The caller's read deadline holds for a quiet connection, across ticks
// and without any, and changing it reaches a waiting read.
func TestPollCallerDeadline(t *testing.T) {
	for _, tick := range []time.Duration{time.Millisecond, never} {
		c, _ := pollPair(t, tick, time.Millisecond)
		deadline := time.Now().Add(30 * time.Millisecond)
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		r := await(t, readAsync(c, 8))
		var ne net.Error
		if !errors.Is(r.err, os.ErrDeadlineExceeded) || !errors.As(r.err, &ne) || !ne.Timeout() {
			t.Fatalf("tick %s: read past the deadline: %v, want a timeout", tick, r.err)
		}
		if time.Now().Before(deadline) {
			t.Fatalf("tick %s: the read timed out before the caller's deadline", tick)
		}
		// Cleared, the deadline no longer ends reads; set in the past
		// while a read waits, it ends that read.
		if err := c.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		done := readAsync(c, 8)
		notYet(t, done)
		_ = c.SetReadDeadline(time.Unix(1, 0))
		if r := await(t, done); !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("tick %s: read after a deadline in the past: %v, want a timeout", tick, r.err)
		}
		_ = c.SetReadDeadline(time.Time{})
		done = readAsync(c, 8)
		c.Close()
		if r := await(t, done); !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("tick %s: read after Close: %v, want net.ErrClosed", tick, r.err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("tick %s: second Close: %v, want net.ErrClosed", tick, err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("tick %s: write after Close: %v, want net.ErrClosed", tick, err)
		}
	}
}

// The process's poller for a period runs while it has connections, and
// stops with the last one's Close (goleak checks that its goroutines
// ended).
func TestPollerStopsWithLastConn(t *testing.T) {
	period := never + time.Second // a period of this test's own
	a, _ := pollPair(t, period, time.Millisecond)
	b, _ := pollPair(t, period, time.Millisecond)
	running := func() *connPoller {
		pollersMu.Lock()
		defer pollersMu.Unlock()
		return pollers[period]
	}
	p := running()
	if p == nil || a.poller != p || b.poller != p {
		t.Fatal("two connections with one period do not share its poller")
	}
	a.Close()
	a.Close() // twice is harmless
	if running() != p {
		t.Fatal("the poller stopped while a connection was left")
	}
	b.Close()
	if running() != nil {
		t.Fatal("the poller runs after the last Close")
	}
	select {
	case <-p.quit:
	default:
		t.Fatal("the poller was not told to stop")
	}
}

// A keepalive leaves a quiet connection quiet; any other write makes it
// eager.
func TestKeepaliveLeavesQuiet(t *testing.T) {
	c, s := pollPair(t, never, time.Millisecond)
	go func() { _, _ = io.Copy(io.Discard, s) }()
	g := newGuardConn(c, func(error) {})
	g.noAnswer = &c.noAnswer
	quieten(t, c)
	if _, err := g.Write(emptyFrame); err != nil {
		t.Fatal(err)
	}
	if !isQuiet(c) {
		t.Fatal("eager after a keepalive")
	}
	if _, err := g.Write([]byte{0, 0, 0, 9, 2, 0, 0, 0, 0x40}); err != nil {
		t.Fatal(err)
	}
	if isQuiet(c) {
		t.Fatal("quiet after a frame")
	}
}

// The ticks send a keepalive once the connection has sent nothing for
// half of the router's idle-time-out, and only then.
func TestTicksSendKeepalives(t *testing.T) {
	c, s := pollPair(t, never, time.Millisecond)
	g := newGuardConn(c, func(error) {})
	g.noAnswer = &c.noAnswer
	sent := make(chan struct{}, 4)
	c.takeKeepalives(time.Minute, func() {
		sendKeepalive(g)
		sent <- struct{}{}
	})
	// The deadline of the last write, passed long ago when a keepalive
	// is due: it must not fail the keepalive.
	if err := g.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.poller.tickAll(start.Add(29 * time.Second)) // not due; turns quiet
	select {
	case <-sent:
		t.Fatal("a keepalive before it was due")
	default:
	}
	c.poller.tickAll(start.Add(31 * time.Second))
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("no keepalive when due")
	}
	buf := make([]byte, len(emptyFrame))
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound for a failure only
	if _, err := io.ReadFull(s, buf); err != nil || !bytes.Equal(buf, emptyFrame) {
		t.Fatalf("the router received % x, %v", buf, err)
	}
	if !isQuiet(c) {
		t.Fatal("eager after a keepalive")
	}
	// Just sent: the next tick sends none.
	lastSent := func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lastSent
	}
	before := lastSent()
	c.poller.tickAll(before.Add(time.Second))
	if !lastSent().Equal(before) {
		t.Fatal("a second keepalive right after the first")
	}
}
