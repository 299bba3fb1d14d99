package routerschema

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type obj = map[string]any

// entity is one [type, attributes] element of a config.
type entity = []any

// validConfig is a config like the one upstream Skupper renders for a site
// "west" with link access, a link to "east", a tcp Listener and a tcp
// Connector (upstream-nonkube.md §3.3), with every attribute of the
// correct JSON type. Entity indexes are noted for the expectations below.
func validConfig() []entity {
	const certs = "/var/lib/skupper/namespaces/west/runtime/certs"
	return []entity{
		{"router", obj{ // 0
			"id":                  "west-1700000000-123456789",
			"mode":                "interior",
			"helloMaxAgeSeconds":  3,
			"metadata":            `{"id":"4f3c1a52-8a3e-4a8e-9d0b-2f9f0f7f6a11","version":"2.1.0","platform":"linux"}`,
			"dataConnectionCount": "4",
		}},
		{"sslProfile", obj{ // 1
			"name":           "skupper-local-server",
			"caCertFile":     certs + "/skupper-local-server/ca.crt",
			"certFile":       certs + "/skupper-local-server/tls.crt",
			"privateKeyFile": certs + "/skupper-local-server/tls.key",
		}},
		{"sslProfile", obj{ // 2
			"name":           "west",
			"caCertFile":     certs + "/west/ca.crt",
			"certFile":       certs + "/west/tls.crt",
			"privateKeyFile": certs + "/west/tls.key",
		}},
		{"sslProfile", obj{ // 3
			"name":           "link-east-profile",
			"caCertFile":     certs + "/link-east-profile/ca.crt",
			"certFile":       certs + "/link-east-profile/tls.crt",
			"privateKeyFile": certs + "/link-east-profile/tls.key",
		}},
		{"sslProfile", obj{ // 4
			"name":       "backend-tls-profile",
			"caCertFile": certs + "/backend-tls-profile/ca.crt",
		}},
		{"connector", obj{ // 5
			"name":       "link-east",
			"role":       "inter-router",
			"host":       "east.example.com",
			"port":       "55671",
			"cost":       2,
			"sslProfile": "link-east-profile",
		}},
		{"listener", obj{ // 6
			"name":             "skupper-local-normal",
			"role":             "normal",
			"host":             "127.0.0.1",
			"port":             "5671",
			"sslProfile":       "skupper-local-server",
			"saslMechanisms":   "EXTERNAL",
			"authenticatePeer": true,
		}},
		{"listener", obj{ // 7
			"name":             "west-inter-router",
			"role":             "inter-router",
			"port":             "55671",
			"sslProfile":       "west",
			"saslMechanisms":   "EXTERNAL",
			"authenticatePeer": true,
		}},
		{"listener", obj{ // 8
			"name":             "west-edge",
			"role":             "edge",
			"port":             "45671",
			"sslProfile":       "west",
			"saslMechanisms":   "EXTERNAL",
			"authenticatePeer": true,
		}},
		{"address", obj{"prefix": "mc", "distribution": "multicast"}}, // 9
		{"tcpConnector", obj{ // 10
			"name":           "connector/backend@localhost",
			"host":           "localhost",
			"port":           "8080",
			"address":        "backend:8080",
			"sslProfile":     "backend-tls-profile",
			"verifyHostname": true,
		}},
		{"tcpListener", obj{ // 11
			"name":     "listener/backend",
			"host":     "0.0.0.0",
			"port":     "9090",
			"address":  "backend:8080",
			"observer": "auto",
		}},
		{"log", obj{"module": "ROUTER_CORE", "enable": "info+"}}, // 12
		{"site", obj{ // 13
			"name":      "west-1700000000-123456789",
			"namespace": "west",
			"platform":  "linux",
			"version":   "2.1.0",
		}},
	}
}

func marshal(t testing.TB, cfg []entity) []byte {
	t.Helper()
	b, err := json.MarshalIndent(cfg, "", "    ")
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	return b
}

func mustLoad(t testing.TB) *Schema {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func errStrings(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// attrs returns the attribute object of cfg[i].
func attrs(cfg []entity, i int) obj { return cfg[i][1].(obj) }

// rename renames attribute from to to in cfg[i], keeping the value.
func rename(cfg []entity, i int, from, to string) {
	a := attrs(cfg, i)
	a[to] = a[from]
	delete(a, from)
}

func TestValidConfigPassesBothModes(t *testing.T) {
	s := mustLoad(t)
	config := marshal(t, validConfig())
	for _, mode := range []Mode{Strict, Router} {
		if errs := s.Check(config, mode); len(errs) != 0 {
			t.Errorf("%v: unexpected problems:\n%s", mode, strings.Join(errStrings(errs), "\n"))
		}
	}
}

func TestCheck(t *testing.T) {
	s := mustLoad(t)
	type tc struct {
		name   string
		mutate func([]entity) []entity // applied to validConfig(); ignored when raw is set
		raw    string                  // the whole config, when set
		strict []string                // expected Strict problems; nil means none
		router []string                // expected Router problems; nil means none
	}
	both := func(errs ...string) ([]string, []string) { return errs, errs }
	const logModuleErr = `entity 12 log: attribute "module": invalid value string "NOPE": want one of "ROUTER", "ROUTER_CORE", "ROUTER_HELLO", "ROUTER_LS", "ROUTER_MA", "MESSAGE", "SERVER", "AGENT", "CONTAINER", "ERROR", "POLICY", "HTTP", "CONN_MGR", "PYTHON", "PROTOCOL", "TCP_ADAPTOR", "HTTP_ADAPTOR", "FLOW_LOG", "ADDRESS_WATCH", "HTTP1_OBSERVER", "HTTP2_OBSERVER", "HTTP2_DECODER", "DEFAULT"`
	cases := []tc{
		{
			name:   "misspelled attribute",
			mutate: func(c []entity) []entity { rename(c, 11, "port", "prot"); return c },
		},
		{
			name:   "misspelled attribute on a listener",
			mutate: func(c []entity) []entity { rename(c, 6, "saslMechanisms", "saslMechanism"); return c },
		},
		{
			name:   "unknown entity type",
			mutate: func(c []entity) []entity { c[11][0] = "tcpListner"; return c },
		},
		{
			name:   "operational entity type",
			mutate: func(c []entity) []entity { return append(c, entity{"connection", obj{}}) },
		},
		{
			name:   "long router.config name",
			mutate: func(c []entity) []entity { c[9][0] = "router.config.address"; return c },
		},
		{
			name:   "port as a number",
			mutate: func(c []entity) []entity { attrs(c, 6)["port"] = 5671; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "port": want a string, got number 5671`},
		},
		{
			name:   "integer as a string",
			mutate: func(c []entity) []entity { attrs(c, 0)["helloMaxAgeSeconds"] = "3"; return c },
			strict: []string{`entity 0 router: attribute "helloMaxAgeSeconds": want an integer, got string "3"`},
		},
		{
			name:   "integer as a float",
			mutate: func(c []entity) []entity { attrs(c, 5)["cost"] = 2.5; return c },
			strict: []string{`entity 5 connector "link-east": attribute "cost": want an integer, got number 2.5 (a fraction or exponent is not allowed)`},
		},
		{
			name:   "integer not a number",
			mutate: func(c []entity) []entity { attrs(c, 5)["cost"] = "two"; return c },
			strict: []string{`entity 5 connector "link-east": attribute "cost": want an integer, got string "two"`},
			router: []string{`entity 5 connector "link-east": attribute "cost": invalid integer "two"`},
		},
		{
			name:   "integer out of range",
			raw:    `[["router", {"id": "r", "helloMaxAgeSeconds": 9223372036854775808}]]`,
			strict: []string{`entity 0 router: attribute "helloMaxAgeSeconds": integer 9223372036854775808 is out of range`},
			router: []string{`entity 0 router: attribute "helloMaxAgeSeconds": integer 9223372036854775808 is out of range`},
		},
		{
			name:   "boolean as a string",
			mutate: func(c []entity) []entity { attrs(c, 6)["authenticatePeer"] = "yes"; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "authenticatePeer": want a boolean, got string "yes"`},
		},
		{
			name:   "boolean as a number",
			mutate: func(c []entity) []entity { attrs(c, 10)["verifyHostname"] = 1; return c },
			strict: []string{`entity 10 tcpConnector "connector/backend@localhost": attribute "verifyHostname": want a boolean, got number 1`},
		},
		{
			name:   "boolean from a bad string",
			mutate: func(c []entity) []entity { attrs(c, 6)["authenticatePeer"] = "1"; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "authenticatePeer": want a boolean, got string "1"`},
			router: []string{`entity 6 listener "skupper-local-normal": attribute "authenticatePeer": invalid boolean "1" (want true/false, yes/no or on/off)`},
		},
		{
			name:   "string as a boolean",
			mutate: func(c []entity) []entity { attrs(c, 6)["host"] = true; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "host": want a string, got boolean true`},
		},
		{
			name:   "router mode not in enum",
			mutate: func(c []entity) []entity { attrs(c, 0)["mode"] = "hub"; return c },
			strict: []string{`entity 0 router: attribute "mode": invalid value string "hub": want one of "standalone", "interior", "edge"`},
			router: []string{`entity 0 router: attribute "mode": invalid value string "hub": want one of "standalone", "interior", "edge" (or an index 0..2)`},
		},
		{
			name:   "listener role not in enum",
			mutate: func(c []entity) []entity { attrs(c, 6)["role"] = "bogus"; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "role": invalid value string "bogus": want one of "normal", "inter-router", "route-container", "edge", "inter-edge", "inter-network"`},
			router: []string{`entity 6 listener "skupper-local-normal": attribute "role": invalid value string "bogus": want one of "normal", "inter-router", "route-container", "edge", "inter-edge", "inter-network" (or an index 0..5)`},
		},
		{
			name:   "enum given by index",
			mutate: func(c []entity) []entity { attrs(c, 6)["role"] = 0; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "role": invalid value number 0: want one of "normal", "inter-router", "route-container", "edge", "inter-edge", "inter-network"`},
		},
		{
			name:   "enum index out of range",
			mutate: func(c []entity) []entity { attrs(c, 6)["role"] = 6; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "role": invalid value number 6: want one of "normal", "inter-router", "route-container", "edge", "inter-edge", "inter-network"`},
			router: []string{`entity 6 listener "skupper-local-normal": attribute "role": invalid value number 6: want one of "normal", "inter-router", "route-container", "edge", "inter-edge", "inter-network" (or an index 0..5)`},
		},
		{
			name:   "enum is case sensitive",
			mutate: func(c []entity) []entity { attrs(c, 9)["distribution"] = "Multicast"; return c },
			strict: []string{`entity 9 address: attribute "distribution": invalid value string "Multicast": want one of "multicast", "closest", "balanced", "unavailable"`},
			router: []string{`entity 9 address: attribute "distribution": invalid value string "Multicast": want one of "multicast", "closest", "balanced", "unavailable" (or an index 0..3)`},
		},
		{
			name:   "log module not in enum",
			mutate: func(c []entity) []entity { attrs(c, 12)["module"] = "NOPE"; return c },
			strict: []string{logModuleErr},
			router: []string{logModuleErr + " (or an index 0..22)"},
		},
		{
			name:   "missing required attribute",
			mutate: func(c []entity) []entity { delete(attrs(c, 12), "module"); return c },
		},
		{
			name:   "duplicate name within a type",
			mutate: func(c []entity) []entity { attrs(c, 8)["name"] = "west-inter-router"; return c },
		},
		{
			name:   "duplicate name across types",
			mutate: func(c []entity) []entity { attrs(c, 11)["name"] = "west"; return c },
		},
		{
			name:   "second router",
			mutate: func(c []entity) []entity { return append(c, entity{"router", obj{"id": "other"}}) },
		},
		{
			name:   "identity set",
			mutate: func(c []entity) []entity { attrs(c, 9)["identity"] = "address/1"; return c },
		},
		{
			name:   "type set",
			mutate: func(c []entity) []entity { attrs(c, 9)["type"] = "address"; return c },
		},
		{
			name: "operational attribute",
			mutate: func(c []entity) []entity {
				attrs(c, 5)["connectionStatus"] = "SUCCESS"
				attrs(c, 11)["bytesIn"] = 0
				return c
			},
			strict: []string{
				`entity 5 connector "link-east": attribute "connectionStatus" is operational (set by the router at run time) and cannot be configured`,
				`entity 11 tcpListener "listener/backend": attribute "bytesIn" is operational (set by the router at run time) and cannot be configured`,
			},
		},
		{
			name:   "null value",
			mutate: func(c []entity) []entity { attrs(c, 6)["sslProfile"] = nil; return c },
			strict: []string{`entity 6 listener "skupper-local-normal": attribute "sslProfile": null is not allowed; leave the attribute out instead`},
		},
		{
			name:   "null required attribute",
			mutate: func(c []entity) []entity { attrs(c, 12)["module"] = nil; return c },
			strict: []string{
				`entity 12 log: attribute "module": null is not allowed; leave the attribute out instead`,
				`entity 12 log: missing required attribute "module"`,
			},
			router: []string{`entity 12 log: missing required attribute "module"`},
		},
		{
			name:   "unknown attribute set to null",
			mutate: func(c []entity) []entity { attrs(c, 9)["prefx"] = nil; return c },
		},
		{
			name:   "identity set to null",
			mutate: func(c []entity) []entity { attrs(c, 9)["identity"] = nil; return c },
			strict: []string{`entity 9 address: attribute "identity" cannot be set in a config file (the router assigns identities)`},
		},
		{
			name: "log module twice",
			mutate: func(c []entity) []entity {
				return append(c, entity{"log", obj{"module": "ROUTER_CORE", "enable": "debug+"}})
			},
		},
		{
			name:   "log level the router does not know",
			mutate: func(c []entity) []entity { attrs(c, 12)["enable"] = "notice+"; return c },
		},
		{
			name:   "router id with a space",
			mutate: func(c []entity) []entity { attrs(c, 0)["id"] = "west 1"; return c },
		},
		{
			name: "openProperties",
			mutate: func(c []entity) []entity {
				attrs(c, 6)["openProperties"] = obj{"qd.secret": "x", "hostname": "h", "app": 1}
				attrs(c, 7)["openProperties"] = obj{"app": 1}
				return c
			},
			strict: []string{
				`entity 6 listener "skupper-local-normal": attribute "openProperties": reserved key "hostname" is not allowed`,
				`entity 6 listener "skupper-local-normal": attribute "openProperties": reserved key "qd.secret" is not allowed`,
				`entity 7 listener "west-inter-router": attribute "openProperties" is not allowed on a listener with role inter-router`,
			},
			router: []string{
				`entity 6 listener "skupper-local-normal": attribute "openProperties": reserved key "qd.secret" is not allowed`,
				`entity 7 listener "west-inter-router": attribute "openProperties" is not allowed on a listener with role inter-router`,
			},
		},
		{
			name:   "dashed attribute name",
			mutate: func(c []entity) []entity { rename(c, 6, "saslMechanisms", "sasl-mechanisms"); return c },
			strict: []string{`entity 6 listener "skupper-local-normal": unknown attribute "sasl-mechanisms"`},
		},
		{
			name:   "dashed entity type",
			mutate: func(c []entity) []entity { c[11][0] = "tcp-listener"; return c },
			strict: []string{`entity 11 tcp-listener "listener/backend": unknown entity type "tcp-listener"`},
		},
		{
			name:   "extra element in an entity",
			mutate: func(c []entity) []entity { c[9] = append(c[9], "extra"); return c },
			strict: []string{`entity 9 address: must be a 2-element array [type, {attributes}], got 3 element(s)`},
		},
		{
			name:   "duplicate member name",
			raw:    `[["router", {"id": "a", "id": "b"}]]`,
			strict: []string{`entity 0 router: attribute "id" is given more than once`},
		},
		{
			name:   "comment line",
			raw:    "[\n  # the router\n  [\"router\", {\"id\": \"a\"}]\n]",
			strict: []string{`config: invalid JSON at line 2, column 3: invalid character '#': expected a JSON value`},
		},
		{
			name:   "NaN literal",
			raw:    `[["router", {"id": "a", "metadata": NaN}]]`,
			strict: []string{`config: invalid JSON at line 1, column 37: invalid character 'N': expected a JSON value`},
		},
		{
			name:   "no router",
			raw:    `[["address", {"prefix": "mc", "distribution": "multicast"}]]`,
			strict: []string{`config: no router entity: exactly one is required`},
		},
		{name: "not an array", raw: `{"router": {}}`},
		{name: "scalar document", raw: `"router"`},
		{name: "empty document", raw: "  \n"},
		{name: "element not an array", raw: `[["router", {"id": "a"}], {"listener": {}}]`},
		{name: "element with one item", raw: `[["router", {"id": "a"}], ["listener"]]`},
		{name: "type not a string", raw: `[["router", {"id": "a"}], [5, {}]]`},
		{name: "attributes not an object", raw: `[["router", {"id": "a"}], ["listener", ["port", "5671"]]]`},
		{name: "trailing garbage", raw: `[["router", {"id": "a"}]] x`},
		{name: "two documents", raw: `[["router", {"id": "a"}]] []`},
		{name: "truncated", raw: `[["router", {"id": "a"}]`},
		{name: "invalid UTF-8", raw: "[[\"router\", {\"id\": \"a\xff\"}]]"},
	}
	// Expectations shared by both modes are filled in here, so each appears once.
	shared := map[string][]string{
		"misspelled attribute":               {`entity 11 tcpListener "listener/backend": unknown attribute "prot"`},
		"misspelled attribute on a listener": {`entity 6 listener "skupper-local-normal": unknown attribute "saslMechanism"`},
		"unknown entity type":                {`entity 11 tcpListner "listener/backend": unknown entity type "tcpListner"`},
		"operational entity type":            {`entity 14 connection: unknown entity type "connection" (not a configuration entity type)`},
		"long router.config name":            {`entity 9 router.config.address: unknown entity type "router.config.address" (write "address" in a config file)`},
		"missing required attribute":         {`entity 12 log: missing required attribute "module"`},
		"duplicate name within a type":       {`entity 8 listener "west-inter-router": attribute "name": value "west-inter-router" is already used by entity 7 listener (it must be unique across all entities of every type)`},
		"duplicate name across types":        {`entity 11 tcpListener "west": attribute "name": value "west" is already used by entity 2 sslProfile (it must be unique across all entities of every type)`},
		"second router":                      {`entity 14 router: more than one router entity (the first is entity 0); only one is allowed`},
		"identity set":                       {`entity 9 address: attribute "identity" cannot be set in a config file (the router assigns identities)`},
		"type set":                           {`entity 9 address: attribute "type" must not be set: the entity type is the array's first element`},
		"unknown attribute set to null":      {`entity 9 address: unknown attribute "prefx"`},
		"log module twice":                   {`entity 14 log: log module ROUTER_CORE is configured more than once (first by entity 12)`},
		"log level the router does not know": {`entity 12 log: attribute "enable": "notice+" is not a valid log level (the router knows none, debug, info, warning, error, critical, each with an optional "+")`},
		"router id with a space":             {`entity 0 router: attribute "id": router id "west 1" contains U+0020; control and whitespace characters are not allowed`},
		"not an array":                       {`config: must be a JSON array of [type, {attributes}] pairs, got object`},
		"scalar document":                    {`config: must be a JSON array of [type, {attributes}] pairs, got string`},
		"empty document":                     {`config: invalid JSON at line 2, column 1: empty document: expected a JSON value`},
		"element not an array":               {`entity 1: must be a [type, {attributes}] array, got object`},
		"element with one item":              {`entity 1: must be a 2-element array [type, {attributes}], got 1 element(s)`},
		"type not a string":                  {`entity 1: entity type must be a string, got number 5`},
		"attributes not an object":           {`entity 1 listener: attributes must be a JSON object, got array`},
		"trailing garbage":                   {`config: invalid JSON at line 1, column 27: trailing data after the JSON value: 'x'`},
		"two documents":                      {`config: invalid JSON at line 1, column 27: trailing data after the JSON value: '['`},
		"truncated":                          {`config: invalid JSON at line 1, column 25: unexpected end of input in array: expected ',' or ']'`},
		"invalid UTF-8":                      {`config: not valid UTF-8 (at byte offset 21)`},
	}
	for i := range cases {
		if want, ok := shared[cases[i].name]; ok {
			if cases[i].strict != nil || cases[i].router != nil {
				t.Fatalf("case %q has both shared and per-mode expectations", cases[i].name)
			}
			cases[i].strict, cases[i].router = both(want...)
			delete(shared, cases[i].name)
		}
	}
	if len(shared) != 0 {
		t.Fatalf("shared expectations without a case: %v", slices.Collect(maps.Keys(shared)))
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			config := []byte(c.raw)
			if c.raw == "" {
				config = marshal(t, c.mutate(validConfig()))
			}
			for _, m := range []struct {
				mode Mode
				want []string
			}{{Strict, c.strict}, {Router, c.router}} {
				got := errStrings(s.Check(config, m.mode))
				if !slices.Equal(got, m.want) {
					t.Errorf("%v mode:\n got: %q\nwant: %q", m.mode, got, m.want)
				}
			}
		})
	}
}

// TestRouterCoercions covers values the real router accepts although Strict
// does not, and checks what Parse says the router reads.
func TestRouterCoercions(t *testing.T) {
	s := mustLoad(t)
	config := []byte(`# rendered by upstream skupper
[
    ["router", {"id": "west", "mode": 1, "helloMaxAgeSeconds": "3", "raIntervalSeconds": " 1_0 ", "timestampsInUTC": "Yes", "workerThreads": 4.9}],
    ["listener", {"name": "l", "port": 5671, "authenticate-peer": "on", "role": "-1", "healthz": 0, "maxFrameSize": true, "sslProfile": null}],
    ["tcp_listener", {"name": "t", "host": "127.0.0.1", "port": 9090, "address": "a", "backlog": "-7", "siteId": "gone", "site-id": null}, "ignored"],
    ["log", {"module": 1, "enable": "info+"}],
    # a comment line in the middle
    ["address", {"prefix": 7, "distribution": "multicast", "pattern": Infinity}]
]
`)
	if errs := s.Check(config, Strict); len(errs) == 0 {
		t.Fatalf("Strict accepted a config only the router's coercions allow")
	}
	ents, errs := s.Parse(config, Router)
	if len(errs) != 0 {
		t.Fatalf("Router mode: unexpected problems:\n%s", strings.Join(errStrings(errs), "\n"))
	}
	want := []Entity{
		{Index: 0, Type: "router", Line: 3, Attrs: map[string]any{
			"id": "west", "mode": "interior", "helloMaxAgeSeconds": int64(3), "raIntervalSeconds": int64(10),
			"timestampsInUTC": true, "workerThreads": int64(4),
		}},
		{Index: 1, Type: "listener", Line: 4, Attrs: map[string]any{
			"name": "l", "port": "5671", "authenticatePeer": true, "role": "inter-network", "healthz": false, "maxFrameSize": int64(1),
		}},
		{Index: 2, Type: "tcpListener", Line: 5, Attrs: map[string]any{
			"name": "t", "host": "127.0.0.1", "port": "9090", "address": "a", "backlog": int64(-7),
		}},
		{Index: 3, Type: "log", Line: 6, Attrs: map[string]any{"module": "ROUTER_CORE", "enable": "info+"}},
		{Index: 4, Type: "address", Line: 8, Attrs: map[string]any{"prefix": "7", "distribution": "multicast", "pattern": "inf"}},
	}
	if len(ents) != len(want) {
		t.Fatalf("got %d entities, want %d: %+v", len(ents), len(want), ents)
	}
	for i := range want {
		g, w := ents[i], want[i]
		if g.Index != w.Index || g.Type != w.Type || g.Line != w.Line || !maps.Equal(g.Attrs, w.Attrs) {
			t.Errorf("entity %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// TestUpstreamQuirks checks the two type quirks of upstream's renderer
// (upstream-nonkube.md §3.2): the real router accepts them, Strict does not.
func TestUpstreamQuirks(t *testing.T) {
	s := mustLoad(t)
	cfg := validConfig()
	attrs(cfg, 0)["helloMaxAgeSeconds"] = "3"
	attrs(cfg, 6)["port"] = 5671
	config := marshal(t, cfg)
	if errs := s.Check(config, Router); len(errs) != 0 {
		t.Errorf("Router mode: %q", errStrings(errs))
	}
	if errs := s.Check(config, Strict); len(errs) != 2 {
		t.Errorf("Strict mode: got %q, want 2 problems", errStrings(errs))
	}
}

func TestErrorFields(t *testing.T) {
	s := mustLoad(t)
	config := []byte("[\n  [\"router\", {\"id\": \"r\"}],\n  [\"tcpListener\", {\n    \"name\": \"listener/backend\",\n    \"prot\": \"9090\"\n  }]\n]\n")
	errs := s.Check(config, Strict)
	if len(errs) != 1 {
		t.Fatalf("got %q, want one problem", errStrings(errs))
	}
	var e *Error
	if !errors.As(errs[0], &e) {
		t.Fatalf("problem is a %T, not *Error", errs[0])
	}
	want := Error{Index: 1, Type: "tcpListener", Name: "listener/backend", HasName: true, Attribute: "prot", Line: 5, Msg: `unknown attribute "prot"`}
	if *e != want {
		t.Errorf("got %+v\nwant %+v", *e, want)
	}
}

func TestUnknownMode(t *testing.T) {
	s := mustLoad(t)
	if errs := s.Check(marshal(t, validConfig()), Mode(7)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "unknown check mode") {
		t.Errorf("got %q", errStrings(errs))
	}
}

func TestEntityTypes(t *testing.T) {
	s := mustLoad(t)
	want := []string{
		"address", "autoLink", "connector", "listener", "listenerAddress", "log", "network", "policy",
		"proxyProfile", "router", "site", "sslProfile", "tcpConnector", "tcpListener", "vhost", "vhostUserGroupSettings",
	}
	if got := s.EntityTypes(); !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// The result is a copy.
	s.EntityTypes()[0] = "changed"
	if s.EntityTypes()[0] != "address" {
		t.Errorf("EntityTypes exposes internal state")
	}
}

func TestLoadReturnsSameSchema(t *testing.T) {
	a, b := mustLoad(t), mustLoad(t)
	if a != b {
		t.Errorf("Load returned different schemas")
	}
}

func TestCamelCase(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		"saslMechanisms":        "saslMechanisms",
		"sasl-mechanisms":       "saslMechanisms",
		"sasl_mechanisms":       "saslMechanisms",
		"tcp listener":          "tcpListener",
		"router.config.address": "routerConfigAddress",
		"a--b":                  "aB",
		"SSL-PROFILE":           "SSLProfile",
		"require-ßl":            "requireSsl",
	} {
		if got := camelCase(in); got != want {
			t.Errorf("camelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	for in, want := range map[float64]string{
		5: "5.0", 0.1: "0.1", 1e15: "1000000000000000.0", 1e16: "1e+16", 1.5e16: "1.5e+16",
		0.0001: "0.0001", 0.00001: "1e-05", -2.5: "-2.5", 123456789.125: "123456789.125",
	} {
		if got := pyFloatRepr(in); got != want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestPyParseInt(t *testing.T) {
	for in, want := range map[string]int64{
		"3": 3, " 3\t": 3, "-3": -3, "+3": 3, "1_000": 1000, "007": 7, "٣": 3, "\u00a012": 12,
		"9223372036854775807": 9223372036854775807, "-9223372036854775808": -9223372036854775808,
	} {
		if got, ok := pyParseInt(in); !ok || got != want {
			t.Errorf("pyParseInt(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", " ", "-", "3.0", "1e3", "_1", "1_", "1__0", "0x10", "- 3", "9223372036854775808", "three"} {
		if got, ok := pyParseInt(in); ok {
			t.Errorf("pyParseInt(%q) = %d, want failure", in, got)
		}
	}
}
