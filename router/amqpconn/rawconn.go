package amqpconn

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawReadConn reads the router's TCP connection with raw read(2) calls.
// The Go runtime wakes its monitor thread (sysmon) from its idle sleep
// whenever a goroutine enters a system call the ordinary way, and an idle
// daemon's main work is receiving the routers' heartbeats: each would
// cost that thread's wakeup and its polling until the process is idle
// again, several context switches for one message. A read of a
// non-blocking socket never blocks, so it needs no such bookkeeping; the
// wait for data stays with the runtime's poller (RawConn.Read), with its
// deadlines and its handling of Close.
type rawReadConn struct {
	net.Conn
	raw syscall.RawConn
}

// newRawReadConn wraps c, or returns c itself when it has no descriptor
// to read.
func newRawReadConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &rawReadConn{Conn: c, raw: raw}
}

func (c *rawReadConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == unix.EINTR {
				continue
			}
			n, errno = int(r), e
			return e != unix.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
