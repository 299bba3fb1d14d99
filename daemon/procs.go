package daemon

import (
	"runtime"
	"sync"
	"time"

	"github.com/skupperd/skupperd/internal/gcroom"
)

// procs lowers GOMAXPROCS to 1 while no worker has work, and restores it
// as soon as one has; meanwhile the collector runs only when the heap
// grows (gcroom.Idle), without the runtime's forced collection every 2
// minutes. An idle daemon does little but receive the routers'
// heartbeats, and each message wakes several goroutines of go-amqp in a
// row; with a second P idle, every wakeup also wakes another OS thread
// that spins, finds nothing and sleeps again, which costs more CPU than
// the message itself. Reconciles, where parallelism pays, run with every
// P. Config.IdleProcs enables it (the skupperd binary does; tests that
// run daemons in-process leave their process's GOMAXPROCS alone).
type procs struct {
	enabled bool
	// idleAfter is how long no worker must have work before lowering.
	idleAfter time.Duration

	mu    sync.Mutex
	full  int // GOMAXPROCS to restore (0: not lowered)
	busy  int
	timer *time.Timer
}

// defaultIdleAfter is procs.idleAfter in the daemon.
const defaultIdleAfter = 2 * time.Second

// begin marks a worker busy, restoring GOMAXPROCS if it was lowered.
func (p *procs) begin() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy++
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	gcroom.Busy()
	if p.full > 0 {
		runtime.GOMAXPROCS(p.full)
		p.full = 0
	}
}

// end marks a worker idle; once none is busy for idleAfter, GOMAXPROCS
// is lowered to 1.
func (p *procs) end() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy--
	if p.busy > 0 || p.timer != nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(p.idleAfter, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.timer != t || p.busy > 0 {
			return
		}
		p.timer = nil
		if n := runtime.GOMAXPROCS(0); n > 1 && p.full == 0 {
			p.full = n
			runtime.GOMAXPROCS(1)
		}
		gcroom.Idle()
	})
	p.timer = t
}

// restore undoes a lowering (the daemon stops).
func (p *procs) restore() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	gcroom.Busy()
	if p.full > 0 {
		runtime.GOMAXPROCS(p.full)
		p.full = 0
	}
}
