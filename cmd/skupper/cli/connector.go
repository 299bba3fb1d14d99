package cli

import (
	"strconv"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// DefaultConnectorHost is the server a connector reaches unless --host is
// given: this host, as upstream Skupper does on Linux.
const DefaultConnectorHost = "localhost"

// connectorKind is the "skupper connector" command group.
var connectorKind = &kindSpec{
	kind: v2alpha1.KindConnector,
	group: cmdDoc{
		short: "Manage connectors: services at this site exposed to remote sites",
		long: `A connector reaches a server (host and port) from this site's router, for the
listeners with the same routing key at other sites.`,
	},
	create: &cmdDoc{
		use:   "create <name> <port>",
		short: "Create a connector",
		long: `Create a connector: write input/resources/Connector-<name>.yaml.

The name is the default routing key. On Linux the connector reaches a server
on this host (--host localhost) unless --host says otherwise.

When skupperd is running, the command waits until the connector is configured
(--wait, --timeout).`,
		example: `  # Create a connector for a database
  skupper connector create database 5432

  # Set the routing key and host explicitly
  skupper connector create backend 8080 --routing-key be1 --host 10.0.0.5`,
	},
	update: &cmdDoc{
		use:   "update <name>",
		short: "Update a connector",
		long: `Update a connector: rewrite the file that defines it with the options given.
Options not given keep their values.

When skupperd is running, the command waits until the connector is configured
(--wait, --timeout).`,
		example: `  # Change the host and port
  skupper connector update database --host 10.0.0.7 --port 3306

  # Change the routing key
  skupper connector update backend --routing-key be2`,
	},
	delete: &cmdDoc{
		use:   "delete <name>",
		short: "Delete a connector",
		long: `Delete a connector: remove the file that defines it. A file that also defines
other resources is left alone (edit it instead).

When skupperd is running, the command waits until the connector is gone.`,
		example: `  # Delete a connector
  skupper connector delete database`,
	},
	status: &cmdDoc{
		use:   "status [name]",
		short: "Display the status of connectors in the current site",
		long: `Display the status of the namespace's connectors, as skupperd last applied
them (runtime/resources). A connector that skupperd has not applied yet is
shown as Pending with the reason.`,
		example: `  # Show the status of all connectors in the current site
  skupper connector status

  # Show the status of one connector
  skupper connector status backend`,
	},
	generate: &cmdDoc{
		use:   "generate <name> <port>",
		short: "Generate a Connector resource",
		long: `Print a Connector resource (YAML or JSON) without writing anything. It takes
the options of "skupper connector create", with the same defaults.`,
		example: `  # Generate a Connector resource and print it to the console
  skupper connector generate backend 8080

  # Generate a Connector resource and direct the output to a file
  skupper connector generate backend 8080 > backend.yaml`,
	},
	wait: waitConfigured,
	flags: func() kindFlags {
		return &endpointFlags{kind: v2alpha1.KindConnector, fields: connectorEndpoint, help: endpointHelp{
			hostDefault: DefaultConnectorHost,
			host:        "the hostname or IP address of the server to connect to",
			tls:         "the name of a bundle in input/certs/ (ca.crt of the server, plus tls.crt and tls.key for --use-client-cert) for TLS to the server",
			typ:         `the connector type; only "tcp" is supported`,
			port:        "the port on the target server to connect to",
			client:      true,
		}}
	},
	updateFlags: endpointUpdateFlags(true),
	table: statusTable{
		empty:  "No connectors found",
		header: []string{"NAME", "STATUS", "ROUTING-KEY", "SELECTOR", "HOST", "PORT", "LISTENERS", "MESSAGE"},
		row:    connectorRow,
		fields: connectorFields,
	},
}

// connectorEndpoint points at a connector's endpoint fields.
func connectorEndpoint(obj v2alpha1.Object) endpointFields {
	s := &obj.(*v2alpha1.Connector).Spec
	return endpointFields{routingKey: &s.RoutingKey, host: &s.Host, tls: &s.TLSCredentials, typ: &s.Type, port: &s.Port,
		useClientCert: &s.UseClientCert, verifyHostname: &s.VerifyHostname}
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
	selector := [][2]string{{"Selector", orNone(c.Spec.Selector)}}
	return endpointStatus(v, connectorEndpoint(c), selector, "Has matching listeners", c.Status.HasMatchingListener)
}
