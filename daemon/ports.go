package daemon

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/router/hotapply"
)

// Listeners that cannot listen. A port another process holds never takes
// the site down: skupper-router creates such a tcpListener (at startup or
// through management) "down" with the error in its connectionMsg, and a
// link-access listener (role inter-router or edge) simply does not listen
// (router-runtime.md §4.2; only a normal-role listener in the startup
// configuration makes the router exit). The router retries neither, so
// while the router runs, the observer checks every listener that takes a
// port: every portPoll for portFastFor after anything that may change them
// (a reconcile, a hot apply, a change the router reports, e.g. after it
// restarted), every portIdlePoll otherwise, and every portBusyPoll while
// one cannot listen. A tcpListener is checked through management
// (operStatus, connectionMsg), a link-access listener, which reports
// nothing, through /proc (router.PortHolders: whose sockets listen on its
// port). Each one
// that cannot listen is reported on its Listener or RouterAccess (Error,
// naming the port; reconcile.Options.Unbound) and retried, DELETE +
// CREATE through management, once /proc shows nothing listening on its
// port, and in any case with a backoff from retryFirst to retryMax; the
// check after a retry comes sooner (portRecheck), so the status returns to
// Ready moments after the port frees.
const (
	portPoll    = 2 * time.Second
	portFastFor = 30 * time.Second
	// portIdlePoll is a safety net: a listener that listens keeps its
	// port, and every change pokes a check. Rare for the idle cost: a
	// query to the router (and /proc for link-access listeners), which
	// with 20 routers cost the idle daemon some 125 ms of CPU a round.
	portIdlePoll = 30 * time.Minute
	// portBusyPoll is the period while a listener cannot listen, so that
	// the port freeing is noticed within it.
	portBusyPoll = 500 * time.Millisecond
	portRecheck  = 300 * time.Millisecond
	retryFirst   = 2 * time.Second
	retryMax     = 30 * time.Second
	// retryFree is the shortest time between two retries of a listener
	// whose port /proc shows free.
	retryFree = time.Second
)

// portWatch is what the observer knows of the router's listeners that
// take a port. Safe for concurrent use.
type portWatch struct {
	mu sync.Mutex
	// desired are the listeners of the configuration the router runs (or
	// is being brought to), by name: tcpListeners and link-access
	// listeners.
	desired map[string]hotapply.Entity
	// unbound is the last published report: entity name → why it cannot
	// listen.
	unbound map[string]string
	// retries holds the backoff of each listener that cannot listen.
	retries map[string]*retryState
	// held marks link-access listeners last seen sharing their port with
	// another process; missing counts the checks in a row that found
	// one not listening at all.
	held    map[string]bool
	missing map[string]int
}

type retryState struct {
	attempts int
	last     time.Time // the last retry ("": none yet)
	next     time.Time // the next retry whatever the port shows
}

func newPortWatch() *portWatch {
	return &portWatch{
		desired: map[string]hotapply.Entity{}, retries: map[string]*retryState{},
		held: map[string]bool{}, missing: map[string]int{},
	}
}

// setConfig makes the listeners of the router configuration data the
// ones to check. A configuration that does not parse changes nothing.
func (pw *portWatch) setConfig(data []byte) {
	es, err := hotapply.ParseConfig(data)
	if err != nil {
		return
	}
	desired := map[string]hotapply.Entity{}
	for _, e := range es {
		if takesPort(e) {
			desired[e.Name] = e
		}
	}
	pw.mu.Lock()
	pw.desired = desired
	pw.mu.Unlock()
}

// takesPort reports whether e is a listener whose port another process
// can take: a tcpListener, or a link-access listener. skupperd's own
// normal-role listener is not: the router does not run without it.
func takesPort(e hotapply.Entity) bool {
	switch e.Type {
	case "tcpListener":
		return true
	case "listener":
		role, _ := e.Attrs["role"].(string)
		return role == "inter-router" || role == "edge"
	}
	return false
}

// listeners returns the desired listeners, sorted by name.
func (pw *portWatch) listeners() []hotapply.Entity {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	out := make([]hotapply.Entity, 0, len(pw.desired))
	for _, e := range pw.desired {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// listener returns the desired listener named name.
func (pw *portWatch) listener(name string) (hotapply.Entity, bool) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	e, ok := pw.desired[name]
	return e, ok
}

// report returns a copy of the last published report (nil: none).
func (pw *portWatch) report() map[string]string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if len(pw.unbound) == 0 {
		return nil
	}
	return maps.Clone(pw.unbound)
}

// publish records a new report and returns the listeners that can no
// longer listen and those that listen again; changed is false when the
// report is the same as before.
func (pw *portWatch) publish(unbound map[string]string) (added, cleared []string, changed bool) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if maps.Equal(unbound, pw.unbound) {
		return nil, nil, false
	}
	for name := range unbound {
		if _, ok := pw.unbound[name]; !ok {
			added = append(added, name)
		}
	}
	for name := range pw.unbound {
		if _, ok := unbound[name]; !ok {
			cleared = append(cleared, name)
			delete(pw.retries, name)
		}
	}
	sort.Strings(added)
	sort.Strings(cleared)
	pw.unbound = unbound
	return added, cleared, true
}

// due reports whether the listener name, which cannot listen, is to be
// retried now: its port is free (no more than once per retryFree), or
// its backoff (retryFirst doubling to retryMax) ran out. A true answer
// counts as a retry.
func (pw *portWatch) due(name string, now time.Time, free bool) bool {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	st := pw.retries[name]
	if st == nil {
		st = &retryState{next: now.Add(retryFirst)}
		pw.retries[name] = st
	}
	if free && now.Sub(st.last) < retryFree || !free && now.Before(st.next) {
		return false
	}
	st.attempts++
	st.last = now
	st.next = now.Add(min(retryFirst<<min(st.attempts, 5), retryMax))
	return true
}

// clear forgets the retry state of a listener that listens.
func (pw *portWatch) clear(name string) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	delete(pw.retries, name)
	delete(pw.missing, name)
	delete(pw.held, name)
}

// noteAccess records what /proc shows of a link-access listener and
// returns whether another process shared its port before (the router may
// then listen on one address family only) and for how many checks in a
// row the router has not listened at all.
func (pw *portWatch) noteAccess(name string, others, ours int) (wasHeld bool, missing int) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	wasHeld = pw.held[name]
	pw.held[name] = others > 0
	if ours == 0 {
		pw.missing[name]++
	} else {
		delete(pw.missing, name)
	}
	return wasHeld, pw.missing[name]
}

// watchPorts checks the router's listeners until ctx ends: at once when
// poked, then every portPoll for portFastFor, every portIdlePoll after
// that, and sooner while one cannot listen or after a retry.
func (o *observer) watchPorts(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	fastUntil := time.Now().Add(portFastFor)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.poke:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			fastUntil = time.Now().Add(portFastFor)
		}
		next := o.checkPorts(ctx)
		if next == portPoll && time.Now().After(fastUntil) {
			next = portIdlePoll
		}
		t.Reset(next)
	}
}

// pokePorts asks for a check of the listeners now, and frequent ones for
// a while: something may have changed them (a reconcile, a hot apply, a
// router restart).
func (o *observer) pokePorts() {
	select {
	case o.poke <- struct{}{}:
	default:
	}
}

// checkPorts checks every desired listener once, publishes the listeners
// that cannot listen (onChange when that changed), retries those that are
// due, and returns when to check again.
func (o *observer) checkPorts(ctx context.Context) time.Duration {
	desired := o.ports.listeners()
	if len(desired) == 0 {
		o.publishPorts(nil)
		return portPoll
	}
	if !o.conn.Connected() {
		return portPoll // the last report stands until the router answers
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	rows, err := o.mgmt.Query(qctx, "tcpListener", "name", "operStatus", "connectionMsg")
	cancel()
	if err != nil {
		return portPoll // not connected: the last report stands
	}
	running := make([]hotapply.Entity, 0, len(rows))
	present := map[string]bool{}
	for _, r := range rows {
		name, _ := r["name"].(string)
		running = append(running, hotapply.Entity{Type: "tcpListener", Name: name, Attrs: r})
		present[name] = true
	}
	busy := hotapply.BusyListeners(running)
	pid := o.pid()
	now := time.Now()
	unbound := map[string]string{}
	var retry []string
	for _, e := range desired {
		port := portOf(e)
		var msg string
		var again bool
		if e.Type == "tcpListener" {
			if !present[e.Name] {
				continue // not created yet
			}
			msg, again = o.checkTCPListener(e.Name, port, busy[e.Name], pid, now)
		} else {
			msg, again = o.checkAccess(e, port, pid, now)
		}
		if msg != "" {
			unbound[e.Name] = msg
		}
		if again {
			retry = append(retry, e.Name)
		}
	}
	o.publishPorts(unbound)
	if len(retry) == 0 {
		if len(unbound) > 0 {
			return portBusyPoll
		}
		return portPoll
	}
	o.retryListeners(ctx, retry)
	return portRecheck
}

// checkTCPListener says why the tcpListener name cannot listen ("" when
// it can) and whether to retry it now. connMsg is the router's error for
// it ("" when not busy).
func (o *observer) checkTCPListener(name string, port int, connMsg string, pid int, now time.Time) (string, bool) {
	if connMsg == "" {
		o.ports.clear(name)
		return "", false
	}
	msg := fmt.Sprintf("port %d is held by another process (%s); the listener is retried as soon as the port is free", port, connMsg)
	// The router's listener is down, so whatever listens on the port is
	// another process; none: the port is free.
	ours, others, err := router.PortHolders(pid, port)
	free := err == nil && ours+others == 0
	return msg, o.ports.due(name, now, free)
}

// checkAccess says why the link-access listener e cannot listen ("" when
// it can) and whether to retry it now. The router does not say whether
// such a listener listens: /proc does. Without the router's pid nothing
// is known.
func (o *observer) checkAccess(e hotapply.Entity, port, pid int, now time.Time) (string, bool) {
	if pid <= 0 || port <= 0 {
		return "", false
	}
	ours, others, err := router.PortHolders(pid, port)
	if err != nil {
		return "", false
	}
	wasHeld, missing := o.ports.noteAccess(e.Name, others, ours)
	role, _ := e.Attrs["role"].(string)
	switch {
	case others > 0:
		// Retried once it frees (below), not before: /proc tells.
		return fmt.Sprintf("%s port %d is held by another process; the router listens on it as soon as it is free", role, port), false
	case ours == 0:
		// Free, and the router does not listen: it gave up while the
		// port was held. Twice in a row, so that a listener just created
		// has had time to bind.
		return "", missing >= 2 && o.ports.due(e.Name, now, true)
	case wasHeld:
		// The other process left, but the router may listen on one
		// address family only (it took what was free then).
		return "", o.ports.due(e.Name, now, true)
	}
	o.ports.clear(e.Name)
	return "", false
}

// retryListeners deletes and creates again the named listeners, with the
// attributes desired now, under the observer's apply lock (a hot apply
// never runs at the same time).
func (o *observer) retryListeners(ctx context.Context, names []string) {
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	for _, name := range names {
		e, ok := o.ports.listener(name)
		if !ok {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := hotapply.Recreate(rctx, o.mgmt, e)
		cancel()
		if err != nil {
			o.log.Warn("retry a listener that could not listen", "entity", name, "port", portOf(e), "error", err)
			continue
		}
		o.log.Info("retried a listener that could not listen (deleted and created again)", "entity", name, "port", portOf(e))
	}
}

// publishPorts records the listeners that cannot listen, logs what
// changed and refreshes the namespace's status.
func (o *observer) publishPorts(unbound map[string]string) {
	added, cleared, changed := o.ports.publish(unbound)
	if !changed {
		return
	}
	for _, name := range added {
		o.log.Warn("a listener cannot listen: another process holds its port; it is retried when the port frees",
			"entity", name, "reason", unbound[name])
	}
	for _, name := range cleared {
		o.log.Info("a listener that could not listen listens again", "entity", name)
	}
	o.onChange()
}

// portOf is the port of a listener entity (0 when not a number).
func portOf(e hotapply.Entity) int {
	switch v := e.Attrs["port"].(type) {
	case string:
		n, _ := strconv.Atoi(v)
		return n
	case float64:
		return int(v)
	}
	return 0
}
