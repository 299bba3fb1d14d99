package systemd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/router"
)

// Defaults of SupervisorOptions.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultOpTimeout    = 90 * time.Second
)

// SupervisorOptions configure a Supervisor.
type SupervisorOptions struct {
	// User selects the calling user's manager and unit directory rather
	// than the system's.
	User bool
	// Binary is the router executable, a name looked up on PATH or a path
	// (default "skrouterd"). The unit gets its absolute path.
	Binary string
	// UnitDir is where router units are written (default UnitDir(User)).
	UnitDir string
	// DataHome, when set, is the data home this daemon serves: a router
	// unit whose configuration is not under it belongs to another data
	// home and is neither replaced while it runs nor stopped.
	DataHome string
	// PollInterval is how often each router unit's state is checked once
	// it runs (default DefaultPollInterval); a starting router is checked
	// more often.
	PollInterval time.Duration
	// OpTimeout bounds each systemd operation of Ensure and Stop (default
	// DefaultOpTimeout).
	OpTimeout time.Duration
	// OnChange is called (without locks held) when a router's observed
	// state changes, so the namespace's status can be refreshed.
	OnChange func(ns string)
	Logger   *slog.Logger
	// Client, when set, is used instead of connecting (the Supervisor
	// then does not close it).
	Client *Client
}

// Supervisor runs each namespace's router as the unit skupper-<ns>.service
// of the system manager (root) or of the user's manager. It implements
// router.Supervisor:
//
//   - Ensure writes the unit file atomically (only when its bytes change,
//     then daemon-reload), enables it, starts it when it is not active and
//     restarts it when restart is true or the unit changed;
//   - State reports Running only when the unit is active/running and the
//     router's local port accepts connections, as ProcessSupervisor does;
//     it returns what a per-namespace monitor last observed, so it never
//     blocks on D-Bus;
//   - Stop stops, disables and removes the unit, then daemon-reloads;
//   - Close leaves routers running: they are units of their own, and a
//     restarted daemon finds them.
type Supervisor struct {
	opts    SupervisorOptions
	unitDir string
	ownConn bool

	mu      sync.Mutex
	client  *Client
	routers map[string]*routerUnit
	locks   map[string]*sync.Mutex
	closed  bool
	wg      sync.WaitGroup
}

var _ router.Supervisor = (*Supervisor)(nil)

// routerUnit is the supervision of one namespace's router unit.
type routerUnit struct {
	ns     string
	unit   string
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{}

	mu    sync.Mutex
	spec  router.Spec
	bin   string // resolved binary; "" when not installed
	wrote bool   // the unit file was written (or found) by Ensure
	state router.StateCell
}

func (r *routerUnit) wroteUnit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wrote
}

func (r *routerUnit) setState(s router.State) bool { return r.state.Set(s) }

// NewSupervisor connects to the service manager (unless opts.Client is
// set) and returns a Supervisor.
func NewSupervisor(ctx context.Context, opts SupervisorOptions) (*Supervisor, error) {
	if opts.Binary == "" {
		opts.Binary = "skrouterd"
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dir := opts.UnitDir
	if dir == "" {
		var err error
		if dir, err = UnitDir(opts.User); err != nil {
			return nil, err
		}
	}
	s := &Supervisor{opts: opts, unitDir: dir, routers: map[string]*routerUnit{}, locks: map[string]*sync.Mutex{}}
	if opts.Client != nil {
		s.client = opts.Client
	} else {
		c, err := Connect(ctx, opts.User)
		if err != nil {
			return nil, err
		}
		s.client, s.ownConn = c, true
	}
	return s, nil
}

// UnitPath returns the path of a namespace's router unit file.
func (s *Supervisor) UnitPath(ns string) string { return filepath.Join(s.unitDir, RouterUnitName(ns)) }

// conn returns a connected client, reconnecting after the manager closed
// the connection (daemon-reexec, a restarted user manager).
func (s *Supervisor) conn(ctx context.Context) (*Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("systemd supervisor is closed")
	}
	if s.client.Connected() || !s.ownConn {
		return s.client, nil
	}
	c, err := Connect(ctx, s.opts.User)
	if err != nil {
		return nil, err
	}
	s.client.Close()
	s.client = c
	return c, nil
}

// lockNS serialises Ensure and Stop of one namespace.
func (s *Supervisor) lockNS(ns string) func() {
	s.mu.Lock()
	l := s.locks[ns]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[ns] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (s *Supervisor) changed(ns string) {
	if s.opts.OnChange != nil {
		s.opts.OnChange(ns)
	}
}

// resolveBinary returns the absolute path of the router binary, or "".
func (s *Supervisor) resolveBinary() string {
	bin, err := exec.LookPath(s.opts.Binary)
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return ""
	}
	return abs
}

// ownedByOther reports whether an existing unit file runs a configuration
// outside this supervisor's data home (or another configuration than
// want, when DataHome is not set), returning that configuration.
func (s *Supervisor) ownedByOther(path, want string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	cfg := RouterUnitConfigPath(data)
	if cfg == "" || cfg == want {
		return "", false
	}
	if s.opts.DataHome != "" {
		return cfg, !under(cfg, filepath.Clean(s.opts.DataHome))
	}
	return cfg, true
}

// Ensure implements router.Supervisor.
func (s *Supervisor) Ensure(ctx context.Context, spec router.Spec, restart bool) error {
	unlock := s.lockNS(spec.Namespace)
	defer unlock()
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	log := s.opts.Logger.With("namespace", spec.Namespace)
	unit := RouterUnitName(spec.Namespace)
	r := s.router(spec.Namespace)
	bin := s.resolveBinary()
	r.mu.Lock()
	r.spec, r.bin = spec, bin
	r.mu.Unlock()
	if bin == "" {
		if r.setState(router.State{Message: router.NotInstalledMessage(s.opts.Binary)}) {
			log.Warn("router binary not found; the site's configuration is written but no router runs", "binary", s.opts.Binary)
			s.changed(spec.Namespace)
		}
		return nil
	}
	text, err := RouterUnit(RouterUnitOptions{
		Namespace: spec.Namespace, Binary: bin, ConfigPath: spec.ConfigPath, SiteID: spec.SiteID, User: s.opts.User,
	})
	if err != nil {
		return err
	}
	path := s.UnitPath(spec.Namespace)
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	if other, ok := s.ownedByOther(path, spec.ConfigPath); ok {
		if st, err := c.UnitState(ctx, unit); err == nil && st.Active() {
			msg := fmt.Sprintf("Router unit %s is in use by another data home (%s)", unit, other)
			if r.setState(router.State{Message: msg}) {
				s.changed(spec.Namespace)
			}
			return fmt.Errorf("router of namespace %q: unit %s runs %s, which belongs to another data home", spec.Namespace, unit, other)
		}
	}
	if err := atomicfile.MkdirAll(s.unitDir, 0o755); err != nil {
		return fmt.Errorf("router unit directory: %w", err)
	}
	written, err := atomicfile.WriteFileIfChanged(path, text, UnitFilePerm)
	if err != nil {
		return fmt.Errorf("write router unit: %w", err)
	}
	r.mu.Lock()
	r.wrote = true
	r.mu.Unlock()
	if written {
		log.Info("router unit written", "unit", unit, "path", path)
		if err := c.DaemonReload(ctx); err != nil {
			return err
		}
	}
	st, err := c.UnitState(ctx, unit)
	if err != nil {
		return err
	}
	if st.UnitFileState != "enabled" {
		if _, err := c.Enable(ctx, unit); err != nil {
			return err
		}
	}
	switch {
	case !st.Active():
		if st.ActiveState == "failed" {
			if err := c.ResetFailed(ctx, unit); err != nil {
				return err
			}
		}
		log.Info("starting router unit", "unit", unit)
		err = c.Start(ctx, unit)
	case restart || written:
		log.Info("restarting router unit", "unit", unit, "unit_changed", written)
		err = c.Restart(ctx, unit)
	}
	s.kick(r)
	if err != nil {
		return fmt.Errorf("router of namespace %q: %w", spec.Namespace, err)
	}
	return nil
}

// router returns the namespace's supervision, creating it (and its monitor)
// when needed.
func (s *Supervisor) router(ns string) *routerUnit {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.routers[ns]; r != nil {
		return r
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &routerUnit{
		ns: ns, unit: RouterUnitName(ns), cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1),
	}
	r.state.Set(router.State{Message: "Router starting"})
	s.routers[ns] = r
	if s.closed {
		cancel()
		close(r.done)
		return r
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		s.monitor(ctx, r)
	}()
	return r
}

// kick makes the monitor check the router now.
func (s *Supervisor) kick(r *routerUnit) {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// monitor observes a namespace's router until ctx ends, calling OnChange
// whenever what it observes changes. It checks every PollInterval once the
// router runs, more often while it starts.
func (s *Supervisor) monitor(ctx context.Context, r *routerUnit) {
	fast := 100 * time.Millisecond
	for {
		st := s.observe(ctx, r)
		if ctx.Err() != nil {
			return
		}
		if r.setState(st) {
			s.changed(r.ns)
		}
		wait := s.opts.PollInterval
		if !st.Running {
			wait = min(fast, s.opts.PollInterval)
			fast = min(fast*2, s.opts.PollInterval)
		} else {
			fast = 100 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.kick:
			t.Stop()
			fast = 100 * time.Millisecond
		case <-t.C:
		}
	}
}

// observe checks the router once.
func (s *Supervisor) observe(ctx context.Context, r *routerUnit) router.State {
	r.mu.Lock()
	spec, bin := r.spec, r.bin
	r.mu.Unlock()
	if spec.Namespace == "" {
		return router.State{Message: "Router starting"}
	}
	if bin == "" {
		if s.resolveBinary() != "" {
			// Installed meanwhile: a reconcile (Ensure) starts it.
			s.changed(r.ns)
		}
		return router.State{Message: router.NotInstalledMessage(s.opts.Binary)}
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := s.conn(qctx)
	if err != nil {
		return router.State{Message: fmt.Sprintf("Cannot query systemd about router unit %s: %v", r.unit, err)}
	}
	st, err := c.UnitState(qctx, r.unit)
	if err != nil {
		return router.State{Message: fmt.Sprintf("Cannot query systemd about router unit %s: %v", r.unit, err)}
	}
	return describe(st, spec.LocalPort, s.journalHint(r.unit))
}

func (s *Supervisor) journalHint(unit string) string { return journalCommand(s.opts.User, unit) }

// journalCommand is the command that shows a unit's log.
func journalCommand(user bool, unit string) string {
	if user {
		return "journalctl --user -u " + unit
	}
	return "journalctl -u " + unit
}

// describe turns a unit's state (and a probe of the router's local port)
// into the RouterState the status reports.
func describe(st UnitState, port int, journal string) router.State {
	switch {
	case st.LoadState != "" && st.LoadState != "loaded":
		return router.State{Message: fmt.Sprintf("Router unit %s is not loaded (%s)", st.Name, st.LoadState)}
	case st.Running():
		if port > 0 && !portAnswers(port) {
			return router.State{Message: fmt.Sprintf("Router starting (unit %s, pid %d)", st.Name, st.MainPID)}
		}
		return router.State{Running: true, PID: st.MainPID, Message: fmt.Sprintf("Router running (unit %s, pid %d)", st.Name, st.MainPID)}
	case st.ActiveState == "activating" && st.SubState == "auto-restart":
		return router.State{Message: fmt.Sprintf("Router exited (%s); systemd restarts unit %s (restarts: %d; see %s)", st.Result, st.Name, st.NRestarts, journal)}
	case st.ActiveState == "activating" || st.ActiveState == "reloading":
		return router.State{Message: fmt.Sprintf("Router starting (unit %s)", st.Name)}
	case st.ActiveState == "failed":
		return router.State{Message: fmt.Sprintf("Router unit %s failed (%s); see %s", st.Name, st.Result, journal)}
	case st.ActiveState == "deactivating":
		return router.State{Message: fmt.Sprintf("Router unit %s is stopping", st.Name)}
	}
	return router.State{Message: fmt.Sprintf("Router unit %s is %s", st.Name, st.ActiveState)}
}

// portAnswers reports whether 127.0.0.1:port accepts a connection.
func portAnswers(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// State implements router.Supervisor. It never blocks on systemd: it
// returns what the namespace's monitor last observed.
func (s *Supervisor) State(ns string) router.State {
	s.mu.Lock()
	r := s.routers[ns]
	s.mu.Unlock()
	if r == nil {
		if s.resolveBinary() == "" {
			return router.State{Message: router.NotInstalledMessage(s.opts.Binary)}
		}
		if _, err := os.Stat(s.UnitPath(ns)); err == nil {
			return router.State{Message: fmt.Sprintf("Router unit %s not checked yet", RouterUnitName(ns))}
		}
		return router.State{Message: "Router not started"}
	}
	return r.state.Get()
}

// Stop implements router.Supervisor: the namespace's router unit is
// stopped, disabled and removed, and the manager reloaded. A unit that
// belongs to another data home is left alone. Stopping a namespace that
// has no unit costs no D-Bus call.
func (s *Supervisor) Stop(ctx context.Context, ns string) error {
	unlock := s.lockNS(ns)
	defer unlock()
	s.mu.Lock()
	r := s.routers[ns]
	delete(s.routers, ns)
	s.mu.Unlock()
	if r != nil {
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			return fmt.Errorf("stop router of namespace %q: %w", ns, ctx.Err())
		}
	}
	path := s.UnitPath(ns)
	_, statErr := os.Lstat(path)
	if errors.Is(statErr, fs.ErrNotExist) && (r == nil || !r.wroteUnit()) {
		return nil
	}
	if other, ok := s.ownedByOther(path, ""); ok && s.opts.DataHome != "" {
		s.opts.Logger.Info("router unit belongs to another data home; left alone", "namespace", ns, "config", other)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	unit := RouterUnitName(ns)
	if err := RemoveUnit(ctx, c, path); err != nil {
		return fmt.Errorf("stop router of namespace %q: %w", ns, err)
	}
	s.opts.Logger.Info("router unit stopped and removed", "namespace", ns, "unit", unit)
	return nil
}

// RemoveUnit stops, disables and deletes the unit file at path, then
// daemon-reloads and clears the unit's failed state. Missing pieces are
// not errors.
func RemoveUnit(ctx context.Context, c *Client, path string) error {
	unit := filepath.Base(path)
	if err := c.Stop(ctx, unit); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		if _, err := c.Disable(ctx, unit); err != nil {
			return err
		}
	}
	if err := atomicfile.Remove(path); err != nil {
		return err
	}
	if err := c.DaemonReload(ctx); err != nil {
		return err
	}
	return c.ResetFailed(ctx, unit)
}

// Close implements router.Supervisor: monitors stop, routers keep running
// (they are independent units), and the D-Bus connection is closed.
func (s *Supervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, r := range s.routers {
		r.cancel()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close systemd supervisor: %w", ctx.Err())
	}
	s.mu.Lock()
	if s.ownConn {
		s.client.Close()
	}
	s.mu.Unlock()
	return err
}
