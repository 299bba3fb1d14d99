package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// Listeners and connectors are both endpoints of a routing key: a host and
// a port, with the same options; endpointFlags serves both kinds.

// endpointHelp is what differs between the options of listeners and
// connectors.
type endpointHelp struct {
	hostDefault, host, tls, typ, port string
	// client adds --use-client-cert and --verify-hostname (connectors).
	client bool
}

// endpointFields points at the spec fields of a listener or connector.
type endpointFields struct {
	routingKey, host, tls, typ    *string
	port                          *int
	useClientCert, verifyHostname *bool
}

// endpointFlags are the resource options of listener and connector
// create/update/generate.
type endpointFlags struct {
	kind   string
	help   endpointHelp
	fields func(v2alpha1.Object) endpointFields

	routingKey     string
	host           string
	port           int
	tlsCredentials string
	useClientCert  bool
	verifyHostname bool
	typ            string
}

// register adds the options to cmd; update commands have no defaults and
// take --port.
func (f *endpointFlags) register(cmd *cobra.Command, update bool) {
	typeDefault, hostDefault := "tcp", f.help.hostDefault
	if update {
		typeDefault, hostDefault = "", ""
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.routingKey, "routing-key", "r", "", "the identifier used to route traffic from listeners to connectors (default: the name)")
	fl.StringVar(&f.host, "host", hostDefault, f.help.host)
	fl.StringVar(&f.tlsCredentials, "tls-credentials", "", f.help.tls)
	if f.help.client {
		fl.BoolVar(&f.useClientCert, "use-client-cert", false, "present the client certificate of --tls-credentials to the server")
		fl.BoolVar(&f.verifyHostname, "verify-hostname", false, "check that the server certificate matches --host")
	}
	fl.StringVar(&f.typ, "type", typeDefault, f.help.typ)
	if update {
		fl.IntVar(&f.port, "port", 0, f.help.port)
	}
}

// build makes a resource from the name and <port> arguments.
func (f *endpointFlags) build(cmd *cobra.Command, name string, rest []string) (v2alpha1.Object, error) {
	port, err := parsePort(rest[0])
	if err != nil {
		return nil, err
	}
	obj := newObject(f.kind, name)
	e := f.fields(obj)
	*e.routingKey = name
	*e.port = port
	f.apply(cmd, e, true)
	return obj, nil
}

// check validates --port of an update.
func (f *endpointFlags) check(cmd *cobra.Command) error {
	if cmd.Flags().Changed("port") {
		return checkPort(f.port)
	}
	return nil
}

// modify applies the options given to an update.
func (f *endpointFlags) modify(cmd *cobra.Command, obj v2alpha1.Object) {
	f.apply(cmd, f.fields(obj), false)
}

// apply sets the spec fields whose options were given (all of them for
// create).
func (f *endpointFlags) apply(cmd *cobra.Command, e endpointFields, create bool) {
	set := func(name string) bool { return create || cmd.Flags().Changed(name) }
	if set("routing-key") && f.routingKey != "" {
		*e.routingKey = f.routingKey
	}
	if set("host") {
		*e.host = f.host
	}
	if set("tls-credentials") {
		*e.tls = f.tlsCredentials
	}
	if f.help.client && set("use-client-cert") {
		*e.useClientCert = f.useClientCert
	}
	if f.help.client && set("verify-hostname") {
		*e.verifyHostname = f.verifyHostname
	}
	if cmd.Flags().Changed("type") {
		*e.typ = f.typ
	}
	if !create && cmd.Flags().Changed("port") {
		*e.port = f.port
	}
}

// endpointUpdateFlags are the options of listener and connector update.
func endpointUpdateFlags(client bool) []string {
	if client {
		return []string{"--routing-key", "--host", "--port", "--tls-credentials", "--use-client-cert", "--verify-hostname", "--type"}
	}
	return []string{"--routing-key", "--host", "--port", "--tls-credentials", "--type"}
}

// endpointStatus is the single-resource status of a listener or
// connector; extra follows the routing key.
func endpointStatus(v view, e endpointFields, extra [][2]string, matchLabel string, match bool) [][2]string {
	rows := append(statusHead(v), [2]string{"Routing key", *e.routingKey})
	rows = append(rows, extra...)
	rows = append(rows, [2]string{"Host", orNone(*e.host)}, [2]string{"Port", strconv.Itoa(*e.port)})
	if *e.tls != "" {
		rows = append(rows, [2]string{"TLS credentials", *e.tls})
	}
	return append(rows, [2]string{matchLabel, boolText(match)})
}
