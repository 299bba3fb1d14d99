package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// DefaultListenerHost is where a listener binds unless --host is given: all
// interfaces, as upstream Skupper does on Linux.
const DefaultListenerHost = "0.0.0.0"

// listenerFlags are the resource options of listener create/update/generate.
type listenerFlags struct {
	routingKey     string
	host           string
	port           int
	tlsCredentials string
	typ            string
}

// register adds the listener options to cmd; update commands have no
// defaults and take --port.
func (f *listenerFlags) register(cmd *cobra.Command, update bool, hostDefault string) {
	typeDefault := "tcp"
	if update {
		typeDefault = ""
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.routingKey, "routing-key", "r", "", "the identifier used to route traffic from listeners to connectors (default: the name)")
	fl.StringVar(&f.host, "host", hostDefault, "the hostname or IP address the listener binds; clients at this site connect to it (0.0.0.0: all interfaces)")
	fl.StringVar(&f.tlsCredentials, "tls-credentials", "", "the name of a bundle in input/certs/ (tls.crt, tls.key, optional ca.crt) for TLS to clients; skupperd generates one if it does not exist")
	fl.StringVar(&f.typ, "type", typeDefault, `the listener type; only "tcp" is supported`)
	if update {
		fl.IntVar(&f.port, "port", 0, "the port of the local listener")
	}
}

// apply sets the spec fields whose flags were given (all of them for create).
func (f *listenerFlags) apply(cmd *cobra.Command, l *v2alpha1.Listener, create bool) {
	set := func(name string) bool { return create || cmd.Flags().Changed(name) }
	if set("routing-key") && f.routingKey != "" {
		l.Spec.RoutingKey = f.routingKey
	}
	if set("host") {
		l.Spec.Host = f.host
	}
	if set("tls-credentials") {
		l.Spec.TLSCredentials = f.tlsCredentials
	}
	if cmd.Flags().Changed("type") {
		l.Spec.Type = f.typ
	}
	if !create && cmd.Flags().Changed("port") {
		l.Spec.Port = f.port
	}
}

// newListener builds a Listener from create/generate arguments.
func (a *app) newListener(cmd *cobra.Command, args []string, f *listenerFlags) (*v2alpha1.Listener, error) {
	name := args[0]
	if err := checkName(v2alpha1.KindListener, name); err != nil {
		return nil, err
	}
	port, err := parsePort(args[1])
	if err != nil {
		return nil, err
	}
	l := &v2alpha1.Listener{TypeMeta: typeMeta(v2alpha1.KindListener), ObjectMeta: v2alpha1.ObjectMeta{Name: name}}
	l.Spec.RoutingKey = name
	l.Spec.Port = port
	f.apply(cmd, l, true)
	return l, nil
}

// newListenerCommand builds the "skupper listener" command group.
func (a *app) newListenerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "listener",
		Short: "Manage listeners: local endpoints for services exposed by remote sites",
		Long: `A listener binds a local host and port. Clients at this site connect to it to
reach the connectors with the same routing key at remote sites.`,
		Args: noArgs,
		RunE: helpOrUnknown,
	}
	cmd.AddCommand(a.listenerCreate(), a.listenerUpdate(), a.listenerDelete(), a.listenerStatus(), a.listenerGenerate())
	return cmd
}

// listenerCreate builds "skupper listener create".
func (a *app) listenerCreate() *cobra.Command {
	f := &listenerFlags{}
	wf := &waitFlags{}
	const usage = "skupper listener create <name> <port> [options]"
	cmd := &cobra.Command{
		Use:   "create <name> <port>",
		Short: "Create a listener",
		Long: `Create a listener: write input/resources/Listener-<name>.yaml.

The name is the default routing key. On Linux the listener binds all
interfaces (--host 0.0.0.0) unless --host says otherwise; give --host
127.0.0.1 to reach the service from this host only.

When skupperd is running, the command waits until the listener is configured
(--wait, --timeout).`,
		Example: `  # Create a listener for a database
  skupper listener create database 5432

  # Set the routing key and host explicitly
  skupper listener create backend 8080 --routing-key be1 --host 127.0.0.1`,
		Args: positional(usage, []string{"<name>", "<port>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.newListener(cmd, args, f)
			if err != nil {
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
			return a.createResource(s, l, wf)
		},
	}
	f.register(cmd, false, DefaultListenerHost)
	wf.register(cmd, waitConfigured)
	return cmd
}

// listenerUpdate builds "skupper listener update".
func (a *app) listenerUpdate() *cobra.Command {
	f := &listenerFlags{}
	wf := &waitFlags{}
	cmd := &cobra.Command{
		Use:   "update <name>",
		Short: "Update a listener",
		Long: `Update a listener: rewrite the file that defines it with the options given.
Options not given keep their values.

When skupperd is running, the command waits until the listener is configured
(--wait, --timeout).`,
		Example: `  # Change the host and port
  skupper listener update database --host 127.0.0.1 --port 3306

  # Change the routing key
  skupper listener update backend --routing-key be2`,
		Args: positional("skupper listener update <name> [options]", []string{"<name>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("port") {
				if err := checkPort(f.port); err != nil {
					return err
				}
			}
			return a.runUpdate(cmd, v2alpha1.KindListener, args[0], wf, []string{"--routing-key", "--host", "--port", "--tls-credentials", "--type"},
				func(obj v2alpha1.Object) error {
					f.apply(cmd, obj.(*v2alpha1.Listener), false)
					return nil
				})
		},
	}
	f.register(cmd, true, "")
	wf.register(cmd, waitConfigured)
	return cmd
}

// runUpdate is the common flow of update commands: find the resource, check
// that some option was given, modify a copy and write it.
func (a *app) runUpdate(cmd *cobra.Command, kind, name string, wf *waitFlags, flags []string, modify func(v2alpha1.Object) error) error {
	if err := checkName(kind, name); err != nil {
		return err
	}
	mode, err := wf.mode()
	if err != nil {
		return err
	}
	changed := false
	for _, fl := range flags {
		changed = changed || cmd.Flags().Changed(fl[2:])
	}
	if !changed {
		return errNoChange(flags...)
	}
	s, err := a.loadForStatus()
	if err != nil {
		return err
	}
	k := v2alpha1.Key{Kind: kind, Name: name}
	loc, err := s.locate(k)
	if err != nil {
		return err
	}
	obj := v2alpha1.DeepCopy(loc.doc.Object)
	if err := modify(obj); err != nil {
		return err
	}
	return a.updateResource(s, loc, obj, mode, wf.timeout)
}

// listenerDelete builds "skupper listener delete".
func (a *app) listenerDelete() *cobra.Command {
	wf := &deleteWaitFlags{}
	cmd := &cobra.Command{
		Use:   "delete <name>",
		Short: "Delete a listener",
		Long: `Delete a listener: remove the file that defines it. A file that also defines
other resources is left alone (edit it instead).

When skupperd is running, the command waits until the listener is gone.`,
		Example: `  # Delete a listener
  skupper listener delete database`,
		Args: positional("skupper listener delete <name> [options]", []string{"<name>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDelete(v2alpha1.KindListener, args[0], wf)
		},
	}
	wf.register(cmd)
	return cmd
}

// runDelete is the common flow of delete commands.
func (a *app) runDelete(kind, name string, wf *deleteWaitFlags) error {
	if err := checkName(kind, name); err != nil {
		return err
	}
	if err := wf.check(); err != nil {
		return err
	}
	s, err := a.loadForStatus()
	if err != nil {
		return err
	}
	return a.deleteResources(s, []v2alpha1.Key{{Kind: kind, Name: name}}, wf)
}

// listenerStatus builds "skupper listener status".
func (a *app) listenerStatus() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [name]",
		Short: "Display the status of listeners in the current site",
		Long: `Display the status of the namespace's listeners, as skupperd last applied
them (runtime/resources). A listener that skupperd has not applied yet is
shown as Pending with the reason.`,
		Example: `  # Show the status of all listeners in the current site
  skupper listener status

  # Show the status of one listener
  skupper listener status backend`,
		Args: positional("skupper listener status [name] [options]", nil, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStatus(v2alpha1.KindListener, args, output, "No listeners found", listenerRow, listenerFields,
				[]string{"NAME", "STATUS", "ROUTING-KEY", "HOST", "PORT", "CONNECTORS", "MESSAGE"})
		},
	}
	outputFlag(cmd, &output, "", "print status in a structured format: json or yaml")
	return cmd
}

// listenerRow is a row of the listener status table.
func listenerRow(v view) []string {
	l := v.obj.(*v2alpha1.Listener)
	st := v.status()
	return []string{l.Name, orNone(string(st.StatusType)), l.Spec.RoutingKey, orNone(l.Spec.Host), strconv.Itoa(l.Spec.Port), boolText(l.Status.HasMatchingConnector), orNone(st.Message)}
}

// listenerFields is the single-listener status.
func listenerFields(v view) [][2]string {
	l := v.obj.(*v2alpha1.Listener)
	st := v.status()
	rows := [][2]string{
		{"Name", l.Name},
		{"Status", orNone(string(st.StatusType))},
		{"Message", orNone(st.Message)},
		{"Routing key", l.Spec.RoutingKey},
		{"Host", orNone(l.Spec.Host)},
		{"Port", strconv.Itoa(l.Spec.Port)},
	}
	if l.Spec.TLSCredentials != "" {
		rows = append(rows, [2]string{"TLS credentials", l.Spec.TLSCredentials})
	}
	return append(rows, [2]string{"Has matching connectors", boolText(l.Status.HasMatchingConnector)})
}

// runStatus is the common flow of the listener, connector and link status
// commands.
func (a *app) runStatus(kind string, args []string, output, empty string, row func(view) []string, block func(view) [][2]string, header []string) error {
	if err := checkOutput(output, true); err != nil {
		return err
	}
	name := ""
	if len(args) == 1 {
		name = args[0]
		if err := checkName(kind, name); err != nil {
			return err
		}
	}
	s, err := a.loadForStatus()
	if err != nil {
		return err
	}
	vs, err := a.views(s, kind, name)
	if err != nil {
		return failed(err)
	}
	if name != "" && len(vs) == 0 {
		return s.notFound(v2alpha1.Key{Kind: kind, Name: name})
	}
	if output != "" {
		values := make([]any, len(vs))
		for i, v := range vs {
			values[i] = v.obj
		}
		return a.printEncoded(output, values, name != "")
	}
	if len(vs) == 0 {
		a.printf("%s\n", empty)
		return nil
	}
	if name != "" {
		return failed(fields(a.stdout, block(vs[0])))
	}
	t := newTable(a.stdout, header...)
	for _, v := range vs {
		t.row(row(v)...)
	}
	return failed(t.flush())
}

// listenerGenerate builds "skupper listener generate".
func (a *app) listenerGenerate() *cobra.Command {
	f := &listenerFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "generate <name> <port>",
		Short: "Generate a Listener resource",
		Long: `Print a Listener resource (YAML or JSON) without writing anything. It takes
the options of "skupper listener create", with the same defaults.`,
		Example: `  # Generate a Listener resource and print it to the console
  skupper listener generate backend 8080

  # Generate a Listener resource and direct the output to a file
  skupper listener generate backend 8080 > backend.yaml`,
		Args: positional("skupper listener generate <name> <port> [options]", []string{"<name>", "<port>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, false); err != nil {
				return err
			}
			l, err := a.newListener(cmd, args, f)
			if err != nil {
				return err
			}
			return a.generate(l, output)
		},
	}
	f.register(cmd, false, DefaultListenerHost)
	outputFlag(cmd, &output, "yaml", "the output format: json or yaml")
	return cmd
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
