package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// Listeners and connectors are both endpoints of a routing key: a host and
// a port, with the same options and status; endpointKind makes the
// kindSpec of both from the spec and status fields they have.

// Where listeners bind and connectors connect unless --host is given.
const (
	// DefaultListenerHost: all interfaces, as upstream Skupper does on
	// Linux.
	DefaultListenerHost = "0.0.0.0"
	// DefaultConnectorHost: this host, as upstream Skupper does on Linux.
	DefaultConnectorHost = "localhost"
)

// listenerEndpoint points at a listener's endpoint fields.
func listenerEndpoint(obj v2alpha1.Object) endpointFields {
	l := obj.(*v2alpha1.Listener)
	return endpointFields{routingKey: &l.Spec.RoutingKey, host: &l.Spec.Host, tls: &l.Spec.TLSCredentials, typ: &l.Spec.Type, port: &l.Spec.Port,
		matching: &l.Status.HasMatchingConnector}
}

// connectorEndpoint points at a connector's endpoint fields.
func connectorEndpoint(obj v2alpha1.Object) endpointFields {
	c := obj.(*v2alpha1.Connector)
	s := &c.Spec
	return endpointFields{routingKey: &s.RoutingKey, host: &s.Host, tls: &s.TLSCredentials, typ: &s.Type, port: &s.Port,
		useClientCert: &s.UseClientCert, verifyHostname: &s.VerifyHostname, selector: &s.Selector, matching: &c.Status.HasMatchingListener}
}

// endpointFields points at the fields of a listener or connector; the
// connectors' own are nil for listeners.
type endpointFields struct {
	routingKey, host, tls, typ    *string
	port                          *int
	useClientCert, verifyHostname *bool
	selector                      *string
	// matching is whether endpoints of the other kind match.
	matching *bool
}

// endpointFlags are the resource options of listener and connector
// create/update/generate.
type endpointFlags struct {
	kind        string
	hostDefault string
	fields      func(v2alpha1.Object) endpointFields
	// client adds --use-client-cert and --verify-hostname (connectors).
	client bool

	routingKey     string
	host           string
	port           int
	tlsCredentials string
	useClientCert  bool
	verifyHostname bool
	typ            string
}

// register adds the options to cmd; update commands have no defaults and
// take --port. The order is that of "nothing to update" errors.
func (f *endpointFlags) register(cmd *cobra.Command, update bool, help map[string]string) {
	typeDefault, hostDefault := "tcp", f.hostDefault
	if update {
		typeDefault, hostDefault = "", ""
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.routingKey, "routing-key", "r", "", help["routing-key"])
	fl.StringVar(&f.host, "host", hostDefault, help["host"])
	if update {
		fl.IntVar(&f.port, "port", 0, help["port"])
	}
	fl.StringVar(&f.tlsCredentials, "tls-credentials", "", help["tls-credentials"])
	if f.client {
		fl.BoolVar(&f.useClientCert, "use-client-cert", false, help["use-client-cert"])
		fl.BoolVar(&f.verifyHostname, "verify-hostname", false, help["verify-hostname"])
	}
	fl.StringVar(&f.typ, "type", typeDefault, help["type"])
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
	if f.client && set("use-client-cert") {
		*e.useClientCert = f.useClientCert
	}
	if f.client && set("verify-hostname") {
		*e.verifyHostname = f.verifyHostname
	}
	if cmd.Flags().Changed("type") {
		*e.typ = f.typ
	}
	if !create && cmd.Flags().Changed("port") {
		*e.port = f.port
	}
}

// endpointKind is the kindSpec of listeners and connectors: kind's
// options are endpointFlags on the fields that fields points at (with the
// client options when it has them), and so is its status.
func endpointKind(kind, hostDefault string, fields func(v2alpha1.Object) endpointFields) *kindSpec {
	client := fields(newObject(kind, "")).useClientCert != nil
	return &kindSpec{
		kind: kind,
		wait: waitConfigured,
		flags: func() kindFlags {
			return &endpointFlags{kind: kind, hostDefault: hostDefault, fields: fields, client: client}
		},
		row: func(v view) []string { return endpointRow(v, fields(v.obj)) },
		fields: func(v view) [][2]string {
			return endpointStatus(v, fields(v.obj), allKindDocs[strings.ToLower(kind)].Match)
		},
	}
}

// endpointRow is a row of the listener or connector status table.
func endpointRow(v view, e endpointFields) []string {
	st := v.status()
	row := []string{v.obj.GetObjectMeta().Name, orNone(string(st.StatusType)), *e.routingKey}
	if e.selector != nil {
		row = append(row, orNone(*e.selector))
	}
	return append(row, orNone(*e.host), strconv.Itoa(*e.port), boolText(*e.matching), orNone(st.Message))
}

// endpointStatus is the single-resource status of a listener or
// connector; matchLabel names e.matching.
func endpointStatus(v view, e endpointFields, matchLabel string) [][2]string {
	rows := append(statusHead(v), [2]string{"Routing key", *e.routingKey})
	if e.selector != nil {
		rows = append(rows, [2]string{"Selector", orNone(*e.selector)})
	}
	rows = append(rows, [2]string{"Host", orNone(*e.host)}, [2]string{"Port", strconv.Itoa(*e.port)})
	if *e.tls != "" {
		rows = append(rows, [2]string{"TLS credentials", *e.tls})
	}
	return append(rows, [2]string{matchLabel, boolText(*e.matching)})
}
