package v2alpha1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type badCase struct {
	file    string // under testdata/
	line    int    // expected line of the diagnostic (0: no line)
	want    string // substring of the rendered diagnostic
	warning bool   // the expected diagnostic is a warning, not an error
}

// badCases pairs every testdata/*.bad.* file with the diagnostic it must
// produce. The files are decoded and validated as the input of namespace
// "default".
var badCases = []badCase{
	{file: "attached-bad-site-namespace.bad.yaml", line: 6, want: "\"Site_NS\" is not a valid name", warning: false},
	{file: "attached-no-site-namespace.bad.yaml", line: 5, want: "siteNamespace is required", warning: false},
	{file: "attached-same-namespace.bad.yaml", line: 6, want: "is this namespace; use a Connector instead", warning: false},
	{file: "binary-garbage.bad.yaml", line: 1, want: "file is binary (contains a NUL byte)", warning: false},
	{file: "binding-no-connector-namespace.bad.yaml", line: 5, want: "connectorNamespace is required", warning: false},
	{file: "binding-no-routing-key.bad.yaml", line: 5, want: "routingKey is required", warning: false},
	{file: "bool-as-string.bad.yaml", line: 6, want: "spec.edge: expected true or false, got \"yes\"", warning: false},
	{file: "comments-only.bad.yaml", line: 1, want: "file holds no resources", warning: true},
	{file: "connector-clientcert-without-tls.bad.yaml", line: 9, want: "useClientCert needs tlsCredentials", warning: false},
	{file: "connector-host-missing.bad.yaml", line: 5, want: "spec.host: host is required", warning: false},
	{file: "document-is-list.bad.yaml", line: 1, want: "document is a list, not a resource", warning: false},
	{file: "document-is-scalar.bad.yaml", line: 1, want: "document is \"just some text\", not a resource", warning: false},
	{file: "duplicate-in-file.bad.yaml", line: 4, want: "Listener/backend is defined more than once", warning: false},
	{file: "duplicate-key-metadata.bad.yaml", line: 5, want: "duplicate key \"name\" (first given at line 4)", warning: false},
	{file: "duplicate-key-settings.bad.yaml", line: 8, want: "duplicate key \"routerLogging\"", warning: false},
	{file: "duplicate-key.bad.yaml", line: 9, want: "duplicate key \"port\" (first given at line 8)", warning: false},
	{file: "edge-ha.bad.yaml", line: 7, want: "edge sites cannot have HA enabled", warning: false},
	{file: "edge-linkaccess.bad.yaml", line: 7, want: "edge sites cannot accept links; set linkAccess to \"none\"", warning: false},
	{file: "edge-routeraccess.bad.yaml", line: 8, want: "edge sites cannot accept links, so they cannot have a RouterAccess", warning: false},
	{file: "empty.bad.yaml", line: 1, want: "file is empty: it holds no resources", warning: true},
	{file: "grant-bad-duration.bad.yaml", line: 6, want: "invalid duration \"15 minutes\"", warning: false},
	{file: "grant-negative-duration.bad.yaml", line: 6, want: "expirationWindow \"-5m\" must be positive", warning: false},
	{file: "grant-negative-redemptions.bad.yaml", line: 6, want: "redemptionsAllowed -1 is negative", warning: false},
	{file: "host-bad-ipv4.bad.yaml", line: 7, want: "\"300.1.1.1\" is not a valid host", warning: false},
	{file: "host-invalid-chars.bad.yaml", line: 7, want: "\"bad_host!\" is not a valid host", warning: false},
	{file: "host-ipv6-brackets.bad.yaml", line: 7, want: "write IPv6 addresses without brackets", warning: false},
	{file: "host-missing.bad.yaml", line: 5, want: "spec.host: host is required", warning: false},
	{file: "invalid-utf8.bad.yaml", line: 4, want: "file is not valid UTF-8 text", warning: false},
	{file: "issuer-traversal.bad.yaml", line: 8, want: "spec.issuer: issuer: \"../x\" must be a single directory name", warning: false},
	{file: "json-syntax-error.bad.json", line: 4, want: "invalid JSON", warning: false},
	{file: "json-two-documents.bad.json", line: 7, want: "a JSON file must hold exactly one document", warning: false},
	{file: "json-unknown-field.bad.json", line: 8, want: "unknown field \"hostt\"", warning: false},
	{file: "k8s-only-field-warning.bad.yaml", line: 9, want: "exposePodsByName is only supported on Kubernetes", warning: true},
	{file: "link-endpoint-no-host.bad.yaml", line: 7, want: "endpoint host is required", warning: false},
	{file: "link-endpoint-no-port.bad.yaml", line: 7, want: "endpoint port is required", warning: false},
	{file: "link-endpoint-port-text.bad.yaml", line: 9, want: "endpoint port \"https\" is not a number", warning: false},
	{file: "link-endpoint-wildcard.bad.yaml", line: 8, want: "is a wildcard address", warning: false},
	{file: "link-negative-cost.bad.yaml", line: 10, want: "cost -3 is negative", warning: false},
	{file: "link-no-endpoints.bad.yaml", line: 5, want: "endpoints are required", warning: false},
	{file: "link-no-usable-endpoint.bad.yaml", line: 6, want: "no endpoint is named \"inter-router\" or \"edge\"", warning: false},
	{file: "linkaccess-bogus.bad.yaml", line: 6, want: "invalid linkAccess \"public\": expected \"none\" or \"default\"", warning: false},
	{file: "listener-clash-hostname-case.bad.yaml", line: 17, want: "clashes with Listener/backend", warning: false},
	{file: "listener-clash-ipv6-wildcard.bad.yaml", line: 17, want: "clashes with Listener/backend (host \"::\"", warning: false},
	{file: "listener-clash-same-host.bad.yaml", line: 17, want: "port 8080 on host \"127.0.0.1\" clashes with Listener/backend", warning: false},
	{file: "listener-clash-wildcard.bad.yaml", line: 17, want: "clashes with Listener/backend (host \"0.0.0.0\", port 8080)", warning: false},
	{file: "listener-type-udp.bad.yaml", line: 9, want: "listener type \"udp\" is not supported", warning: false},
	{file: "malformed-indentation.bad.yaml", line: 5, want: "invalid YAML: mapping values are not allowed in this context", warning: false},
	{file: "malformed-second-doc-broken.bad.yaml", line: 10, want: "nothing in this file is applied", warning: false},
	{file: "malformed-tab.bad.yaml", line: 4, want: "invalid YAML: found character that cannot start any token", warning: false},
	{file: "malformed-unclosed-quote.bad.yaml", line: 4, want: "invalid YAML: found unexpected end of stream", warning: false},
	{file: "missing-apiversion.bad.yaml", line: 1, want: "apiVersion is missing; expected \"skupper.io/v2alpha1\"", warning: false},
	{file: "missing-kind.bad.yaml", line: 1, want: "kind is missing", warning: false},
	{file: "name-dots.bad.yaml", line: 4, want: "\"my.site\" is not a valid name", warning: false},
	{file: "name-missing.bad.yaml", line: 3, want: "metadata.name is required", warning: false},
	{file: "name-too-long.bad.yaml", line: 4, want: "is 64 characters long; at most 63 are allowed", warning: false},
	{file: "name-uppercase.bad.yaml", line: 4, want: "\"West\" is not a valid name", warning: false},
	{file: "namespace-mismatch.bad.yaml", line: 5, want: "namespace \"east\" does not match the namespace directory \"default\"", warning: false},
	{file: "port-70000.bad.yaml", line: 8, want: "port 70000 is out of range; expected 1-65535", warning: false},
	{file: "port-float.bad.yaml", line: 8, want: "expected an integer, got the number 80.5", warning: false},
	{file: "port-huge-integer.bad.yaml", line: 8, want: "expected an integer, got the number 99999999999999999999999", warning: false},
	{file: "port-missing.bad.yaml", line: 5, want: "port is missing or 0", warning: false},
	{file: "port-negative.bad.yaml", line: 8, want: "port -1 is out of range", warning: false},
	{file: "port-quoted-number.bad.yaml", line: 8, want: "expected an integer, got \"8080\"", warning: false},
	{file: "port-string-abc.bad.yaml", line: 8, want: "spec.port: expected an integer, got \"abc\"", warning: false},
	{file: "port-zero.bad.yaml", line: 8, want: "port is missing or 0; expected 1-65535", warning: false},
	{file: "roles-not-list.bad.yaml", line: 6, want: "spec.roles: expected a list, got \"inter-router\"", warning: false},
	{file: "routeraccess-bindhost-invalid.bad.yaml", line: 8, want: "\"not a host\" is not a valid host", warning: false},
	{file: "routeraccess-clashes-listener.bad.yaml", line: 24, want: "port 55671 on host \"0.0.0.0\" clashes with Listener/backend", warning: false},
	{file: "routeraccess-duplicate-role.bad.yaml", line: 8, want: "role \"edge\" is listed twice", warning: false},
	{file: "routeraccess-no-roles.bad.yaml", line: 5, want: "roles are required", warning: false},
	{file: "routeraccess-normal-role.bad.yaml", line: 7, want: "invalid role \"normal\": expected \"inter-router\" or \"edge\"", warning: false},
	{file: "routeraccess-role-port-range.bad.yaml", line: 8, want: "port 70000 is out of range", warning: false},
	{file: "routeraccess-san-invalid.bad.yaml", line: 9, want: "\"host name\" is not a valid host", warning: false},
	{file: "routeraccess-san-wildcard.bad.yaml", line: 9, want: "is a wildcard address and cannot be a certificate name", warning: false},
	{file: "routingkey-leading-dash.bad.yaml", line: 6, want: "\"-db\" is not a valid routing key", warning: false},
	{file: "routingkey-missing.bad.yaml", line: 5, want: "routingKey is required", warning: false},
	{file: "routingkey-spaces.bad.yaml", line: 6, want: "\"back end\" is not a valid routing key", warning: false},
	{file: "secret-bad-base64.bad.yaml", line: 7, want: "value is not valid base64", warning: false},
	{file: "secret-missing-keys.bad.yaml", line: 6, want: "stringData: TLS secret must hold ca.crt, tls.crt and tls.key; missing tls.crt, tls.key", warning: false},
	{file: "secret-wrong-apiversion.bad.yaml", line: 1, want: "not supported for kind Secret; expected \"v1\"", warning: false},
	{file: "secret-wrong-type.bad.yaml", line: 5, want: "secret type \"kubernetes.io/basic-auth\" is not supported", warning: false},
	{file: "settings-bad-data-connections.bad.yaml", line: 7, want: "expected a whole number of data connections", warning: false},
	{file: "settings-bad-logging-module.bad.yaml", line: 7, want: "expected a level", warning: false},
	{file: "settings-bad-logging.bad.yaml", line: 7, want: "\"loud\": expected a level", warning: false},
	{file: "settings-bad-observer.bad.yaml", line: 10, want: "\"http3\": expected one of auto, none, http1, http2", warning: false},
	{file: "settings-not-map.bad.yaml", line: 6, want: "expected a mapping of names to strings, got a list", warning: false},
	{file: "settings-logging-duplicate-module.bad.yaml", line: 7, want: "module ROUTER_CORE is given more than once", warning: false},
	{file: "site-uid-not-uuid.bad.yaml", line: 5, want: "metadata.uid: uid \"my site\" must be a UUID", warning: false},
	{file: "settings-unknown.bad.yaml", line: 7, want: "unknown setting \"colour\" is ignored", warning: true},
	{file: "settings-value-number.bad.yaml", line: 7, want: "expected a string value, got the number 4; quote it", warning: false},
	{file: "spec-not-mapping.bad.yaml", line: 5, want: "spec: expected a mapping, got \"default\"", warning: false},
	{file: "string-as-number.bad.yaml", line: 6, want: "expected a string, got the number 8080; quote the value", warning: false},
	{file: "tls-absolute.bad.yaml", line: 9, want: "must be a single directory name", warning: false},
	{file: "tls-backslash.bad.yaml", line: 9, want: "must be a single directory name", warning: false},
	{file: "tls-dot.bad.yaml", line: 9, want: "must be a directory name, not \".\"", warning: false},
	{file: "tls-dotdot-alone.bad.yaml", line: 9, want: "must be a directory name, not \"..\"", warning: false},
	{file: "tls-dotdot.bad.yaml", line: 9, want: "must be a single directory name", warning: false},
	{file: "tls-hidden.bad.yaml", line: 9, want: "must not start with '.'", warning: false},
	{file: "tls-nul.bad.yaml", line: 9, want: "must not contain a NUL byte", warning: false},
	{file: "tls-slash.bad.yaml", line: 9, want: "must be a single directory name", warning: false},
	{file: "token-ca-key-not-cert.bad.yaml", line: 8, want: "expected PEM CERTIFICATE blocks", warning: false},
	{file: "token-ca-not-pem.bad.yaml", line: 8, want: "not a PEM certificate", warning: false},
	{file: "token-http-url.bad.yaml", line: 6, want: "url scheme must be https, got \"http\"", warning: false},
	{file: "token-missing-ca.bad.yaml", line: 5, want: "ca is required", warning: false},
	{file: "token-missing-code.bad.yaml", line: 5, want: "code is required", warning: false},
	{file: "token-missing-url.bad.yaml", line: 5, want: "url is required", warning: false},
	{file: "token-url-no-host.bad.yaml", line: 6, want: "has no host", warning: false},
	{file: "two-sites-one-file.bad.yaml", line: 6, want: "Site/east: a namespace holds exactly one Site; also found Site/west at", warning: false},
	{file: "unknown-field-metadata.bad.yaml", line: 5, want: "unknown field \"finalizers\"", warning: false},
	{file: "unknown-field-nested.bad.yaml", line: 8, want: "unknown field \"hots\"", warning: false},
	{file: "unknown-field-top.bad.yaml", line: 5, want: "unknown field \"specs\"; did you mean \"spec\"?", warning: false},
	{file: "unknown-field.bad.yaml", line: 8, want: "unknown field \"prot\"; did you mean \"port\"?", warning: false},
	{file: "unknown-kind-multikeylistener.bad.yaml", line: 2, want: "unknown kind \"MultiKeyListener\"", warning: false},
	{file: "unknown-kind.bad.yaml", line: 2, want: "unknown kind \"Service\"", warning: false},
	{file: "wrong-apiversion.bad.yaml", line: 1, want: "apiVersion \"skupper.io/v1alpha1\" is not supported for kind Site; expected \"skupper.io/v2alpha1\"", warning: false},
	{file: "yaml-alias-bomb-labels.bad.yaml", line: 6, want: "metadata.labels.a: expected a string value, got a list", warning: false},
	{file: "yaml-alias-bomb.bad.yaml", line: 18, want: "spec.subjectAlternativeNames[0]: expected a string, got a list", warning: false},
	{file: "yaml-deep-nesting.bad.yaml", line: 6, want: "invalid YAML: exceeded max depth of 10000", warning: false},
}

func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.*")
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, c := range badCases {
		listed[c.file] = true
	}
	for _, f := range files {
		require.True(t, listed[filepath.Base(f)], "%s has no entry in badCases", f)
	}
	require.GreaterOrEqual(t, len(badCases), 60)

	for _, c := range badCases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", c.file)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			docs, diags := Decode(path, data)
			diags = append(diags, Validate("default", docs)...)
			diags = diags.Sort()
			var rendered []string
			found := false
			for _, d := range diags {
				rendered = append(rendered, d.Error())
				if strings.Contains(d.Error(), c.want) && d.Line == c.line && d.IsError() == !c.warning {
					found = true
					require.Equal(t, path, d.File)
				}
			}
			require.True(t, found, "want line %d %q (warning=%v), got:\n%s", c.line, c.want, c.warning, strings.Join(rendered, "\n"))
			if !c.warning {
				require.True(t, diags.HasErrors())
				require.Error(t, diags.Err())
			}
			// Sorted by file and line.
			for i := 1; i < len(diags); i++ {
				require.False(t, diags[i].less(diags[i-1]), "diagnostics not sorted")
			}
		})
	}
}
