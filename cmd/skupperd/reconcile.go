package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/hugeheap"
	"github.com/skupperd/skupperd/internal/rawfs"
	"github.com/skupperd/skupperd/internal/version"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/router"
)

// reconcileMemoryLimit is the soft memory limit of `skupperd reconcile`
// (unless GOMEMLIMIT sets one): a pass holds a whole namespace in memory at
// once, and the garbage collector's default pacing would let the garbage
// of its phases double that; under the limit it collects sooner, so that
// a 10,000-pair namespace (58 MB of live heap at its peak) reconciles in
// under 90 MB RSS. Each megabyte less costs collections at that size: 64 MB
// made the same pass 15 % slower for 5 MB less RSS.
const reconcileMemoryLimit = 76 << 20

// reconcileGCPercent is the GOGC of `skupperd reconcile` (unless GOGC or
// GOMEMLIMIT is set), with reconcileMemoryLimit as the bound. A one-shot
// process touches every page of its heap for the first time, and on the
// virtual machines we measure on a first touch costs about 15 µs (a page
// fault): a cold 1,000-pair pass took about 5 % less wall time with 200
// than with 400 (whose 16 MB first goal the pass's garbage fills before
// the first collection), and 150 or 100 collected more than they saved.
const reconcileGCPercent = 200

// reconcileHugeHeap is how much of the heap of `skupperd reconcile` comes
// in transparent huge pages (internal/hugeheap): a one-shot pass touches
// every page of its heap for the first time, and one fault per 2 MiB
// instead of one per 4 KiB took a cold 1,000-pair pass from about 4,200
// page faults to 1,400 and its wall time down by a fifth. 64 MiB covers
// the whole heap of 1,000 pairs and most of 10,000's (whose peak RSS it
// leaves unchanged, under the memory limit).
const reconcileHugeHeap = 64 << 20

// reserveHugeHeap gives the heap its huge pages (reconcileHugeHeap) the
// first time it is called. It runs as the first pass that is not skipped
// begins (reconcile.Options.BeginPass): the reservation costs a collection
// and some 2 ms, which a pass the pass memo skips would not repay.
func reserveHugeHeap() func() {
	var once sync.Once
	return func() { once.Do(func() { hugeheap.Reserve(reconcileHugeHeap) }) }
}

func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(reconcileMemoryLimit)
	if os.Getenv("GOGC") == "" {
		// Under the limit, collect less often than the default: a pass
		// over a small namespace then hardly collects at all, and a
		// large one is held to the limit.
		debug.SetGCPercent(reconcileGCPercent)
	}
}

func newReconcileCommand(g *globalOptions) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconcile namespaces once and exit",
		Long: `Load, validate and apply the input of a namespace (-n) or of every namespace:
allocate ports, create issuers and certificates, write the router configuration
(runtime/router/skrouterd.json), static links (runtime/links) and a status file
per resource (runtime/resources), then exit. Nothing is started.

A namespace without a valid Site keeps its previous runtime configuration.
Diagnostics are printed on stderr as file:line: Kind/name: field: message.

It refuses to run while a skupperd daemon runs on the same data home (the
daemon reconciles on its own), and keeps a daemon from starting meanwhile.

Exit status: 0 when every namespace that needs a Site had it applied, 1
otherwise, 2 for invalid usage.`,
		Example: `  skupperd reconcile -n west
  skupperd reconcile --data-home /srv/skupper`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := namespaces.ResolveDataHome(g.dataHome)
			if err != nil {
				return usageError("%v", err)
			}
			home := namespaces.NewHome(root)
			names := []string{namespace}
			if namespace == "" {
				if names, err = home.List(); err != nil {
					return &exitError{code: 1, err: err}
				}
				if len(names) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "No namespaces under %s\n", home.NamespacesDir())
					return nil
				}
			} else if msg := v2alpha1.ValidateName(namespace); msg != "" {
				return usageError("invalid namespace: %s", msg)
			} else if !home.Namespace(namespace).Exists() {
				return &exitError{code: 1, err: fmt.Errorf("namespace %q does not exist (no directory %s)", namespace, home.Namespace(namespace).Dir)}
			}
			// A running daemon owns the data home: reconciling behind its
			// back would overwrite the status it observes. Holding the
			// lock also keeps a daemon from starting meanwhile.
			lock, err := home.TakeLock()
			if errors.Is(err, namespaces.ErrAlreadyRunning) {
				return &exitError{code: 1, err: fmt.Errorf("%v: it reconciles on its own (it watches the input); to force a pass, run \"skupper system reload\" or send it SIGHUP", err)}
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer lock.Release()
			limitMemory()
			rawfs.EnableFor(home.Root)
			alloc, cache, beginPass := ports.New(home), reconcile.NewOnePassCache(), reserveHugeHeap()
			failed := false
			for _, name := range names {
				ns := home.Namespace(name)
				res, err := reconcile.Run(cmd.Context(), ns, reconcile.Options{
					Version:   version.String(),
					Ports:     alloc,
					Cache:     cache,
					Router:    router.State{Message: "skupperd reconcile does not start routers; run the skupperd daemon"},
					Memo:      true,
					BeginPass: beginPass,
				})
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n", err)
					failed = true
					continue
				}
				for _, d := range res.Diagnostics {
					fmt.Fprintln(cmd.ErrOrStderr(), d.Error())
				}
				out := cmd.OutOrStdout()
				switch res.Outcome {
				case reconcile.Applied:
					fmt.Fprintf(out, "Namespace %q: site applied; router config %s\n", name, filepath.Join(ns.Dir, "runtime", "router", "skrouterd.json"))
				case reconcile.NoSiteNeeded:
					fmt.Fprintf(out, "Namespace %q: no site needed (attached connectors only)\n", name)
				default:
					fmt.Fprintf(out, "Namespace %q: not applied (no valid Site); the previous runtime configuration is kept\n", name)
					failed = true
				}
			}
			if failed {
				return errProblemsFound
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace to reconcile (default: all)")
	return cmd
}
