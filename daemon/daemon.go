// Package daemon keeps every namespace of a data home reconciled and its
// router running.
//
// It watches the namespaces directory and each namespace's input (fsnotify
// on directories, never files; a polling fallback when inotify cannot be
// used). Events carry no data: they only mark a namespace dirty. One worker
// per namespace runs the level-triggered reconcile of package reconcile,
// so a namespace is never reconciled concurrently with itself while
// namespaces proceed in parallel. Bursts of events coalesce into one
// reconcile (a short quiet period, bounded by a maximum delay). SIGHUP
// (Reload) and reload requests from the CLI force passes. A slow resync
// ticker catches what events cannot tell: it reconciles every namespace
// when the input or port reservations of any namespace, the set of
// namespaces or the host's addresses changed since the previous tick, else
// the namespaces whose runtime files changed since their last reconcile,
// and every namespace at least once per FullResync (time-dependent work
// such as certificate renewal), so that idle namespaces cost next to
// nothing.
// Failed reconciles are retried with capped exponential backoff; invalid
// input is not retried until it changes.
//
// After a reconcile that applied a Site, the router is started, or
// restarted when its configuration or certificates changed. When a
// namespace's Site or the namespace itself is removed its router is
// stopped; when the Site is merely invalid the last good router keeps
// running.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/grants"
	"github.com/skupperd/skupperd/internal/tick"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/router"
)

// Defaults.
const (
	DefaultResync       = 5 * time.Minute
	DefaultFullResync   = 6 * time.Hour
	DefaultQuiet        = 15 * time.Millisecond
	DefaultQuietPlaced  = time.Millisecond
	DefaultMaxDelay     = 500 * time.Millisecond
	DefaultPollInterval = 2 * time.Second
	// DefaultReconcileTimeout bounds one reconcile of one namespace.
	DefaultReconcileTimeout = 2 * time.Minute
	maxRetryBackoff         = time.Minute
)

// Config configures a Daemon.
type Config struct {
	Home namespaces.Home
	// Namespaces restricts the daemon to these namespaces (empty: all).
	Namespaces []string
	// Resync is the period of resync passes (default 5m): each reconciles
	// every namespace when the input or port table of any namespace, the
	// set of namespaces or host addresses changed, else those whose
	// runtime files changed since their last reconcile.
	Resync time.Duration
	// FullResync is the longest a namespace goes without a reconcile
	// (default 6h), for time-dependent work: certificate renewal, expiry
	// of user certificates. It is checked at resync passes.
	FullResync time.Duration
	// Quiet is how long a namespace must see no events before it is
	// reconciled; MaxDelay bounds the wait under a steady stream of events.
	Quiet, MaxDelay time.Duration
	// QuietPlaced replaces Quiet (default 1ms) while every event since
	// the last reconcile placed or removed a whole resource file in
	// input/resources (a rename into, out of or within it, a removal, a
	// new file): there is no writer to wait for, as there is after a write
	// into a file (which an editor saving in place may not have finished)
	// or for a bundle of certificate files.
	QuietPlaced time.Duration
	// PollInterval is the polling period when inotify is unusable.
	PollInterval time.Duration
	// ForcePolling disables inotify (for tests of the fallback).
	ForcePolling bool
	Supervisor   router.Supervisor
	Logger       *slog.Logger
	// Notify sends a systemd notification ("READY=1", ...); nil: none.
	Notify func(state string)
	// Watchdog, when positive, is the systemd watchdog interval: the event
	// loop sends WATCHDOG=1 at half of it, proving it is responsive.
	Watchdog time.Duration
	Version  string
	// Hosts overrides how the host is reached (tests); nil: discovered.
	Hosts func() []string
	// Ports overrides the port allocator (tests); nil: one over Home.
	Ports *ports.Allocator
	// Grants is the grant server serving AccessGrants (nil: none; grants
	// report that it is not running).
	Grants *grants.Service
	// Redeem redeems AccessTokens (nil: tokens stay pending).
	Redeem reconcile.Redeemer
	// Reconcile runs one reconcile of one namespace (default
	// reconcile.Run); tests wrap it to inject faults.
	Reconcile func(context.Context, namespaces.Namespace, reconcile.Options) (*reconcile.Result, error)
	// ReconcileTimeout bounds one reconcile (default 2m); a reconcile
	// past it fails and is retried with backoff.
	ReconcileTimeout time.Duration
	// Lock is the data home's single-instance lock the caller holds
	// (a *namespaces.DaemonLock); nil: not checked. It is checked every
	// LockCheckInterval (default 2s) and before a worker acts on a
	// router. When the data home was removed or replaced, workers leave
	// routers alone and the event loop locks the data home now at the
	// path (Relock) and manages it: watches are set on its directories,
	// namespaces gone from it are stopped, new ones started, and every
	// namespace is reconciled from the new input (a router whose
	// configuration did not change keeps running). While no data home
	// exists at the path, that waits up to LockGrace (default 5
	// intervals), then an empty one is created. When another process
	// holds the new lock file (or none is locked within LockGrace), Run
	// stops every worker and router and returns the error.
	Lock              DataHomeLock
	LockCheckInterval time.Duration
	LockGrace         time.Duration
	// IdleProcs lowers GOMAXPROCS to 1 while no namespace has work (see
	// procs); the process's setting is restored when Run returns.
	IdleProcs bool
}

// DataHomeLock is the data home's single-instance lock as the daemon
// checks and renews it (namespaces.DaemonLock).
type DataHomeLock interface {
	// Check reports whether the lock still guards the data home.
	Check() error
	// Relock locks the data home now at the path (creating one if
	// create), after Check failed.
	Relock(create bool) error
}

// Daemon is a running skupperd.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	alloc *ports.Allocator
	cache *reconcile.Cache // status memo shared by every worker, for the daemon's lifetime
	watch *watcher
	// sweeper checks that observed routers answer.
	sweeper sweeper
	// procs lowers GOMAXPROCS while idle (Config.IdleProcs).
	procs procs

	ctx     context.Context
	started time.Time
	mu      sync.Mutex
	workers map[string]*worker
	wg      sync.WaitGroup
	reload  chan struct{}
	// stopGrants stops the grant server (shutdown before ctx ends: a
	// lost lock).
	stopGrants context.CancelFunc
	passes     atomic.Int64
	skipped    atomic.Int64 // resync checks that found a namespace unchanged
	// refreshes counts status-only refreshes for observed router changes.
	refreshes atomic.Int64
	// hotApplies and hotApplyFailures count configuration changes applied
	// to a running router through management, and those that fell back
	// to a restart.
	hotApplies, hotApplyFailures atomic.Int64
	seq                          atomic.Int64
	// working counts the workers doing what a kick asked for.
	working atomic.Int64
}

// New returns a daemon for cfg.
func New(cfg Config) *Daemon {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.FullResync <= 0 {
		cfg.FullResync = DefaultFullResync
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	if cfg.QuietPlaced <= 0 {
		cfg.QuietPlaced = DefaultQuietPlaced
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.LockCheckInterval <= 0 {
		cfg.LockCheckInterval = 2 * time.Second
	}
	if cfg.LockGrace <= 0 {
		cfg.LockGrace = 5 * cfg.LockCheckInterval
	}
	if cfg.Reconcile == nil {
		cfg.Reconcile = reconcile.Run
	}
	if cfg.ReconcileTimeout <= 0 {
		cfg.ReconcileTimeout = DefaultReconcileTimeout
	}
	if cfg.Supervisor == nil {
		cfg.Supervisor = router.NoSupervisor{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Notify == nil {
		cfg.Notify = func(string) {}
	}
	alloc := cfg.Ports
	if alloc == nil {
		alloc = ports.New(cfg.Home)
	}
	return &Daemon{cfg: cfg, log: cfg.Logger, alloc: alloc, cache: reconcile.NewCache(), workers: map[string]*worker{}, reload: make(chan struct{}, 1),
		procs: procs{enabled: cfg.IdleProcs, idleAfter: defaultIdleAfter}}
}

// Reload asks for a full pass over every namespace (SIGHUP).
func (d *Daemon) Reload() {
	select {
	case d.reload <- struct{}{}:
	default:
	}
}

func (d *Daemon) wanted(ns string) bool {
	if len(d.cfg.Namespaces) == 0 {
		return true
	}
	for _, n := range d.cfg.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// Run runs the daemon until ctx ends, then stops every worker and router
// and returns. The caller holds the data-home lock (see
// namespaces.Home.Lock).
func (d *Daemon) Run(ctx context.Context) error {
	defer d.procs.restore()
	d.listenGrants()
	first, n, err := d.start(ctx)
	if err != nil {
		if d.cfg.Grants != nil {
			d.cfg.Grants.Close()
		}
		return err
	}
	defer d.watch.close()
	d.startGrants(ctx)
	first.Wait()
	if d.cfg.Grants != nil {
		// Every namespace present has handed over its grants.
		d.cfg.Grants.SetReady()
	}
	d.log.Info("ready", "namespaces", n)
	d.cfg.Notify("READY=1\nSTATUS=Reconciled " + fmt.Sprint(n) + " namespaces")
	return d.loop(ctx)
}

// start watches the data home and starts a worker per namespace present;
// first counts down as each completes its first reconcile.
func (d *Daemon) start(ctx context.Context) (first *sync.WaitGroup, n int, err error) {
	if err := d.cfg.Home.Ensure(); err != nil {
		return nil, 0, err
	}
	d.ctx = ctx
	d.started = time.Now()
	w, err := newWatcher(d.cfg.Home)
	if err != nil || d.cfg.ForcePolling {
		w.polling = true
		d.log.Warn("file watching is unavailable; polling input for changes instead", "interval", d.cfg.PollInterval, "reason", fmt.Sprint(err))
	}
	d.watch = w
	if err := w.add(d.cfg.Home.NamespacesDir()); err != nil {
		d.log.Warn("cannot watch the namespaces directory; polling instead", "error", err)
	}
	names, err := d.cfg.Home.List()
	if err != nil {
		w.close()
		return nil, 0, err
	}
	first = &sync.WaitGroup{}
	for _, ns := range names {
		if d.wanted(ns) {
			d.startWorker(ns, first)
		}
	}
	return first, len(names), nil
}

// listenGrants binds the grant server's address, if any, before the first
// reconciles, so that they know its URL and hand it their grants; until
// they all have, it answers an unknown grant 503 (see SetReady).
func (d *Daemon) listenGrants() {
	if g := d.cfg.Grants; g != nil {
		if err := g.Listen(); err != nil {
			d.log.Error("the grant server cannot listen; AccessGrants are not served", "error", err)
		}
	}
}

// startGrants starts the grant server, if any.
func (d *Daemon) startGrants(ctx context.Context) {
	g := d.cfg.Grants
	if g == nil {
		return
	}
	ctx, d.stopGrants = context.WithCancel(ctx)
	// Bound before the first reconciles (listenGrants), the grant server
	// was known to them; otherwise Serve binds it now, and every
	// namespace is reconciled again to hand over its grants.
	bound := g.Info() != nil
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ready := func(net.Addr) {
			if !bound {
				d.kickAll(false)
			}
		}
		if err := g.Serve(ctx, ready); err != nil {
			d.log.Error("the grant server stopped; AccessGrants are not served", "error", err)
		}
	}()
}

// loopState is what the event loop carries between iterations.
type loopState struct {
	// global is what every namespace depends on beyond its own files; a
	// resync that finds it changed reconciles every namespace.
	global string
	// prints are the namespaces' input fingerprints (polling only).
	prints map[string]string
	poll   <-chan time.Time
	stops  []func()
	// lost is when the lock check first failed (zero: the lock holds).
	lost time.Time
}

// ticker ticks every d until the loop ends. Its ticks fall on multiples
// of d, as those of the observers' quiet reads and liveness sweeps do, so
// that an idle daemon wakes once for all of them (package internal/tick).
func (s *loopState) ticker(d time.Duration) <-chan time.Time {
	t := tick.New(d)
	s.stops = append(s.stops, t.Stop)
	return t.C
}

// loop dispatches file events, resync and poll ticks, watchdog pings and
// reload requests until ctx ends.
func (d *Daemon) loop(ctx context.Context) error {
	st := &loopState{global: globalStamp(d.cfg.Home, d.cfg.Hosts), prints: map[string]string{}}
	defer func() {
		for _, stop := range st.stops {
			stop()
		}
	}()
	resync := st.ticker(d.cfg.Resync)
	if d.watch.polling {
		st.poll = st.ticker(d.cfg.PollInterval)
	}
	var watchdog, lockCheck <-chan time.Time
	if d.cfg.Watchdog > 0 {
		watchdog = st.ticker(d.cfg.Watchdog / 2)
	}
	if d.cfg.Lock != nil {
		lockCheck = st.ticker(d.cfg.LockCheckInterval)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if d.watch.fs != nil {
		events, errs = d.watch.fs.Events, d.watch.fs.Errors
	}
	for {
		select {
		case <-ctx.Done():
			return d.shutdown()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			d.handleEvent(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			d.handleWatchError(err)
		case <-watchdog:
			d.cfg.Notify("WATCHDOG=1")
		case <-lockCheck:
			if err := d.checkLock(st); err != nil {
				d.log.Error("this daemon cannot lock the data home at its path; stopping", "error", err)
				return errors.Join(err, d.shutdown())
			}
		case <-resync:
			d.resync(st)
		case <-d.reload:
			d.fullPass()
		case <-st.poll:
			d.pollInputs(st)
		}
		if st.poll == nil && d.watch.isPolling() {
			d.log.Warn("inotify limit reached; switching to polling", "interval", d.cfg.PollInterval)
			st.poll = st.ticker(d.cfg.PollInterval)
		}
	}
}

// handleWatchError reacts to an error of the file watcher: lost events
// mean every namespace must be looked at again.
func (d *Daemon) handleWatchError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		d.log.Warn("file events were lost; reconciling every namespace")
		d.mu.Lock()
		for _, wk := range d.workers {
			wk.journal.lost()
		}
		d.mu.Unlock()
		d.kickAll(false)
		return
	}
	d.log.Error("file watch error", "error", err)
}

// resync finds new and removed namespaces, then reconciles every
// namespace when what they all depend on changed, else asks each worker to
// reconcile only if its namespace changed.
func (d *Daemon) resync(st *loopState) {
	d.discover()
	if g := globalStamp(d.cfg.Home, d.cfg.Hosts); g != st.global {
		st.global = g
		d.log.Info("resync: the namespaces' input, port tables or host addresses changed; reconciling every namespace")
		d.kickAll(false)
		return
	}
	// The checks run here, not in the workers: an idle daemon's resync
	// then wakes no worker (and arms no coalescing timer) for a namespace
	// that did not change.
	d.mu.Lock()
	workers := make([]*worker, 0, len(d.workers))
	for _, wk := range d.workers {
		workers = append(workers, wk)
	}
	d.mu.Unlock()
	for _, wk := range workers {
		if wk.upToDate() {
			d.skipped.Add(1)
			continue
		}
		wk.kickResync()
	}
}

// fullPass reconciles every namespace and waits until each did (SIGHUP).
func (d *Daemon) fullPass() {
	d.cfg.Notify("RELOADING=1")
	d.log.Info("reload requested: full pass")
	d.discover()
	var pass sync.WaitGroup
	d.kickAllWait(&pass)
	pass.Wait()
	d.cfg.Notify("READY=1")
}

// pollInputs kicks the namespaces whose input fingerprint changed (the
// fallback when inotify cannot be used).
func (d *Daemon) pollInputs(st *loopState) {
	d.discover()
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, wk := range d.workers {
		fp := fingerprint(wk.ns)
		if st.prints[name] != fp {
			st.prints[name] = fp
			wk.kick(false)
		}
	}
}

// handleEvent maps one file event to the namespaces it concerns.
func (d *Daemon) handleEvent(ev fsnotify.Event) {
	name := d.watch.namespaceOf(ev.Name)
	if name == "" {
		return
	}
	// Only directories with valid namespace names are namespaces (as for
	// Home.List): others, and files such as .ports.lock, are not given a
	// worker, which would write runtime files into them and fail forever.
	if msg := v2alpha1.ValidateName(name); msg != "" {
		if filepath.Dir(ev.Name) == d.cfg.Home.NamespacesDir() && ev.Has(fsnotify.Create) && !strings.HasPrefix(name, ".") {
			if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
				d.log.Warn("ignoring a directory whose name is not a valid namespace name", "dir", ev.Name, "reason", msg)
			}
		}
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		d.watch.forget(ev.Name)
	}
	ns := d.cfg.Home.Namespace(name)
	if filepath.Dir(ev.Name) == d.cfg.Home.NamespacesDir() {
		// A namespace appeared or went away.
		if ns.Exists() {
			if d.wanted(name) {
				d.startWorker(name, nil)
			}
		} else {
			d.stopWorker(name)
		}
		return
	}
	if !relevant(ns, ev.Name) {
		return
	}
	d.mu.Lock()
	wk := d.workers[name]
	d.mu.Unlock()
	if wk != nil {
		// The next pass loads what the events named (see inputJournal);
		// an event on input/resources itself, or on a directory above
		// it, may have replaced it: that pass looks at every file.
		switch res := ns.InputResourcesDir(); {
		case filepath.Dir(ev.Name) == res:
			wk.journal.note(filepath.Base(ev.Name))
		case ev.Name == res || ev.Name == ns.InputDir() || ev.Name == ns.Dir:
			wk.journal.lost()
		}
		// A write may be followed by more of the same writer, and a
		// bundle under input/certs is several files; a resource file
		// created (or renamed in), removed or renamed away is whole.
		quiet := d.cfg.Quiet
		if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Chmod) && filepath.Dir(ev.Name) == ns.InputResourcesDir() {
			quiet = d.cfg.QuietPlaced
		}
		wk.kickAfter(quiet)
	}
}

// discover starts workers for new namespaces and stops those of removed
// ones (the fallback when an event was missed).
func (d *Daemon) discover() {
	names, err := d.cfg.Home.List()
	if err != nil {
		d.log.Error("list namespaces", "error", err)
		return
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
		if d.wanted(n) {
			d.startWorker(n, nil)
		}
	}
	d.mu.Lock()
	var gone []string
	for n := range d.workers {
		if !present[n] {
			gone = append(gone, n)
		}
	}
	d.mu.Unlock()
	for _, n := range gone {
		d.stopWorker(n)
	}
}

func (d *Daemon) kickAll(force bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		w.kick(force)
	}
}

// kickAllWait kicks every worker and adds to pass one count per worker,
// released when that worker has completed a reconcile.
func (d *Daemon) kickAllWait(pass *sync.WaitGroup) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		pass.Add(1)
		w.addWaiter(pass)
		w.kick(false)
	}
}

// KickNamespace marks a namespace dirty if it has a worker (for example
// when its router's state changed and its status must be refreshed).
func (d *Daemon) KickNamespace(name string) {
	d.mu.Lock()
	w := d.workers[name]
	d.mu.Unlock()
	if w != nil {
		w.kick(false)
	}
}

func (d *Daemon) startWorker(name string, first *sync.WaitGroup) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.workers[name]; ok {
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	w := &worker{d: d, ns: d.cfg.Home.Namespace(name), kicks: make(chan bool, 1), cancel: cancel, done: make(chan struct{}), journal: newInputJournal()}
	// Namespaces present at start-up may hold what a killed daemon left
	// behind; one created later is being written by someone else.
	w.sweep = first != nil
	if first != nil {
		first.Add(1)
		w.addWaiter(first)
	}
	d.workers[name] = w
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(w.done)
		w.run(ctx)
	}()
	w.kick(false)
	d.log.Info("namespace added", "namespace", name)
}

// stopWorker ends a namespace's worker and, since the namespace is gone,
// stops its router and releases its ports.
func (d *Daemon) stopWorker(name string) {
	d.mu.Lock()
	w := d.workers[name]
	delete(d.workers, name)
	d.mu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.cfg.Supervisor.Stop(ctx, name); err != nil {
		d.log.Error("stop router", "namespace", name, "error", err)
	}
	if err := d.alloc.Release(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("release ports", "namespace", name, "error", err)
	}
	d.watch.forget(w.ns.Dir)
	if d.cfg.Grants != nil {
		d.cfg.Grants.SetGrants(name, nil)
	}
	d.log.Info("namespace removed", "namespace", name)
}

// shutdown stops workers (letting a reconcile in progress finish) and
// then the supervisor, within a bound.
func (d *Daemon) shutdown() error {
	d.cfg.Notify("STOPPING=1")
	d.log.Info("stopping")
	d.mu.Lock()
	for _, w := range d.workers {
		w.cancel()
	}
	d.mu.Unlock()
	if d.stopGrants != nil {
		d.stopGrants()
	}
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return d.cfg.Supervisor.Close(ctx)
}

// Passes returns how many reconciles have completed (for tests and
// benchmarks).
func (d *Daemon) Passes() int64 { return d.passes.Load() }

// Refreshes returns how many status-only refreshes (for what a router
// reported) have completed.
func (d *Daemon) Refreshes() int64 { return d.refreshes.Load() }

// Working returns how many namespaces' workers are reconciling or
// refreshing status now, including what a reconcile does after it is
// counted in Passes (supervising the router, serving grants): zero when
// the daemon is quiet.
func (d *Daemon) Working() int64 { return d.working.Load() }

// HotApplies returns how many configuration changes reached a running
// router through management, without a restart.
func (d *Daemon) HotApplies() int64 { return d.hotApplies.Load() }
