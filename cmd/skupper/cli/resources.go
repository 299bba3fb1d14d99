package cli

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
)

// positional returns an argument validator for commands taking the given
// required arguments (and, with optional, one more optional one).
func positional(usage string, required []string, optional string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		max := len(required)
		if optional != "" {
			max++
		}
		switch {
		case len(args) < len(required):
			missing := required[len(args):]
			return usageError("missing %s\nUsage: %s", strings.Join(missing, " and "), usage)
		case len(args) > max:
			return usageError("too many arguments: %s takes %s, got %q\nUsage: %s", cmd.CommandPath(), describeArgs(required, optional), args, usage)
		}
		return nil
	}
}

// describeArgs renders the arguments a command takes.
func describeArgs(required []string, optional string) string {
	parts := append([]string(nil), required...)
	if optional != "" {
		parts = append(parts, "["+optional+"]")
	}
	if len(parts) == 0 {
		return "no arguments"
	}
	return strings.Join(parts, " ")
}

// checkName checks a resource name argument.
func checkName(kind, name string) error {
	if msg := v2alpha1.ValidateName(name); msg != "" {
		return usageError("invalid %s name: %s", strings.ToLower(kind), msg)
	}
	return nil
}

// parsePort parses a port argument.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, usageError("invalid port %q: expected a number from 1 to %d", s, v2alpha1.MaxPort)
	}
	if err := checkPort(p); err != nil {
		return 0, err
	}
	return p, nil
}

// checkPort checks a port number.
func checkPort(p int) error {
	if msg := v2alpha1.ValidatePort(p); msg != "" {
		return usageError("invalid port: %s", msg)
	}
	return nil
}

// typeMeta returns the TypeMeta of a kind.
func typeMeta(kind string) v2alpha1.TypeMeta {
	return v2alpha1.TypeMeta{APIVersion: v2alpha1.APIVersionOf(kind), Kind: kind}
}

// outputFlag registers -o/--output; def is "" (human-readable) or "yaml".
func outputFlag(cmd *cobra.Command, dst *string, def, help string) {
	cmd.Flags().StringVarP(dst, "output", "o", def, help)
}

// checkOutput validates an --output value; allowEmpty accepts "" (tables).
func checkOutput(o string, allowEmpty bool) error {
	switch o {
	case "json", "yaml":
		return nil
	case "":
		if allowEmpty {
			return nil
		}
	}
	return usageError("invalid --output %q: expected json or yaml", o)
}

// createResource writes a new resource to input/resources/<Kind>-<name>.yaml
// after checking that it does not exist yet and that the namespace stays
// valid, then waits as asked.
func (a *app) createResource(s *inputState, obj v2alpha1.Object, wf *waitFlags) error {
	mode, err := wf.mode()
	if err != nil {
		return err
	}
	k := v2alpha1.KeyOf(obj)
	if locs := s.find(k); len(locs) > 0 {
		return usageError("%s %q already exists in namespace %q (defined in %s); use \"skupper %s update %s\" to change it", k.Kind, k.Name, s.ns.Name, locs[0].path, strings.ToLower(k.Kind), k.Name)
	}
	path := s.ns.InputPath(k)
	for _, f := range s.files {
		if f.Path == path {
			return failure("%s already exists and does not define %s %q; rename or remove it first", path, k.Kind, k.Name)
		}
	}
	data, err := encodeFor(path, obj)
	if err != nil {
		return failed(err)
	}
	c := newChange()
	c.write(path, data, k)
	return a.writeAndWait(s, c, obj, path, mode, wf.timeout)
}

// updateResource rewrites the file that holds the resource (alone) with obj.
func (a *app) updateResource(s *inputState, loc location, obj v2alpha1.Object, mode waitMode, timeout time.Duration) error {
	k := v2alpha1.KeyOf(obj)
	if err := loc.editable(k, "rewrites"); err != nil {
		return err
	}
	data, err := encodeFor(loc.path, obj)
	if err != nil {
		return failed(err)
	}
	c := newChange()
	c.write(loc.path, data, k)
	return a.writeAndWait(s, c, obj, loc.path, mode, timeout)
}

// writeAndWait commits a change that writes obj to path and, when skupperd
// runs, waits until obj reaches mode.
func (a *app) writeAndWait(s *inputState, c *change, obj v2alpha1.Object, path string, mode waitMode, timeout time.Duration) error {
	k := v2alpha1.KeyOf(obj)
	since := time.Now()
	if err := a.commit(s, c); err != nil {
		return err
	}
	running, _ := a.daemonRunning(s.ns)
	if !running || mode == waitNone {
		a.printf("%s %q written to %s.\n", k.Kind, k.Name, path)
		if !running {
			a.printf("%s\n", notRunningHint)
		}
		return nil
	}
	site, _ := obj.(*v2alpha1.Site)
	if site == nil {
		site = s.site()
	}
	a.printf("Waiting for status...\n")
	if err := a.awaitResource(s.ns, obj, site, since, mode, timeout); err != nil {
		return err
	}
	a.printf("%s %q is %s.\n", k.Kind, k.Name, mode)
	return nil
}

// deleteResources removes the files that define keys (each file must hold
// nothing else than resources being deleted) and, when skupperd runs, waits
// until their status is gone.
func (a *app) deleteResources(s *inputState, keys []v2alpha1.Key, wf *deleteWaitFlags) error {
	if err := wf.check(); err != nil {
		return err
	}
	c, err := s.deletion(keys)
	if err != nil {
		return err
	}
	if err := a.commit(s, c); err != nil {
		return err
	}
	return a.reportDeletion(s.ns, keys, c, wf)
}

// deletion builds the change that deletes keys: every file holding one of
// them is removed, and must hold only resources being deleted.
func (s *inputState) deletion(keys []v2alpha1.Key) (*change, error) {
	del := map[v2alpha1.Key]bool{}
	for _, k := range keys {
		del[k] = true
	}
	c := newChange()
	for _, k := range keys {
		loc, err := s.locate(k)
		if err != nil {
			return nil, err
		}
		var others []string
		for _, d := range s.docs {
			if d.File == loc.path && !del[d.Key()] {
				others = append(others, d.Key().String())
			}
		}
		if len(others) > 0 {
			return nil, failure("%s %q is defined in %s together with %s; skupper only removes files that hold nothing else, so edit that file instead", k.Kind, k.Name, loc.path, strings.Join(others, ", "))
		}
		c.remove(loc.path, k)
	}
	return c, nil
}

// reportDeletion prints the outcome of a deletion and waits for it.
func (a *app) reportDeletion(ns namespaces.Namespace, keys []v2alpha1.Key, c *change, wf *deleteWaitFlags) error {
	running, _ := a.daemonRunning(ns)
	main := keys[0]
	if !running || !wf.wait {
		var paths []string
		for p := range c.removes {
			paths = append(paths, p)
		}
		sortStrings(paths)
		a.printf("%s %q deleted (removed %s).\n", main.Kind, main.Name, strings.Join(paths, ", "))
		if !running {
			a.printf("%s\n", notRunningHint)
		}
		return nil
	}
	a.printf("Waiting for deletion...\n")
	if err := a.awaitDeletion(ns, keys, wf.timeout); err != nil {
		return err
	}
	a.printf("%s %q is deleted.\n", main.Kind, main.Name)
	return nil
}

// view is a resource as the status commands show it: the daemon's status
// file when it reflects the input, else the input with a status that says
// why it is not applied.
type view struct {
	obj v2alpha1.Object
	// recorded: the status is the daemon's status file.
	recorded bool
}

// status returns the view's status.
func (v view) status() *v2alpha1.ResourceStatus { return v.obj.GetStatus() }

// views returns the resources of kind in input (only name, when set),
// sorted by name.
func (a *app) views(s *inputState, kind, name string) ([]view, error) {
	running, _ := a.daemonRunning(s.ns)
	site := s.site()
	var out []view
	for _, d := range s.ofKind(kind) {
		if name != "" && d.GetName() != name {
			continue
		}
		st, err := s.ns.ReadStatus(d.Key())
		if err == nil && applied(d.Object, st, site) {
			if !running {
				staleStatus(st)
			}
			out = append(out, view{obj: st, recorded: true})
			continue
		}
		obj := withoutStatus(d.Object)
		status := obj.GetStatus()
		switch errs := d.Diags.Errors(); {
		case len(errs) > 0:
			status.StatusType, status.Message = v2alpha1.StatusError, s.relative(errs[0])
		case running:
			status.StatusType, status.Message = v2alpha1.StatusPending, "Not applied yet: skupperd has not reconciled this change"
		default:
			status.StatusType, status.Message = v2alpha1.StatusPending, "Not applied yet: skupperd is not running"
		}
		out = append(out, view{obj: obj})
	}
	return out, nil
}

// staleStatus rewrites a status the daemon recorded before it stopped:
// what it observed of the router (a Site Running, a Link Operational) is
// not true any more, or not known, so such a resource is no longer shown
// Ready.
func staleStatus(obj v2alpha1.Object) {
	st := obj.GetStatus()
	if !needsRouter[v2alpha1.KeyOf(obj).Kind] || st.StatusType != v2alpha1.StatusReady {
		return
	}
	st.StatusType = v2alpha1.StatusPending
	st.Message = "skupperd is not running, so its router is not observed (it was Ready when skupperd last recorded it)"
	for i, c := range st.Conditions {
		switch c.Type {
		case v2alpha1.ConditionReady, v2alpha1.ConditionRunning, v2alpha1.ConditionOperational:
			st.Conditions[i].Status, st.Conditions[i].Reason = "Unknown", "DaemonNotRunning"
			st.Conditions[i].Message = "skupperd is not running"
		}
	}
}

// staleNote is the line that heads status output shown while skupperd is
// not running: the status is what it recorded, as of its last reconcile.
func (a *app) staleNote(ns namespaces.Namespace) string {
	if running, _ := a.daemonRunning(ns); running {
		return ""
	}
	when := "its last run"
	if s, err := ns.ReadSummary(); err == nil && s != nil && s.LastReconcile != "" {
		when = shortTime(s.LastReconcile)
	}
	return fmt.Sprintf("skupperd is not running; status as of %s", when)
}

// relative renders a diagnostic with its file relative to the namespace
// directory, as the daemon's status messages do.
func (s *inputState) relative(d v2alpha1.Diagnostic) string {
	if rel, err := filepath.Rel(s.ns.Dir, d.File); err == nil && d.File != "" {
		d.File = rel
	}
	d.Kind, d.Name = "", ""
	return d.Error()
}

// loadInput reads the input of the namespace, which need not exist.
func (a *app) loadInput() (*inputState, error) { return inputOf(a.ns()) }

// loadForStatus reads the input of an existing namespace.
func (a *app) loadForStatus() (*inputState, error) { return inputOf(a.existingNS()) }

// inputOf reads the input of ns unless err.
func inputOf(ns namespaces.Namespace, err error) (*inputState, error) {
	if err != nil {
		return nil, err
	}
	s, err := readInput(ns)
	if err != nil {
		return nil, failed(err)
	}
	return s, nil
}

// errNoChange is returned by update commands given nothing to change.
func errNoChange(flags ...string) error {
	return usageError("nothing to update: give at least one of %s", strings.Join(flags, ", "))
}

// boolText renders a boolean as the status tables do.
func boolText(b bool) string { return fmt.Sprint(b) }
