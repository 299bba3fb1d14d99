package amqpconn

import (
	"errors"
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
//   - With batching (batch non-nil) it gathers unsolicited traffic and
//     sends the keepalives the router asks for on the same ticks; see
//     readBatch.
type rawConn struct {
	net.Conn
	raw   syscall.RawConn
	batch *readBatch

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

	// inqFn and inq are the ticker's SIOCINQ query (pending), made
	// once for the same reason.
	inqFn func(fd uintptr)
	inq   atomic.Int32
	// pokes counts the ticks that woke the reader.
	pokes atomic.Uint64

	wmu sync.Mutex
	// writeDeadline is the caller's write deadline (zero: none). It is
	// set on the socket only while a Write runs, so that no timer is left
	// pending between writes (each fires for nothing, and wakes the
	// runtime's monitor thread too).
	writeDeadline time.Time
	writing       bool
}

// readBatch gathers what a quiet connection receives, so that an idle
// daemon wakes a few times a second for all its routers instead of once
// per heartbeat of each (a router sends one every 2 s on every
// connection that observes it, and on this kind of machine the wakeup
// costs far more than the message).
//
// While no answer is expected, the socket's receive low-water mark
// (SO_RCVLOWAT) is raised to quietLowWater, so the kernel does not report
// a few bytes as readable, and the process's one ticker for that period
// (tickers) pokes the reader at each tick to take what arrived: one
// wakeup per tick for every connection of the process (see package
// internal/tick for why it is not a Go timer).
//
// A connection that sent anything (a management request, an attach, a
// FLUSH: whatever expects an answer) lowers the mark to 1 and is read as
// soon as data arrives, until a tick finds eagerFor passed since its last
// write. The end of the connection is reported at once either way (the
// kernel does not hold back EOF or an error), and more than quietLowWater
// bytes wake the reader at once.
//
// The cost: an unsolicited message (a record of a link that went up or
// down) reaches the daemon up to one tick late.
type readBatch struct {
	ticker   *ticker
	eagerFor time.Duration

	mu sync.Mutex
	// readDeadline is the caller's read deadline (zero: none). A tick
	// sets the socket's to the past, to wake the reader; the reader then
	// restores this one.
	readDeadline time.Time
	// lastWrite is when the connection last sent anything (or was made).
	lastWrite time.Time
	// quiet is set while the low-water mark is raised.
	quiet bool
	// lastSent is when anything, keepalives included, was last written.
	lastSent time.Time
	// keepaliveEvery, when positive, is how often the connection must
	// send something for the router to keep it: the ticks send a
	// keepalive (sendKeepalive) when it sent nothing for that long.
	keepaliveEvery time.Duration
	sendKeepalive  func()
	// keepaliveRunning is set while a keepalive is being written.
	keepaliveRunning atomic.Bool
}

// quietLowWater is the receive low-water mark of a quiet connection. It
// stays well under the socket's receive buffer, since a larger mark
// would make the kernel grow the buffer and clamp the TCP window to the
// mark for good.
const quietLowWater = 16 << 10

// newRawConn wraps c, or returns c itself when it has no descriptor
// to read. A tick > 0 batches reads (readBatch): the connection turns
// quiet once a tick finds eagerFor passed since it last wrote. Close
// ends the batching.
func newRawConn(c net.Conn, tick, eagerFor time.Duration) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	rc := &rawConn{Conn: c, raw: raw}
	rc.readFn, rc.inqFn = rc.readOnce, rc.queryInq
	if tick > 0 {
		now := time.Now()
		rc.batch = &readBatch{eagerFor: eagerFor, lastWrite: now, lastSent: now}
		joinTicker(tick, rc)
	}
	return rc
}

// Read reads what the socket holds, waiting for data (or, when batched,
// for a tick) if it holds nothing.
func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := c.readRaw(p)
		if c.batch == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, c.readError(err)
		}
		b := c.batch
		b.mu.Lock()
		d := b.readDeadline
		b.mu.Unlock()
		if !d.IsZero() && !time.Now().Before(d) {
			return 0, c.readError(err)
		}
		// A tick: restore the caller's deadline, then read what arrived.
		if err := c.Conn.SetReadDeadline(d); err != nil {
			return 0, err
		}
	}
}

// readRaw is one read(2), after waiting for the socket to be readable.
// Its error is the poller's (one that wraps os.ErrDeadlineExceeded for a
// deadline, which Read takes for a tick), a syscall.Errno, or io.EOF;
// readError makes it a caller's.
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

// Write marks a batched connection eager (an answer is likely to follow)
// unless noAnswer is set, and writes p with raw write(2) calls (as Read
// reads), waiting in the runtime's poller while the socket is full.
func (c *rawConn) Write(p []byte) (int, error) {
	if b := c.batch; b != nil {
		now := time.Now()
		b.mu.Lock()
		b.lastSent = now
		if !c.noAnswer.Load() {
			b.lastWrite = now
			if b.quiet {
				// Lowering the mark also reports data already waiting.
				c.setLowWater(1)
				b.quiet = false
			}
		}
		b.mu.Unlock()
	}
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

// SetReadDeadline sets the caller's read deadline.
func (c *rawConn) SetReadDeadline(t time.Time) error {
	if b := c.batch; b != nil {
		b.mu.Lock()
		b.readDeadline = t
		b.mu.Unlock()
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets the caller's read and write deadlines.
func (c *rawConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Close closes the connection and ends its batching.
func (c *rawConn) Close() error {
	if b := c.batch; b != nil {
		b.ticker.leave(c)
	}
	return c.Conn.Close()
}

// onTick is a tick of the connection's ticker at now: a quiet connection's
// reader is woken to read what arrived, and an eager one that has not
// written for eagerFor turns quiet (and is read, in case data waits
// below the new mark).
func (c *rawConn) onTick(now time.Time) {
	b := c.batch
	b.mu.Lock()
	if b.keepaliveEvery > 0 && now.Sub(b.lastSent) >= b.keepaliveEvery && b.keepaliveRunning.CompareAndSwap(false, true) {
		b.lastSent = now
		// Not in the ticker's goroutine: the write waits for the
		// connection's other writers, and a router that stopped reading
		// would stall every connection's ticks.
		go func() {
			defer b.keepaliveRunning.Store(false)
			b.sendKeepalive()
		}()
	}
	if !b.quiet {
		if now.Sub(b.lastWrite) < b.eagerFor {
			b.mu.Unlock()
			return
		}
		c.setLowWater(quietLowWater)
		b.quiet = true
	}
	b.mu.Unlock()
	// Most ticks find most connections without data (a router sends a
	// heartbeat every 2 s): those readers sleep on.
	if !c.pending() {
		return
	}
	c.pokes.Add(1)
	// A deadline in the past wakes a waiting reader without a timer.
	_ = c.Conn.SetReadDeadline(pastDeadline)
}

// pending reports whether the socket holds data to read (SIOCINQ), or
// true when it cannot tell. The end of the connection needs no tick: the
// kernel reports it to the waiting reader at once.
func (c *rawConn) pending() bool {
	c.inq.Store(-1)
	if err := c.raw.Control(c.inqFn); err != nil || c.inq.Load() < 0 {
		return true
	}
	return c.inq.Load() > 0
}

// queryInq is pending's ioctl(2), a raw call (see rawConn).
func (c *rawConn) queryInq(fd uintptr) {
	var n int32
	if _, _, e := unix.RawSyscall(unix.SYS_IOCTL, fd, unix.SIOCINQ, uintptr(unsafe.Pointer(&n))); e == 0 {
		c.inq.Store(n)
	}
}

// takeKeepalives makes the ticks send a keepalive, with send, whenever
// the connection has sent nothing for half of peerIdle (the router's
// idle-time-out: it closes a connection silent for longer). They fall on
// the ticks, so they cost an idle process no wakeup of their own, where
// go-amqp would run a timer per connection.
func (c *rawConn) takeKeepalives(peerIdle time.Duration, send func()) {
	b := c.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keepaliveEvery, b.sendKeepalive = peerIdle/2, send
}

// pastDeadline is a read deadline that has passed.
var pastDeadline = time.Unix(1, 0)

// setLowWater sets the socket's SO_RCVLOWAT. A failure leaves the mark
// as it was, which costs wakeups, not data.
func (c *rawConn) setLowWater(n int) {
	_ = c.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, n)
	})
}
