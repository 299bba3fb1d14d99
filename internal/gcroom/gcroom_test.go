package gcroom

import (
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
)

// gogc returns the current GOGC.
func gogc() int {
	old := debug.SetGCPercent(100)
	debug.SetGCPercent(old)
	return old
}

func TestBeginRaisesEndRestores(t *testing.T) {
	pretendGOGCUnset(t)
	runtime.GC() // a live heap is known
	before := gogc()
	Begin()
	raisedTo := gogc()
	if live := liveHeap(); live >= Floor {
		t.Skipf("the test binary's live heap is %d B, more than Floor", live)
	}
	if raisedTo <= before || !Raised() {
		t.Fatalf("GOGC %d → %d: not raised for a small live heap", before, raisedTo)
	}
	Begin() // nested work keeps it
	End()
	if got := gogc(); got != raisedTo {
		t.Fatalf("GOGC %d after an inner End, want %d", got, raisedTo)
	}
	End()
	if got := gogc(); got != before {
		t.Fatalf("GOGC %d after the last End, want %d", got, before)
	}
	if Raised() {
		t.Fatal("still raised")
	}
}

func TestLargeHeapKeepsPacing(t *testing.T) {
	pretendGOGCUnset(t)
	// GOGC already gives a heap of a few MB more room than Floor.
	const high = 1 << 20
	old := debug.SetGCPercent(high)
	defer debug.SetGCPercent(old)
	Begin()
	if Raised() || gogc() != high {
		t.Errorf("GOGC changed from %d to %d", high, gogc())
	}
	End()
	if gogc() != high {
		t.Errorf("GOGC changed from %d to %d", high, gogc())
	}
}

func TestConcurrentWork(t *testing.T) {
	before := gogc()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				Begin()
				End()
			}
		}()
	}
	wg.Wait()
	if got := gogc(); got != before || Raised() {
		t.Fatalf("GOGC %d (raised %v) after all work ended, want %d", got, Raised(), before)
	}
}

func TestEndWithoutBegin(t *testing.T) {
	before := gogc()
	End()
	Begin()
	End()
	if got := gogc(); got != before || Raised() {
		t.Fatalf("GOGC %d (raised %v), want %d", got, Raised(), before)
	}
}

// pretendGOGCUnset runs the test as if the environment did not set GOGC,
// so that the tests exercise gcroom wherever they run.
func pretendGOGCUnset(t *testing.T) {
	old := fixed
	fixed = false
	t.Cleanup(func() { fixed = old })
}

// With GOGC set in the environment, gcroom leaves it alone.
func TestOperatorGOGCLeftAlone(t *testing.T) {
	old := fixed
	fixed = true
	t.Cleanup(func() { fixed = old })
	before := gogc()
	Begin()
	if got := gogc(); got != before || Raised() {
		t.Errorf("GOGC %d (raised %v) while work runs, want %d untouched", got, Raised(), before)
	}
	End()
	if got := gogc(); got != before {
		t.Errorf("GOGC %d after the work, want %d", got, before)
	}
}
