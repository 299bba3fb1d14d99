package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/skupperd/skupperd/grants"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/gcroom"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/router/vanflow"
)

const stoppedMessage = `Router stopped by "skupper system stop"; start it with "skupper system start"`

// stampOf is what a resync compares to decide whether ns needs a
// reconcile, when globalStamp (checked by the event loop) is unchanged.
func stampOf(ns namespaces.Namespace) string {
	return runtimeStamp(ns)
}

// inputTrust is the longest a namespace's passes load only what the
// watcher reports changed: a pass after that looks at every input file
// again, for changes no event reports (a file changed through a hard link
// in another directory, a network filesystem).
const inputTrust = time.Minute

// worker reconciles one namespace. Its reconciles never overlap; a panic
// or an error in one is contained: the namespace reports it in its summary
// and retries with capped exponential backoff while the others go on.
type worker struct {
	d      *Daemon
	ns     namespaces.Namespace
	kicks  chan bool // true: restart the router (reload request)
	cancel context.CancelFunc
	done   chan struct{}
	sweep  bool // remove temporary files of interrupted writes first

	mu         sync.Mutex
	waiters    []*sync.WaitGroup
	force      bool
	dirty      bool          // a kick other than a resync check arrived
	quiet      time.Duration // the longest quiet the kicks since the last coalesce asked for
	quietFull  bool          // one of them asked for Quiet
	stamp      string        // stampOf after the last good reconcile ("": none)
	reconciled time.Time     // when that reconcile ended
	attachesTo []string
	retryTimer *time.Timer
	retryDelay time.Duration
	// changeTimer reconciles again when the last reconcile's status goes
	// stale by time alone (reconcile.Result.NextChange).
	changeTimer *time.Timer
	lastOutcome reconcile.Outcome
	// refresh asks for a status-only refresh (the router reported a
	// change); last is the reconcile to refresh and obs the router's
	// observer. last and obs belong to the worker goroutine.
	refresh bool
	last    *reconcile.Result
	obs     *observer
	// running is what the router runs, for hot apply (worker goroutine);
	// parsed is the configuration the last hot apply parsed.
	running *running
	parsed  *parsedConfig
	// journal is what the watcher saw change in input/resources since
	// the last pass loaded it.
	journal *inputJournal
}

// observed is called by the observer when the router's view of the network
// changed: refresh the status, not the whole namespace.
func (w *worker) observed() {
	w.mu.Lock()
	w.refresh = true
	w.mu.Unlock()
	select {
	case w.kicks <- true:
	default:
	}
}

// kick asks for a reconcile (force: and a router restart) after the
// namespace was quiet for Quiet.
func (w *worker) kick(force bool) {
	w.kickWith(force, 0)
}

// kickAfter asks for a reconcile after the namespace was quiet for quiet
// (a longer quiet asked for by another kick wins).
func (w *worker) kickAfter(quiet time.Duration) {
	w.kickWith(false, quiet)
}

// kickWith asks for a reconcile after quiet (0: Quiet).
func (w *worker) kickWith(force bool, quiet time.Duration) {
	w.mu.Lock()
	w.dirty = true
	w.force = w.force || force
	if quiet <= 0 {
		w.quietFull = true
	}
	w.quiet = max(w.quiet, quiet)
	w.mu.Unlock()
	select {
	case w.kicks <- true:
	default:
	}
}

// settle is how long the namespace must be quiet before the pending
// reconcile; with take, the next reconcile's kicks start afresh.
func (w *worker) settle(take bool) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	q, full := w.quiet, w.quietFull
	if take {
		w.quiet, w.quietFull = 0, false
	}
	if full || q <= 0 {
		return max(q, w.d.cfg.Quiet)
	}
	return q
}

// kickResync asks for a reconcile only if the namespace changed since its
// last one, or that one is older than FullResync.
func (w *worker) kickResync() {
	select {
	case w.kicks <- true:
	default:
	}
}

// upToDate reports whether a resync can skip the namespace.
func (w *worker) upToDate() bool {
	w.mu.Lock()
	stamp, at := w.stamp, w.reconciled
	w.mu.Unlock()
	return stamp != "" && time.Since(at) < w.d.cfg.FullResync && stamp == stampOf(w.ns)
}

func (w *worker) addWaiter(wg *sync.WaitGroup) {
	w.mu.Lock()
	w.waiters = append(w.waiters, wg)
	w.mu.Unlock()
}

func (w *worker) releaseWaiters() {
	w.mu.Lock()
	ws := w.waiters
	w.waiters = nil
	w.mu.Unlock()
	for _, wg := range ws {
		wg.Done()
	}
}

func (w *worker) run(ctx context.Context) {
	defer w.releaseWaiters()
	defer w.stopObserver()
	if w.sweep {
		sweepTemp(w.ns, w.d.started, w.d.log)
	}
	defer func() {
		w.mu.Lock()
		if w.retryTimer != nil {
			w.retryTimer.Stop()
		}
		if w.changeTimer != nil {
			w.changeTimer.Stop()
		}
		w.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kicks:
		}
		if !w.coalesce(ctx) {
			return
		}
		w.mu.Lock()
		dirty, refresh := w.dirty, w.refresh
		w.dirty, w.refresh = false, false
		w.mu.Unlock()
		w.work(ctx, dirty, refresh)
		w.releaseWaiters()
	}
}

// work runs what a kick asked for: a reconcile, a status refresh, or
// nothing (a resync check that found the namespace unchanged).
func (w *worker) work(ctx context.Context, dirty, refresh bool) {
	w.d.working.Add(1)
	defer w.d.working.Add(-1)
	run := dirty
	if !dirty && !w.upToDate() {
		run = true
		w.d.log.Debug("the namespace's runtime files changed since its last good reconcile, or it has none; reconciling", "namespace", w.ns.Name)
	}
	if !run && !refresh {
		// A resync check that finds the namespace up to date is not work:
		// an idle daemon stays idle (procs) through it.
		w.d.skipped.Add(1)
		return
	}
	w.d.procs.begin()
	defer w.d.procs.end()
	if run {
		// A pass allocates several times the daemon's live heap: let
		// the collector wait for it (see internal/gcroom).
		gcroom.Begin()
		defer gcroom.End()
		w.reconcile(ctx)
		return
	}
	w.refreshStatus()
}

// coalesce waits until no kick arrived for the quiet the kicks asked for
// (Quiet, or QuietPlaced after whole files only), or MaxDelay passed.
func (w *worker) coalesce(ctx context.Context) bool {
	deadline := time.Now().Add(w.d.cfg.MaxDelay)
	for {
		wait := min(w.settle(false), time.Until(deadline))
		if wait <= 0 {
			w.settle(true)
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-w.kicks:
			t.Stop()
		case <-t.C:
			w.settle(true)
			return true
		}
	}
}

// pass is what one reconcile of the namespace decided before and learned
// after running package reconcile.
type pass struct {
	log      *slog.Logger
	reloadID string // a reload request to acknowledge ("": none)
	force    bool   // restart the router even if nothing changed
	stopped  bool   // "skupper system stop" holds the router down
	res      *reconcile.Result
	// stamp is stampOf the namespace right after the reconcile.
	stamp string
}

// reconcile runs one reconcile of the namespace: open it, decide what the
// pass must do, run package reconcile (contained: panic, deadline), then
// act on the result (grants, router, reload acknowledgement, dependents).
func (w *worker) reconcile(ctx context.Context) {
	d := w.d
	p := &pass{log: d.log.With("namespace", w.ns.Name, "reconcile", d.seq.Add(1))}
	// The namespace directory stays open during the reconcile, so that its
	// removal is detected reliably (its inode cannot be reused meanwhile).
	dir, err := w.openNamespace()
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) {
			// Not gone (the event loop handles that) but unreadable, e.g.
			// out of file descriptors: try again later.
			w.retry(p.log, "cannot open the namespace directory", err)
		}
		return
	}
	defer dir.Close()
	if err := d.watch.arm(w.ns); err != nil {
		p.log.Warn("cannot watch namespace input; changes are found by polling and resync", "error", err)
	}
	w.prepare(ctx, p)
	res, err := w.runReconcile(ctx, p)
	// The runtime files as this reconcile left them: a change after this
	// instant (a file removed behind the daemon's back, even while the
	// result is applied) differs from the stamp, and the next resync
	// reconciles again.
	p.stamp = stampOf(w.ns)
	d.passes.Add(1)
	w.mu.Lock()
	w.stamp = "" // until this reconcile is known good
	w.mu.Unlock()
	if w.removedDuring(p.log, dir) {
		// The result is about a namespace that is gone; the event loop
		// stops this worker and the router.
		return
	}
	if err != nil && ctx.Err() != nil {
		// The worker is stopping (daemon shutdown, namespace gone): the
		// reconcile was cut short, not failed; the next daemon redoes it.
		p.log.Info("reconcile interrupted by shutdown", "error", err)
		return
	}
	if err != nil {
		w.recordFailure(p.log, err)
		w.retry(p.log, "reconcile failed; the last good configuration stays in place", err)
		return
	}
	p.res = res
	w.last = res
	w.apply(ctx, p)
}

// openNamespace opens the namespace directory, checking it is one.
func (w *worker) openNamespace() (*os.File, error) {
	dir, err := os.Open(w.ns.Dir)
	if err != nil {
		return nil, err
	}
	if fi, err := dir.Stat(); err != nil || !fi.IsDir() {
		dir.Close()
		if err == nil {
			err = fmt.Errorf("%s is not a directory: %w", w.ns.Dir, fs.ErrNotExist)
		}
		return nil, err
	}
	return dir, nil
}

// prepare reads what the pass must honour: a reload request, a forced
// restart and the stop marker (which stops the router right away).
func (w *worker) prepare(ctx context.Context, p *pass) {
	p.reloadID = w.ns.PendingReload()
	w.mu.Lock()
	p.force = w.force || p.reloadID != ""
	w.force = false
	w.mu.Unlock()
	p.stopped = w.ns.Stopped()
	if p.stopped {
		// "skupper system stop": the router stays down until "start";
		// the input and the configuration are kept.
		if err := w.d.cfg.Supervisor.Stop(ctx, w.ns.Name); err != nil {
			p.log.Error("stop router", "error", err)
		}
	}
}

// options are the reconcile options for this pass.
func (w *worker) options(p *pass) reconcile.Options {
	d := w.d
	rstate := w.obs.state(d.cfg.Supervisor.State(w.ns.Name))
	if p.stopped {
		rstate = router.State{Message: stoppedMessage}
	}
	opts := reconcile.Options{
		Network: w.network(rstate),
		Unbound: w.unbound(rstate),
		Version: d.cfg.Version,
		Ports:   d.alloc,
		Router:  rstate,
		Hosts:   d.cfg.Hosts,
		Redeem:  d.cfg.Redeem,
		Cache:   d.cache,
		InputChanges: func() *namespaces.InputChanges {
			return w.journal.take(d.watch.epoch(w.ns.InputResourcesDir()), time.Now(), inputTrust)
		},
	}
	if g := d.cfg.Grants; g != nil {
		opts.Grants = g.Info()
		if opts.Hosts == nil {
			advertise := g.AdvertiseHost()
			opts.Hosts = func() []string { return grants.AdvertisedHosts(advertise) }
		}
	}
	return opts
}

// PanicError is a reconcile that panicked: the namespace reports it and
// retries; the daemon and every other namespace keep running.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("reconcile panicked: %v", e.Value) }

// runReconcile runs package reconcile for the namespace within the
// reconcile deadline, turning a panic into a *PanicError.
func (w *worker) runReconcile(ctx context.Context, p *pass) (res *reconcile.Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.d.cfg.ReconcileTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			perr := &PanicError{Value: v, Stack: debug.Stack()}
			p.log.Error("reconcile panicked", "panic", fmt.Sprint(v), "stack", string(perr.Stack))
			res, err = nil, perr
		}
	}()
	res, err = w.d.cfg.Reconcile(ctx, w.ns, w.options(p))
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("reconcile did not finish within %s: %w", w.d.cfg.ReconcileTimeout, err)
	}
	return res, err
}

// recordFailure writes a failed reconcile into the namespace's summary,
// keeping what the last one recorded of the site and its router, so that
// `skupper system status` and `debug check` show why nothing changed.
func (w *worker) recordFailure(log *slog.Logger, cause error) {
	s, err := w.ns.ReadSummary()
	if err != nil || s == nil {
		s = &namespaces.Summary{Namespace: w.ns.Name, Router: "NotRunning"}
	}
	s.Outcome = namespaces.Failed
	s.LastReconcile = time.Now().UTC().Format(time.RFC3339Nano)
	s.DurationMS = 0
	s.Errors = []string{cause.Error() + "; the last good configuration stays in place and the reconcile is retried"}
	if err := w.ns.WriteSummary(*s); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("record the failed reconcile in the namespace summary", "error", err)
	}
}

// apply acts on a reconcile that completed: bookkeeping, grants, the
// router, the reload acknowledgement and the namespaces that depend on
// this one.
func (w *worker) apply(ctx context.Context, p *pass) {
	res := p.res
	w.mu.Lock()
	w.retryDelay = 0
	prevAttaches := w.attachesTo
	w.attachesTo = res.AttachesTo
	w.lastOutcome = res.Outcome
	w.mu.Unlock()
	for _, e := range res.Diagnostics.Errors() {
		p.log.Debug("input problem", "diagnostic", e.Error())
	}
	p.log.Info("reconciled", "outcome", res.Outcome, "config_changed", res.ConfigChanged, "certs_changed", res.CertsChanged,
		"errors", len(res.Diagnostics.Errors()), "duration", res.Duration)
	w.serveGrants(res)
	if res.RetryRedemption {
		w.retry(p.log, "token redemption failed transiently; retrying", nil)
	}
	w.superviseRouter(ctx, p)
	w.scheduleChange(res.NextChange)
	if p.reloadID != "" {
		if err := w.ns.AckReload(p.reloadID); err != nil {
			p.log.Error("acknowledge reload", "error", err)
		}
	}
	w.mu.Lock()
	w.stamp, w.reconciled = p.stamp, time.Now()
	w.mu.Unlock()
	// Attached connectors here feed the site namespaces they name.
	for _, ns := range mergeNames(prevAttaches, res.AttachesTo) {
		w.d.KickNamespace(ns)
	}
}

// serveGrants hands the namespace's grants to the grant server: those of
// an applied site, none otherwise.
func (w *worker) serveGrants(res *reconcile.Result) {
	g := w.d.cfg.Grants
	if g == nil {
		return
	}
	if res.Outcome == reconcile.Applied {
		g.SetGrants(w.ns.Name, res.Grants, res.LinkAccess)
	} else {
		g.SetGrants(w.ns.Name, nil)
	}
}

// superviseRouter starts, restarts or stops the namespace's router after a
// reconcile. An invalid Site keeps the last good router running.
func (w *worker) superviseRouter(ctx context.Context, p *pass) {
	res, sup := p.res, w.d.cfg.Supervisor
	if lock := w.d.cfg.Lock; lock != nil {
		if err := lock.Check(); err != nil {
			// The data home was replaced: leave the router as it is
			// until the event loop locks the new one, then reconciles
			// every namespace again.
			p.log.Warn("not touching the router until the data home at the path is locked", "error", err)
			return
		}
	}
	switch {
	case p.stopped:
	case res.Outcome == reconcile.Applied:
		spec := router.Spec{
			Namespace: w.ns.Name, ConfigPath: res.ConfigPath, SiteID: res.SiteID,
			LocalPort: res.LocalPort, PIDFile: filepath.Join(w.ns.InternalDir(), "router.pid"),
		}
		restart := res.ConfigChanged || res.CertsChanged || p.force
		// The listeners the router is brought to are those to check.
		w.watchListeners(res.ConfigPath)
		// A first start, a reload request or a router not observed (no
		// supervisor) is not a hot apply.
		switch {
		case restart && !p.force && w.running != nil && w.obs != nil && w.hotApply(ctx, p, spec):
			// The running router took the change: no restart, no flow cut.
			restart = false
		case !restart && w.running != nil && w.obs != nil:
			// Unchanged: set back what changed behind skupperd's back.
			w.correctDrift(ctx, p, spec)
		}
		if err := sup.Ensure(ctx, spec, restart); err != nil {
			p.log.Error("start router", "error", err)
		}
		if _, none := sup.(router.NoSupervisor); none {
			// Nothing runs the configuration: there is nothing to hot
			// apply to, and no need to parse it.
			w.running = nil
		} else {
			w.noteRunning(p, spec)
		}
	case !res.SiteDeclared:
		// The Site is gone: its router goes too.
		if err := sup.Stop(ctx, w.ns.Name); err != nil {
			p.log.Error("stop router", "error", err)
		}
		w.running = nil
	}
	if p.stopped {
		w.running = nil
	}
	w.superviseObserver(p)
}

// superviseObserver keeps an observer on the namespace's router while one
// is meant to run (an applied site, a supervisor, not stopped), on the
// router's current local port.
func (w *worker) superviseObserver(p *pass) {
	_, none := w.d.cfg.Supervisor.(router.NoSupervisor)
	want := !none && !p.stopped && p.res.Outcome == reconcile.Applied && p.res.LocalPort > 0
	if w.obs != nil && (!want || w.obs.port != p.res.LocalPort) {
		w.stopObserver()
	}
	if !want || w.obs != nil {
		return
	}
	obs, err := startObserver(w.ns, p.res.LocalPort, p.log.With("observer", true), w.observed, func() { w.kick(false) }, w.routerPID)
	if err != nil {
		p.log.Warn("cannot observe the router; its status is not read", "error", err)
		return
	}
	w.obs = obs
	w.d.sweeper.add(obs)
	w.watchListeners(p.res.ConfigPath)
}

// routerPID is the namespace's router process (0 when not running or
// not known).
func (w *worker) routerPID() int { return w.d.cfg.Supervisor.State(w.ns.Name).PID }

// watchListeners makes the observer check the listeners of the router
// configuration at path (see ports.go).
func (w *worker) watchListeners(path string) {
	if w.obs == nil {
		return
	}
	if data, err := os.ReadFile(path); err == nil {
		w.obs.ports.setConfig(data)
	}
	w.obs.pokePorts()
}

// unbound is what the observer reports of the router's listeners that
// cannot listen, for status: nothing unless a router of ours runs and is
// observed.
func (w *worker) unbound(state router.State) map[string]string {
	if w.obs == nil || !state.Running {
		return nil
	}
	return w.obs.ports.report()
}

func (w *worker) stopObserver() {
	if w.obs != nil {
		w.d.sweeper.remove(w.obs)
		w.obs.stop()
		w.obs = nil
	}
}

// network is the router's observation of the network for status: none
// unless a router of ours runs, answers (state is the observer's view of
// the supervisor's state) and is observed.
func (w *worker) network(state router.State) *vanflow.NetworkStatus {
	if w.obs == nil || !state.Running {
		return nil
	}
	return w.obs.network()
}

// refreshStatus rewrites the namespace's status for what the router now
// reports, from the last reconcile (a full reconcile when there is none).
func (w *worker) refreshStatus() {
	if w.last == nil || w.last.Outcome != reconcile.Applied {
		w.kick(false)
		return
	}
	state := w.obs.state(w.d.cfg.Supervisor.State(w.ns.Name))
	if err := reconcile.Refresh(w.last, state, w.network(state), w.unbound(state)); err != nil {
		w.d.log.Warn("refresh observed status", "namespace", w.ns.Name, "error", err)
		w.kick(false)
		return
	}
	w.d.refreshes.Add(1)
	stamp := stampOf(w.ns)
	w.mu.Lock()
	if w.stamp != "" {
		w.stamp = stamp // the files this refresh wrote are good
	}
	w.mu.Unlock()
}

// changeSlack is how long after a reconcile's NextChange the next one
// runs, so that it surely sees the change (a grant expired).
const changeSlack = 10 * time.Millisecond

// scheduleChange reconciles the namespace again at at (plus changeSlack),
// replacing any earlier schedule; a zero at cancels it. A grant whose
// expiration passes thus turns Not Ready at once, not at the next resync.
func (w *worker) scheduleChange(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changeTimer != nil {
		w.changeTimer.Stop()
		w.changeTimer = nil
	}
	if at.IsZero() {
		return
	}
	w.changeTimer = time.AfterFunc(time.Until(at)+changeSlack, func() { w.kick(false) })
}

// retry re-kicks the worker after a capped exponential backoff (1s
// doubling to maxRetryBackoff, reset by a reconcile that completes),
// logging why. It is the one backoff of a worker: failed reconciles,
// panics, an unreadable namespace and transient redemption failures all
// go through it.
func (w *worker) retry(log *slog.Logger, reason string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retryDelay == 0 {
		w.retryDelay = time.Second
	} else {
		w.retryDelay = min(w.retryDelay*2, maxRetryBackoff)
	}
	if err != nil {
		log.Error(reason, "error", err, "retry_in", w.retryDelay)
	} else {
		log.Warn(reason, "retry_in", w.retryDelay)
	}
	if w.retryTimer != nil {
		w.retryTimer.Stop()
	}
	w.retryTimer = time.AfterFunc(w.retryDelay, func() { w.kick(false) })
}

// sweepTemp removes the temporary files that atomic writes interrupted by
// a crash (kill -9, power loss) left in the namespace's runtime/,
// internal/ and input/ trees (input/resources and input/certs are written
// by token redemptions and the CLI): ".<name>.tmp-<digits>" (see atomicfile). Nothing else
// removes them: the status pruner only knows <Kind>-<name>.yaml files and
// the router and certificate directories are never listed. It runs when
// the daemon starts, for the namespaces present then (it holds the data
// home's lock, so no other daemon writes there), and only removes files
// not newer than the daemon, so that a write in progress by another
// process (the CLI) is normally left alone; file times are coarse (a
// clock tick), so that is not a guarantee for a write racing the start.
func sweepTemp(ns namespaces.Namespace, before time.Time, log *slog.Logger) {
	// The CLI writes input/ while it holds the namespace's input lock: a
	// temporary file it is about to rename is never one to sweep.
	if unlock, err := ns.LockInput(); err == nil {
		defer unlock()
	} else {
		log.Warn("cannot take the input lock; temporary files in input/ may be a writer's", "namespace", ns.Name, "error", err)
	}
	for _, root := range []string{ns.RuntimeDir(), ns.InternalDir(), ns.InputDir()} {
		atomicfile.SweepTemp(root, before, func(path string, err error) {
			if err != nil {
				log.Warn("cannot remove a temporary file left by an interrupted write", "namespace", ns.Name, "file", path, "error", err)
			} else {
				log.Info("removed a temporary file left by an interrupted write", "namespace", ns.Name, "file", path)
			}
		})
	}
}

// removedDuring reports whether the namespace directory, open as dir since
// before a reconcile, was removed (or replaced) while the reconcile ran. A
// reconcile that overlaps `rm -rf` of the namespace re-creates directories
// as it writes (runtime/, internal/), which would bring the namespace back
// as a ghost holding a port table, and would hide the removal from the
// event loop, which checks that the directory is gone. When the directory
// now holds nothing but what a reconcile writes, it is that ghost and is
// removed again; a namespace re-created by the user (it has input/ or
// anything else) is kept and reconciled afresh.
func (w *worker) removedDuring(log *slog.Logger, dir *os.File) bool {
	old, err := dir.Stat()
	if err != nil {
		return true
	}
	if st, ok := old.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		err = fs.ErrNotExist // rmdir-ed
	}
	if err == nil {
		if now, err := os.Stat(w.ns.Dir); err == nil && os.SameFile(old, now) {
			return false
		}
	}
	entries, err := os.ReadDir(w.ns.Dir)
	if err != nil {
		return true // gone: the event loop sees the removal
	}
	for _, e := range entries {
		if name := e.Name(); name != "runtime" && name != "internal" {
			log.Info("namespace directory was replaced during a reconcile; reconciling the new one")
			w.kick(false)
			return true
		}
	}
	log.Info("namespace directory was removed during a reconcile; removing what the reconcile re-created")
	if err := os.RemoveAll(w.ns.Dir); err != nil {
		log.Error("remove the re-created namespace directory", "error", err)
	}
	return true
}

func mergeNames(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append(append([]string(nil), a...), b...) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
