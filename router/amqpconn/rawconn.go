package amqpconn

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawConn is the router's TCP connection as the TLS layer sees it. It
// serves an idle daemon, whose main work is receiving the routers'
// heartbeats, at the lowest cost in wakeups:
//
//   - It reads and writes with raw read(2) and write(2) calls. The Go
//     runtime wakes its monitor thread (sysmon) from its idle sleep
//     whenever a goroutine enters a system call the ordinary way, and the
//     thread then polls until the process is idle again: several context
//     switches for one message. A call on a non-blocking socket never
//     blocks, so it needs no such bookkeeping; the waits stay with the
//     runtime's poller (RawConn.Read and Write), with their deadlines and
//     their handling of Close.
//   - The write deadline is on the socket only while a write runs (go-amqp
//     sets one before each frame and leaves it: a timer that would fire
//     for nothing 30 s after every write).
//
// A connection whose reads are batched on ticks is a pollConn instead.
type rawConn struct {
	net.Conn
	raw syscall.RawConn

	// noAnswer is set by the layer above around a write that expects no
	// answer (an AMQP keepalive, flow or disposition): it leaves a quiet
	// connection quiet.
	noAnswer atomic.Bool

	// The read in progress, for readOnce (a method value made once, so
	// that a read allocates no closure): one reader at a time, as the
	// TLS layer above reads.
	readFn  func(fd uintptr) bool
	readBuf []byte
	readN   int
	readErr syscall.Errno

	wmu sync.Mutex
	// writeDeadline is the caller's write deadline (zero: none). It is
	// set on the socket only while a Write runs, so that no timer is left
	// pending between writes (each fires for nothing, and wakes the
	// runtime's monitor thread too).
	writeDeadline time.Time
	writing       bool
}

// newRawConn wraps c, or returns c itself when it has no descriptor
// to read.
func newRawConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	rc := &rawConn{Conn: c, raw: raw}
	rc.readFn = rc.readOnce
	return rc
}

// Read reads what the socket holds, waiting for data if it holds none.
func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.readRaw(p)
	return n, c.readError(err)
}

// readRaw is one read(2), after waiting for the socket to be readable.
// Its error is the poller's (one that wraps os.ErrDeadlineExceeded for a
// deadline), a syscall.Errno, or io.EOF; readError makes it a caller's.
func (c *rawConn) readRaw(p []byte) (int, error) {
	c.readBuf, c.readN, c.readErr = p, 0, 0
	err := c.raw.Read(c.readFn)
	n, errno := c.readN, c.readErr
	c.readBuf = nil
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readOnce is the read(2) of readRaw, in the runtime poller's callback.
func (c *rawConn) readOnce(fd uintptr) bool {
	p := c.readBuf
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == unix.EINTR {
			continue
		}
		c.readN, c.readErr = int(r), e
		return e != unix.EAGAIN
	}
}

// readError is a readRaw error as a net.Conn reports it.
func (c *rawConn) readError(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case syscall.Errno:
		err = os.NewSyscallError("read", e)
	default:
		if err == io.EOF {
			return err
		}
	}
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Write writes p with raw write(2) calls (as Read reads), waiting in the
// runtime's poller while the socket is full.
func (c *rawConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.writing = true
	d := c.writeDeadline
	c.wmu.Unlock()
	var err error
	if !d.IsZero() {
		err = c.Conn.SetWriteDeadline(d)
	}
	n := 0
	if err == nil {
		n, err = c.writeRaw(p)
	}
	c.wmu.Lock()
	c.writing = false
	if !d.IsZero() || !c.writeDeadline.IsZero() {
		_ = c.Conn.SetWriteDeadline(time.Time{})
	}
	c.wmu.Unlock()
	return n, err
}

// writeRaw writes all of p, after waiting for room in the socket when
// it is full.
func (c *rawConn) writeRaw(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(r)
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	case errno != 0:
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", errno)}
	}
	return n, nil
}

// SetWriteDeadline sets the caller's write deadline, which a Write puts
// on the socket for its duration (and at once, if one runs).
func (c *rawConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeDeadline = t
	if c.writing {
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

// SetDeadline sets the caller's read and write deadlines.
func (c *rawConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(t)
}
