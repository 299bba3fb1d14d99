package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/router"
)

// waitMode is what a command waits for after writing.
type waitMode string

// Wait modes (--wait).
const (
	waitNone       waitMode = "none"
	waitConfigured waitMode = "configured"
	waitReady      waitMode = "ready"
)

// DefaultTimeout bounds every wait unless --timeout says otherwise.
const DefaultTimeout = 60 * time.Second

// defaultPollInterval is how often a wait looks at the status files.
const defaultPollInterval = 100 * time.Millisecond

// waitFlags are the --wait and --timeout options of a changing command.
type waitFlags struct {
	wait    string
	timeout time.Duration
}

// register adds --wait (with its default) and --timeout.
func (w *waitFlags) register(cmd *cobra.Command, def waitMode) {
	cmd.Flags().StringVar(&w.wait, "wait", string(def), "wait for the given status when skupperd is running: none, configured or ready")
	cmd.Flags().DurationVar(&w.timeout, "timeout", DefaultTimeout, "raise an error if the operation does not complete in the given period of time")
}

// mode returns the parsed --wait value.
func (w *waitFlags) mode() (waitMode, error) {
	switch m := waitMode(w.wait); m {
	case waitNone, waitConfigured, waitReady:
		if w.timeout <= 0 {
			return "", usageError("invalid --timeout %v: must be positive", w.timeout)
		}
		return m, nil
	}
	return "", usageError("invalid --wait %q: expected none, configured or ready", w.wait)
}

// deleteWaitFlags are the --wait (boolean) and --timeout of delete commands.
type deleteWaitFlags struct {
	wait    bool
	timeout time.Duration
}

// register adds --wait (boolean) and --timeout.
func (w *deleteWaitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", true, "wait for deletion to complete when skupperd is running")
	cmd.Flags().DurationVar(&w.timeout, "timeout", DefaultTimeout, "raise an error if the operation does not complete in the given period of time")
}

// check validates --timeout.
func (w *deleteWaitFlags) check() error {
	if w.timeout <= 0 {
		return usageError("invalid --timeout %v: must be positive", w.timeout)
	}
	return nil
}

// reconciledSince reports whether the daemon started a reconcile of ns at
// or after t: such a reconcile read input written before t.
func reconciledSince(ns namespaces.Namespace, t time.Time) bool {
	s, err := ns.ReadSummary()
	if err != nil || s == nil {
		return false
	}
	last, err := time.Parse(time.RFC3339Nano, s.LastReconcile)
	return err == nil && !last.Before(t)
}

// condition returns the condition of the given type, if present.
func condition(st *v2alpha1.ResourceStatus, typ string) (v2alpha1.Condition, bool) {
	if st == nil {
		return v2alpha1.Condition{}, false
	}
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return v2alpha1.Condition{}, false
}

// progressAfter is how long a wait stays quiet before it shows, on a
// "Waiting for status:" line, each new cause it sees (a quick wait prints
// nothing more than its outcome).
const progressAfter = time.Second

// poll calls check every poll interval until it reports done or timeout
// passes. check returns done, a description of what it saw (for the
// timeout message, and shown as it changes once the wait lasts) and the
// command's result when done.
func (a *app) poll(timeout time.Duration, what string, check func() (bool, string, error)) error {
	interval := a.pollInterval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	start := time.Now()
	deadline := start.Add(timeout)
	shown := ""
	for {
		done, seen, err := check()
		if done {
			return err
		}
		if seen != shown && seen != "" && time.Since(start) >= progressAfter {
			a.printf("Waiting for status: %s\n", seen)
			shown = seen
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return failure("timed out after %v waiting for %s; last seen: %s", timeout, what, seen)
		}
		t := time.NewTimer(min(interval, remaining))
		<-t.C
	}
}

// awaitResource waits until the daemon has applied obj (as written at
// since) and it reached mode.
func (a *app) awaitResource(ns namespaces.Namespace, obj v2alpha1.Object, site *v2alpha1.Site, since time.Time, mode waitMode, timeout time.Duration) error {
	k := v2alpha1.KeyOf(obj)
	what := fmt.Sprintf("%s %q to be %s", k.Kind, k.Name, mode)
	return a.poll(timeout, what, func() (bool, string, error) {
		if !reconciledSince(ns, since) {
			return false, "skupperd has not reconciled the change yet", nil
		}
		st, err := ns.ReadStatus(k)
		if err != nil {
			return false, "no status yet", nil
		}
		if !applied(obj, st, site) {
			return false, "the status still shows the previous version of the resource", nil
		}
		status := st.GetStatus()
		if status.StatusType == v2alpha1.StatusError {
			return true, "", failure("%s %q has an error: %s", k.Kind, k.Name, status.Message)
		}
		seen := fmt.Sprintf("status %s: %s", orNone(string(status.StatusType)), orNone(status.Message))
		switch mode {
		case waitConfigured:
			if c, ok := condition(status, v2alpha1.ConditionConfigured); ok {
				if c.Status == "True" {
					return true, "", nil
				}
				// Configured depends only on the input, which this
				// reconcile has seen: it will not change by waiting.
				return true, "", failure("%s %q is not configured: %s", k.Kind, k.Name, c.Message)
			}
			if status.StatusType == v2alpha1.StatusReady {
				return true, "", nil
			}
		case waitReady:
			if status.StatusType == v2alpha1.StatusReady {
				return true, "", nil
			}
			if err := grantBlocks(k, status); err != nil {
				return true, "", err
			}
			if err := routerBlocks(ns, k); err != nil {
				return true, "", err
			}
		}
		return false, seen, nil
	})
}

// grantBlocks returns the failure that ends a wait for the AccessGrant k
// to be ready when its status says it can no longer be redeemed (it
// expired, e.g. before skupperd served it, or its redemptions are used
// up): waiting cannot cure that.
func grantBlocks(k v2alpha1.Key, status *v2alpha1.ResourceStatus) error {
	if k.Kind != v2alpha1.KindAccessGrant {
		return nil
	}
	if c, ok := condition(status, v2alpha1.ConditionRedeemable); ok && c.Status == "False" {
		return failure("AccessGrant %q cannot issue tokens: %s; delete it, or issue a token from a new grant (a longer --expiration-window, more --redemptions-allowed)", k.Name, c.Message)
	}
	return nil
}

// needsRouter are the kinds that become Ready only once their router
// runs (the Site) or carries traffic (a Link).
var needsRouter = map[string]bool{v2alpha1.KindSite: true, v2alpha1.KindLink: true}

// routerBlocks returns the failure that ends a wait for k to be ready when
// the daemon recorded (in the namespace summary) a router state that
// waiting cannot cure, naming the cause and its fix.
func routerBlocks(ns namespaces.Namespace, k v2alpha1.Key) error {
	if !needsRouter[k.Kind] {
		return nil
	}
	s, err := ns.ReadSummary()
	if err != nil || s == nil {
		return nil
	}
	cause, fix, ok := router.TerminalCause(s.Router)
	if !ok {
		return nil
	}
	return failure("%s %q cannot become ready: %s; %s", k.Kind, k.Name, cause, fix)
}

// awaitDeletion waits until the daemon has removed the status files of keys.
func (a *app) awaitDeletion(ns namespaces.Namespace, keys []v2alpha1.Key, timeout time.Duration) error {
	what := "deletion"
	if len(keys) == 1 {
		what = fmt.Sprintf("%s %q to be deleted", keys[0].Kind, keys[0].Name)
	}
	return a.poll(timeout, what, func() (bool, string, error) {
		for _, k := range keys {
			if _, err := os.Stat(ns.StatusPath(k)); err == nil {
				return false, fmt.Sprintf("%s %q still has a status file (%s)", k.Kind, k.Name, ns.StatusPath(k)), nil
			}
		}
		return true, "", nil
	})
}

// orNone renders an empty value as "<none>".
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
