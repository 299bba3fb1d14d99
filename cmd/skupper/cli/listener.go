package cli

import (
	"strconv"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// DefaultListenerHost is where a listener binds unless --host is given: all
// interfaces, as upstream Skupper does on Linux.
const DefaultListenerHost = "0.0.0.0"

// listenerKind is the "skupper listener" command group.
var listenerKind = &kindSpec{
	kind: v2alpha1.KindListener,
	group: cmdDoc{
		short: "Manage listeners: local endpoints for services exposed by remote sites",
		long: `A listener binds a local host and port. Clients at this site connect to it to
reach the connectors with the same routing key at remote sites.`,
	},
	create: &cmdDoc{
		use:   "create <name> <port>",
		short: "Create a listener",
		long: `Create a listener: write input/resources/Listener-<name>.yaml.

The name is the default routing key. On Linux the listener binds all
interfaces (--host 0.0.0.0) unless --host says otherwise; give --host
127.0.0.1 to reach the service from this host only.

When skupperd is running, the command waits until the listener is configured
(--wait, --timeout).`,
		example: `  # Create a listener for a database
  skupper listener create database 5432

  # Set the routing key and host explicitly
  skupper listener create backend 8080 --routing-key be1 --host 127.0.0.1`,
	},
	update: &cmdDoc{
		use:   "update <name>",
		short: "Update a listener",
		long: `Update a listener: rewrite the file that defines it with the options given.
Options not given keep their values.

When skupperd is running, the command waits until the listener is configured
(--wait, --timeout).`,
		example: `  # Change the host and port
  skupper listener update database --host 127.0.0.1 --port 3306

  # Change the routing key
  skupper listener update backend --routing-key be2`,
	},
	delete: &cmdDoc{
		use:   "delete <name>",
		short: "Delete a listener",
		long: `Delete a listener: remove the file that defines it. A file that also defines
other resources is left alone (edit it instead).

When skupperd is running, the command waits until the listener is gone.`,
		example: `  # Delete a listener
  skupper listener delete database`,
	},
	status: &cmdDoc{
		use:   "status [name]",
		short: "Display the status of listeners in the current site",
		long: `Display the status of the namespace's listeners, as skupperd last applied
them (runtime/resources). A listener that skupperd has not applied yet is
shown as Pending with the reason.`,
		example: `  # Show the status of all listeners in the current site
  skupper listener status

  # Show the status of one listener
  skupper listener status backend`,
	},
	generate: &cmdDoc{
		use:   "generate <name> <port>",
		short: "Generate a Listener resource",
		long: `Print a Listener resource (YAML or JSON) without writing anything. It takes
the options of "skupper listener create", with the same defaults.`,
		example: `  # Generate a Listener resource and print it to the console
  skupper listener generate backend 8080

  # Generate a Listener resource and direct the output to a file
  skupper listener generate backend 8080 > backend.yaml`,
	},
	wait: waitConfigured,
	flags: func() kindFlags {
		return &endpointFlags{kind: v2alpha1.KindListener, fields: listenerEndpoint, help: endpointHelp{
			hostDefault: DefaultListenerHost,
			host:        "the hostname or IP address the listener binds; clients at this site connect to it (0.0.0.0: all interfaces)",
			tls:         "the name of a bundle in input/certs/ (tls.crt, tls.key, optional ca.crt) for TLS to clients; skupperd generates one if it does not exist",
			typ:         `the listener type; only "tcp" is supported`,
			port:        "the port of the local listener",
		}}
	},
	updateFlags: endpointUpdateFlags(false),
	table: statusTable{
		empty:  "No listeners found",
		header: []string{"NAME", "STATUS", "ROUTING-KEY", "HOST", "PORT", "CONNECTORS", "MESSAGE"},
		row:    listenerRow,
		fields: listenerFields,
	},
}

// listenerEndpoint points at a listener's endpoint fields.
func listenerEndpoint(obj v2alpha1.Object) endpointFields {
	s := &obj.(*v2alpha1.Listener).Spec
	return endpointFields{routingKey: &s.RoutingKey, host: &s.Host, tls: &s.TLSCredentials, typ: &s.Type, port: &s.Port}
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
	return endpointStatus(v, listenerEndpoint(l), nil, "Has matching connectors", l.Status.HasMatchingConnector)
}
