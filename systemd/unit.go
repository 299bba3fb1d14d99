package systemd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Unit names and locations.
const (
	// DaemonUnit is the name of skupperd's own unit, in the system and in
	// the user manager alike.
	DaemonUnit = "skupperd.service"
	// RouterUnitPrefix starts the name of every router unit:
	// skupper-<namespace>.service (compat: upstream's naming).
	RouterUnitPrefix = "skupper-"
	// RouterUnitPattern matches every router unit (for ListUnits).
	RouterUnitPattern = RouterUnitPrefix + "*.service"
	// SystemUnitDir is where router units of the system manager are written.
	SystemUnitDir = "/etc/systemd/system"
	// UnitFilePerm is the permission of the unit files skupperd writes.
	UnitFilePerm os.FileMode = 0o644
)

// Defaults of RouterUnitOptions.
const (
	DefaultRestartDelay       = 2 * time.Second
	DefaultStartLimitInterval = 5 * time.Minute
	DefaultStartLimitBurst    = 20
	DefaultStopTimeout        = 20 * time.Second
)

var namespaceRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// RouterUnitName returns the unit name of a namespace's router,
// "skupper-<ns>.service".
func RouterUnitName(ns string) string { return RouterUnitPrefix + ns + ".service" }

// NamespaceOfUnit returns the namespace of a router unit name, or false
// when name is not one.
func NamespaceOfUnit(name string) (string, bool) {
	ns, ok := strings.CutPrefix(name, RouterUnitPrefix)
	if !ok {
		return "", false
	}
	ns, ok = strings.CutSuffix(ns, ".service")
	if !ok || !namespaceRE.MatchString(ns) {
		return "", false
	}
	return ns, true
}

// UnitDir returns the directory router units are written to: SystemUnitDir
// for the system manager, $XDG_CONFIG_HOME/systemd/user (else
// $HOME/.config/systemd/user) for a user manager.
func UnitDir(user bool) (string, error) {
	if !user {
		return SystemUnitDir, nil
	}
	if dir := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "systemd", "user"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("user unit directory: %w", err)
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}

// RouterUnitOptions describe a namespace's router unit.
type RouterUnitOptions struct {
	// Namespace names the unit (skupper-<Namespace>.service).
	Namespace string
	// Binary is the absolute path of skrouterd, resolved by the caller
	// (systemd needs an absolute ExecStart and the unit must not depend on
	// the manager's PATH).
	Binary string
	// ConfigPath is the absolute path of the namespace's skrouterd.json.
	ConfigPath string
	// SiteID is exported to the router as SKUPPER_SITE_ID.
	SiteID string
	// User selects a user manager's unit (WantedBy=default.target, no
	// sandboxing that needs mount namespaces) rather than a system unit.
	User bool
	// RestartDelay (RestartSec=) is the delay before systemd restarts a router that exited
	// (default DefaultRestartDelay).
	RestartDelay time.Duration
	// StartLimitInterval and StartLimitBurst rate-limit restarts: more
	// than StartLimitBurst starts within StartLimitInterval and systemd
	// gives up until the daemon resets the unit (defaults
	// DefaultStartLimitInterval, DefaultStartLimitBurst).
	StartLimitInterval time.Duration
	StartLimitBurst    int
	// StopTimeout bounds a graceful stop before SIGKILL (default
	// DefaultStopTimeout).
	StopTimeout time.Duration
}

// RouterUnit renders the unit file of a namespace's router:
//
//   - ExecStart=<Binary> -c <ConfigPath>, WorkingDirectory= the config's
//     directory, Environment=SKUPPER_SITE_ID=<SiteID>;
//   - Type=exec (a missing or unusable binary fails the start job),
//     Restart=always with RestartSec and a StartLimitIntervalSec /
//     StartLimitBurst rate limit;
//   - sandboxing that leaves what a router needs (reading its config and
//     certificates, binding TCP ports, including ports below 1024 for root):
//     NoNewPrivileges, seccomp-based restrictions and, for system units,
//     ProtectSystem=strict, PrivateTmp, PrivateDevices, ProtectHome and a
//     capability bounding set of CAP_NET_BIND_SERVICE. ProtectHome is
//     read-only instead of yes when the configuration lives under /home,
//     /root or /run/user, and PrivateTmp is off when it lives under /tmp or
//     /var/tmp, so the router can always read its files. User units get
//     no mount-namespace options: a user manager can only apply them
//     through unprivileged user namespaces, which many hosts disable, and a
//     unit that cannot start is worse than a less sandboxed one.
//   - WantedBy=multi-user.target (system) or default.target (user).
func RouterUnit(opts RouterUnitOptions) ([]byte, error) {
	if !namespaceRE.MatchString(opts.Namespace) || len(opts.Namespace) > 63 {
		return nil, fmt.Errorf("router unit: invalid namespace %q", opts.Namespace)
	}
	for _, p := range []struct{ name, value string }{{"router binary", opts.Binary}, {"config path", opts.ConfigPath}} {
		if !filepath.IsAbs(p.value) || filepath.Clean(p.value) != p.value {
			return nil, fmt.Errorf("router unit %s: %s %q must be an absolute, clean path", RouterUnitName(opts.Namespace), p.name, p.value)
		}
		if err := checkUnitValue(p.value); err != nil {
			return nil, fmt.Errorf("router unit %s: %s: %w", RouterUnitName(opts.Namespace), p.name, err)
		}
	}
	// systemd takes the executable's path literally (no unescaping of
	// "$$") and refuses unusual characters in it.
	if strings.ContainsAny(opts.Binary, "\"'\\$") {
		return nil, fmt.Errorf("router unit %s: router binary %q: quotes, backslashes and $ are not supported in its path", RouterUnitName(opts.Namespace), opts.Binary)
	}
	if err := checkUnitValue(opts.SiteID); err != nil {
		return nil, fmt.Errorf("router unit %s: site id: %w", RouterUnitName(opts.Namespace), err)
	}
	restartDelay := orDuration(opts.RestartDelay, DefaultRestartDelay)
	interval := orDuration(opts.StartLimitInterval, DefaultStartLimitInterval)
	stop := orDuration(opts.StopTimeout, DefaultStopTimeout)
	burst := opts.StartLimitBurst
	if burst <= 0 {
		burst = DefaultStartLimitBurst
	}
	dir := filepath.Dir(opts.ConfigPath)

	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# %s: the Skupper router of namespace %q.", RouterUnitName(opts.Namespace), opts.Namespace)
	w("# Written by skupperd, which rewrites, restarts and removes it; do not edit.")
	w("[Unit]")
	w("Description=Skupper router of namespace %s", escapeSpecifiers(opts.Namespace))
	w("Documentation=https://skupper.io/")
	if !opts.User {
		w("Wants=network-online.target")
		w("After=network-online.target")
	}
	w("StartLimitIntervalSec=%s", seconds(interval))
	w("StartLimitBurst=%d", burst)
	w("")
	w("[Service]")
	w("Type=exec")
	w("Environment=%s", quoteEnv("SKUPPER_SITE_ID="+opts.SiteID))
	w("WorkingDirectory=%s", escapeSpecifiers(dir))
	w("ExecStart=%s -c %s", quoteArg(opts.Binary), quoteArg(opts.ConfigPath))
	w("Restart=always")
	w("RestartSec=%s", seconds(restartDelay))
	w("TimeoutStopSec=%s", seconds(stop))
	w("UMask=0077")
	w("NoNewPrivileges=yes")
	w("LockPersonality=yes")
	w("RestrictRealtime=yes")
	w("RestrictSUIDSGID=yes")
	w("SystemCallArchitectures=native")
	w("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK")
	if !opts.User {
		w("ProtectSystem=strict")
		switch {
		case under(opts.ConfigPath, "/home", "/root", "/run/user"):
			w("ProtectHome=read-only")
		default:
			w("ProtectHome=yes")
		}
		if !under(opts.ConfigPath, "/tmp", "/var/tmp") {
			w("PrivateTmp=yes")
		}
		w("PrivateDevices=yes")
		w("ProtectKernelTunables=yes")
		w("ProtectKernelModules=yes")
		w("ProtectKernelLogs=yes")
		w("ProtectControlGroups=yes")
		w("ProtectClock=yes")
		w("ProtectHostname=yes")
		w("RestrictNamespaces=yes")
		w("CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
	}
	w("")
	w("[Install]")
	if opts.User {
		w("WantedBy=default.target")
	} else {
		w("WantedBy=multi-user.target")
	}
	return b.Bytes(), nil
}

// RouterUnitConfigPath returns the configuration path (the argument of -c)
// of a rendered router unit, or "" when there is none. The supervisor uses
// it to tell its own units from those of another data home.
func RouterUnitConfigPath(unit []byte) string {
	for line := range strings.Lines(string(unit)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart=")
		if !ok {
			continue
		}
		args := splitArgs(rest)
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-c" {
				return args[i+1]
			}
		}
	}
	return ""
}

// checkUnitValue refuses values a unit file cannot carry on one line.
func checkUnitValue(s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("contains control characters")
	}
	return nil
}

// quoteArg quotes one command-line word for ExecStart= or Environment=:
// always double-quoted, with backslash and quote escaped, "%" written as
// "%%" (specifiers) and "$" as "$$" (variable expansion).
func quoteArg(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// quoteEnv quotes an assignment for Environment=, where "$" has no special
// meaning but "%" starts a specifier.
func quoteEnv(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	return `"` + r.Replace(s) + `"`
}

// escapeSpecifiers escapes "%" in a value that is not a command line.
func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// splitArgs undoes quoteArg for the words of an ExecStart= line.
func splitArgs(s string) []string {
	var args []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case quoted && c == '"':
			quoted = false
		case !quoted && c == '"':
			quoted, inWord = true, true
		case (c == '%' || c == '$') && i+1 < len(s) && s[i+1] == c:
			i++
			cur.WriteByte(c)
			inWord = true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// under reports whether path is one of dirs or below one.
func under(path string, dirs ...string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// seconds formats d for a systemd time value ("2s", "1.5s", "300s").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
