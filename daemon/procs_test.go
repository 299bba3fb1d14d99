package daemon

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/skupperd/skupperd/test/testwait"
)

// TestProcsLowersWhileIdle: GOMAXPROCS drops to 1 once no worker has had
// work for idleAfter, comes back at the next work, and is restored at the
// end; disabled, it is never touched.
func TestProcsLowersWhileIdle(t *testing.T) {
	full := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(full)
	if full < 2 {
		runtime.GOMAXPROCS(2)
		full = 2
	}
	off := procs{idleAfter: time.Millisecond}
	off.begin()
	off.end()
	time.Sleep(20 * time.Millisecond) // longer than idleAfter: nothing may happen
	if n := runtime.GOMAXPROCS(0); n != full {
		t.Fatalf("disabled procs changed GOMAXPROCS to %d", n)
	}
	p := procs{enabled: true, idleAfter: 10 * time.Millisecond}
	p.begin()
	p.begin()
	p.end()
	time.Sleep(30 * time.Millisecond) // one worker still busy: nothing may happen
	if n := runtime.GOMAXPROCS(0); n != full {
		t.Fatalf("GOMAXPROCS %d while a worker is busy", n)
	}
	p.end()
	testwait.For(t, 10*time.Second, "GOMAXPROCS lowered", func() (bool, string) {
		n := runtime.GOMAXPROCS(0)
		return n == 1, "GOMAXPROCS " + strconv.Itoa(n)
	})
	p.begin()
	if n := runtime.GOMAXPROCS(0); n != full {
		t.Fatalf("GOMAXPROCS %d after work began, want %d", n, full)
	}
	p.end()
	testwait.For(t, 10*time.Second, "GOMAXPROCS lowered again", func() (bool, string) {
		n := runtime.GOMAXPROCS(0)
		return n == 1, "GOMAXPROCS " + strconv.Itoa(n)
	})
	p.restore()
	if n := runtime.GOMAXPROCS(0); n != full {
		t.Fatalf("GOMAXPROCS %d after restore, want %d", n, full)
	}
}
