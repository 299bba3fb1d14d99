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

	"golang.org/x/sys/unix"
)

// tcpPair returns both ends of a loopback TCP connection, the client's
// wrapped in a rawConn.
func tcpPair(t *testing.T) (client net.Conn, server net.Conn) {
	t.Helper()
	return tcpPairBatched(t, 0, 0)
}

// tcpPairBatched is tcpPair with reads batched at tick (0: not batched).
func tcpPairBatched(t *testing.T, tick, eagerFor time.Duration) (client net.Conn, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	rc := newRawConn(c, tick, eagerFor)
	t.Cleanup(func() { rc.Close(); s.Close() })
	if _, ok := rc.(*rawConn); !ok {
		t.Fatalf("a TCP connection is not wrapped: %T", rc)
	}
	return rc, s
}

func TestRawConnReads(t *testing.T) {
	c, s := tcpPair(t)
	go func() {
		_, _ = s.Write([]byte("hello, "))
		time.Sleep(10 * time.Millisecond) // a second segment later, so that Read waits for it
		_, _ = s.Write([]byte("router"))
		s.Close()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if string(got) != "hello, router" {
		t.Fatalf("read %q", got)
	}
	// After EOF, EOF again.
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("after EOF: %d, %v", n, err)
	}
}

func TestRawConnDeadline(t *testing.T) {
	c, _ := tcpPair(t)
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}

func TestRawConnClose(t *testing.T) {
	c, _ := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read wait; the assertion holds either way
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}
}

// lowWater is the socket's SO_RCVLOWAT.
func lowWater(t *testing.T, c net.Conn) int {
	t.Helper()
	var v int
	var gerr error
	if err := c.(*rawConn).raw.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT)
	}); err != nil || gerr != nil {
		t.Fatalf("SO_RCVLOWAT: %v %v", err, gerr)
	}
	return v
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

const never = 24 * time.Hour // a tick that does not come during a test

// quieten ticks c long after its last write, which makes it quiet, and
// checks that its low-water mark went up.
func quieten(t *testing.T, c net.Conn) {
	t.Helper()
	c.(*rawConn).onTick(time.Now().Add(time.Second))
	if got := lowWater(t, c); got != quietLowWater {
		t.Fatalf("SO_RCVLOWAT of a quiet connection: %d, want %d", got, quietLowWater)
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
func sendAndRead(t *testing.T, c, s net.Conn, msg string) {
	t.Helper()
	done := readAsync(c, 64)
	if _, err := s.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	wantRead(t, done, msg)
}

// A quiet connection raises its low-water mark and still delivers a
// small message, at a tick.
func TestBatchedReadsAtTicks(t *testing.T) {
	c, s := tcpPairBatched(t, 2*time.Millisecond, time.Millisecond)
	sendAndRead(t, c, s, "heartbeat")
	// A tick with nothing written for longer than eagerFor.
	quieten(t, c)
	sendAndRead(t, c, s, "record")
}

// A tick wakes the reader of a quiet connection only when data waits.
func TestTickWakesOnlyReadersWithData(t *testing.T) {
	c, s := tcpPairBatched(t, never, time.Millisecond)
	rc := c.(*rawConn)
	quieten(t, c)
	before := rc.pokes.Load()
	rc.onTick(time.Now().Add(2 * time.Second))
	if got := rc.pokes.Load(); got != before {
		t.Fatalf("a tick with nothing to read woke the reader (%d pokes)", got-before)
	}
	if _, err := s.Write([]byte("heartbeat")); err != nil {
		t.Fatal(err)
	}
	// No reader yet (one that started now would take the data at once):
	// wait for the data to reach the socket.
	deadline := time.Now().Add(5 * time.Second)
	for !rc.pending() {
		if time.Now().After(deadline) {
			t.Fatal("the written data never reached the socket")
		}
		runtime.Gosched()
	}
	rc.onTick(time.Now().Add(3 * time.Second))
	if got := rc.pokes.Load(); got != before+1 {
		t.Fatalf("a tick with data to read: %d pokes, want 1", got-before)
	}
	// The poke stands for the reader that comes: it reads what waits.
	wantRead(t, readAsync(c, 64), "heartbeat")
}

// A write makes a quiet connection eager: a reader waiting for the next
// tick gets what is already there at once.
func TestBatchedWriteWakesReader(t *testing.T) {
	c, s := tcpPairBatched(t, never, time.Millisecond)
	quieten(t, c)
	// The tick's poke reads what is there.
	if _, err := s.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	wantRead(t, readAsync(c, 64), "first")
	// Without a tick to come, only the write wakes the reader.
	if _, err := s.Write([]byte("waiting")); err != nil {
		t.Fatal(err)
	}
	done := readAsync(c, 64)
	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if got := lowWater(t, c); got != 1 {
		t.Fatalf("SO_RCVLOWAT after a write: %d, want 1", got)
	}
	wantRead(t, done, "waiting")
	// Eager, a message arrives at once too.
	sendAndRead(t, c, s, "reply")
}

// A quiet connection reports its end, and a read of more than the
// low-water mark, without waiting for a tick.
func TestBatchedQuietEndAndLargeReads(t *testing.T) {
	c, s := tcpPairBatched(t, never, time.Millisecond)
	c.(*rawConn).onTick(time.Now().Add(time.Second))
	big := make([]byte, 2*quietLowWater)
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
	if len(got) != len(big) {
		t.Fatalf("read %d bytes, want %d", len(got), len(big))
	}
}

// The caller's read deadline holds with batching, across ticks and
// without any.
func TestBatchedCallerDeadline(t *testing.T) {
	for _, tick := range []time.Duration{time.Millisecond, never} {
		c, _ := tcpPairBatched(t, tick, time.Millisecond)
		deadline := time.Now().Add(30 * time.Millisecond)
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		r := await(t, readAsync(c, 8))
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("tick %s: read past the deadline: %v, want a timeout", tick, r.err)
		}
		if time.Now().Before(deadline) {
			t.Fatalf("tick %s: the read timed out before the caller's deadline", tick)
		}
		// Cleared, the deadline no longer ends reads.
		if err := c.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		done := readAsync(c, 8)
		c.Close()
		if r := await(t, done); !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("tick %s: read after Close: %v, want net.ErrClosed", tick, r.err)
		}
	}
}

// The process's ticker runs while it has connections, and stops with the
// last one's Close (goleak checks that its goroutine ended).
func TestTickerStopsWithLastConn(t *testing.T) {
	period := never + time.Second // a period of this test's own
	a, _ := tcpPairBatched(t, period, time.Millisecond)
	b, _ := tcpPairBatched(t, period, time.Millisecond)
	running := func() *ticker {
		tickersMu.Lock()
		defer tickersMu.Unlock()
		return tickers[period]
	}
	tk := running()
	if tk == nil || a.(*rawConn).batch.ticker != tk || b.(*rawConn).batch.ticker != tk {
		t.Fatal("two connections with one period do not share its ticker")
	}
	a.Close()
	a.Close() // twice is harmless
	if running() != tk {
		t.Fatal("the ticker stopped while a connection was left")
	}
	b.Close()
	if running() != nil {
		t.Fatal("the ticker runs after the last Close")
	}
	select {
	case <-tk.done:
	default:
		t.Fatal("the ticker's goroutine runs after the last Close")
	}
}

// Writes go out whole, and the write deadline holds for a write that
// waits for room in the socket, without staying set on it after.
func TestRawWriteAndDeadline(t *testing.T) {
	c, s := tcpPair(t)
	go func() { _, _ = c.Write([]byte("hello")) }()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("received %q, %v", buf, err)
	}
	// Nobody reads: a large write fills both socket buffers and waits
	// until the deadline.
	big := make([]byte, 64<<20)
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == 64<<20 {
		t.Fatalf("write into a full socket: %d bytes, %v; want a partial write and a timeout", n, err)
	}
	// Cleared, the deadline no longer ends writes: the reader drains.
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, s) }()
	if n, err := c.Write(make([]byte, 1<<20)); err != nil || n != 1<<20 {
		t.Fatalf("write after clearing the deadline: %d, %v", n, err)
	}
}

// A keepalive leaves a quiet connection quiet; any other write makes it
// eager.
func TestKeepaliveLeavesQuiet(t *testing.T) {
	c, s := tcpPairBatched(t, never, time.Millisecond)
	go func() { _, _ = io.Copy(io.Discard, s) }()
	rc := c.(*rawConn)
	g := newGuardConn(c, func(error) {})
	g.noAnswer = &rc.noAnswer
	rc.onTick(time.Now().Add(time.Second))
	if _, err := g.Write(emptyFrame); err != nil {
		t.Fatal(err)
	}
	if got := lowWater(t, c); got != quietLowWater {
		t.Fatalf("SO_RCVLOWAT after a keepalive: %d, want %d", got, quietLowWater)
	}
	if _, err := g.Write([]byte{0, 0, 0, 9, 2, 0, 0, 0, 0x40}); err != nil {
		t.Fatal(err)
	}
	if got := lowWater(t, c); got != 1 {
		t.Fatalf("SO_RCVLOWAT after a frame: %d, want 1", got)
	}
}

// The ticks send a keepalive once the connection has sent nothing for
// half of the router's idle-time-out, and only then.
func TestTicksSendKeepalives(t *testing.T) {
	c, s := tcpPairBatched(t, never, time.Millisecond)
	rc := c.(*rawConn)
	g := newGuardConn(c, func(error) {})
	g.noAnswer = &rc.noAnswer
	sent := make(chan struct{}, 4)
	rc.takeKeepalives(time.Minute, func() {
		sendKeepalive(g)
		sent <- struct{}{}
	})
	// The deadline of the last write, passed long ago when a keepalive
	// is due: it must not fail the keepalive.
	if err := g.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rc.onTick(start.Add(29 * time.Second)) // not due; turns quiet
	select {
	case <-sent:
		t.Fatal("a keepalive before it was due")
	default:
	}
	rc.onTick(start.Add(31 * time.Second))
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
	if got := lowWater(t, c); got != quietLowWater {
		t.Fatalf("SO_RCVLOWAT after a keepalive: %d, want %d", got, quietLowWater)
	}
	// Just sent: the next tick sends none.
	lastSent := func() time.Time {
		rc.batch.mu.Lock()
		defer rc.batch.mu.Unlock()
		return rc.batch.lastSent
	}
	before := lastSent()
	rc.onTick(before.Add(time.Second))
	if !lastSent().Equal(before) {
		t.Fatal("a second keepalive right after the first")
	}
}
