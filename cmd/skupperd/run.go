package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/grants"
	"github.com/skupperd/skupperd/internal/logfile"
	"github.com/skupperd/skupperd/internal/rawfs"
	"github.com/skupperd/skupperd/internal/version"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/systemd"
)

// runOptions are the daemon's flags.
type runOptions struct {
	namespaces       []string
	logLevel         string
	logFormat        string
	supervisor       string
	routerBinary     string
	resync           time.Duration
	reconcileTimeout time.Duration
	grantAddr        string
	advertise        string
	// pprofAddr serves runtime profiles on a loopback address (hidden
	// flag, for measurements; "": off).
	pprofAddr string
}

// envDefault returns $key, or def.
func envDefault(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envDuration is the duration in environment variable key, or def when it
// is unset or not a duration.
func envDuration(key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func (o *runOptions) register(fs *pflag.FlagSet) {
	resync := envDuration("SKUPPER_RESYNC", daemon.DefaultResync)
	var nsDefault []string
	if v := os.Getenv("SKUPPER_NAMESPACES"); v != "" {
		nsDefault = strings.Split(v, ",")
	}
	fs.StringSliceVarP(&o.namespaces, "namespace", "n", nsDefault, "namespaces to watch, repeatable or comma-separated (env SKUPPER_NAMESPACES; default all)")
	fs.StringVar(&o.logLevel, "log-level", envDefault("SKUPPER_LOG_LEVEL", "info"), "debug, info, warn or error (env SKUPPER_LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", envDefault("SKUPPER_LOG_FORMAT", "text"), "text or json (env SKUPPER_LOG_FORMAT)")
	fs.StringVar(&o.supervisor, "supervisor", envDefault("SKUPPER_SUPERVISOR", "auto"), "how routers are run: auto, systemd, process or none (env SKUPPER_SUPERVISOR)")
	fs.StringVar(&o.routerBinary, "router-binary", envDefault("SKUPPER_ROUTER_BINARY", "skrouterd"), "router executable, a name on PATH or a path (env SKUPPER_ROUTER_BINARY)")
	fs.DurationVar(&o.resync, "resync", resync, "period of resync passes, which reconcile what changed (every namespace at least every 6h) (env SKUPPER_RESYNC)")
	fs.DurationVar(&o.reconcileTimeout, "reconcile-timeout", envDuration("SKUPPER_RECONCILE_TIMEOUT", daemon.DefaultReconcileTimeout), "longest one reconcile of one namespace may take; past it the reconcile fails and is retried (env SKUPPER_RECONCILE_TIMEOUT)")
	fs.StringVar(&o.grantAddr, "grant-server-addr", envDefault("SKUPPER_GRANT_SERVER_ADDR", grants.DefaultAddr), `address of the HTTPS server that redeems this host's tokens, or "none" (env SKUPPER_GRANT_SERVER_ADDR)`)
	fs.StringVar(&o.advertise, "advertise-host", os.Getenv("SKUPPER_ADVERTISE_HOST"), "host name or address remote sites use to reach this host, in token URLs and link endpoints (env SKUPPER_ADVERTISE_HOST; default the host's FQDN or first non-loopback address)")
	fs.StringVar(&o.pprofAddr, "debug-pprof-addr", "", "serve Go runtime profiles (/debug/pprof/) on this loopback address, for measurements")
	_ = fs.MarkHidden("debug-pprof-addr")
}

func newRunCommand(g *globalOptions, o *runOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon (the default command)",
		Long: `Watch every namespace under the data home and keep it reconciled: a change to
input/resources, input/certs or input/issuers is applied within moments, and
each namespace's router (skrouterd) is kept running.

Signals: SIGHUP forces a full pass; SIGTERM and SIGINT stop gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd, g, o) },
	}
	o.register(cmd.Flags())
	return cmd
}

func newLogger(o *runOptions, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, usageError("invalid --log-level %q: expected debug, info, warn or error", o.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("invalid --log-format %q: expected text or json", o.logFormat)
}

func runDaemon(cmd *cobra.Command, g *globalOptions, o *runOptions) error {
	log, err := newLogger(o, os.Stderr)
	if err != nil {
		return err
	}
	for _, ns := range o.namespaces {
		if msg := v2alpha1.ValidateName(ns); msg != "" {
			return usageError("invalid namespace %q: %s", ns, msg)
		}
	}
	if o.resync <= 0 {
		return usageError("--resync must be positive")
	}
	if o.reconcileTimeout <= 0 {
		return usageError("--reconcile-timeout must be positive")
	}
	root, err := namespaces.ResolveDataHome(g.dataHome)
	if err != nil {
		return usageError("%v", err)
	}
	home := namespaces.NewHome(root)
	// One skupperd per data home: the lock holds its path too, so that a
	// daemon whose data home is deleted and created again under it keeps
	// it (see namespaces.TakeLock) and a second one refuses to start.
	lock, err := home.TakeLock()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer lock.Release()
	if lock.Warning != "" {
		log.Warn("the data home's path is not locked", "reason", lock.Warning)
	}
	// The log also goes to a capped file in the data home, for "skupper
	// debug dump" where there is no journal.
	if lf, err := logfile.Open(home.DaemonLogPath(), logfile.DefaultMax); err != nil {
		log.Warn("cannot keep a log file in the data home; debug dump will lack the daemon's log", "error", err)
	} else {
		defer lf.Close()
		if log, err = newLogger(o, io.MultiWriter(os.Stderr, lf)); err != nil {
			return err
		}
	}
	raiseFileLimit(log)
	if fsType, raw := rawfs.EnableFor(home.Root); raw {
		log.Debug("file system calls of reconciles bypass the scheduler's bookkeeping", "dataHome", home.Root, "filesystem", fsType)
	} else {
		log.Debug("file system calls of reconciles are ordinary ones", "dataHome", home.Root, "filesystem", fsType)
	}
	if o.pprofAddr != "" {
		stop, err := servePprof(o.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var d *daemon.Daemon
	sup, err := newSupervisor(ctx, o, home, log, func(ns string) {
		if d != nil {
			d.KickNamespace(ns)
		}
	})
	if err != nil {
		return err
	}
	var grantService *grants.Service
	if o.grantAddr != "" && o.grantAddr != "none" {
		grantService, err = grants.New(grants.Config{Home: home, Addr: o.grantAddr, AdvertiseHost: o.advertise, Logger: log,
			// A counted redemption refreshes the grant's status at once.
			OnRedeemed: func(ns string) {
				if d != nil {
					d.KickNamespace(ns)
				}
			}})
		if err != nil {
			return usageError("%v", err)
		}
	}
	notify := func(state string) { _, _ = sddaemon.SdNotify(false, state) }
	watchdog, _ := sddaemon.SdWatchdogEnabled(false)
	d = daemon.New(daemon.Config{
		Home: home, Namespaces: o.namespaces, Resync: o.resync, ReconcileTimeout: o.reconcileTimeout,
		Supervisor: sup, Logger: log, Notify: notify, Watchdog: watchdog,
		Version: version.String(),
		Grants:  grantService, Redeem: grants.Redeem,
		Lock:      lock,
		IdleProcs: true,
	})

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	log.Info("skupperd started", "version", version.String(), "data_home", home.Root, "supervisor", o.supervisor, "pid", os.Getpid())
	stopping := false
	for {
		select {
		case err := <-done:
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			log.Info("skupperd stopped")
			return nil
		case sig := <-signals:
			switch {
			case sig == syscall.SIGHUP:
				d.Reload()
			case stopping:
				log.Warn("second signal: exiting without a graceful stop")
				return &exitError{code: 1, err: fmt.Errorf("interrupted by %v", sig)}
			default:
				stopping = true
				log.Info("stopping", "signal", sig.String())
				cancel()
			}
		}
	}
}

// newSupervisor picks how routers run: systemd units when systemd manages
// this data home (auto: its D-Bus answers and the data home is the default
// one, so a daemon started by hand on a scratch data home never takes over
// skupper-<ns>.service units), else child processes.
func newSupervisor(ctx context.Context, o *runOptions, home namespaces.Home, log *slog.Logger, onChange func(string)) (router.Supervisor, error) {
	user := os.Geteuid() != 0
	switch o.supervisor {
	case "none":
		return router.NoSupervisor{}, nil
	case "auto", "systemd", "process":
	default:
		return nil, usageError("invalid --supervisor %q: expected auto, systemd, process or none", o.supervisor)
	}
	if o.supervisor == "systemd" || (o.supervisor == "auto" && useSystemd(ctx, home, user)) {
		sup, err := systemd.NewSupervisor(ctx, systemd.SupervisorOptions{
			User: user, Binary: o.routerBinary, DataHome: home.Root, Logger: log, OnChange: onChange,
		})
		if err != nil {
			return nil, &exitError{code: 1, err: fmt.Errorf("--supervisor systemd is not available: %w", err)}
		}
		log.Info("routers run as systemd units", "user_manager", user)
		return sup, nil
	}
	if _, err := exec.LookPath(o.routerBinary); err != nil {
		log.Warn("router binary not found: configuration is still written and status reports the router as not installed", "binary", o.routerBinary)
	}
	return &router.ProcessSupervisor{Binary: o.routerBinary, Logger: log, OnChange: onChange}, nil
}

// useSystemd reports whether auto mode should run routers as units.
func useSystemd(ctx context.Context, home namespaces.Home, user bool) bool {
	def, err := namespaces.DefaultDataHome(os.Geteuid(), os.Getenv("XDG_DATA_HOME"), os.Getenv("HOME"))
	return err == nil && home.Root == filepath.Clean(def) && systemd.Available(ctx, user)
}

// raiseFileLimit raises the soft limit on open files to the hard limit:
// every watched directory, router connection and grant server client
// holds a descriptor, and running out of them stalls reconciles.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= lim.Max {
		return
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot raise the open files limit", "soft", old, "hard", lim.Max, "error", err)
		return
	}
	log.Debug("raised the open files limit", "from", old, "to", lim.Max)
}
