package tick

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// await is the next tick of t, or a failure after a bound far beyond
// any period the tests use.
func await(tb testing.TB, t *Ticker) time.Time {
	tb.Helper()
	select {
	case now := <-t.C:
		return now
	case <-time.After(10 * time.Second):
		tb.Fatal("no tick")
		return time.Time{}
	}
}

func TestTicks(t *testing.T) {
	tk := New(time.Millisecond)
	defer tk.Stop()
	if tk.src == nil {
		t.Fatal("no timerfd: a time.Ticker stands in")
	}
	prev := await(t, tk)
	for range 5 {
		now := await(t, tk)
		if !now.After(prev) {
			t.Fatalf("tick at %v after one at %v", now, prev)
		}
		prev = now
	}
}

// Ticks fall on multiples of the period on the monotonic clock.
func TestTicksAligned(t *testing.T) {
	const period = 20 * time.Millisecond
	tk := New(period)
	defer tk.Stop()
	await(t, tk)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	// The timerfd's next expiry, and how long until it: together a
	// multiple of the period.
	var cur unix.ItimerSpec
	raw, err := tk.src.file.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var gerr error
	if err := raw.Control(func(fd uintptr) { gerr = unix.TimerfdGettime(int(fd), &cur) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if cur.Interval.Nano() != int64(period) {
		t.Fatalf("interval %d, want %d", cur.Interval.Nano(), period)
	}
	next := ts.Nano() + cur.Value.Nano()
	if off := next % int64(period); off > int64(2*time.Millisecond) && off < int64(period-2*time.Millisecond) {
		t.Fatalf("next tick %d ns past a multiple of the period", off)
	}
}

// Tickers of one period share its timerfd, which the last Stop closes.
func TestShareAndStop(t *testing.T) {
	const period = time.Hour + time.Second // this test's own
	a, b := New(period), New(period)
	if a.src == nil || a.src != b.src {
		t.Fatal("two Tickers of one period do not share a timerfd")
	}
	src := a.src
	a.Stop()
	a.Stop() // twice is harmless
	sourcesMu.Lock()
	running := sources[period] == src
	sourcesMu.Unlock()
	if !running {
		t.Fatal("the timerfd closed while a Ticker was left")
	}
	b.Stop()
	select {
	case <-src.done:
	default:
		t.Fatal("the goroutine runs after the last Stop")
	}
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	if sources[period] != nil {
		t.Fatal("the period's timerfd is still listed")
	}
}

// Every Ticker of a period gets each tick.
func TestTicksReachEveryTicker(t *testing.T) {
	a, b := New(time.Millisecond), New(time.Millisecond)
	defer a.Stop()
	defer b.Stop()
	for range 3 {
		await(t, a)
		await(t, b)
	}
}

func TestNonPositivePeriodPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(0) did not panic")
		}
	}()
	New(0)
}
