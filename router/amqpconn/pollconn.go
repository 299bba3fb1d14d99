package amqpconn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/internal/tick"
)

// pollConn is a router connection whose reads are batched while it is
// quiet, so that an idle daemon wakes a few times a second for all its
// routers instead of once per heartbeat of each (a router sends one every
// 2 s on every connection that observes it, and on the virtual machines
// the project is measured on a wakeup costs far more than the message).
//
// It owns its socket: the descriptor is taken from the dialed connection
// and left out of the Go runtime's poller, so data arriving on a quiet
// connection wakes nothing. Instead the process's poller for the tick
// period (connPoller) holds every such socket in two epoll sets of its
// own:
//
//   - the quiet set (level-triggered, EPOLLIN), which the poller reads at
//     each tick with one epoll_wait for all its connections, waking the
//     readers that have data: a router's heartbeat arrives every 2 s, so
//     three ticks in four wake nobody for it;
//   - the eager set (edge-triggered), itself in the runtime's poller: it
//     always reports the end of the connection and errors, and data too
//     while the connection is eager, i.e. for eagerFor after it wrote
//     anything that may be answered (a management request, an attach, a
//     FLUSH, the TLS and AMQP handshakes). Keepalives, flows and
//     dispositions (noAnswer) leave it quiet.
//
// Reads and writes are raw read(2) and write(2) calls of the non-blocking
// socket (a call made the ordinary way wakes the runtime's monitor
// thread). Where ioctl(SIOCINQ) per connection per tick made 40 system
// calls a second for 20 routers, the quiet set makes two.
//
// The cost: an unsolicited message (a record of a link that went up or
// down) reaches the daemon up to one tick late.
type pollConn struct {
	fd     int
	laddr  net.Addr
	raddr  net.Addr
	poller *connPoller

	// noAnswer is set by the layer above around a write that expects no
	// answer: it leaves a quiet connection quiet.
	noAnswer atomic.Bool
	// pokes counts the ticks that woke the reader; readWaits the reads
	// that found nothing and waited.
	pokes, readWaits atomic.Uint64

	// fdMu is held shared around each call on fd, and exclusively by
	// Close to close it, so that no call reaches a descriptor number
	// reused after the close.
	fdMu   sync.RWMutex
	closed bool // under fdMu

	closing   chan struct{}
	closeOnce sync.Once
	// readable and writable are signalled (never blocking) when the
	// socket may have become readable or writable; readDL and writeDL
	// when the corresponding deadline changed.
	readable, writable chan struct{}
	readDL, writeDL    chan struct{}

	rmu sync.Mutex // one reader at a time
	wmu sync.Mutex // one writer at a time

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	eagerFor      time.Duration
	// lastWrite is when the connection last wrote something that may be
	// answered (or was made); lastSent when it last wrote anything.
	lastWrite, lastSent time.Time
	quiet               bool // data is not reported at once (eager set without EPOLLIN)
	writeBlocked        bool // a write waits for room (eager set with EPOLLOUT)
	// keepaliveEvery, when positive, is how often the connection must
	// send something for the router to keep it: the ticks send a
	// keepalive (sendKeepalive) when it sent nothing for that long.
	keepaliveEvery   time.Duration
	sendKeepalive    func()
	keepaliveRunning atomic.Bool
}

// errConnClosed is the result of a call on a closed pollConn.
var errConnClosed = net.ErrClosed

// newPollConn takes the socket of c (a dialed TCP connection, closed
// here in any case) into a pollConn batched on ticks of tickEvery,
// turning quiet once a tick finds eagerFor passed since it last wrote.
func newPollConn(c net.Conn, tickEvery, eagerFor time.Duration) (net.Conn, error) {
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("amqpconn: a %T has no socket to poll", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("amqpconn: %w", err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || dupErr != nil {
		return nil, fmt.Errorf("amqpconn: take the socket: %w", errors.Join(err, dupErr))
	}
	now := time.Now()
	pc := &pollConn{
		fd: fd, laddr: c.LocalAddr(), raddr: c.RemoteAddr(),
		closing:  make(chan struct{}),
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1),
		readDL: make(chan struct{}, 1), writeDL: make(chan struct{}, 1),
		eagerFor: eagerFor, lastWrite: now, lastSent: now,
	}
	// Closing c (deferred) makes the runtime forget its descriptor and
	// its registration in the runtime's poller; the socket stays open
	// through ours, non-blocking as the runtime made it.
	if _, err := joinPoller(tickEvery, pc); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("amqpconn: poll the socket: %w", err)
	}
	return pc, nil
}

// call makes one raw system call on the socket, or fails with
// errConnClosed once the connection is closed.
func (c *pollConn) call(sysno uintptr, p []byte) (int, error) {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.closed {
		return 0, errConnClosed
	}
	for {
		r, _, e := unix.RawSyscall(sysno, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// Read reads what the socket holds, waiting for data if it holds none:
// at once while the connection is eager, at a tick while it is quiet.
func (c *pollConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		n, err := c.call(unix.SYS_READ, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err != unix.EAGAIN:
			return 0, c.opError("read", err)
		}
		c.readWaits.Add(1)
		if err := c.await(c.readable, c.readDL, &c.readDeadline); err != nil {
			return 0, c.opError("read", err)
		}
	}
}

// Write writes all of p with raw write(2) calls, waiting for room while
// the socket is full. Unless noAnswer is set, it makes a quiet connection
// eager: an answer is likely to follow.
func (c *pollConn) Write(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	c.lastSent = now
	if !c.noAnswer.Load() {
		c.lastWrite = now
		if c.quiet {
			c.quiet = false
			c.rearmLocked()
		}
	}
	c.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for n < len(p) {
		w, err := c.call(unix.SYS_WRITE, p[n:])
		if err == nil {
			n += w
			continue
		}
		if err != unix.EAGAIN {
			return n, c.opError("write", err)
		}
		c.setWriteBlocked(true)
		err = c.await(c.writable, c.writeDL, &c.writeDeadline)
		c.setWriteBlocked(false)
		if err != nil {
			return n, c.opError("write", err)
		}
	}
	return n, nil
}

// await waits for ready, the deadline (*deadline, which changes on a
// signal of changed), or Close.
func (c *pollConn) await(ready, changed chan struct{}, deadline *time.Time) error {
	for {
		c.mu.Lock()
		d := *deadline
		c.mu.Unlock()
		var expired <-chan time.Time
		var t *time.Timer
		if !d.IsZero() {
			left := time.Until(d)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			t = time.NewTimer(left)
			expired = t.C
		}
		select {
		case <-ready:
		case <-c.closing:
			return errConnClosed
		case <-changed:
			if t != nil {
				t.Stop()
			}
			continue
		case <-expired:
			return os.ErrDeadlineExceeded
		}
		if t != nil {
			t.Stop()
		}
		return nil
	}
}

// signal wakes whoever waits on ch (a buffered channel of one).
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *pollConn) setWriteBlocked(b bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeBlocked = b
	c.rearmLocked()
}

// rearmLocked sets what the eager set reports for the socket: always its
// end and errors, data while eager, room while a write waits. Setting it
// also reports what is already there. A failure (the connection is
// closing) changes nothing.
func (c *pollConn) rearmLocked() {
	events := uint32(unix.EPOLLRDHUP | unix.EPOLLET)
	if !c.quiet {
		events |= unix.EPOLLIN
	}
	if c.writeBlocked {
		events |= unix.EPOLLOUT
	}
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if !c.closed {
		_ = c.poller.ctl(c.poller.eagerFD, unix.EPOLL_CTL_MOD, c.fd, events)
	}
}

// onTick is a tick at now; hasData is whether the quiet set reported
// data waiting. A quiet connection's reader is woken when data waits; an
// eager one that has not written for eagerFor turns quiet; a keepalive
// goes out when one is due.
func (c *pollConn) onTick(now time.Time, hasData bool) {
	c.mu.Lock()
	if c.keepaliveEvery > 0 && now.Sub(c.lastSent) >= c.keepaliveEvery && c.keepaliveRunning.CompareAndSwap(false, true) {
		c.lastSent = now
		// Not in the poller's goroutine: the write waits for the
		// connection's other writers, and a router that stopped reading
		// would stall every connection's ticks.
		send := c.sendKeepalive
		go func() {
			defer c.keepaliveRunning.Store(false)
			send()
		}()
	}
	if !c.quiet && now.Sub(c.lastWrite) >= c.eagerFor {
		c.quiet = true
		c.rearmLocked()
	}
	c.mu.Unlock()
	if hasData {
		c.pokes.Add(1)
		signal(c.readable)
	}
}

// takeKeepalives makes the ticks send a keepalive, with send, whenever
// the connection has sent nothing for half of peerIdle (the router's
// idle-time-out: it closes a connection silent for longer). They fall on
// the ticks, so they cost an idle process no wakeup of their own, where
// go-amqp would run a timer per connection.
func (c *pollConn) takeKeepalives(peerIdle time.Duration, send func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keepaliveEvery, c.sendKeepalive = peerIdle/2, send
}

// Close closes the connection: waiting reads and writes return, the
// poller forgets the socket, and the socket is closed.
func (c *pollConn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closing)
		c.poller.leave(c)
		c.fdMu.Lock()
		c.closed = true
		_ = unix.Close(c.fd)
		c.fdMu.Unlock()
	})
	if !first {
		return c.opError("close", errConnClosed)
	}
	return nil
}

func (c *pollConn) opError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

func (c *pollConn) LocalAddr() net.Addr  { return c.laddr }
func (c *pollConn) RemoteAddr() net.Addr { return c.raddr }

// SetReadDeadline sets the deadline of reads, waiting ones included.
func (c *pollConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	signal(c.readDL)
	return nil
}

// SetWriteDeadline sets the deadline of writes, waiting ones included.
func (c *pollConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	signal(c.writeDL)
	return nil
}

// SetDeadline sets both deadlines.
func (c *pollConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// connPoller is the process's poller for the pollConns of one tick
// period. It runs while it has connections, and stops with the last
// one's Close.
type connPoller struct {
	period  time.Duration
	quietFD int // level-triggered EPOLLIN of every connection, read at ticks
	eagerFD int // edge-triggered, in the runtime's poller through eager
	eager   *os.File

	mu    sync.Mutex
	conns map[int32]*pollConn

	tick *tick.Ticker
	quit chan struct{}
	wg   sync.WaitGroup

	// tickMu guards tickAll's buffers (the ticks' goroutine, and tests).
	tickMu   sync.Mutex
	events   []unix.EpollEvent
	withData map[int32]bool
	ticked   []*pollConn
}

var (
	pollersMu sync.Mutex
	pollers   = map[time.Duration]*connPoller{}
)

// joinPoller adds c to the poller of period, starting it if it was not
// running.
func joinPoller(period time.Duration, c *pollConn) (*connPoller, error) {
	pollersMu.Lock()
	defer pollersMu.Unlock()
	p := pollers[period]
	if p == nil {
		var err error
		if p, err = startPoller(period); err != nil {
			return nil, err
		}
		pollers[period] = p
	}
	c.poller = p
	// New connections start eager: their handshakes expect answers.
	if err := p.ctl(p.eagerFD, unix.EPOLL_CTL_ADD, c.fd, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET); err != nil {
		p.stopIfIdleLocked()
		return nil, err
	}
	if err := p.ctl(p.quietFD, unix.EPOLL_CTL_ADD, c.fd, unix.EPOLLIN); err != nil {
		_ = p.ctl(p.eagerFD, unix.EPOLL_CTL_DEL, c.fd, 0)
		p.stopIfIdleLocked()
		return nil, err
	}
	p.mu.Lock()
	p.conns[int32(c.fd)] = c
	p.mu.Unlock()
	return p, nil
}

func startPoller(period time.Duration) (*connPoller, error) {
	quietFD, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	eagerFD, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		_ = unix.Close(quietFD)
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller.
	if err := unix.SetNonblock(eagerFD, true); err != nil {
		_ = unix.Close(quietFD)
		_ = unix.Close(eagerFD)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &connPoller{period: period, quietFD: quietFD, eagerFD: eagerFD,
		eager: os.NewFile(uintptr(eagerFD), "amqpconn-eager-epoll"),
		conns: map[int32]*pollConn{}, tick: tick.New(period), quit: make(chan struct{})}
	p.wg.Add(2)
	go p.runTicks()
	go p.runEager()
	return p, nil
}

// ctl is a raw epoll_ctl(2) on set epfd.
func (p *connPoller) ctl(epfd, op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e != 0 {
		return os.NewSyscallError("epoll_ctl", e)
	}
	return nil
}

// wait is a raw epoll_wait(2) of set epfd that does not block.
func wait(epfd int, events []unix.EpollEvent) int {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		return int(r)
	}
}

// leave forgets c; the last connection to leave stops the poller and
// waits for its goroutines to end.
func (p *connPoller) leave(c *pollConn) {
	pollersMu.Lock()
	defer pollersMu.Unlock()
	c.fdMu.RLock()
	_ = p.ctl(p.eagerFD, unix.EPOLL_CTL_DEL, c.fd, 0)
	_ = p.ctl(p.quietFD, unix.EPOLL_CTL_DEL, c.fd, 0)
	c.fdMu.RUnlock()
	p.mu.Lock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
	}
	p.mu.Unlock()
	p.stopIfIdleLocked()
}

// stopIfIdleLocked stops the poller if it has no connection left
// (pollersMu held).
func (p *connPoller) stopIfIdleLocked() {
	p.mu.Lock()
	idle := len(p.conns) == 0
	p.mu.Unlock()
	if !idle || pollers[p.period] != p {
		return
	}
	delete(pollers, p.period)
	close(p.quit)
	_ = p.eager.Close() // ends runEager's wait
	p.wg.Wait()
	_ = unix.Close(p.quietFD)
}

// runTicks ticks every connection at each tick.
func (p *connPoller) runTicks() {
	defer p.wg.Done()
	defer p.tick.Stop()
	for {
		select {
		case <-p.quit:
			return
		case now := <-p.tick.C:
			p.tickAll(now)
		}
	}
}

// tickAll reads the quiet set (one epoll_wait for every connection) and
// ticks every connection at now, saying whether data waits on it.
func (p *connPoller) tickAll(now time.Time) {
	p.tickMu.Lock()
	defer p.tickMu.Unlock()
	if p.withData == nil {
		p.events, p.withData = make([]unix.EpollEvent, 64), map[int32]bool{}
	}
	clear(p.withData)
	for {
		n := wait(p.quietFD, p.events)
		for _, ev := range p.events[:n] {
			p.withData[ev.Fd] = true
		}
		if n < len(p.events) {
			break
		}
	}
	p.mu.Lock()
	for _, c := range p.conns {
		p.ticked = append(p.ticked, c)
	}
	p.mu.Unlock()
	for _, c := range p.ticked {
		c.onTick(now, p.withData[int32(c.fd)])
	}
	clear(p.ticked)
	p.ticked = p.ticked[:0]
}

// runEager wakes the readers and writers the eager set reports, as soon
// as it reports them, until the poller stops.
func (p *connPoller) runEager() {
	defer p.wg.Done()
	raw, err := p.eager.SyscallConn()
	if err != nil {
		return
	}
	events := make([]unix.EpollEvent, 64)
	_ = raw.Read(func(uintptr) bool {
		for {
			n := wait(p.eagerFD, events)
			p.mu.Lock()
			for _, ev := range events[:n] {
				c := p.conns[ev.Fd]
				if c == nil {
					continue
				}
				if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					signal(c.readable)
				}
				if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					signal(c.writable)
				}
			}
			p.mu.Unlock()
			if n < len(events) {
				return false // wait in the runtime's poller for more
			}
		}
	})
}
