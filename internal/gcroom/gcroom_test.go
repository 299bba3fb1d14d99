package gcroom

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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

// pretendGOGCUnset runs the test as if the environment did not set GOGC
// or GOMEMLIMIT,
// so that the tests exercise gcroom wherever they run.
func pretendGOGCUnset(t *testing.T) {
	old, oldLimit := fixed, limitFixed
	fixed, limitFixed = false, false
	t.Cleanup(func() { fixed, limitFixed = old, oldLimit })
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

// memLimit returns the current memory limit.
func memLimit() int64 { return debug.SetMemoryLimit(-1) }

var gcCyclesSample = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}

func gcCycles() uint64 {
	metrics.Read(gcCyclesSample)
	return gcCyclesSample[0].Value.Uint64()
}

var sink [][]byte

// allocate allocates n bytes of garbage in 64 KiB blocks.
func allocate(n int) {
	for i := 0; i < n; i += 64 << 10 {
		sink = append(sink, make([]byte, 64<<10))
		if len(sink) == 16 {
			sink = sink[:0]
		}
	}
	sink = nil
}

// Idle turns the percentage pacing off and sets a memory limit with room
// above what the process holds: garbage within the room is not collected,
// growth past it is; Busy and Begin put GOGC and the limit back.
func TestIdleCollectsOnlyPastTheRoom(t *testing.T) {
	pretendGOGCUnset(t)
	t.Cleanup(Busy)
	runtime.GC()
	gogcBefore, limitBefore := gogc(), memLimit()
	Idle()
	if !Idling() || gogc() != -1 {
		t.Fatalf("Idle: idling %v, GOGC %d; want the percentage pacing off", Idling(), gogc())
	}
	limit := memLimit()
	if limit == limitBefore || limit < IdleRoomMin {
		t.Fatalf("Idle: memory limit %d (before %d), want what the process holds plus the room", limit, limitBefore)
	}
	cycles := gcCycles()
	allocate(IdleRoomMin / 4)
	if got := gcCycles(); got != cycles {
		t.Fatalf("%d collections for garbage well within the idle room", got-cycles)
	}
	for range 64 {
		allocate(int(limit / 8))
		if gcCycles() != cycles {
			break
		}
	}
	if gcCycles() == cycles {
		t.Fatalf("no collection after allocating 8 times the memory limit of %d B", limit)
	}
	Idle() // again: no change
	if got := memLimit(); got != limit {
		t.Fatalf("a second Idle moved the limit from %d to %d", limit, got)
	}
	Busy()
	if Idling() || gogc() != gogcBefore || memLimit() != limitBefore {
		t.Fatalf("Busy: idling %v, GOGC %d, limit %d; want %d, %d", Idling(), gogc(), memLimit(), gogcBefore, limitBefore)
	}
	Idle()
	Begin()
	if Idling() || memLimit() != limitBefore {
		t.Fatalf("Begin while idle: idling %v, limit %d; want %d", Idling(), memLimit(), limitBefore)
	}
	End()
	if gogc() != gogcBefore {
		t.Fatalf("GOGC %d after Begin/End from idle, want %d", gogc(), gogcBefore)
	}
}

// With GOGC or GOMEMLIMIT set in the environment, Idle changes nothing.
func TestIdleLeavesOperatorSettings(t *testing.T) {
	for _, which := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(which, func(t *testing.T) {
			oldFixed, oldLimit := fixed, limitFixed
			fixed, limitFixed = which == "GOGC", which == "GOMEMLIMIT"
			t.Cleanup(func() { fixed, limitFixed = oldFixed, oldLimit })
			runtime.GC()
			gogcBefore, limitBefore := gogc(), memLimit()
			Idle()
			if Idling() || gogc() != gogcBefore || memLimit() != limitBefore {
				t.Fatalf("idling %v, GOGC %d, limit %d; want %d, %d untouched", Idling(), gogc(), memLimit(), gogcBefore, limitBefore)
			}
		})
	}
}
