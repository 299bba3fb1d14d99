package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/router"
)

// newSystemCommand builds the "skupper system" command group.
func (a *app) newSystemCommand() *cobra.Command {
	return newGroup("system", "Operate skupperd and the namespaces it runs",
		`System commands apply resource files, reload, start and stop a namespace's
router, and show what skupperd is doing.`,
		a.systemApply(), a.systemDelete(), a.systemReload(), a.systemStart(), a.systemStop(), a.systemStatus(), a.systemValidate(), a.systemInstall(), a.systemUninstall())
}

// readManifest reads the file named by -f ("-": standard input). The name
// returned is the one diagnostics use.
func (a *app) readManifest(file, verb string) (string, []byte, error) {
	if file == "" {
		return "", nil, usageError("You need to provide a file to %s or use standard input.\n Example: cat site.yaml | skupper system %s -f -", verb, verb)
	}
	if file == "-" {
		data, err := io.ReadAll(io.LimitReader(a.stdin, namespaces.MaxInputFileSize+1))
		if err != nil {
			return "", nil, failure("read standard input: %v", err)
		}
		if len(data) > namespaces.MaxInputFileSize {
			return "", nil, usageError("standard input is larger than %d bytes (4 MiB)", namespaces.MaxInputFileSize)
		}
		return "<stdin>", data, nil
	}
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil, usageError("The file %q does not exist", file)
	case err != nil:
		return "", nil, usageError("The file %q cannot be read: %v", file, err)
	case fi.IsDir():
		return "", nil, usageError("The file %q is a directory", file)
	}
	data, err := readLimited(file)
	if err != nil {
		return "", nil, usageError("The file %q cannot be read: %v", file, err)
	}
	return file, data, nil
}

// manifestDocs reads the file named by -f ("-": standard input) and
// decodes its resources, for system apply and system delete.
func (a *app) manifestDocs(file, verb string) ([]*v2alpha1.Document, error) {
	name, data, err := a.readManifest(file, verb)
	if err != nil {
		return nil, err
	}
	return a.decodeManifest(name, data)
}

// decodeManifest decodes and validates the resources of a manifest on its
// own (strict decoding, values, duplicates). Every problem is printed on
// stderr and the command ends with exit 2.
func (a *app) decodeManifest(name string, data []byte) ([]*v2alpha1.Document, error) {
	docs, all := decodeStream(name, data)
	all = append(all, v2alpha1.Validate(a.namespace, docs)...)
	all = all.Sort()
	if all.HasErrors() {
		for _, d := range all {
			fmt.Fprintln(a.stderr, d.Error())
		}
		fmt.Fprintf(a.stderr, "Error: %s: %d problems; nothing was written\n", name, len(all.Errors()))
		return nil, errInvalidReported
	}
	if len(docs) == 0 {
		return nil, usageError("%s holds no resources", name)
	}
	for _, d := range all {
		fmt.Fprintln(a.stderr, d.Error())
	}
	return docs, nil
}

// decodeStream decodes a manifest: a YAML (or JSON) stream of resources,
// or a JSON array of them, as "skupper link generate -o json" prints. It
// returns the documents and the diagnostics not attached to one of them.
func decodeStream(name string, data []byte) ([]*v2alpha1.Document, v2alpha1.Diagnostics) {
	if elems, ok := jsonArray(data); ok {
		var docs []*v2alpha1.Document
		var rest v2alpha1.Diagnostics
		for _, e := range elems {
			// Each element is decoded where it stands, so that diagnostics
			// keep their line in the file.
			padded := append([]byte(strings.Repeat("\n", e.line-1)), e.data...)
			d, r := decodeStream(name, padded)
			docs, rest = append(docs, d...), append(rest, r...)
		}
		return docs, rest
	}
	docs, diags := v2alpha1.Decode(name, data)
	attached := 0
	for _, d := range docs {
		attached += len(d.Diags)
	}
	return docs, append(v2alpha1.Diagnostics(nil), diags[attached:]...)
}

// arrayElement is one element of a JSON array and the line it starts on.
type arrayElement struct {
	line int
	data []byte
}

// jsonArray splits data into its elements when it is one JSON array of
// objects (and nothing else).
func jsonArray(data []byte) ([]arrayElement, bool) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, false
	}
	var out []arrayElement
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		end := int(dec.InputOffset())
		start := end - len(raw)
		if start < 0 || len(raw) == 0 || raw[0] != '{' {
			return nil, false
		}
		out = append(out, arrayElement{line: 1 + bytes.Count(data[:start], []byte("\n")), data: raw})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return out, true
}

// systemApply builds "skupper system apply".
func (a *app) systemApply() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f <file>",
		Short: "Apply resource configuration from files or standard input",
		Long: `Write the resources of a YAML (multi-document) or JSON file, or of standard
input (-f -), to the namespace's input: each resource to the file that
defines it alone, or to input/resources/<Kind>-<name>.yaml.

Everything is checked first, together with the namespace's current input:
when any resource is invalid, nothing is written and every problem is printed
as file:line: Kind/name: field: message (exit 2).`,
		Example: `  # Apply a file
  skupper system apply -f site.yaml

  # Apply standard input
  cat site.yaml | skupper system apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docs, err := a.manifestDocs(file, "apply")
			if err != nil {
				return err
			}
			s, err := a.loadInput()
			if err != nil {
				return err
			}
			ns := s.ns
			c := newChange()
			var problems []string
			for _, d := range docs {
				k := d.Key()
				path := ns.InputPath(k)
				switch locs := s.find(k); len(locs) {
				case 0:
					for _, f := range s.files {
						if f.Path == path {
							problems = append(problems, fmt.Sprintf("%s already exists and does not define %s", path, k))
						}
					}
				case 1:
					if !locs[0].alone {
						problems = append(problems, fmt.Sprintf("%s is defined in %s together with other resources; skupper only rewrites files that hold a single resource, so edit that file instead", k, locs[0].path))
					}
					path = locs[0].path
				default:
					problems = append(problems, fmt.Sprintf("%s is defined more than once in the namespace's input; remove all but one definition first", k))
				}
				out, err := encodeFor(path, d.Object)
				if err != nil {
					return failed(err)
				}
				c.write(path, out, k)
			}
			if len(problems) > 0 {
				return failure("nothing was written:\n%s", strings.Join(problems, "\n"))
			}
			if err := a.commit(s, c); err != nil {
				return err
			}
			for _, d := range docs {
				a.printf("%s %s applied\n", d.Key().Kind, d.Key().Name)
			}
			if running, _ := a.daemonRunning(ns); !running {
				a.printf("%s\n", notRunningHint)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", `the file to apply; "-" reads standard input`)
	return cmd
}

// systemDelete builds "skupper system delete".
func (a *app) systemDelete() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "delete -f <file>",
		Short: "Delete the resources named in files or standard input",
		Long: `Delete, from the namespace's input, the resources of a YAML (multi-document)
or JSON file, or of standard input (-f -): the files that define them are
removed. Every resource must exist and be defined in a file that holds only
resources being deleted; otherwise nothing is deleted.`,
		Example: `  # Delete the resources of a file
  skupper system delete -f site.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docs, err := a.manifestDocs(file, "delete")
			if err != nil {
				return err
			}
			s, err := a.loadForStatus()
			if err != nil {
				return err
			}
			var keys []v2alpha1.Key
			var problems []string
			for _, d := range docs {
				keys = append(keys, d.Key())
				if len(s.find(d.Key())) == 0 {
					problems = append(problems, fmt.Sprintf("%s %q does not exist in namespace %q", d.Key().Kind, d.Key().Name, s.ns.Name))
				}
			}
			if len(problems) > 0 {
				return failure("nothing was deleted:\n%s", strings.Join(problems, "\n"))
			}
			c, err := s.deletion(keys)
			if err != nil {
				return err
			}
			if err := a.commit(s, c); err != nil {
				return err
			}
			for _, k := range keys {
				a.printf("%s %s deleted\n", k.Kind, k.Name)
			}
			if running, _ := a.daemonRunning(s.ns); !running {
				a.printf("%s\n", notRunningHint)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", `the file naming the resources to delete; "-" reads standard input`)
	return cmd
}

// systemReload builds "skupper system reload".
func (a *app) systemReload() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Reload the site configuration",
		Long: `Ask skupperd to reconcile the namespace's input now and restart its router,
and wait until it has done so. skupperd applies changes to the input on its
own; reload forces a pass and a router restart.`,
		Example: `  skupper system reload -n west`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageError("invalid --timeout %v: must be positive", timeout)
			}
			ns, err := a.existingNS()
			if err != nil {
				return err
			}
			if running, _ := a.daemonRunning(ns); !running {
				return failure("skupperd is not running, so there is nothing to reload; %s: it applies the input of every namespace when it starts", startHint)
			}
			if err := a.reload(ns, timeout); err != nil {
				return err
			}
			a.printf("Namespace %q reloaded.\n", ns.Name)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultTimeout, "raise an error if the reload does not complete in the given period of time")
	return cmd
}

// reload asks the daemon to reload ns and waits for the acknowledgement.
func (a *app) reload(ns namespaces.Namespace, timeout time.Duration) error {
	id, err := ns.RequestReload()
	if err != nil {
		return failed(fmt.Errorf("request reload: %w", err))
	}
	a.printf("Waiting for skupperd to reload namespace %q...\n", ns.Name)
	return a.poll(timeout, fmt.Sprintf("skupperd to reload namespace %q", ns.Name), func() (bool, string, error) {
		if ns.ReloadDone(id) {
			return true, "", nil
		}
		return false, "the reload request is not acknowledged yet", nil
	})
}

// siteRunning reports the Running condition of the namespace's site status.
func siteRunning(ns namespaces.Namespace) (running bool, seen string) {
	keys, err := ns.ListStatus()
	if err != nil {
		return false, err.Error()
	}
	for _, k := range keys {
		if k.Kind != v2alpha1.KindSite {
			continue
		}
		st, err := ns.ReadStatus(k)
		if err != nil {
			return false, err.Error()
		}
		c, ok := condition(st.GetStatus(), v2alpha1.ConditionRunning)
		if !ok {
			return false, fmt.Sprintf("Site %q has no Running condition", k.Name)
		}
		if c.Status == "True" {
			return true, fmt.Sprintf("the router of Site %q is running", k.Name)
		}
		return false, fmt.Sprintf("the router of Site %q is not running: %s", k.Name, c.Message)
	}
	return false, "no site status"
}

// systemStop builds "skupper system stop".
func (a *app) systemStop() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Shut down the router of the current namespace's site",
		Long: `Stop the router of the namespace's site and keep it stopped, without deleting
anything: the input stays, skupperd keeps reconciling it, and "skupper system
start" starts the router again.

The command writes the marker internal/stopped in the namespace directory,
which skupperd honours, and waits until the site reports that its router is
not running (--wait, --timeout).`,
		Example: `  skupper system stop -n west`,
	}
	return a.routerCommand(cmd, "has stopped", "stop", a.stopRouter)
}

// stopRouter marks ns stopped and waits until its router is.
func (a *app) stopRouter(ns namespaces.Namespace, wait bool, timeout time.Duration) error {
	since := time.Now()
	if err := ns.MarkStopped(since); err != nil {
		return failed(fmt.Errorf("write stop marker: %w", err))
	}
	running, _ := a.daemonRunning(ns)
	if !running || !wait {
		a.printf("Namespace %q is marked stopped (%s): skupperd keeps its router stopped until \"skupper system start\".\n", ns.Name, ns.StoppedPath())
		return nil
	}
	a.printf("Waiting for the router to stop...\n")
	err := a.poll(timeout, fmt.Sprintf("the router of namespace %q to stop", ns.Name), func() (bool, string, error) {
		if !reconciledSince(ns, since) {
			return false, "skupperd has not reconciled the namespace since the stop request (a skupperd without support for \"skupper system stop\" ignores it)", nil
		}
		up, seen := siteRunning(ns)
		return !up, seen, nil
	})
	return a.done(err, "Namespace %q is stopped.\n", ns.Name)
}

// systemStart builds "skupper system start".
func (a *app) systemStart() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start up the router of the current namespace's site",
		Long: `Start the router of a namespace stopped with "skupper system stop": remove
the marker internal/stopped, ask skupperd to reconcile the namespace, and wait
until the site reports that its router is running (--wait, --timeout).`,
		Example: `  skupper system start -n west`,
	}
	return a.routerCommand(cmd, "runs", "start", a.startRouter)
}

// startRouter lets ns run again and waits until its router runs.
func (a *app) startRouter(ns namespaces.Namespace, wait bool, timeout time.Duration) error {
	if err := atomicfile.Remove(ns.StoppedPath()); err != nil {
		return failed(fmt.Errorf("remove stop marker: %w", err))
	}
	running, _ := a.daemonRunning(ns)
	if !running {
		a.printf("Namespace %q may run: skupperd starts its router when it runs.\n%s\n", ns.Name, "skupperd is not running; "+startHint+".")
		return nil
	}
	if !wait {
		if _, err := ns.RequestReload(); err != nil {
			return failed(fmt.Errorf("request reload: %w", err))
		}
		a.printf("Namespace %q may run: skupperd starts its router.\n", ns.Name)
		return nil
	}
	deadline := time.Now().Add(timeout)
	if err := a.reload(ns, timeout); err != nil {
		return err
	}
	a.printf("Waiting for the router to start...\n")
	err := a.poll(time.Until(deadline), fmt.Sprintf("the router of namespace %q to start", ns.Name), func() (bool, string, error) {
		up, seen := siteRunning(ns)
		if !up {
			if sum, err := ns.ReadSummary(); err == nil && sum != nil {
				if cause, fix, ok := router.TerminalCause(sum.Router); ok {
					return true, "", failure("the router of namespace %q cannot start: %s; %s", ns.Name, cause, fix)
				}
			}
		}
		return up, seen, nil
	})
	return a.done(err, "Namespace %q is running.\n", ns.Name)
}

// routerCommand completes system start and stop (cmd): they take --wait
// (help: "wait until the router <waited>") and --timeout (help: "...
// does not <verb>"), check them and the namespace, and run.
func (a *app) routerCommand(cmd *cobra.Command, waited, verb string, run func(ns namespaces.Namespace, wait bool, timeout time.Duration) error) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd.Args = noArgs
	cmd.RunE = func(*cobra.Command, []string) error {
		if timeout <= 0 {
			return usageError("invalid --timeout %v: must be positive", timeout)
		}
		ns, err := a.existingNS()
		if err != nil {
			return err
		}
		return run(ns, wait, timeout)
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the router "+waited+" when skupperd is running")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultTimeout, "raise an error if the router does not "+verb+" in the given period of time")
	return cmd
}

// done ends a command that waited: err, or the message when it is nil.
func (a *app) done(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	a.printf(format, args...)
	return nil
}

// namespaceStatus is one namespace in "skupper system status".
type namespaceStatus struct {
	Name    string              `json:"name"`
	Stopped bool                `json:"stopped,omitempty"`
	Summary *namespaces.Summary `json:"summary,omitempty"`
}

// systemStatus is the output of "skupper system status -o".
type systemStatus struct {
	Daemon struct {
		Running bool `json:"running"`
		PID     int  `json:"pid,omitempty"`
	} `json:"daemon"`
	DataHome   string            `json:"dataHome"`
	Namespaces []namespaceStatus `json:"namespaces"`
}

// gatherStatus collects the daemon state and the summaries of the
// namespaces shown (the -n one when given, else all).
func (a *app) gatherStatus(cmd *cobra.Command) (*systemStatus, error) {
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	st := &systemStatus{DataHome: home.Root, Namespaces: []namespaceStatus{}}
	st.Daemon.Running, st.Daemon.PID = home.DaemonRunning()
	names := []string{a.namespace}
	if !cmd.Flags().Changed("namespace") {
		if names, err = home.List(); err != nil {
			return nil, failed(err)
		}
	} else if _, err := a.existingNS(); err != nil {
		return nil, err
	}
	for _, n := range names {
		ns := home.Namespace(n)
		sum, err := ns.ReadSummary()
		if err != nil {
			return nil, failed(err)
		}
		st.Namespaces = append(st.Namespaces, namespaceStatus{Name: n, Stopped: ns.Stopped(), Summary: sum})
	}
	return st, nil
}

// systemStatus builds "skupper system status".
func (a *app) systemStatus() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Display the status of the system",
		Long: `Display whether skupperd runs, and for each namespace (or the one given with
-n) its site, the outcome of the last reconcile, the state of its router, and
every problem found in its input (file:line: Kind/name: field: message).`,
		Example: `  skupper system status
  skupper system status -n west -o yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, true); err != nil {
				return err
			}
			st, err := a.gatherStatus(cmd)
			if err != nil {
				return err
			}
			if output != "" {
				return a.printEncoded(output, []any{st}, true)
			}
			if st.Daemon.Running {
				a.printf("skupperd is running (pid %d); data home %s.\n", st.Daemon.PID, st.DataHome)
			} else {
				asOf := ""
				if when := latestReconcile(st.Namespaces); when != "" {
					asOf = fmt.Sprintf("; status as of %s (routers not observed)", when)
				}
				a.printf("skupperd is not running%s; %s. Data home %s.\n", asOf, startHint, st.DataHome)
			}
			if len(st.Namespaces) == 0 {
				a.printf("No namespaces yet; create a site with \"skupper site create <name>\".\n")
				return nil
			}
			a.printf("\n")
			t := newTable(a.stdout, "NAMESPACE", "SITE", "OUTCOME", "ROUTER", "LAST RECONCILE", "ERRORS", "WARNINGS")
			for _, n := range st.Namespaces {
				s := n.Summary
				if s == nil {
					t.row(n.Name, "-", "NotReconciled", routerText(n, ""), "-", "-", "-")
					continue
				}
				t.row(n.Name, dash(s.Site), string(s.Outcome), routerText(n, daemonRouter(st, s.Router)), shortTime(s.LastReconcile),
					fmt.Sprint(len(s.Errors)), fmt.Sprint(len(s.Warnings)))
			}
			if err := t.flush(); err != nil {
				return failed(err)
			}
			for _, n := range st.Namespaces {
				s := n.Summary
				var lines []string
				if n.Stopped {
					lines = append(lines, `Router: stopped by "skupper system stop" (start it with "skupper system start")`)
				} else if s != nil && s.Router != "" && daemonRouter(st, s.Router) != "Running" {
					lines = append(lines, "Router: "+daemonRouter(st, s.Router))
				}
				if s != nil {
					for _, e := range s.Errors {
						lines = append(lines, "Error: "+e)
					}
					for _, w := range s.Warnings {
						// The daemon renders warnings as "file:line: warning: ...".
						lines = append(lines, "Warning: "+strings.Replace(w, "warning: ", "", 1))
					}
				}
				if len(lines) == 0 {
					continue
				}
				a.printf("\nNamespace %q:\n", n.Name)
				for _, l := range lines {
					a.printf("  %s\n", l)
				}
			}
			return nil
		},
	}
	outputFlag(cmd, &output, "", "print the status in a structured format: json or yaml")
	return cmd
}

// daemonRouter is the router state of a summary as far as it is known:
// without a running skupperd nobody observes the router (the process
// supervisor's routers stop with it), so a recorded "Running" is not
// repeated.
func daemonRouter(st *systemStatus, router string) string {
	if st.Daemon.Running || router == "" {
		return router
	}
	return "Unknown: skupperd is not running (it last recorded " + router + ")"
}

// latestReconcile is the time of the latest reconcile recorded in the
// namespaces' summaries ("" when none).
func latestReconcile(ns []namespaceStatus) string {
	latest := ""
	for _, n := range ns {
		if n.Summary != nil && shortTime(n.Summary.LastReconcile) > latest {
			latest = shortTime(n.Summary.LastReconcile)
		}
	}
	if latest == "-" {
		return ""
	}
	return latest
}

// routerText is the ROUTER column: Running, NotRunning or Stopped.
func routerText(n namespaceStatus, router string) string {
	if n.Stopped {
		return "Stopped"
	}
	if router == "" {
		return "-"
	}
	state, _, _ := strings.Cut(router, ":")
	return state
}

// shortTime renders an RFC 3339 time to the second.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return dash(s)
	}
	return t.UTC().Format(time.RFC3339)
}

// dash renders an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// systemValidate builds "skupper system validate".
func (a *app) systemValidate() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check resources and report every problem",
		Long: `Decode and validate Skupper resources and print every problem as
file:line: Kind/name: field: message

Without -f, the namespace's input is checked as skupperd loads it. With -f
(files or directories of .yaml, .yml and .json files, repeatable), those files
are checked together as the input of the namespace.

Exit status: 0 when no errors were found (warnings may be printed), 1 when
errors were found, 2 for invalid usage.`,
		Example: `  skupper system validate -n west
  skupper system validate -f site.yaml -f listener.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var diags v2alpha1.Diagnostics
			var count int
			if len(files) > 0 {
				docs, ds, err := namespaces.LoadPaths(a.namespace, files)
				if err != nil {
					return usageError("%v", err)
				}
				diags, count = ds, len(docs)
			} else {
				ns, err := a.existingNS()
				if err != nil {
					return err
				}
				snap, err := namespaces.Load(ns)
				if err != nil {
					return failed(err)
				}
				diags, count = snap.Diagnostics, len(snap.Docs)
			}
			errs, warns := 0, 0
			for _, d := range diags {
				fmt.Fprintln(a.stdout, d.Error())
				if d.IsError() {
					errs++
				} else {
					warns++
				}
			}
			fmt.Fprintf(a.stderr, "%s checked: %s, %s\n", plural(count, "resource"), plural(errs, "error"), plural(warns, "warning"))
			if errs > 0 {
				return errReported
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "files or directories to check instead of the namespace's input (repeatable)")
	return cmd
}

// plural renders "1 word" or "n words".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
