// Package systemd is skupperd's interface to systemd: it renders the
// router unit of a namespace (skupper-<ns>.service), talks to the system or
// the user service manager over D-Bus (github.com/coreos/go-systemd/v22/dbus;
// it never runs systemctl), supervises namespaces' routers as systemd units
// (Supervisor, a router.Supervisor), installs and uninstalls the daemon's
// own unit for the CLI (InstallDaemon, UninstallDaemon). The daemon's
// sd_notify calls are skupperd's own (cmd/skupperd), so that the CLI,
// which links this package, does not link them.
//
// # Modes
//
// Root uses the system manager: router units go to /etc/systemd/system and
// are wanted by multi-user.target, the daemon unit is the packaged
// /usr/lib/systemd/system/skupperd.service and the data home is
// /var/lib/skupper. Other users use their user manager
// (systemctl --user): router units go to $XDG_CONFIG_HOME/systemd/user
// (~/.config/systemd/user) and are wanted by default.target, the daemon unit
// is /usr/lib/systemd/user/skupperd.service and the data home is
// ~/.local/share/skupper. A user manager only runs while the user is logged
// in, unless lingering is enabled (loginctl enable-linger <user>);
// InstallResult.LingerHint says so.
//
// # Wiring the supervisor into skupperd
//
// cmd/skupperd picks the supervisor with --supervisor auto|systemd|process|none.
// "systemd" uses NewSupervisor; "auto" uses it when the data home is the
// user's default one and Available answers (a daemon started by hand on a
// scratch data home keeps its routers as child processes, so that two data
// homes never fight over the same skupper-<ns>.service), else the process
// supervisor:
//
//	user := os.Geteuid() != 0
//	def, err := namespaces.DefaultDataHome(os.Geteuid(), os.Getenv("XDG_DATA_HOME"), os.Getenv("HOME"))
//	auto := err == nil && home.Root == filepath.Clean(def) && systemd.Available(ctx, user)
//	if o.supervisor == "systemd" || (o.supervisor == "auto" && auto) {
//		return systemd.NewSupervisor(ctx, systemd.SupervisorOptions{
//			User: user, Binary: o.routerBinary, DataHome: home.Root,
//			Logger: log, OnChange: onChange,
//		})
//	}
//
// # Using the install API from the CLI
//
// `skupper system install` calls InstallDaemon(ctx, InstallOptions{User:
// os.Geteuid() != 0}) and prints InstallResult.LingerHint() when it is not
// empty. `skupper system uninstall [--force] [--purge]` calls
// UninstallDaemon(ctx, UninstallOptions{User: ..., Force: ..., Purge: ...,
// DataHome: <resolved data home>}); when it returns an *ActiveSitesError
// the CLI prints one line per ActiveSite and the hint to use --force.
// `system start|stop|reload` of a namespace whose router is a unit use
// Connect and Client.Start, Client.Stop and Client.Restart with
// RouterUnitName(ns).
package systemd
