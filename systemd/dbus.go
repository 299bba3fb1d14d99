package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// ErrNoSuchUnit is wrapped by errors about a unit systemd does not know.
var ErrNoSuchUnit = errors.New("no such unit")

// JobError is returned when a start, stop or restart job of a unit does
// not end with the result "done".
type JobError struct {
	// Op is "start", "stop" or "restart".
	Op   string
	Unit string
	// Result is systemd's job result: "canceled", "timeout", "failed",
	// "dependency" or "skipped".
	Result string
	// ServiceResult is the unit's Result property when the job failed
	// ("exit-code", "signal", "start-limit-hit", ...), if known.
	ServiceResult string
}

func (e *JobError) Error() string {
	msg := fmt.Sprintf("%s %s: job %s", e.Op, e.Unit, e.Result)
	if e.ServiceResult != "" && e.ServiceResult != "success" {
		msg += " (" + e.ServiceResult + ")"
	}
	return msg
}

// Client talks to one service manager (the system manager, or the calling
// user's) over D-Bus. It is safe for concurrent use.
type Client struct {
	conn *sddbus.Conn
	user bool
}

// Connect opens a connection to the system manager (user false) or to the
// calling user's manager (user true).
//
// The system manager is reached on its private socket
// /run/systemd/private when running as root (no dbus-daemon needed), else
// on the system bus. A user manager is reached on its private socket
// $XDG_RUNTIME_DIR/systemd/private (else /run/user/<uid>/systemd/private),
// as systemctl --user does, and else on the session bus when one is known
// ($DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus; a bus is never
// autolaunched).
func Connect(ctx context.Context, user bool) (*Client, error) {
	var conn *sddbus.Conn
	var err error
	switch {
	case !user && os.Geteuid() == 0:
		conn, err = sddbus.NewSystemdConnectionContext(ctx)
		if err != nil {
			conn, err = sddbus.NewSystemConnectionContext(ctx)
		}
	case !user:
		conn, err = sddbus.NewSystemConnectionContext(ctx)
	default:
		conn, err = sddbus.NewConnection(func() (*dbus.Conn, error) { return dialUserPrivate(ctx) })
		if err != nil && sessionBusKnown() {
			conn, err = sddbus.NewUserConnectionContext(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the %s: %w", managerName(user), err)
	}
	return &Client{conn: conn, user: user}, nil
}

// Available reports whether the system manager (user false) or the
// calling user's manager (user true) answers on D-Bus within a few
// seconds. It is what --supervisor auto uses to choose systemd.
func Available(ctx context.Context, user bool) bool {
	if !user {
		// sd_booted(3): systemd is the init system.
		if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := Connect(ctx, user)
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.conn.SystemStateContext(ctx)
	return err == nil
}

// userRuntimeDir is $XDG_RUNTIME_DIR, else /run/user/<uid>.
func userRuntimeDir() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		return dir
	}
	return "/run/user/" + strconv.Itoa(os.Getuid())
}

// sessionBusKnown reports whether a session bus address is at hand. Without
// one, godbus would try to autolaunch a bus (dbus-launch), which a daemon
// must not do.
func sessionBusKnown() bool {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(userRuntimeDir(), "bus"))
	return err == nil
}

// dialUserPrivate connects to the user manager's private socket.
func dialUserPrivate(ctx context.Context) (*dbus.Conn, error) {
	path := filepath.Join(userRuntimeDir(), "systemd", "private")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	conn, err := dbus.Dial("unix:path="+path, dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func managerName(user bool) string {
	if user {
		return "systemd user manager"
	}
	return "systemd system manager"
}

// User reports whether c talks to a user manager.
func (c *Client) User() bool { return c.user }

// Connected reports whether the connection is still up.
func (c *Client) Connected() bool { return c.conn != nil && c.conn.Connected() }

// Close closes the connection.
func (c *Client) Close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// DaemonReload makes the manager reload its unit files (systemctl
// daemon-reload) and returns once it has.
func (c *Client) DaemonReload(ctx context.Context) error {
	if err := c.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload of the %s: %w", managerName(c.user), err)
	}
	return nil
}

// Enable enables unit files (systemctl enable): the symlinks their
// [Install] sections ask for are created. Units are names found on the
// manager's search path or absolute paths. It reports whether anything
// changed.
func (c *Client) Enable(ctx context.Context, units ...string) (bool, error) {
	_, changes, err := c.conn.EnableUnitFilesContext(ctx, units, false, true)
	if err != nil {
		return false, fmt.Errorf("enable %v: %w", units, wrapDBusError(err))
	}
	return len(changes) > 0, nil
}

// Disable disables unit files (systemctl disable). It reports whether
// anything changed. Disabling a unit that has no file is not an error.
func (c *Client) Disable(ctx context.Context, units ...string) (bool, error) {
	changes, err := c.conn.DisableUnitFilesContext(ctx, units, false)
	if err != nil {
		err = wrapDBusError(err)
		if errors.Is(err, ErrNoSuchUnit) {
			return false, nil
		}
		return false, fmt.Errorf("disable %v: %w", units, err)
	}
	return len(changes) > 0, nil
}

// Start starts unit and waits for its job to finish (for Type=notify, until
// the service reported READY=1; for Type=exec, until it was executed).
func (c *Client) Start(ctx context.Context, unit string) error {
	return c.job(ctx, "start", unit, c.conn.StartUnitContext)
}

// Restart restarts unit (starting it if it is not running) and waits for
// the job to finish.
func (c *Client) Restart(ctx context.Context, unit string) error {
	return c.job(ctx, "restart", unit, c.conn.RestartUnitContext)
}

// Stop stops unit and waits until it has stopped. A unit systemd does not
// know is already stopped: that is not an error.
func (c *Client) Stop(ctx context.Context, unit string) error {
	err := c.job(ctx, "stop", unit, c.conn.StopUnitContext)
	if errors.Is(err, ErrNoSuchUnit) {
		return nil
	}
	return err
}

// ResetFailed clears a unit's failed state and its start rate limit
// (systemctl reset-failed). A unit that is not failed or not loaded is not
// an error.
func (c *Client) ResetFailed(ctx context.Context, unit string) error {
	err := wrapDBusError(c.conn.ResetFailedUnitContext(ctx, unit))
	if err == nil || errors.Is(err, ErrNoSuchUnit) {
		return nil
	}
	if dbusErrorName(err) == "org.freedesktop.systemd1.UnitNotFailed" {
		return nil
	}
	return fmt.Errorf("reset-failed %s: %w", unit, err)
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// job queues a job in "replace" mode and waits for its result.
func (c *Client) job(ctx context.Context, op, unit string, start jobFunc) error {
	// Buffered: go-systemd delivers the result while holding its lock, so
	// a result nobody reads any more (ctx ended) must not block it.
	ch := make(chan string, 1)
	if _, err := start(ctx, unit, "replace", ch); err != nil {
		return fmt.Errorf("%s %s: %w", op, unit, wrapDBusError(err))
	}
	select {
	case result := <-ch:
		if result == "done" {
			return nil
		}
		jerr := &JobError{Op: op, Unit: unit, Result: result}
		if st, err := c.UnitState(ctx, unit); err == nil {
			jerr.ServiceResult = st.Result
		}
		return jerr
	case <-ctx.Done():
		return fmt.Errorf("%s %s: waiting for the job: %w", op, unit, ctx.Err())
	}
}

// UnitState is what systemd reports of a unit.
type UnitState struct {
	Name string
	// LoadState is "loaded", "not-found", "masked", "error", ...
	LoadState string
	// ActiveState is "active", "activating", "deactivating", "inactive",
	// "failed" or "reloading".
	ActiveState string
	// SubState is the unit type's state: for services "running",
	// "exited", "dead", "failed", "auto-restart", "start", ...
	SubState string
	// UnitFileState is "enabled", "disabled", "static", "" (no file), ...
	UnitFileState string
	// FragmentPath is the unit file systemd loaded.
	FragmentPath string
	// MainPID is the service's main process, 0 when none.
	MainPID int
	// Result is the service's last result: "success", "exit-code",
	// "signal", "start-limit-hit", ...
	Result string
	// NRestarts counts automatic restarts (Restart=) since the unit was
	// last started by a job.
	NRestarts int
}

// Loaded reports whether systemd found a unit file for the unit.
func (s UnitState) Loaded() bool { return s.LoadState == "loaded" }

// Running reports whether the service is active with a live main process.
func (s UnitState) Running() bool { return s.ActiveState == "active" && s.SubState == "running" }

// Active reports whether the unit is active, activating or reloading:
// running or about to run (an automatic restart counts).
func (s UnitState) Active() bool {
	switch s.ActiveState {
	case "active", "activating", "reloading":
		return true
	}
	return false
}

// UnitState returns the state of unit. A unit without a unit file is
// reported with LoadState "not-found", not as an error.
func (c *Client) UnitState(ctx context.Context, unit string) (UnitState, error) {
	props, err := c.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return UnitState{}, fmt.Errorf("state of %s: %w", unit, wrapDBusError(err))
	}
	st := UnitState{
		Name:          unit,
		LoadState:     str(props["LoadState"]),
		ActiveState:   str(props["ActiveState"]),
		SubState:      str(props["SubState"]),
		UnitFileState: str(props["UnitFileState"]),
		FragmentPath:  str(props["FragmentPath"]),
	}
	if st.LoadState == "loaded" && filepath.Ext(unit) == ".service" {
		sp, err := c.conn.GetUnitTypePropertiesContext(ctx, unit, "Service")
		if err != nil {
			return st, fmt.Errorf("state of %s: %w", unit, wrapDBusError(err))
		}
		st.MainPID = num(sp["MainPID"])
		st.Result = str(sp["Result"])
		st.NRestarts = num(sp["NRestarts"])
	}
	return st, nil
}

// ListUnits returns the units the manager has loaded whose names match
// any of the glob patterns (all units when none is given), in any state.
func (c *Client) ListUnits(ctx context.Context, patterns ...string) ([]UnitState, error) {
	units, err := c.conn.ListUnitsByPatternsContext(ctx, nil, patterns)
	if err != nil {
		return nil, fmt.Errorf("list units %v: %w", patterns, wrapDBusError(err))
	}
	out := make([]UnitState, 0, len(units))
	for _, u := range units {
		out = append(out, UnitState{Name: u.Name, LoadState: u.LoadState, ActiveState: u.ActiveState, SubState: u.SubState})
	}
	return out, nil
}

// ListUnitFiles returns the names of the unit files the manager knows
// whose names match any of the glob patterns, whether loaded or not.
func (c *Client) ListUnitFiles(ctx context.Context, patterns ...string) ([]string, error) {
	files, err := c.conn.ListUnitFilesByPatternsContext(ctx, nil, patterns)
	if err != nil {
		return nil, fmt.Errorf("list unit files %v: %w", patterns, wrapDBusError(err))
	}
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, filepath.Base(f.Path))
	}
	return out, nil
}

// wrapDBusError makes systemd's "no such unit" errors match ErrNoSuchUnit.
func wrapDBusError(err error) error {
	if err == nil {
		return nil
	}
	switch dbusErrorName(err) {
	case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed",
		// EnableUnitFiles/DisableUnitFiles of a missing file.
		"org.freedesktop.DBus.Error.FileNotFound":
		return fmt.Errorf("%w: %w", ErrNoSuchUnit, err)
	}
	return err
}

// dbusErrorName returns the D-Bus error name carried by err, or "".
func dbusErrorName(err error) string {
	var v dbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *dbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int {
	switch n := v.(type) {
	case uint32:
		return int(n)
	case int32:
		return int(n)
	case uint64:
		return int(n)
	case int64:
		return int(n)
	case int:
		return n
	}
	return 0
}
