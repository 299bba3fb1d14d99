package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// DefaultConnectorHost is the server a connector reaches unless --host is
// given: this host, as upstream Skupper does on Linux.
const DefaultConnectorHost = "localhost"

// connectorFlags are the resource options of connector create/update/generate.
type connectorFlags struct {
	routingKey     string
	host           string
	port           int
	tlsCredentials string
	useClientCert  bool
	verifyHostname bool
	typ            string
}

// register adds the connector options to cmd; update commands have no
// defaults and take --port.
func (f *connectorFlags) register(cmd *cobra.Command, update bool, hostDefault string) {
	typeDefault := "tcp"
	if update {
		typeDefault = ""
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.routingKey, "routing-key", "r", "", "the identifier used to route traffic from listeners to connectors (default: the name)")
	fl.StringVar(&f.host, "host", hostDefault, "the hostname or IP address of the server to connect to")
	fl.StringVar(&f.tlsCredentials, "tls-credentials", "", "the name of a bundle in input/certs/ (ca.crt of the server, plus tls.crt and tls.key for --use-client-cert) for TLS to the server")
	fl.BoolVar(&f.useClientCert, "use-client-cert", false, "present the client certificate of --tls-credentials to the server")
	fl.BoolVar(&f.verifyHostname, "verify-hostname", false, "check that the server certificate matches --host")
	fl.StringVar(&f.typ, "type", typeDefault, `the connector type; only "tcp" is supported`)
	if update {
		fl.IntVar(&f.port, "port", 0, "the port on the target server to connect to")
	}
}

// apply sets the spec fields whose flags were given (all of them for create).
func (f *connectorFlags) apply(cmd *cobra.Command, c *v2alpha1.Connector, create bool) {
	set := func(name string) bool { return create || cmd.Flags().Changed(name) }
	if set("routing-key") && f.routingKey != "" {
		c.Spec.RoutingKey = f.routingKey
	}
	if set("host") {
		c.Spec.Host = f.host
	}
	if set("tls-credentials") {
		c.Spec.TLSCredentials = f.tlsCredentials
	}
	if set("use-client-cert") {
		c.Spec.UseClientCert = f.useClientCert
	}
	if set("verify-hostname") {
		c.Spec.VerifyHostname = f.verifyHostname
	}
	if cmd.Flags().Changed("type") {
		c.Spec.Type = f.typ
	}
	if !create && cmd.Flags().Changed("port") {
		c.Spec.Port = f.port
	}
}

// newConnector builds a Connector from create/generate arguments.
func (a *app) newConnector(cmd *cobra.Command, args []string, f *connectorFlags) (*v2alpha1.Connector, error) {
	name := args[0]
	if err := checkName(v2alpha1.KindConnector, name); err != nil {
		return nil, err
	}
	port, err := parsePort(args[1])
	if err != nil {
		return nil, err
	}
	c := &v2alpha1.Connector{TypeMeta: typeMeta(v2alpha1.KindConnector), ObjectMeta: v2alpha1.ObjectMeta{Name: name}}
	c.Spec.RoutingKey = name
	c.Spec.Port = port
	f.apply(cmd, c, true)
	return c, nil
}

// newConnectorCommand builds the "skupper connector" command group.
func (a *app) newConnectorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "Manage connectors: services at this site exposed to remote sites",
		Long: `A connector reaches a server (host and port) from this site's router, for the
listeners with the same routing key at other sites.`,
		Args: noArgs,
		RunE: helpOrUnknown,
	}
	cmd.AddCommand(a.connectorCreate(), a.connectorUpdate(), a.connectorDelete(), a.connectorStatus(), a.connectorGenerate())
	return cmd
}

// connectorCreate builds "skupper connector create".
func (a *app) connectorCreate() *cobra.Command {
	f := &connectorFlags{}
	wf := &waitFlags{}
	const usage = "skupper connector create <name> <port> [options]"
	cmd := &cobra.Command{
		Use:   "create <name> <port>",
		Short: "Create a connector",
		Long: `Create a connector: write input/resources/Connector-<name>.yaml.

The name is the default routing key. On Linux the connector reaches a server
on this host (--host localhost) unless --host says otherwise.

When skupperd is running, the command waits until the connector is configured
(--wait, --timeout).`,
		Example: `  # Create a connector for a database
  skupper connector create database 5432

  # Set the routing key and host explicitly
  skupper connector create backend 8080 --routing-key be1 --host 10.0.0.5`,
		Args: positional(usage, []string{"<name>", "<port>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newConnector(cmd, args, f)
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
			return a.createResource(s, c, wf)
		},
	}
	f.register(cmd, false, DefaultConnectorHost)
	wf.register(cmd, waitConfigured)
	return cmd
}

// connectorUpdate builds "skupper connector update".
func (a *app) connectorUpdate() *cobra.Command {
	f := &connectorFlags{}
	wf := &waitFlags{}
	cmd := &cobra.Command{
		Use:   "update <name>",
		Short: "Update a connector",
		Long: `Update a connector: rewrite the file that defines it with the options given.
Options not given keep their values.

When skupperd is running, the command waits until the connector is configured
(--wait, --timeout).`,
		Example: `  # Change the host and port
  skupper connector update database --host 10.0.0.7 --port 3306

  # Change the routing key
  skupper connector update backend --routing-key be2`,
		Args: positional("skupper connector update <name> [options]", []string{"<name>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("port") {
				if err := checkPort(f.port); err != nil {
					return err
				}
			}
			return a.runUpdate(cmd, v2alpha1.KindConnector, args[0], wf,
				[]string{"--routing-key", "--host", "--port", "--tls-credentials", "--use-client-cert", "--verify-hostname", "--type"},
				func(obj v2alpha1.Object) error {
					f.apply(cmd, obj.(*v2alpha1.Connector), false)
					return nil
				})
		},
	}
	f.register(cmd, true, "")
	wf.register(cmd, waitConfigured)
	return cmd
}

// connectorDelete builds "skupper connector delete".
func (a *app) connectorDelete() *cobra.Command {
	wf := &deleteWaitFlags{}
	cmd := &cobra.Command{
		Use:   "delete <name>",
		Short: "Delete a connector",
		Long: `Delete a connector: remove the file that defines it. A file that also defines
other resources is left alone (edit it instead).

When skupperd is running, the command waits until the connector is gone.`,
		Example: `  # Delete a connector
  skupper connector delete database`,
		Args: positional("skupper connector delete <name> [options]", []string{"<name>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDelete(v2alpha1.KindConnector, args[0], wf)
		},
	}
	wf.register(cmd)
	return cmd
}

// connectorStatus builds "skupper connector status".
func (a *app) connectorStatus() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [name]",
		Short: "Display the status of connectors in the current site",
		Long: `Display the status of the namespace's connectors, as skupperd last applied
them (runtime/resources). A connector that skupperd has not applied yet is
shown as Pending with the reason.`,
		Example: `  # Show the status of all connectors in the current site
  skupper connector status

  # Show the status of one connector
  skupper connector status backend`,
		Args: positional("skupper connector status [name] [options]", nil, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStatus(v2alpha1.KindConnector, args, output, "No connectors found", connectorRow, connectorFields,
				[]string{"NAME", "STATUS", "ROUTING-KEY", "SELECTOR", "HOST", "PORT", "LISTENERS", "MESSAGE"})
		},
	}
	outputFlag(cmd, &output, "", "print status in a structured format: json or yaml")
	return cmd
}

// connectorRow is a row of the connector status table.
func connectorRow(v view) []string {
	c := v.obj.(*v2alpha1.Connector)
	st := v.status()
	return []string{c.Name, orNone(string(st.StatusType)), c.Spec.RoutingKey, orNone(c.Spec.Selector), orNone(c.Spec.Host), strconv.Itoa(c.Spec.Port), boolText(c.Status.HasMatchingListener), orNone(st.Message)}
}

// connectorFields is the single-connector status.
func connectorFields(v view) [][2]string {
	c := v.obj.(*v2alpha1.Connector)
	st := v.status()
	rows := [][2]string{
		{"Name", c.Name},
		{"Status", orNone(string(st.StatusType))},
		{"Message", orNone(st.Message)},
		{"Routing key", c.Spec.RoutingKey},
		{"Selector", orNone(c.Spec.Selector)},
		{"Host", orNone(c.Spec.Host)},
		{"Port", strconv.Itoa(c.Spec.Port)},
	}
	if c.Spec.TLSCredentials != "" {
		rows = append(rows, [2]string{"TLS credentials", c.Spec.TLSCredentials})
	}
	return append(rows, [2]string{"Has matching listeners", boolText(c.Status.HasMatchingListener)})
}

// connectorGenerate builds "skupper connector generate".
func (a *app) connectorGenerate() *cobra.Command {
	f := &connectorFlags{}
	var output string
	cmd := &cobra.Command{
		Use:   "generate <name> <port>",
		Short: "Generate a Connector resource",
		Long: `Print a Connector resource (YAML or JSON) without writing anything. It takes
the options of "skupper connector create", with the same defaults.`,
		Example: `  # Generate a Connector resource and print it to the console
  skupper connector generate backend 8080

  # Generate a Connector resource and direct the output to a file
  skupper connector generate backend 8080 > backend.yaml`,
		Args: positional("skupper connector generate <name> <port> [options]", []string{"<name>", "<port>"}, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, false); err != nil {
				return err
			}
			c, err := a.newConnector(cmd, args, f)
			if err != nil {
				return err
			}
			return a.generate(c, output)
		},
	}
	f.register(cmd, false, DefaultConnectorHost)
	outputFlag(cmd, &output, "yaml", "the output format: json or yaml")
	return cmd
}
