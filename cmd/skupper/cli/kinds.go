package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// The resource command groups (site, listener, connector, link) are built
// from a kindSpec each: one builder makes their create, update, delete,
// status and generate commands, so that every kind follows the same flow
// and only says what is its own (texts, options, status columns).

// cmdDoc is the help of one command.
type cmdDoc struct {
	// use is cobra's Use: the verb, then <required> and [optional]
	// arguments, from which the argument check is derived.
	use, short, long, example string
	// usage is the usage line of argument errors; default
	// "skupper <kind> <use> [options]".
	usage string
}

// kindFlags are the resource options of one command of a kind; each
// command has its own.
type kindFlags interface {
	// register adds the options to cmd; update says it is an update
	// command (no defaults).
	register(cmd *cobra.Command, update bool)
	// build makes a new resource named name (already checked) from the
	// other arguments and the options (create, generate).
	build(cmd *cobra.Command, name string, rest []string) (v2alpha1.Object, error)
	// check validates the options of an update before anything else.
	check(cmd *cobra.Command) error
	// modify sets the fields whose options an update was given.
	modify(cmd *cobra.Command, obj v2alpha1.Object)
}

// statusTable says how the status command of a kind prints.
type statusTable struct {
	// empty is printed when there is nothing to show.
	empty string
	// header and row make the table of all resources; with no header,
	// every resource is printed as a block of fields.
	header []string
	row    func(view) []string
	// fields is the status of one resource.
	fields func(view) [][2]string
}

// kindSpec describes the command group of one resource kind.
type kindSpec struct {
	kind  string
	group cmdDoc
	// The subcommands; nil: the kind has no such command.
	create, update, delete, status, generate *cmdDoc
	// wait is what create and update wait for by default.
	wait waitMode
	// flags returns new resource options for one command.
	flags func() kindFlags
	// updateFlags are the options of which update needs at least one.
	updateFlags []string
	// find locates the resource a command names; default: by name.
	find func(s *inputState, name string) (location, error)
	// beforeCreate checks the input before a resource is created.
	beforeCreate func(s *inputState) error
	// deleteFlags adds the kind's own options to its delete command.
	deleteFlags func(cmd *cobra.Command)
	// remove deletes the resource at loc; default: its file.
	remove func(a *app, cmd *cobra.Command, s *inputState, loc location, wf *deleteWaitFlags) error
	table  statusTable
	// extra returns commands of the group that follow no common flow.
	extra func(a *app) []*cobra.Command
}

// name is the kind as commands spell it ("listener").
func (k *kindSpec) name() string { return strings.ToLower(k.kind) }

// newKindCommand builds the command group of a kind.
func (a *app) newKindCommand(k *kindSpec) *cobra.Command {
	cmd := &cobra.Command{
		Use:   k.name(),
		Short: k.group.short,
		Long:  k.group.long,
		Args:  noArgs,
		RunE:  helpOrUnknown,
	}
	builders := []struct {
		doc   *cmdDoc
		build func(*kindSpec, *cobra.Command)
	}{
		{k.create, a.kindCreate},
		{k.update, a.kindUpdate},
		{k.delete, a.kindDelete},
		{k.status, a.kindStatus},
		{k.generate, a.kindGenerate},
	}
	for _, b := range builders {
		if b.doc != nil {
			sub := k.command(b.doc)
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
func (k *kindSpec) command(doc *cmdDoc) *cobra.Command {
	usage := doc.usage
	if usage == "" {
		usage = "skupper " + k.name() + " " + doc.use + " [options]"
	}
	var required []string
	optional := ""
	for _, w := range strings.Fields(doc.use)[1:] {
		if strings.HasPrefix(w, "[") {
			optional = strings.Trim(w, "[]")
		} else {
			required = append(required, w)
		}
	}
	return &cobra.Command{
		Use:     doc.use,
		Short:   doc.short,
		Long:    doc.long,
		Example: doc.example,
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
		ns, err := a.ns()
		if err != nil {
			return err
		}
		s, err := readInput(ns)
		if err != nil {
			return failed(err)
		}
		if k.beforeCreate != nil {
			if err := k.beforeCreate(s); err != nil {
				return err
			}
		}
		return a.createResource(s, obj, wf)
	}
	f.register(cmd, false)
	wf.register(cmd, k.wait)
}

// kindUpdate makes cmd "skupper <kind> update": find the resource, check
// that some option was given, modify a copy and write it.
func (a *app) kindUpdate(k *kindSpec, cmd *cobra.Command) {
	f := k.flags()
	wf := &waitFlags{}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := f.check(cmd); err != nil {
			return err
		}
		name, err := k.nameArg(args)
		if err != nil {
			return err
		}
		mode, err := wf.mode()
		if err != nil {
			return err
		}
		if !anyChanged(cmd, k.updateFlags) {
			return errNoChange(k.updateFlags...)
		}
		s, err := a.loadForStatus()
		if err != nil {
			return err
		}
		loc, err := k.locate(s, name)
		if err != nil {
			return err
		}
		obj := v2alpha1.DeepCopy(loc.doc.Object)
		f.modify(cmd, obj)
		return a.updateResource(s, loc, obj, mode, wf.timeout)
	}
	f.register(cmd, true)
	wf.register(cmd, k.wait)
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
		name, err := k.nameArg(args)
		if err != nil {
			return err
		}
		if err := wf.check(); err != nil {
			return err
		}
		s, err := a.loadForStatus()
		if err != nil {
			return err
		}
		loc, err := k.locate(s, name)
		if err != nil {
			return err
		}
		if k.remove != nil {
			return k.remove(a, cmd, s, loc, wf)
		}
		return a.deleteResources(s, []v2alpha1.Key{loc.doc.Key()}, wf)
	}
	if k.deleteFlags != nil {
		k.deleteFlags(cmd)
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
		name, err := k.nameArg(args)
		if err != nil {
			return err
		}
		s, err := a.loadForStatus()
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
		return a.printStatus(&k.table, vs, name, output)
	}
	outputFlag(cmd, &output, "", "print status in a structured format: json or yaml")
}

// printStatus prints the views a status command found: encoded with
// --output, else as a table of all or the fields of the one named.
func (a *app) printStatus(t *statusTable, vs []view, name, output string) error {
	if output != "" {
		values := make([]any, len(vs))
		for i, v := range vs {
			values[i] = v.obj
		}
		single := name != ""
		if t.header == nil {
			single = len(vs) == 1
		}
		return a.printEncoded(output, values, single)
	}
	if len(vs) == 0 {
		a.printf("%s\n", t.empty)
		return nil
	}
	if t.header != nil && name == "" {
		tw := newTable(a.stdout, t.header...)
		for _, v := range vs {
			tw.row(t.row(v)...)
		}
		return failed(tw.flush())
	}
	if t.header != nil {
		vs = vs[:1]
	}
	for i, v := range vs {
		if i > 0 {
			a.printf("\n")
		}
		if err := fields(a.stdout, t.fields(v)); err != nil {
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
	f.register(cmd, false)
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
