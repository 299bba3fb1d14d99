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
)

// Begin marks the start of work; every Begin must be followed by one End.
func Begin() {
	mu.Lock()
	defer mu.Unlock()
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
