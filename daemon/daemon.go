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
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/grants"
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
	DefaultMaxDelay     = 500 * time.Millisecond
	DefaultPollInterval = 2 * time.Second
	maxRetryBackoff     = time.Minute
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
}

// Daemon is a running skupperd.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	alloc *ports.Allocator
	cache *reconcile.Cache // status memo shared by every worker, for the daemon's lifetime
	watch *watcher

	ctx     context.Context
	started time.Time
	mu      sync.Mutex
	workers map[string]*worker
	wg      sync.WaitGroup
	reload  chan struct{}
	passes  atomic.Int64
	skipped atomic.Int64 // resync checks that found a namespace unchanged
	seq     atomic.Int64
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
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
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
	return &Daemon{cfg: cfg, log: cfg.Logger, alloc: alloc, cache: reconcile.NewCache(), workers: map[string]*worker{}, reload: make(chan struct{}, 1)}
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
// and returns. The caller holds the data-home lock (see Lock).
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.cfg.Home.Ensure(); err != nil {
		return err
	}
	d.ctx = ctx
	d.started = time.Now()
	w, err := newWatcher(d.cfg.Home)
	if err != nil || d.cfg.ForcePolling {
		w.polling = true
		d.log.Warn("file watching is unavailable; polling input for changes instead", "interval", d.cfg.PollInterval, "reason", fmt.Sprint(err))
	}
	d.watch = w
	defer w.close()
	if err := w.add(d.cfg.Home.NamespacesDir()); err != nil {
		d.log.Warn("cannot watch the namespaces directory; polling instead", "error", err)
	}

	names, err := d.cfg.Home.List()
	if err != nil {
		return err
	}
	var first sync.WaitGroup
	for _, ns := range names {
		if d.wanted(ns) {
			d.startWorker(ns, &first)
		}
	}
	if g := d.cfg.Grants; g != nil {
		if err := g.Listen(); err != nil {
			d.log.Error("the grant server cannot listen; AccessGrants are not served", "error", err)
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			// Once it listens, grants can be served: reconcile again.
			if err := g.Serve(ctx, func(net.Addr) { d.kickAll(false) }); err != nil {
				d.log.Error("the grant server stopped; AccessGrants are not served", "error", err)
			}
		}()
	}
	first.Wait()
	// What every namespace depends on beyond its own files; a resync that
	// finds it changed reconciles every namespace.
	global := globalStamp(d.cfg.Home, d.cfg.Hosts)
	d.log.Info("ready", "namespaces", len(names))
	d.cfg.Notify("READY=1\nSTATUS=Reconciled " + fmt.Sprint(len(names)) + " namespaces")

	resync := time.NewTicker(d.cfg.Resync)
	defer resync.Stop()
	var poll <-chan time.Time
	prints := map[string]string{}
	if w.polling {
		t := time.NewTicker(d.cfg.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	var watchdog <-chan time.Time
	if d.cfg.Watchdog > 0 {
		t := time.NewTicker(d.cfg.Watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fs != nil {
		events, errs = w.fs.Events, w.fs.Errors
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
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				d.log.Warn("file events were lost; reconciling every namespace")
				d.kickAll(false)
				continue
			}
			d.log.Error("file watch error", "error", err)
		case <-watchdog:
			d.cfg.Notify("WATCHDOG=1")
		case <-resync.C:
			d.discover()
			if g := globalStamp(d.cfg.Home, d.cfg.Hosts); g != global {
				global = g
				d.kickAll(false)
				continue
			}
			d.mu.Lock()
			for _, wk := range d.workers {
				wk.kickResync()
			}
			d.mu.Unlock()
		case <-d.reload:
			d.cfg.Notify("RELOADING=1")
			d.log.Info("reload requested: full pass")
			d.discover()
			var pass sync.WaitGroup
			d.kickAllWait(&pass)
			pass.Wait()
			d.cfg.Notify("READY=1")
		case <-poll:
			d.discover()
			d.mu.Lock()
			for name, wk := range d.workers {
				fp := fingerprint(wk.ns)
				if prints[name] != fp {
					prints[name] = fp
					wk.kick(false)
				}
			}
			d.mu.Unlock()
		}
		if poll == nil && w.isPolling() {
			d.log.Warn("inotify limit reached; switching to polling", "interval", d.cfg.PollInterval)
			t := time.NewTicker(d.cfg.PollInterval)
			defer t.Stop()
			poll = t.C
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
		wk.kick(false)
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
	w := &worker{d: d, ns: d.cfg.Home.Namespace(name), kicks: make(chan bool, 1), cancel: cancel, done: make(chan struct{})}
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
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return d.cfg.Supervisor.Close(ctx)
}

// Passes returns how many reconciles have completed (for tests and
// benchmarks).
func (d *Daemon) Passes() int64 { return d.passes.Load() }

// stampOf is what a resync compares to decide whether ns needs a
// reconcile, when globalStamp (checked by the event loop) is unchanged.
func stampOf(ns namespaces.Namespace) string {
	return runtimeStamp(ns)
}

// worker reconciles one namespace.
type worker struct {
	d      *Daemon
	ns     namespaces.Namespace
	kicks  chan bool // true: restart the router (reload request)
	cancel context.CancelFunc
	done   chan struct{}
	sweep  bool // remove temporary files of interrupted writes first

	mu          sync.Mutex
	waiters     []*sync.WaitGroup
	force       bool
	dirty       bool      // a kick other than a resync check arrived
	stamp       string    // stampOf after the last good reconcile ("": none)
	reconciled  time.Time // when that reconcile ended
	attachesTo  []string
	retryTimer  *time.Timer
	retryDelay  time.Duration
	lastOutcome reconcile.Outcome
}

// kick asks for a reconcile (force: and a router restart).
func (w *worker) kick(force bool) {
	w.mu.Lock()
	w.dirty = true
	w.force = w.force || force
	w.mu.Unlock()
	select {
	case w.kicks <- true:
	default:
	}
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
	if w.sweep {
		sweepTemp(w.ns, w.d.started, w.d.log)
	}
	defer func() {
		w.mu.Lock()
		if w.retryTimer != nil {
			w.retryTimer.Stop()
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
		dirty := w.dirty
		w.dirty = false
		w.mu.Unlock()
		if dirty || !w.upToDate() {
			w.reconcile(ctx)
		} else {
			w.d.skipped.Add(1)
		}
		w.releaseWaiters()
	}
}

// coalesce waits until no kick arrived for Quiet, or MaxDelay passed.
func (w *worker) coalesce(ctx context.Context) bool {
	deadline := time.Now().Add(w.d.cfg.MaxDelay)
	for {
		wait := min(w.d.cfg.Quiet, time.Until(deadline))
		if wait <= 0 {
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
			return true
		}
	}
}

func (w *worker) reconcile(ctx context.Context) {
	d := w.d
	id := d.seq.Add(1)
	log := d.log.With("namespace", w.ns.Name, "reconcile", id)
	// The namespace directory stays open during the reconcile, so that its
	// removal is detected reliably (its inode cannot be reused meanwhile).
	dir, err := os.Open(w.ns.Dir)
	if err != nil {
		return
	}
	defer dir.Close()
	if fi, err := dir.Stat(); err != nil || !fi.IsDir() {
		return
	}
	if err := d.watch.arm(w.ns); err != nil {
		log.Warn("cannot watch namespace input; changes are found by polling and resync", "error", err)
	}
	reloadID := w.ns.PendingReload()
	w.mu.Lock()
	force := w.force || reloadID != ""
	w.force = false
	w.mu.Unlock()

	stopped := w.ns.Stopped()
	if stopped {
		// "skupper system stop": the router stays down until "start";
		// the input and the configuration are kept.
		if err := d.cfg.Supervisor.Stop(ctx, w.ns.Name); err != nil {
			log.Error("stop router", "error", err)
		}
	}
	rstate := d.cfg.Supervisor.State(w.ns.Name)
	if stopped {
		rstate = router.State{Message: stoppedMessage}
	}
	opts := reconcile.Options{
		Version: d.cfg.Version,
		Ports:   d.alloc,
		Router:  rstate,
		Hosts:   d.cfg.Hosts,
		Redeem:  d.cfg.Redeem,
		Cache:   d.cache,
	}
	if g := d.cfg.Grants; g != nil {
		opts.Grants = g.Info()
		if opts.Hosts == nil {
			advertise := g.AdvertiseHost()
			opts.Hosts = func() []string { return grants.AdvertisedHosts(advertise) }
		}
	}
	res, err := reconcile.Run(ctx, w.ns, opts)
	d.passes.Add(1)
	w.mu.Lock()
	w.stamp = "" // until this reconcile is known good
	w.mu.Unlock()
	if w.removedDuring(log, dir) {
		// The result is about a namespace that is gone; the event loop
		// stops this worker and the router.
		return
	}
	if err != nil {
		w.scheduleRetry(log, err)
		return
	}
	w.mu.Lock()
	w.retryDelay = 0
	prevAttaches := w.attachesTo
	w.attachesTo = res.AttachesTo
	w.lastOutcome = res.Outcome
	w.mu.Unlock()
	for _, e := range res.Diagnostics.Errors() {
		log.Debug("input problem", "diagnostic", e.Error())
	}
	log.Info("reconciled", "outcome", res.Outcome, "config_changed", res.ConfigChanged, "certs_changed", res.CertsChanged,
		"errors", len(res.Diagnostics.Errors()), "duration", res.Duration)

	if g := d.cfg.Grants; g != nil {
		if res.Outcome == reconcile.Applied {
			g.SetGrants(w.ns.Name, res.Grants, res.LinkAccess)
		} else {
			g.SetGrants(w.ns.Name, nil)
		}
	}
	if res.RetryRedemption {
		w.scheduleRedemptionRetry(log)
	}
	switch {
	case stopped:
	case res.Outcome == reconcile.Applied:
		spec := router.Spec{
			Namespace: w.ns.Name, ConfigPath: res.ConfigPath, SiteID: res.SiteID,
			LocalPort: res.LocalPort, PIDFile: filepath.Join(w.ns.InternalDir(), "router.pid"),
		}
		restart := res.ConfigChanged || res.CertsChanged || force
		if err := d.cfg.Supervisor.Ensure(ctx, spec, restart); err != nil {
			log.Error("start router", "error", err)
		}
	case !res.SiteDeclared:
		// The Site is gone: its router goes too. (An invalid Site keeps
		// the last good router running.)
		if err := d.cfg.Supervisor.Stop(ctx, w.ns.Name); err != nil {
			log.Error("stop router", "error", err)
		}
	}
	if reloadID != "" {
		w.completeReload(log, reloadID)
	}
	stamp := stampOf(w.ns)
	w.mu.Lock()
	w.stamp, w.reconciled = stamp, time.Now()
	w.mu.Unlock()
	// Attached connectors here feed the site namespaces they name.
	for _, ns := range mergeNames(prevAttaches, res.AttachesTo) {
		d.KickNamespace(ns)
	}
}

// sweepTemp removes the temporary files that atomic writes interrupted by
// a crash (kill -9, power loss) left in the namespace's runtime/ and
// internal/ trees: ".<name>.tmp-<digits>" (see atomicfile). Nothing else
// removes them: the status pruner only knows <Kind>-<name>.yaml files and
// the router and certificate directories are never listed. It runs when
// the daemon starts, for the namespaces present then (it holds the data
// home's lock, so no other daemon writes there), and only removes files
// not newer than the daemon, so that a write in progress by another
// process (the CLI) is normally left alone; file times are coarse (a
// clock tick), so that is not a guarantee for a write racing the start.
func sweepTemp(ns namespaces.Namespace, before time.Time, log *slog.Logger) {
	for _, root := range []string{ns.RuntimeDir(), ns.InternalDir()} {
		_ = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() || !isTempName(e.Name()) {
				return nil
			}
			if info, err := e.Info(); err != nil || !info.ModTime().Before(before) {
				return nil
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Warn("cannot remove a temporary file left by an interrupted write", "namespace", ns.Name, "file", path, "error", err)
			} else {
				log.Info("removed a temporary file left by an interrupted write", "namespace", ns.Name, "file", path)
			}
			return nil
		})
	}
}

// isTempName reports whether name is an atomicfile temporary file name.
func isTempName(name string) bool {
	i := strings.LastIndex(name, ".tmp-")
	if !strings.HasPrefix(name, ".") || i < 1 || i+len(".tmp-") == len(name) {
		return false
	}
	for _, c := range name[i+len(".tmp-"):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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

// scheduleRedemptionRetry re-kicks the worker later because a token's
// grant server could not be reached (capped exponential backoff).
func (w *worker) scheduleRedemptionRetry(log *slog.Logger) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retryDelay == 0 {
		w.retryDelay = time.Second
	} else {
		w.retryDelay = min(w.retryDelay*2, maxRetryBackoff)
	}
	log.Warn("token redemption failed transiently; retrying", "retry_in", w.retryDelay)
	if w.retryTimer != nil {
		w.retryTimer.Stop()
	}
	w.retryTimer = time.AfterFunc(w.retryDelay, func() { w.kick(false) })
}

const stoppedMessage = `Router stopped by "skupper system stop"; start it with "skupper system start"`

// scheduleRetry re-kicks the worker after a capped exponential backoff.
func (w *worker) scheduleRetry(log *slog.Logger, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retryDelay == 0 {
		w.retryDelay = time.Second
	} else {
		w.retryDelay = min(w.retryDelay*2, maxRetryBackoff)
	}
	log.Error("reconcile failed; the last good configuration stays in place", "error", err, "retry_in", w.retryDelay)
	if w.retryTimer != nil {
		w.retryTimer.Stop()
	}
	w.retryTimer = time.AfterFunc(w.retryDelay, func() { w.kick(false) })
}

func (w *worker) completeReload(log *slog.Logger, id string) {
	if err := w.ns.AckReload(id); err != nil {
		log.Error("acknowledge reload", "error", err)
	}
}
