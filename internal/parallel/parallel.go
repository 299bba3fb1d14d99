// Package parallel spreads independent work over the available CPUs.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Batch is how many items one goroutine takes at a time: small items (a
// file to read, a status to encode) are not worth a goroutine each.
const Batch = 32

// For calls fn(i) for every i in [0, n), on up to GOMAXPROCS goroutines
// taking Batch items at a time, and returns when all calls have returned.
// With one CPU, or n <= Batch, the calls run in order on the caller's
// goroutine. fn must be safe to call concurrently for different i.
func For(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+Batch-1)/Batch)
	if workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(Batch)) - Batch
				if start >= n {
					return
				}
				for i := start; i < min(start+Batch, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}
