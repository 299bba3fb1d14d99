package systemd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skupperd/skupperd/namespaces"
)

// DefaultLingerDir is where logind records the users whose manager runs
// without a session (loginctl enable-linger).
const DefaultLingerDir = "/var/lib/systemd/linger"

// ErrDaemonUnitMissing is returned by InstallDaemon when the manager has
// no skupperd unit file (the package, or `make install`, provides it).
var ErrDaemonUnitMissing = errors.New("the skupperd unit is not installed")

// InstallOptions configure InstallDaemon.
type InstallOptions struct {
	// User installs the daemon in the calling user's manager
	// (/usr/lib/systemd/user/skupperd.service, data home
	// ~/.local/share/skupper) rather than the system manager (root,
	// /var/lib/skupper).
	User bool
	// Unit is the daemon's unit name (default DaemonUnit).
	Unit string
	// UserName is the user whose lingering is checked (default: the
	// calling user).
	UserName string
	// LingerDir is logind's linger directory (default DefaultLingerDir).
	LingerDir string
	// Client, when set, is used instead of connecting.
	Client *Client
}

// InstallResult says what InstallDaemon did and found.
type InstallResult struct {
	// Unit is the daemon unit, User the manager it was installed in.
	Unit string
	User bool
	// UserName is the user the unit runs for (user installs).
	UserName string
	// Enabled is true when this call enabled the unit (false: it already
	// was).
	Enabled bool
	// Started is true when this call started the unit (false: it already
	// ran).
	Started bool
	// MainPID is the daemon's process once active.
	MainPID int
	// Lingering is true when the manager runs without a login session:
	// always for the system manager, and for a user when
	// <LingerDir>/<user> exists.
	Lingering bool
}

// LingerHint is the advice to print after a user install without
// lingering, or "" when none is needed.
func (r InstallResult) LingerHint() string {
	if !r.User || r.Lingering {
		return ""
	}
	return fmt.Sprintf("It is recommended to enable lingering for %s, otherwise Skupper may not start on boot.\n"+
		"Run: loginctl enable-linger %s", r.UserName, r.UserName)
}

// InstallDaemon enables and starts skupperd's unit in the system manager
// or the calling user's manager, and waits until it is active (the unit is
// Type=notify, so until skupperd reported READY=1). It is idempotent: an
// enabled, running daemon is left as it is. The unit file itself comes
// from the package or `make install`; without it the error wraps
// ErrDaemonUnitMissing.
func InstallDaemon(ctx context.Context, opts InstallOptions) (InstallResult, error) {
	unit := opts.Unit
	if unit == "" {
		unit = DaemonUnit
	}
	res := InstallResult{Unit: unit, User: opts.User, Lingering: !opts.User}
	if opts.User {
		name := opts.UserName
		if name == "" {
			u, err := user.Current()
			if err != nil {
				return res, fmt.Errorf("install %s: current user: %w", unit, err)
			}
			name = u.Username
		}
		res.UserName = name
		dir := opts.LingerDir
		if dir == "" {
			dir = DefaultLingerDir
		}
		_, err := os.Stat(filepath.Join(dir, name))
		res.Lingering = err == nil
	}
	c := opts.Client
	if c == nil {
		var err error
		if c, err = Connect(ctx, opts.User); err != nil {
			return res, fmt.Errorf("install %s: %w", unit, err)
		}
		defer c.Close()
	}
	// A package or `make install` may just have put the unit file in
	// place.
	if err := c.DaemonReload(ctx); err != nil {
		return res, fmt.Errorf("install %s: %w", unit, err)
	}
	st, err := c.UnitState(ctx, unit)
	if err != nil {
		return res, fmt.Errorf("install %s: %w", unit, err)
	}
	if !st.Loaded() {
		where := "/usr/lib/systemd/system"
		if opts.User {
			where = "/usr/lib/systemd/user"
		}
		return res, fmt.Errorf("install %s in the %s: %w (expected in %s; install the skupperd package or run make install)",
			unit, managerName(opts.User), ErrDaemonUnitMissing, where)
	}
	if st.UnitFileState != "enabled" {
		if res.Enabled, err = c.Enable(ctx, unit); err != nil {
			return res, fmt.Errorf("install %s: %w", unit, err)
		}
		if err := c.DaemonReload(ctx); err != nil {
			return res, fmt.Errorf("install %s: %w", unit, err)
		}
	}
	if !st.Running() {
		if st.ActiveState == "failed" {
			if err := c.ResetFailed(ctx, unit); err != nil {
				return res, fmt.Errorf("install %s: %w", unit, err)
			}
		}
		if err := c.Start(ctx, unit); err != nil {
			return res, fmt.Errorf("install %s: %w", unit, err)
		}
		res.Started = true
	}
	if st, err = c.UnitState(ctx, unit); err != nil {
		return res, fmt.Errorf("install %s: %w", unit, err)
	}
	if st.ActiveState != "active" {
		return res, fmt.Errorf("install %s: the unit is %s/%s after starting (see %s)",
			unit, st.ActiveState, st.SubState, journalCommand(opts.User, unit))
	}
	res.MainPID = st.MainPID
	return res, nil
}

// UninstallOptions configure UninstallDaemon.
type UninstallOptions struct {
	// User uninstalls from the calling user's manager rather than the
	// system manager.
	User bool
	// Force stops and removes the routers of active sites; without it
	// UninstallDaemon refuses while a site is active.
	Force bool
	// Purge removes the data home (every namespace's input and runtime)
	// once everything is stopped. Without it the data home is kept.
	Purge bool
	// DataHome is the data home whose sites are checked (and purged);
	// required.
	DataHome string
	// Unit is the daemon's unit name (default DaemonUnit).
	Unit string
	// UnitDir is where router units live (default UnitDir(User)).
	UnitDir string
	// Client, when set, is used instead of connecting.
	Client *Client
}

// ActiveSite is a namespace whose site is set up: it has a runtime/
// directory and a router unit or a rendered router configuration.
type ActiveSite struct {
	Namespace string
	// Site is the Site's name, from runtime/resources/Site-<name>.yaml
	// ("" when that file is missing).
	Site string
}

// ActiveSitesError is returned by UninstallDaemon without Force while
// sites are active. Nothing has been changed.
type ActiveSitesError struct {
	Sites []ActiveSite
}

func (e *ActiveSitesError) Error() string {
	var names []string
	for _, s := range e.Sites {
		names = append(names, s.Namespace)
	}
	return fmt.Sprintf("uninstallation halted: active sites detected in namespaces %s; use --force to stop and remove them",
		strings.Join(names, ", "))
}

// UninstallResult says what UninstallDaemon did.
type UninstallResult struct {
	// ActiveSites are the sites that were active (stopped with Force).
	ActiveSites []ActiveSite
	// StoppedUnits are the units stopped and disabled: the routers'
	// (removed) and the daemon's (its file belongs to the package and is
	// kept).
	StoppedUnits []string
	// RemovedUnitFiles are the router unit files deleted.
	RemovedUnitFiles []string
	// Purged is true when the data home was removed.
	Purged bool
}

// UninstallDaemon undoes InstallDaemon and everything the daemon set up in
// the service manager: it refuses while sites are active unless Force
// (returning *ActiveSitesError and changing nothing); otherwise it stops
// and disables the daemon unit first (so that it recreates nothing), then
// stops, disables and removes every router unit (skupper-<ns>.service
// files in the unit directory and loaded units of that name), and
// daemon-reloads. The data home is kept unless Purge.
func UninstallDaemon(ctx context.Context, opts UninstallOptions) (UninstallResult, error) {
	var res UninstallResult
	if opts.DataHome == "" {
		return res, errors.New("uninstall: the data home is not set")
	}
	home := namespaces.NewHome(opts.DataHome)
	unit := opts.Unit
	if unit == "" {
		unit = DaemonUnit
	}
	dir := opts.UnitDir
	if dir == "" {
		var err error
		if dir, err = UnitDir(opts.User); err != nil {
			return res, fmt.Errorf("uninstall: %w", err)
		}
	}
	files, err := routerUnitFiles(dir)
	if err != nil {
		return res, fmt.Errorf("uninstall: %w", err)
	}
	active, err := ActiveSites(home, dir)
	if err != nil {
		return res, fmt.Errorf("uninstall: %w", err)
	}
	res.ActiveSites = active
	if len(active) > 0 && !opts.Force {
		return res, &ActiveSitesError{Sites: active}
	}
	c := opts.Client
	if c == nil {
		if c, err = Connect(ctx, opts.User); err != nil {
			return res, fmt.Errorf("uninstall: %w", err)
		}
		defer c.Close()
	}
	// The daemon first, so that it does not recreate router units.
	if err := c.Stop(ctx, unit); err != nil {
		return res, fmt.Errorf("uninstall: %w", err)
	}
	if _, err := c.Disable(ctx, unit); err != nil {
		return res, fmt.Errorf("uninstall: %w", err)
	}
	res.StoppedUnits = append(res.StoppedUnits, unit)

	loaded, err := c.ListUnits(ctx, RouterUnitPattern)
	if err != nil {
		return res, fmt.Errorf("uninstall: %w", err)
	}
	names := map[string]bool{}
	for _, f := range files {
		names[f] = true
	}
	for _, u := range loaded {
		if _, ok := NamespaceOfUnit(u.Name); ok {
			names[u.Name] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var errs []error
	for _, n := range sorted {
		path := filepath.Join(dir, n)
		_, statErr := os.Lstat(path)
		if err := RemoveUnit(ctx, c, path); err != nil {
			errs = append(errs, err)
			continue
		}
		res.StoppedUnits = append(res.StoppedUnits, n)
		if statErr == nil {
			res.RemovedUnitFiles = append(res.RemovedUnitFiles, path)
		}
	}
	if err := c.DaemonReload(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := c.ResetFailed(ctx, unit); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("uninstall: %w", err)
	}
	if opts.Purge {
		if err := purge(home); err != nil {
			return res, fmt.Errorf("uninstall: %w", err)
		}
		res.Purged = true
	}
	return res, nil
}

// ActiveSites lists the namespaces of home whose site is active: they have
// a runtime/ directory and either a router unit file in unitDir or a
// rendered router configuration.
func ActiveSites(home namespaces.Home, unitDir string) ([]ActiveSite, error) {
	names, err := home.List()
	if err != nil {
		return nil, err
	}
	var out []ActiveSite
	for _, name := range names {
		ns := home.Namespace(name)
		if fi, err := os.Stat(ns.RuntimeDir()); err != nil || !fi.IsDir() {
			continue
		}
		_, unitErr := os.Lstat(filepath.Join(unitDir, RouterUnitName(name)))
		_, cfgErr := os.Stat(ns.RouterConfigPath())
		if unitErr != nil && cfgErr != nil {
			continue
		}
		site := ActiveSite{Namespace: name}
		if keys, err := ns.ListStatus(); err == nil {
			for _, k := range keys {
				if k.Kind == "Site" {
					site.Site = k.Name
					break
				}
			}
		}
		out = append(out, site)
	}
	return out, nil
}

// routerUnitFiles lists the router unit files in dir.
func routerUnitFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list router units: %w", err)
	}
	var out []string
	for _, e := range entries {
		if _, ok := NamespaceOfUnit(e.Name()); ok && !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// purge removes a data home, refusing paths that cannot be one.
func purge(home namespaces.Home) error {
	root := filepath.Clean(home.Root)
	if !filepath.IsAbs(root) || root == "/" || filepath.Dir(root) == "/" {
		return fmt.Errorf("refusing to purge data home %q", root)
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("purge data home %s: %w", root, err)
	}
	return nil
}
