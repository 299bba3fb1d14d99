// Package tick delivers periodic ticks for the work an idle process does
// (reading quiet connections, liveness sweeps, lock checks, forgetting
// silent sources) at the lowest cost in wakeups.
//
// Ticks come from a timerfd read through the Go runtime's poller, not
// from a Go timer: the runtime wakes its monitor thread at every Go timer
// that fires, and that thread then polls every 20 µs until the process is
// idle again, several context switches per tick. A timerfd wakes only the
// thread that waits in the poller. All Tickers of one period share one
// timerfd, and every period's ticks fall on its multiples on the
// monotonic clock, so Tickers whose periods divide one another tick at
// the same instants and the process wakes once for all of them.
package tick

import (
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ticker sends the time on C at each tick. Like a time.Ticker it drops
// ticks for a slow receiver.
type Ticker struct {
	// C receives the ticks.
	C <-chan time.Time

	c    chan time.Time
	src  *source      // nil when a time.Ticker stands in
	std  *time.Ticker // the stand-in where no timerfd can be made
	once sync.Once
}

// source is the timerfd of one period and the goroutine that reads it,
// shared by the Tickers of that period while there are any.
type source struct {
	period time.Duration
	file   *os.File
	done   chan struct{}
	// tickers is guarded by sourcesMu.
	tickers map[*Ticker]struct{}
}

var (
	sourcesMu sync.Mutex
	sources   = map[time.Duration]*source{}
)

// New returns a Ticker of period (> 0), which must be stopped. Where a
// timerfd cannot be made, a time.Ticker stands in.
func New(period time.Duration) *Ticker {
	if period <= 0 {
		panic("tick: non-positive period")
	}
	c := make(chan time.Time, 1)
	t := &Ticker{C: c, c: c}
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	src := sources[period]
	if src == nil {
		var err error
		if src, err = open(period); err != nil {
			t.std = time.NewTicker(period)
			t.C = t.std.C
			return t
		}
		sources[period] = src
	}
	src.tickers[t] = struct{}{}
	t.src = src
	return t
}

// Stop stops the ticks. C is not closed. Stopping twice is harmless. The
// last Ticker of a period to stop closes its timerfd and waits for its
// goroutine to end.
func (t *Ticker) Stop() {
	t.once.Do(func() {
		if t.std != nil {
			t.std.Stop()
			return
		}
		src := t.src
		sourcesMu.Lock()
		delete(src.tickers, t)
		last := len(src.tickers) == 0
		if last {
			delete(sources, src.period)
		}
		sourcesMu.Unlock()
		if last {
			_ = src.file.Close()
			<-src.done
		}
	})
}

// open creates the timerfd of period, first due at the next multiple of
// period on the monotonic clock and every period after, and starts its
// goroutine.
func open(period time.Duration) (*source, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	first := (now.Nano()/int64(period) + 1) * int64(period)
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(period)), Value: unix.NsecToTimespec(first)}
	if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor joins the runtime's poller.
	file := os.NewFile(uintptr(fd), "tick")
	raw, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	src := &source{period: period, file: file, done: make(chan struct{}), tickers: map[*Ticker]struct{}{}}
	go src.run(raw)
	return src, nil
}

// run sends a tick to every Ticker of the source at each expiry, until
// the timerfd is closed.
func (s *source) run(raw syscall.RawConn) {
	defer close(s.done)
	var expirations uint64
	var chans []chan time.Time
	for {
		// A raw read(2): an ordinary system call would wake the
		// runtime's monitor thread at every tick.
		err := raw.Read(func(fd uintptr) bool {
			for {
				_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&expirations)), 8)
				if e == unix.EINTR {
					continue
				}
				return e != unix.EAGAIN
			}
		})
		if err != nil {
			return // the last Ticker stopped
		}
		now := time.Now()
		chans = chans[:0]
		sourcesMu.Lock()
		for t := range s.tickers {
			chans = append(chans, t.c)
		}
		sourcesMu.Unlock()
		for _, c := range chans {
			select {
			case c <- now:
			default:
			}
		}
		clear(chans)
	}
}
