// Package cli implements the skupper command for Linux sites run by
// skupperd: a thin layer that writes resources into a namespace's input
// directory (input/resources/<Kind>-<name>.yaml), reads the status files the
// daemon writes (runtime/resources), and asks the daemon to reload.
//
// Every change is validated in memory, together with the namespace's current
// input, before anything is written: a command that would make the
// namespace's input invalid (a bad value, a duplicate, a second Site, a port
// clash) writes nothing and exits 2. When skupperd runs, create, update and
// delete block until the daemon has applied the change (--wait, --timeout),
// as the Kubernetes CLI does; when it does not run, they write and say so.
//
// Exit codes: 0 success, 1 failure (including a timeout or a resource in
// error), 2 invalid input (bad arguments, flags or values).
//
// The package is driven through Main, so that tests run commands in-process
// exactly as the binary does.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
)

// Environment variables read by the CLI.
const (
	EnvPlatform = "SKUPPER_PLATFORM"
	EnvDataHome = namespaces.EnvDataHome
)

// PlatformLinux is the only platform this build manages.
const PlatformLinux = "linux"

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

// Error implements error.
func (e *exitError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e *exitError) Unwrap() error { return e.err }

// usageError marks invalid input: bad arguments, flags or values (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// failure marks a command that ran and failed (exit 1).
func failure(format string, args ...any) error {
	return &exitError{code: 1, err: fmt.Errorf(format, args...)}
}

// failed wraps err as a failure (exit 1) unless it already carries a code.
func failed(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 1, err: err}
}

// errReported ends a command whose problems were already printed (exit 1).
var errReported = &exitError{code: 1, err: errors.New("problems found")}

// errInvalidReported ends a command whose invalid input was already
// described on stderr (exit 2).
var errInvalidReported = &exitError{code: 2, err: errors.New("invalid input")}

// Main runs the skupper command line args and returns the process exit code.
// env looks up environment variables (os.Getenv in the binary).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	if env == nil {
		env = func(string) string { return "" }
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now, procRoot: "/proc"}
	return a.run(args)
}

// app is one invocation of the CLI: its I/O, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	now            func() time.Time
	// procRoot is where /proc is (tests point it elsewhere).
	procRoot string
	// pollInterval is how often waits look at status files (default 100ms).
	pollInterval time.Duration

	namespace string
	platform  string
	dataHome  string
	root      *cobra.Command
}

// run executes the command line and returns the exit code; errors are
// printed on stderr.
func (a *app) run(args []string) int {
	root := a.newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee != errReported && ee != errInvalidReported {
			fmt.Fprintln(a.stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command, bad argument count) are
	// usage errors.
	fmt.Fprintln(a.stderr, "Error:", err)
	fmt.Fprintln(a.stderr, "Run 'skupper --help' for usage.")
	return 2
}

// newRootCommand builds the command tree.
func (a *app) newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "skupper",
		Short: "Manage Skupper sites on this Linux host",
		Long: `skupper configures the Skupper sites that skupperd runs on this host.

Resource commands (site, listener, connector, link) write Skupper resources to
the namespace's input directory, <data home>/namespaces/<namespace>/input/resources,
after checking them together with what is already there. When skupperd is
running they wait until it has applied the change (--wait, --timeout); when it
is not, the change is written and applied when skupperd starts.

The data home is --data-home, else $SKUPPER_DATA_HOME, else /var/lib/skupper
for root and $XDG_DATA_HOME/skupper (~/.local/share/skupper) for other users.

Exit status: 0 on success, 1 when the operation fails or times out, 2 for
invalid input (arguments, options or values).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		Args:              noArgs,
		RunE:              helpOrUnknown,
		PersistentPreRunE: a.preRun,
	}
	a.root = root
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	pf := root.PersistentFlags()
	pf.StringVarP(&a.namespace, "namespace", "n", namespaces.DefaultNamespace, "the namespace (a directory under <data home>/namespaces)")
	pf.StringVar(&a.platform, "platform", PlatformLinux, `the Skupper platform; this build manages Linux sites only (env SKUPPER_PLATFORM)`)
	pf.StringVar(&a.dataHome, "data-home", "", "the data home directory (env SKUPPER_DATA_HOME; default /var/lib/skupper for root, else ~/.local/share/skupper)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	for _, k := range kindTable() {
		root.AddCommand(a.newKindCommand(k))
	}
	root.AddCommand(
		a.newTokenCommand(),
		a.newSystemCommand(),
		a.newDebugCommand(),
		a.newVersionCommand(),
	)
	// Add cobra's completion command now (rather than lazily in Execute),
	// so that it is part of the tree for help and tests.
	root.InitDefaultCompletionCmd()
	return root
}

// noArgs rejects arguments of commands that take none, as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unknown command or argument %q for %q\nRun '%s --help' for usage.", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// newGroup builds a command group: it takes no arguments and prints its
// help.
func newGroup(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: noArgs, RunE: helpOrUnknown}
	cmd.AddCommand(subs...)
	return cmd
}

// helpOrUnknown is the action of group commands: it prints their help.
func helpOrUnknown(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}

// preRun checks the global flags before any command runs.
func (a *app) preRun(cmd *cobra.Command, _ []string) error {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Name() == "completion" || strings.HasPrefix(c.Name(), "__complete") {
			return nil
		}
	}
	platform := a.platform
	if !cmd.Flags().Changed("platform") {
		if p := a.env(EnvPlatform); p != "" {
			platform = p
		}
	}
	switch platform {
	case PlatformLinux:
	case "podman", "docker", "kubernetes":
		return usageError("platform %q is not supported by this build; skupper here manages Linux sites (--platform linux)", platform)
	default:
		return usageError("unknown platform %q; skupper here manages Linux sites (--platform linux)", platform)
	}
	if msg := v2alpha1.ValidateName(a.namespace); msg != "" {
		return usageError("invalid namespace: %s", msg)
	}
	return nil
}

// home resolves the data home: --data-home, else $SKUPPER_DATA_HOME, else
// the default for the current user.
func (a *app) home() (namespaces.Home, error) {
	dir := a.dataHome
	if dir == "" {
		dir = a.env(EnvDataHome)
	}
	if dir == "" {
		var err error
		dir, err = namespaces.DefaultDataHome(os.Geteuid(), a.env("XDG_DATA_HOME"), a.env("HOME"))
		if err != nil {
			return namespaces.Home{}, usageError("%v", err)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return namespaces.Home{}, usageError("data home %q: %v", dir, err)
	}
	return namespaces.NewHome(abs), nil
}

// ns returns the current namespace (which need not exist).
func (a *app) ns() (namespaces.Namespace, error) {
	h, err := a.home()
	if err != nil {
		return namespaces.Namespace{}, err
	}
	return h.Namespace(a.namespace), nil
}

// existingNS returns the current namespace, or a failure when its directory
// does not exist.
func (a *app) existingNS() (namespaces.Namespace, error) {
	ns, err := a.ns()
	if err != nil {
		return ns, err
	}
	if !ns.Exists() {
		if guess := nearestSiteNamespace(ns); guess != "" {
			return ns, failure("namespace %q does not exist (no directory %s); did you mean %q? (-n %s)", ns.Name, ns.Dir, guess, guess)
		}
		return ns, failure("namespace %q does not exist (no directory %s); create a site in it with \"skupper site create <name> -n %s\"", ns.Name, ns.Dir, ns.Name)
	}
	return ns, nil
}

// daemonRunning reports whether skupperd runs for the data home, and its pid.
func (a *app) daemonRunning(ns namespaces.Namespace) (bool, int) {
	return ns.Home.DaemonRunning()
}

// startHint tells how to start the daemon.
const startHint = `start it with "skupperd run" (or "systemctl start skupperd")`

// notRunningHint is printed when a change was written but no daemon runs.
const notRunningHint = "skupperd is not running, so the change is not applied yet; " + startHint + "."

// printf writes command output to stdout.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}

// warnf writes a warning to stderr.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "Warning: "+format+"\n", args...)
}
