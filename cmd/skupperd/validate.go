package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
)

func newValidateCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check resource files and report every problem",
		Long: `Decode and validate Skupper resources and print every problem as
file:line: Kind/name: field: message

Without PATH, the input of the namespace (-n, default "default") under the data
home is checked, as the daemon would load it. With PATHs (files or directories
of .yaml, .yml and .json files), those files are checked together as the input
of that namespace.

Exit status: 0 when no errors were found (warnings may be printed), 1 when
errors were found, 2 for invalid usage.`,
		Example: `  skupperd validate -n west
  skupperd validate site.yaml listener.yaml
  skupperd validate ./resources/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if msg := v2alpha1.ValidateName(g.namespace); msg != "" {
				return usageError("invalid namespace: %s", msg)
			}
			var diags v2alpha1.Diagnostics
			var count int
			if len(args) > 0 {
				docs, ds, err := namespaces.LoadPaths(g.namespace, args)
				if err != nil {
					return usageError("%v", err)
				}
				diags, count = ds, len(docs)
			} else {
				root, err := namespaces.ResolveDataHome(g.dataHome)
				if err != nil {
					return usageError("%v", err)
				}
				ns := namespaces.NewHome(root).Namespace(g.namespace)
				snap, err := namespaces.Load(ns)
				if errors.Is(err, fs.ErrNotExist) {
					return &exitError{code: 1, err: fmt.Errorf("namespace %q does not exist (no directory %s)", g.namespace, ns.Dir)}
				}
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				diags, count = snap.Diagnostics, len(snap.Docs)
			}
			out := cmd.OutOrStdout()
			errs, warns := 0, 0
			for _, d := range diags {
				fmt.Fprintln(out, d.Error())
				if d.IsError() {
					errs++
				} else {
					warns++
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s checked: %s, %s\n", plural(count, "resource"), plural(errs, "error"), plural(warns, "warning"))
			if errs > 0 {
				return errProblemsFound
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&g.namespace, "namespace", "n", namespaces.DefaultNamespace, "namespace")
	return cmd
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
