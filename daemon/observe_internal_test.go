package daemon

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/router"
)

// TestObserverState: a silent observer turns a running state into "not
// answering" with the pid; without an observer, or for a router that
// does not run, the supervisor's state stands.
func TestObserverState(t *testing.T) {
	running := router.State{Running: true, PID: 42, Message: "Router running (pid 42)"}
	var none *observer
	if got := none.state(running); got != running {
		t.Fatalf("no observer: %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := 0
	o := &observer{ctx: ctx, log: slog.New(slog.DiscardHandler), onLiveness: func() { changes++ }}
	if got := o.state(running); got != running {
		t.Fatalf("an answering router: %+v", got)
	}
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	o.setSilent(since)
	o.setSilent(since.Add(time.Second)) // still silent: the first time stands
	got := o.state(running)
	if got.Running || !router.IsNotAnswering(got) || got.PID != 42 ||
		!strings.HasPrefix(got.Message, "Router not answering (pid 42) since 2026-12-01T10:00:00Z") {
		t.Fatalf("a silent router: %+v", got)
	}
	stopped := router.State{Message: "Router stopped"}
	if got := o.state(stopped); got != stopped {
		t.Fatalf("a stopped router: %+v", got)
	}
	o.setSilent(time.Time{})
	if got := o.state(running); got != running || changes != 2 {
		t.Fatalf("answering again: %+v after %d changes", got, changes)
	}
	cancel()
	o.setSilent(since) // a stopped observer reports nothing
	if changes != 2 {
		t.Fatalf("a stopped observer reported a change")
	}
}

// TestSweeperRunsOnlyWithObservers: the sweeper's goroutine exists only
// while an observer is registered.
func TestSweeperRunsOnlyWithObservers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var s sweeper
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := &observer{ctx: ctx}, &observer{ctx: ctx}
	s.add(a)
	s.add(b)
	s.remove(a)
	if s.quit == nil {
		t.Fatal("the sweeper stopped with an observer left")
	}
	s.remove(b)
	if s.quit != nil {
		t.Fatal("the sweeper still runs without observers")
	}
	s.add(a) // and starts again
	s.remove(a)
}
