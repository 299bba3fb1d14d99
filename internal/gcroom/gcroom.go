// Package gcroom gives the garbage collector room while the process works.
//
// A daemon that reconciles a large namespace holds a small live heap
// between passes (a few megabytes) and allocates several times that in
// one pass. With the default pacing (GOGC=100) the collector then runs
// every few megabytes, two or three times per pass, and its marking and
// assists take a large share of the pass's two cores: a one-file edit of a
// 1,000-pair namespace measured 31 ms with it and 20 ms with GOGC=400.
// Raising GOGC for the whole process would multiply the idle heap too.
//
// Begin and End bracket work. While any work runs, the collector lets the
// heap grow by at least Floor beyond the live heap before it collects (a
// higher GOGC for a small heap; the usual pacing once the live heap is
// larger than Floor). When the last work ends, the previous GOGC is back,
// the next allocation finds the heap over its goal and the garbage of the
// work is collected then.
//
// Idle and Busy bracket the opposite: a process with nothing to do (see
// Idle).
//
// Nothing changes when the environment sets GOGC (the operator chose) or
// when the collector is off.
package gcroom

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Floor is the least the heap may grow beyond the live heap while work
// runs.
const Floor = 32 << 20

var (
	mu     sync.Mutex
	active int
	saved  int  // GOGC before the first Begin
	raised bool // Begin changed GOGC
	// fixed is true when the environment sets GOGC.
	fixed = os.Getenv("GOGC") != ""
	// limitFixed is true when the environment sets GOMEMLIMIT.
	limitFixed = os.Getenv("GOMEMLIMIT") != ""
)

// Begin marks the start of work; every Begin must be followed by one End.
func Begin() {
	mu.Lock()
	defer mu.Unlock()
	busyLocked()
	active++
	if active > 1 || fixed {
		return
	}
	live := liveHeap()
	if live == 0 {
		return
	}
	percent := int(Floor * 100 / live)
	old := debug.SetGCPercent(percent)
	if old < 0 || old >= percent {
		debug.SetGCPercent(old)
		return
	}
	saved, raised = old, true
}

// End marks the end of work begun with Begin. An End without its Begin
// changes nothing.
func End() {
	mu.Lock()
	defer mu.Unlock()
	if active == 0 {
		return
	}
	active--
	if active == 0 && raised {
		debug.SetGCPercent(saved)
		raised = false
	}
}

// Raised reports whether GOGC is raised now (for tests).
func Raised() bool {
	mu.Lock()
	defer mu.Unlock()
	return raised
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// liveHeap is the heap marked live by the last collection (0: unknown).
func liveHeap() uint64 {
	metrics.Read(liveSample)
	if liveSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return liveSample[0].Value.Uint64()
}

// While a process idles, the runtime's pacing is mostly the collection it
// forces every 2 minutes whatever the heap did. For an idle daemon that
// allocates a few megabytes a minute, each forced collection marks the
// whole live heap (some 11 MB over 20 observed routers, most of it
// go-amqp's queues) to free little, and the scavenger then returns the
// freed pages to the system in small steps, each a wakeup and an madvise,
// and the allocations after it fault them back in: on a virtual machine
// that was as much CPU as all the routers' traffic.
//
// Idle turns the percentage pacing off, which ends the forced collections
// too, and sets a memory limit of what the process holds now plus the room
// the default pacing would allow (the live heap times GOGC/100, at least
// IdleRoomMin): the runtime collects when the heap reaches it, as it would
// have, and keeps the pages it freed for the allocations that follow. Busy
// (and Begin) put the previous GOGC and memory limit back.

// IdleRoomMin is the least the process's memory may grow while idle
// before a collection.
const IdleRoomMin = 4 << 20

var (
	idling     bool
	idleGOGC   int   // GOGC before Idle
	idleLimit  int64 // memory limit before Idle
	idleSample = []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
)

// Idle marks the process idle until Busy or Begin: no collection runs
// unless the process's memory grows by the room above. Nothing changes
// while work runs, when the environment sets GOGC or GOMEMLIMIT, or when
// the collector is off.
func Idle() {
	mu.Lock()
	defer mu.Unlock()
	if idling || active > 0 || fixed || limitFixed {
		return
	}
	metrics.Read(idleSample)
	for _, s := range idleSample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
	}
	held := idleSample[0].Value.Uint64() - idleSample[1].Value.Uint64()
	live := idleSample[2].Value.Uint64()
	if live == 0 {
		return // no collection yet
	}
	old := debug.SetGCPercent(-1)
	if old <= 0 {
		debug.SetGCPercent(old)
		return
	}
	room := max(live*uint64(old)/100, IdleRoomMin)
	idleLimit = debug.SetMemoryLimit(int64(held + room))
	idling, idleGOGC = true, old
}

// Busy ends Idle: the previous GOGC and memory limit are back.
func Busy() {
	mu.Lock()
	defer mu.Unlock()
	busyLocked()
}

func busyLocked() {
	if !idling {
		return
	}
	debug.SetGCPercent(idleGOGC)
	debug.SetMemoryLimit(idleLimit)
	idling = false
}

// Idling reports whether Idle is in effect (for tests).
func Idling() bool {
	mu.Lock()
	defer mu.Unlock()
	return idling
}
