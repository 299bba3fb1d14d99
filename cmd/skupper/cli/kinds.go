package cli

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	yaml "go.yaml.in/yaml/v3"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
)

// The resource command groups (site, listener, connector, link) are built
// from kindTable, a kindSpec per kind: one builder makes their create,
// update, delete, status and generate commands, so that every kind follows
// the same flow. A kindSpec says what the kind's commands do that is its
// own; their help texts are data, in kinds.yaml.

//go:embed kinds.yaml
var kindsYAML []byte

// kindDocs are the texts of a kind's command group (see kinds.yaml).
type kindDocs struct {
	Short    string            `yaml:"short"`
	Long     string            `yaml:"long"`
	Commands map[string]cmdDoc `yaml:"commands"`
	// Flags is the help of the kind's own options, by name.
	Flags  map[string]string `yaml:"flags"`
	Empty  string            `yaml:"empty"`
	Header []string          `yaml:"header"`
	// Match labels the status field of listeners and connectors that
	// says whether endpoints of the other kind match.
	Match string `yaml:"match"`
}

// cmdDoc is the help of one command.
type cmdDoc struct {
	// Use is cobra's Use: the verb, then <required> and [optional]
	// arguments, from which the argument check is derived.
	Use     string `yaml:"use"`
	Short   string `yaml:"short"`
	Long    string `yaml:"long"`
	Example string `yaml:"example"`
	// Usage is the usage line of argument errors; default
	// "skupper <kind> <use> [options]".
	Usage string `yaml:"usage"`
}

// allKindDocs are the texts of kinds.yaml, by kind name ("listener").
var allKindDocs = func() map[string]kindDocs {
	var docs map[string]kindDocs
	if err := yaml.Unmarshal(kindsYAML, &docs); err != nil {
		panic(fmt.Sprintf("kinds.yaml: %v", err))
	}
	return docs
}()

// kindFlags are the resource options of one command of a kind; each
// command has its own.
type kindFlags interface {
	// register adds the options to cmd, with help from the kind's docs;
	// update says it is an update command (no defaults).
	register(cmd *cobra.Command, update bool, help map[string]string)
	// build makes a new resource named name (already checked) from the
	// other arguments and the options (create, generate).
	build(cmd *cobra.Command, name string, rest []string) (v2alpha1.Object, error)
	// check validates the options of an update before anything else.
	check(cmd *cobra.Command) error
	// modify sets the fields whose options an update was given.
	modify(cmd *cobra.Command, obj v2alpha1.Object)
}

// kindSpec describes what the commands of one resource kind do.
type kindSpec struct {
	kind string
	// wait is what create and update wait for by default.
	wait waitMode
	// flags returns new resource options for one command.
	flags func() kindFlags
	// find locates the resource a command names; default: by name.
	find func(s *inputState, name string) (location, error)
	// beforeCreate checks the input before a resource is created.
	beforeCreate func(s *inputState) error
	// deleteFlags adds the kind's own options to its delete command.
	deleteFlags func(cmd *cobra.Command, help map[string]string)
	// remove deletes the resource at loc; default: its file.
	remove func(a *app, cmd *cobra.Command, s *inputState, loc location, wf *deleteWaitFlags) error
	// row is a row of the status table; fields the status of one
	// resource.
	row    func(view) []string
	fields func(view) [][2]string
	// statusTail prints what follows the status table of all resources.
	statusTail func(a *app, s *inputState) error
	// extra returns commands of the group that follow no common flow.
	extra func(a *app) []*cobra.Command
}

// kindTable is the resource kinds with commands.
func kindTable() []*kindSpec {
	return []*kindSpec{
		{kind: v2alpha1.KindSite, wait: waitReady, flags: func() kindFlags { return &siteFlags{} }, fields: siteFields,
			find: (*inputState).findSite, beforeCreate: checkNoSite, deleteFlags: siteDeleteFlags, remove: removeSite},
		endpointKind(v2alpha1.KindListener, DefaultListenerHost, listenerEndpoint),
		endpointKind(v2alpha1.KindConnector, DefaultConnectorHost, connectorEndpoint),
		{kind: v2alpha1.KindLink, wait: waitReady, flags: func() kindFlags { return &linkFlags{} }, row: linkRow, fields: linkFields,
			remove: removeLink, deleteFlags: linkDeleteFlags, statusTail: remoteLinks, extra: func(a *app) []*cobra.Command { return []*cobra.Command{a.linkGenerate()} }},
	}
}

// name is the kind as commands spell it ("listener").
func (k *kindSpec) name() string { return strings.ToLower(k.kind) }

// docs returns the kind's texts.
func (k *kindSpec) docs() kindDocs { return allKindDocs[k.name()] }

// newKindCommand builds the command group of a kind.
func (a *app) newKindCommand(k *kindSpec) *cobra.Command {
	docs := k.docs()
	cmd := newGroup(k.name(), docs.Short, docs.Long)
	builders := []struct {
		verb  string
		build func(*kindSpec, *cobra.Command)
	}{
		{"create", a.kindCreate},
		{"update", a.kindUpdate},
		{"delete", a.kindDelete},
		{"status", a.kindStatus},
		{"generate", a.kindGenerate},
	}
	for _, b := range builders {
		if doc, ok := docs.Commands[b.verb]; ok {
			sub := k.command(doc)
			b.build(k, sub)
			cmd.AddCommand(sub)
		}
	}
	if k.extra != nil {
		cmd.AddCommand(k.extra(a)...)
	}
	return cmd
}

// command makes the command that doc describes, with its argument check.
func (k *kindSpec) command(doc cmdDoc) *cobra.Command {
	usage := doc.Usage
	if usage == "" {
		usage = "skupper " + k.name() + " " + doc.Use + " [options]"
	}
	var required []string
	optional := ""
	for _, w := range strings.Fields(doc.Use)[1:] {
		if strings.HasPrefix(w, "[") {
			optional = strings.Trim(w, "[]")
		} else {
			required = append(required, w)
		}
	}
	return &cobra.Command{
		Use:     doc.Use,
		Short:   doc.Short,
		Long:    doc.Long,
		Example: doc.Example,
		Args:    positional(usage, required, optional),
	}
}

// nameArg returns the name argument of a command ("" when not given),
// checked.
func (k *kindSpec) nameArg(args []string) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	return args[0], checkName(k.kind, args[0])
}

// kindInput returns the name argument of a command (checked), then runs
// check (when not nil) and reads the input of the namespace, which must
// exist.
func (a *app) kindInput(k *kindSpec, args []string, check func() error) (string, *inputState, error) {
	name, err := k.nameArg(args)
	if err != nil {
		return "", nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return "", nil, err
		}
	}
	s, err := a.loadForStatus()
	return name, s, err
}

// kindTarget is kindInput, and the resource the command names.
func (a *app) kindTarget(k *kindSpec, args []string, check func() error) (*inputState, location, error) {
	name, s, err := a.kindInput(k, args, check)
	if err != nil {
		return nil, location{}, err
	}
	loc, err := k.locate(s, name)
	return s, loc, err
}

// locate finds the resource a command names.
func (k *kindSpec) locate(s *inputState, name string) (location, error) {
	if k.find != nil {
		return k.find(s, name)
	}
	return s.locate(v2alpha1.Key{Kind: k.kind, Name: name})
}

// build makes a new resource from the arguments of create and generate.
func (k *kindSpec) build(cmd *cobra.Command, args []string, f kindFlags) (v2alpha1.Object, error) {
	if err := checkName(k.kind, args[0]); err != nil {
		return nil, err
	}
	return f.build(cmd, args[0], args[1:])
}

// newObject returns an empty resource of kind named name.
func newObject(kind, name string) v2alpha1.Object {
	obj, err := v2alpha1.New(kind)
	if err != nil {
		panic(err) // the kinds of the CLI are known
	}
	obj.GetObjectMeta().Name = name
	return obj
}

// kindCreate makes cmd "skupper <kind> create": write a new resource.
func (a *app) kindCreate(k *kindSpec, cmd *cobra.Command) {
	f := k.flags()
	wf := &waitFlags{}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		obj, err := k.build(cmd, args, f)
		if err != nil {
			return err
		}
		if _, err := wf.mode(); err != nil {
			return err
		}
		s, err := a.loadInput()
		if err != nil {
			return err
		}
		if k.beforeCreate != nil {
			if err := k.beforeCreate(s); err != nil {
				return err
			}
		} else if err := a.requireSite(s); err != nil {
			return err
		}
		return a.createResource(s, obj, wf)
	}
	f.register(cmd, false, k.docs().Flags)
	wf.register(cmd, k.wait)
}

// kindUpdate makes cmd "skupper <kind> update": find the resource, check
// that some option was given, modify a copy and write it.
func (a *app) kindUpdate(k *kindSpec, cmd *cobra.Command) {
	f := k.flags()
	wf := &waitFlags{}
	own := registerOwn(cmd, func(c *cobra.Command) { f.register(c, true, k.docs().Flags) })
	wf.register(cmd, k.wait)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := f.check(cmd); err != nil {
			return err
		}
		var mode waitMode
		s, loc, err := a.kindTarget(k, args, func() (err error) {
			if mode, err = wf.mode(); err != nil {
				return err
			}
			if !anyChanged(cmd, own) {
				return errNoChange(own...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		obj := v2alpha1.DeepCopy(loc.doc.Object)
		f.modify(cmd, obj)
		return a.updateResource(s, loc, obj, mode, wf.timeout)
	}
}

// registerOwn has register add the kind's own options to cmd and returns
// them ("--name"), in the order registered: update needs one of them.
func registerOwn(cmd *cobra.Command, register func(*cobra.Command)) []string {
	own := &cobra.Command{}
	register(own)
	fs := own.Flags()
	fs.SortFlags = false
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, "--"+f.Name) })
	cmd.Flags().AddFlagSet(fs)
	return names
}

// anyChanged reports whether one of flags ("--name") was given.
func anyChanged(cmd *cobra.Command, flags []string) bool {
	for _, fl := range flags {
		if cmd.Flags().Changed(strings.TrimPrefix(fl, "--")) {
			return true
		}
	}
	return false
}

// kindDelete makes cmd "skupper <kind> delete".
func (a *app) kindDelete(k *kindSpec, cmd *cobra.Command) {
	wf := &deleteWaitFlags{}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		s, loc, err := a.kindTarget(k, args, wf.check)
		if err != nil {
			return err
		}
		if k.remove != nil {
			return k.remove(a, cmd, s, loc, wf)
		}
		return a.deleteResources(s, []v2alpha1.Key{loc.doc.Key()}, wf)
	}
	if k.deleteFlags != nil {
		k.deleteFlags(cmd, k.docs().Flags)
	}
	wf.register(cmd)
}

// kindStatus makes cmd "skupper <kind> status".
func (a *app) kindStatus(k *kindSpec, cmd *cobra.Command) {
	var output string
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output, true); err != nil {
			return err
		}
		name, s, err := a.kindInput(k, args, nil)
		if err != nil {
			return err
		}
		vs, err := a.views(s, k.kind, name)
		if err != nil {
			return failed(err)
		}
		if name != "" && len(vs) == 0 {
			return s.notFound(v2alpha1.Key{Kind: k.kind, Name: name})
		}
		a.noteStale(s.ns, vs, output)
		if err := a.printStatus(k, vs, name, output); err != nil {
			return err
		}
		if k.statusTail != nil && name == "" && output == "" {
			return k.statusTail(a, s)
		}
		return nil
	}
	outputFlag(cmd, &output, "", "print status in a structured format: json or yaml")
}

// noteStale heads the output with "skupperd is not running; status as
// of <time>" when a view shows a status the daemon recorded but no daemon
// runs (on stderr with --output, which stays parseable).
func (a *app) noteStale(ns namespaces.Namespace, vs []view, output string) {
	for _, v := range vs {
		if !v.recorded {
			continue
		}
		if note := a.staleNote(ns); note != "" {
			if output != "" {
				a.warnf("%s", note)
			} else {
				a.printf("%s\n\n", note)
			}
		}
		return
	}
}

// printStatus prints the views a status command found: encoded with
// --output, else as a table of all or the fields of the one named.
func (a *app) printStatus(k *kindSpec, vs []view, name, output string) error {
	docs := k.docs()
	if output != "" {
		values := make([]any, len(vs))
		for i, v := range vs {
			values[i] = v.obj
		}
		single := name != ""
		if docs.Header == nil {
			single = len(vs) == 1
		}
		return a.printEncoded(output, values, single)
	}
	if len(vs) == 0 {
		a.printf("%s\n", docs.Empty)
		return nil
	}
	if docs.Header != nil && name == "" {
		t := newTable(a.stdout, docs.Header...)
		for _, v := range vs {
			t.row(k.row(v)...)
		}
		return failed(t.flush())
	}
	if docs.Header != nil {
		vs = vs[:1]
	}
	for i, v := range vs {
		if i > 0 {
			a.printf("\n")
		}
		if err := fields(a.stdout, k.fields(v)); err != nil {
			return failed(err)
		}
	}
	return nil
}

// kindGenerate makes cmd "skupper <kind> generate": print a new resource.
func (a *app) kindGenerate(k *kindSpec, cmd *cobra.Command) {
	f := k.flags()
	var output string
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(output, false); err != nil {
			return err
		}
		obj, err := k.build(cmd, args, f)
		if err != nil {
			return err
		}
		return a.generate(obj, output)
	}
	f.register(cmd, false, k.docs().Flags)
	outputFlag(cmd, &output, "yaml", "the output format: json or yaml")
}

// generate validates obj on its own and prints it.
func (a *app) generate(obj v2alpha1.Object, output string) error {
	doc := v2alpha1.NewDocument("", obj)
	diags := v2alpha1.Validate(a.namespace, []*v2alpha1.Document{doc})
	if errs := diags.Errors(); len(errs) > 0 {
		return a.invalid(errs)
	}
	a.printWarnings(diags)
	return a.printEncoded(output, []any{obj}, true)
}

// statusHead is the first fields of every status: name, status, message.
func statusHead(v view) [][2]string {
	st := v.status()
	return [][2]string{
		{"Name", v.obj.GetObjectMeta().Name},
		{"Status", orNone(string(st.StatusType))},
		{"Message", orNone(st.Message)},
	}
}
