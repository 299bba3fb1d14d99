package amqpconn

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// connKinds are the two wrappers of a router's socket: rawConn, and
// pollConn with reads batched at ticks that do not come during a test.
var connKinds = []struct {
	name string
	wrap func(t *testing.T, c net.Conn) net.Conn
}{
	{"raw", func(t *testing.T, c net.Conn) net.Conn {
		rc := newRawConn(c)
		if _, ok := rc.(*rawConn); !ok {
			t.Fatalf("a TCP connection is not wrapped: %T", rc)
		}
		return rc
	}},
	{"poll", func(t *testing.T, c net.Conn) net.Conn {
		pc, err := newPollConn(c, never, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}},
}

const never = 24 * time.Hour // a tick that does not come during a test

// forEachKind runs test with both ends of a loopback TCP connection, the
// client's wrapped by each of connKinds.
func forEachKind(t *testing.T, test func(t *testing.T, client, server net.Conn)) {
	for _, k := range connKinds {
		t.Run(k.name, func(t *testing.T) {
			c, s := tcpPairWith(t, func(c net.Conn) net.Conn { return k.wrap(t, c) })
			test(t, c, s)
		})
	}
}

// tcpPairWith returns both ends of a loopback TCP connection, the
// client's wrapped by wrap.
func tcpPairWith(t *testing.T, wrap func(net.Conn) net.Conn) (client net.Conn, server net.Conn) {
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
	wc := wrap(c)
	t.Cleanup(func() { wc.Close(); s.Close() })
	return wc, s
}

func TestConnReads(t *testing.T) { forEachKind(t, testConnReads) }

func testConnReads(t *testing.T, c, s net.Conn) {
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

func TestConnDeadline(t *testing.T) { forEachKind(t, testConnDeadline) }

func testConnDeadline(t *testing.T, c, _ net.Conn) {
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}

func TestConnClose(t *testing.T) { forEachKind(t, testConnClose) }

func testConnClose(t *testing.T, c, _ net.Conn) {
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

// Writes go out whole, and the write deadline holds for a write that
// waits for room in the socket, and ends with it.
func TestConnWriteAndDeadline(t *testing.T) { forEachKind(t, testConnWriteAndDeadline) }

func testConnWriteAndDeadline(t *testing.T, c, s net.Conn) {
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
