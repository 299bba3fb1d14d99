package amqpconn

import (
	"sync"
	"time"

	"github.com/skupperd/skupperd/internal/tick"
)

// ticker ticks every batched connection of the process that shares its
// period (readBatch), from one tick.Ticker: a tick wakes the process
// once for all of them. It runs while it has connections, and stops with
// the last one's Close.
type ticker struct {
	period time.Duration

	mu    sync.Mutex
	conns map[*rawConn]struct{}
	tick  *tick.Ticker
	quit  chan struct{}
	done  chan struct{}
}

var (
	tickersMu sync.Mutex
	tickers   = map[time.Duration]*ticker{}
)

// joinTicker makes the ticker of period c's (c.batch.ticker), starting it
// if it was not running.
func joinTicker(period time.Duration, c *rawConn) {
	tickersMu.Lock()
	defer tickersMu.Unlock()
	t := tickers[period]
	if t == nil {
		t = &ticker{period: period, conns: map[*rawConn]struct{}{}, tick: tick.New(period),
			quit: make(chan struct{}), done: make(chan struct{})}
		go t.run()
		tickers[period] = t
	}
	c.batch.ticker = t
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

// leave removes c; the last connection to leave stops the ticker and
// waits for its goroutine to end.
func (t *ticker) leave(c *rawConn) {
	tickersMu.Lock()
	t.mu.Lock()
	_, member := t.conns[c]
	delete(t.conns, c)
	last := member && len(t.conns) == 0
	t.mu.Unlock()
	if last {
		delete(tickers, t.period)
	}
	tickersMu.Unlock()
	if last {
		close(t.quit)
		<-t.done
	}
}

// run ticks the connections until quit is closed.
func (t *ticker) run() {
	defer close(t.done)
	defer t.tick.Stop()
	var conns []*rawConn
	for {
		var now time.Time
		select {
		case <-t.quit:
			return
		case now = <-t.tick.C:
		}
		conns = conns[:0]
		t.mu.Lock()
		for c := range t.conns {
			conns = append(conns, c)
		}
		t.mu.Unlock()
		for _, c := range conns {
			c.onTick(now)
		}
		clear(conns)
	}
}
