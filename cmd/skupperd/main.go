// Command skupperd runs and maintains Skupper v2 sites on a Linux host: it
// validates and reconciles the resources in each namespace's input directory
// into runtime configuration for skupper-router.
//
// Exit codes: 0 success, 1 failure (including input with errors), 2 invalid
// usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks invalid invocations (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// failed marks a command that ran but found problems (exit 1) whose details
// were already printed.
var errProblemsFound = &exitError{code: 1, err: errors.New("problems found")}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee != errProblemsFound {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command or flag, bad argument
	// count) are usage errors.
	fmt.Fprintln(stderr, "Error:", err)
	fmt.Fprintln(stderr, "Run 'skupperd --help' for usage.")
	return 2
}

// globalOptions are the flags every subcommand shares.
type globalOptions struct {
	dataHome  string
	namespace string
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "skupperd",
		Short: "Run Skupper v2 sites on this host",
		Long: `skupperd validates and reconciles the Skupper resources of each namespace
under the data home (input/resources) into runtime configuration for
skupper-router.

The data home is --data-home, else $SKUPPER_DATA_HOME, else /var/lib/skupper
for root and $XDG_DATA_HOME/skupper (~/.local/share/skupper) for other users.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.HiddenDefaultCmd = true
	root.PersistentFlags().StringVar(&opts.dataHome, "data-home", "", "data home directory (env SKUPPER_DATA_HOME)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	runOpts := &runOptions{}
	runOpts.register(root.Flags())
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("unknown command %q for skupperd\nRun 'skupperd --help' for usage.", args[0])
		}
		return runDaemon(cmd, opts, runOpts)
	}
	root.AddCommand(newRunCommand(opts, runOpts), newValidateCommand(opts), newReconcileCommand(opts), newVersionCommand())
	return root
}
