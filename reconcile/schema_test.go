package reconcile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/test/routerschema"
)

// Every router config skupperd renders must pass the skupper-router schema
// (test/routerschema, Strict mode: entity types and attributes known,
// JSON types and enumerations respected, required attributes present). The
// tests below check every golden config and the config of every example,
// and make sure the check itself catches the mistakes a renderer makes.

const examplesDir = "../examples"

func loadRouterSchema(t *testing.T) *routerschema.Schema {
	t.Helper()
	s, err := routerschema.Load()
	require.NoError(t, err)
	return s
}

func goldenConfigs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenRoot, "*", "want", "*", "skrouterd.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no golden router configs; run `go test ./reconcile -run TestGolden -update`")
	return files
}

// requireSchemaClean fails with every schema problem of cfg.
func requireSchemaClean(t *testing.T, schema *routerschema.Schema, what string, cfg []byte) {
	t.Helper()
	for _, mode := range []routerschema.Mode{routerschema.Strict, routerschema.Router} {
		for _, err := range schema.Check(cfg, mode) {
			t.Errorf("%s (%v): %v", what, mode, err)
		}
	}
}

func TestSchemaGoldenConfigs(t *testing.T) {
	schema := loadRouterSchema(t)
	for _, file := range goldenConfigs(t) {
		rel, _ := filepath.Rel(goldenRoot, file)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			cfg, err := os.ReadFile(file)
			require.NoError(t, err)
			requireSchemaClean(t, schema, rel, cfg)
		})
	}
}

// TestSchemaExamples reconciles every example (examples/<name>/<ns>/*.yaml,
// one namespace per directory, all in one data home) and checks each
// rendered config against the schema and against what the router needs at
// start-up (sslProfile files, TLS roles, port clashes).
func TestSchemaExamples(t *testing.T) {
	schema := loadRouterSchema(t)
	examples, err := os.ReadDir(examplesDir)
	require.NoError(t, err)
	n := 0
	for _, ex := range examples {
		if !ex.IsDir() {
			continue
		}
		n++
		t.Run(ex.Name(), func(t *testing.T) {
			home := namespaces.NewHome(t.TempDir())
			require.NoError(t, home.Ensure())
			nsDirs, err := os.ReadDir(filepath.Join(examplesDir, ex.Name()))
			require.NoError(t, err)
			for _, d := range nsDirs {
				if !d.IsDir() {
					continue
				}
				src := filepath.Join(examplesDir, ex.Name(), d.Name())
				files, err := os.ReadDir(src)
				require.NoError(t, err)
				ns := home.Namespace(d.Name())
				require.NoError(t, ns.EnsureInput())
				for _, f := range files {
					if f.IsDir() || !namespaces.IsResourceFile(f.Name()) {
						continue
					}
					data, err := os.ReadFile(filepath.Join(src, f.Name()))
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(filepath.Join(ns.InputResourcesDir(), f.Name()), data, 0o600))
				}
			}
			run := reconcileGoldenHome(t, home)
			configs := 0
			for _, nr := range run.namespaces {
				for _, d := range nr.res.Diagnostics {
					if d.IsError() {
						t.Errorf("namespace %s: %s", nr.ns.Name, d.Error())
					}
				}
				if nr.res.Outcome != reconcile.Applied {
					assert.Equal(t, reconcile.NoSiteNeeded, nr.res.Outcome, "namespace %s", nr.ns.Name)
					continue
				}
				cfg, err := os.ReadFile(nr.ns.RouterConfigPath())
				require.NoError(t, err)
				configs++
				requireSchemaClean(t, schema, nr.ns.Name+"/skrouterd.json", cfg)
				checkRouterConfigNeeds(t, nr.ns, cfg)
			}
			assert.NotZero(t, configs, "example %s renders no router config", ex.Name())
		})
	}
	require.NotZero(t, n, "no examples in %s", examplesDir)
}

// ---- The check must catch mistakes

// cfgEntity is one [type, {attributes}] element of a config.
type cfgEntity struct {
	typ   string
	attrs map[string]any
}

func decodeRouterConfig(t *testing.T, data []byte) []cfgEntity {
	t.Helper()
	var raw [][]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw))
	out := make([]cfgEntity, 0, len(raw))
	for _, el := range raw {
		require.Len(t, el, 2)
		var e cfgEntity
		require.NoError(t, json.Unmarshal(el[0], &e.typ))
		dec := json.NewDecoder(bytes.NewReader(el[1]))
		dec.UseNumber() // keep integers integers
		require.NoError(t, dec.Decode(&e.attrs))
		out = append(out, e)
	}
	return out
}

func encodeRouterConfig(t *testing.T, ents []cfgEntity) []byte {
	t.Helper()
	all := make([][]any, 0, len(ents))
	for _, e := range ents {
		all = append(all, []any{e.typ, e.attrs})
	}
	data, err := json.MarshalIndent(all, "", "    ")
	require.NoError(t, err)
	return data
}

func cloneEntities(ents []cfgEntity) []cfgEntity {
	out := make([]cfgEntity, len(ents))
	for i, e := range ents {
		attrs := make(map[string]any, len(e.attrs))
		for k, v := range e.attrs {
			attrs[k] = v
		}
		out[i] = cfgEntity{typ: e.typ, attrs: attrs}
	}
	return out
}

// schemaErrors returns Check's errors as *routerschema.Error.
func schemaErrors(t *testing.T, schema *routerschema.Schema, cfg []byte, mode routerschema.Mode) []*routerschema.Error {
	t.Helper()
	var out []*routerschema.Error
	for _, err := range schema.Check(cfg, mode) {
		var e *routerschema.Error
		require.True(t, errors.As(err, &e), "%v is not a *routerschema.Error", err)
		out = append(out, e)
	}
	return out
}

// wantSchemaError requires an error at entity index (-1: any) whose
// attribute is attr ("" for any) and whose text contains every one of msg.
func wantSchemaError(t *testing.T, errs []*routerschema.Error, index int, attr string, msg ...string) {
	t.Helper()
	for _, e := range errs {
		if index >= 0 && e.Index != index || attr != "" && e.Attribute != attr {
			continue
		}
		text, ok := e.Error(), true
		for _, m := range msg {
			ok = ok && strings.Contains(text, m)
		}
		if ok {
			return
		}
	}
	t.Errorf("no error at entity %d attribute %q containing %q; got %v", index, attr, msg, errs)
}

// TestSchemaCatchesMistakes mutates a rendered config the way a renderer
// bug would and requires the Strict check to name the problem.
func TestSchemaCatchesMistakes(t *testing.T) {
	schema := loadRouterSchema(t)
	// These two golden configs hold every entity type the renderer emits:
	// RouterAccess and link listeners and connectors, sslProfiles with
	// and without CA or certificate, tcpListener (with observer) and
	// tcpConnector (with verifyHostname), address, log, site.
	base := map[string][]cfgEntity{}
	for _, name := range []string{"ipv6-hosts/want/v6", "settings/want/west", "connector-tls-ca-only/want/east"} {
		data, err := os.ReadFile(filepath.Join(goldenRoot, name, "skrouterd.json"))
		require.NoError(t, err)
		require.Empty(t, schema.Check(data, routerschema.Strict), "%s must pass before it is mutated", name)
		ents := decodeRouterConfig(t, data)
		require.Empty(t, schema.Check(encodeRouterConfig(t, ents), routerschema.Strict), "%s re-encoded", name)
		base[name] = ents
	}

	rename := func(from, to string) func(map[string]any) {
		return func(a map[string]any) { a[to] = a[from]; delete(a, from) }
	}
	set := func(attr string, v any) func(map[string]any) {
		return func(a map[string]any) { a[attr] = v }
	}
	cases := []struct {
		name   string
		config string
		typ    string            // mutate the first entity of this type...
		match  map[string]string // ...whose attributes have these values
		mutate func(map[string]any)
		newTyp string // or rename its type
		attr   string // expected error attribute
		msg    []string
	}{
		{name: "misspelled sslProfile on a listener", config: "ipv6-hosts/want/v6", typ: "listener", match: map[string]string{"role": "inter-router"},
			mutate: rename("sslProfile", "sslProfle"), attr: "sslProfle", msg: []string{`unknown attribute "sslProfle"`}},
		{name: "misspelled port on a tcpListener", config: "ipv6-hosts/want/v6", typ: "tcpListener",
			mutate: rename("port", "prot"), attr: "prot", msg: []string{`unknown attribute "prot"`}},
		{name: "misspelled caCertFile", config: "ipv6-hosts/want/v6", typ: "sslProfile",
			mutate: rename("caCertFile", "caCertFiles"), attr: "caCertFiles", msg: []string{`unknown attribute "caCertFiles"`}},
		{name: "attribute in the wrong case", config: "ipv6-hosts/want/v6", typ: "connector",
			mutate: rename("sslProfile", "sslprofile"), attr: "sslprofile", msg: []string{`unknown attribute "sslprofile"`}},
		{name: "snake_case attribute", config: "ipv6-hosts/want/v6", typ: "listener",
			mutate: rename("saslMechanisms", "sasl_mechanisms"), attr: "sasl_mechanisms", msg: []string{"sasl_mechanisms"}},
		{name: "attribute of another entity type", config: "ipv6-hosts/want/v6", typ: "tcpConnector",
			mutate: set("cost", json.Number("1")), attr: "cost", msg: []string{`unknown attribute "cost"`}},
		{name: "observer on a tcpConnector", config: "settings/want/west", typ: "tcpConnector",
			mutate: set("observer", "none"), attr: "observer", msg: []string{`unknown attribute "observer"`}},
		{name: "unknown entity type", config: "ipv6-hosts/want/v6", typ: "tcpListener",
			newTyp: "tcpListner", msg: []string{`unknown entity type "tcpListner"`}},
		{name: "operational entity type", config: "ipv6-hosts/want/v6", typ: "connector",
			newTyp: "connection", msg: []string{`"connection"`}},
		{name: "listener role bogus", config: "ipv6-hosts/want/v6", typ: "listener", match: map[string]string{"role": "edge"},
			mutate: set("role", "bogus"), attr: "role", msg: []string{"bogus"}},
		{name: "connector role bogus", config: "ipv6-hosts/want/v6", typ: "connector",
			mutate: set("role", "bogus"), attr: "role", msg: []string{"bogus"}},
		{name: "router mode bogus", config: "ipv6-hosts/want/v6", typ: "router",
			mutate: set("mode", "bogus"), attr: "mode", msg: []string{"bogus"}},
		{name: "address distribution bogus", config: "ipv6-hosts/want/v6", typ: "address",
			mutate: set("distribution", "bogus"), attr: "distribution", msg: []string{"bogus"}},
		{name: "tcpListener observer bogus", config: "settings/want/west", typ: "tcpListener",
			mutate: set("observer", "http3"), attr: "observer", msg: []string{"http3"}},
		{name: "log module bogus", config: "settings/want/west", typ: "log",
			mutate: set("module", "ROUTER_COREX"), attr: "module", msg: []string{"ROUTER_COREX"}},
		{name: "required log module missing", config: "settings/want/west", typ: "log",
			mutate: func(a map[string]any) { delete(a, "module") }, attr: "module", msg: []string{`missing required attribute "module"`}},
		{name: "boolean as a string", config: "ipv6-hosts/want/v6", typ: "listener",
			mutate: set("authenticatePeer", "true"), attr: "authenticatePeer", msg: []string{"authenticatePeer"}},
		{name: "verifyHostname as a string", config: "connector-tls-ca-only/want/east", typ: "tcpConnector",
			mutate: set("verifyHostname", "true"), attr: "verifyHostname", msg: []string{"verifyHostname"}},
		{name: "integer cost as a string", config: "ipv6-hosts/want/v6", typ: "connector",
			mutate: set("cost", "2"), attr: "cost", msg: []string{"cost"}},
		{name: "port as a number", config: "ipv6-hosts/want/v6", typ: "tcpListener",
			mutate: set("port", json.Number("8080")), attr: "port", msg: []string{"port"}},
		{name: "dataConnectionCount as a number", config: "settings/want/west", typ: "router",
			mutate: set("dataConnectionCount", json.Number("4")), attr: "dataConnectionCount", msg: []string{"dataConnectionCount"}},
		{name: "null value", config: "ipv6-hosts/want/v6", typ: "tcpConnector",
			mutate: set("host", nil), attr: "host", msg: []string{"null"}},
		{name: "type attribute set", config: "ipv6-hosts/want/v6", typ: "site",
			mutate: set("type", "site"), attr: "type", msg: []string{`"type"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ents := cloneEntities(base[c.config])
			require.NotEmpty(t, ents, c.config)
			idx := -1
			for i, e := range ents {
				if e.typ != c.typ {
					continue
				}
				ok := true
				for k, v := range c.match {
					ok = ok && e.attrs[k] == v
				}
				if ok {
					idx = i
					break
				}
			}
			require.GreaterOrEqual(t, idx, 0, "%s has no %s entity matching %v", c.config, c.typ, c.match)
			if c.newTyp != "" {
				ents[idx].typ = c.newTyp
			} else {
				c.mutate(ents[idx].attrs)
			}
			errs := schemaErrors(t, schema, encodeRouterConfig(t, ents), routerschema.Strict)
			wantSchemaError(t, errs, idx, c.attr, c.msg...)
		})
	}
}

// TestSchemaCatchesEveryMisspelling misspells, one at a time, every
// attribute and every entity type of every golden config, and requires
// both the Strict check and the router's own reading (Router mode) to
// reject it, naming the misspelled attribute or type.
func TestSchemaCatchesEveryMisspelling(t *testing.T) {
	schema := loadRouterSchema(t)
	seen := map[string]bool{}
	for _, file := range goldenConfigs(t) {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		ents := decodeRouterConfig(t, data)
		for i, e := range ents {
			keys := make([]string, 0, len(e.attrs))
			for k := range e.attrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				for _, bad := range misspellings(k) {
					id := e.typ + "." + k + "→" + bad
					if seen[id] {
						continue
					}
					seen[id] = true
					mut := cloneEntities(ents)
					mut[i].attrs[bad] = mut[i].attrs[k]
					delete(mut[i].attrs, k)
					cfg := encodeRouterConfig(t, mut)
					for _, mode := range []routerschema.Mode{routerschema.Strict, routerschema.Router} {
						errs := schemaErrors(t, schema, cfg, mode)
						if !assert.NotEmpty(t, errs, "%s: %s misspelled %q passes %v", file, id, bad, mode) {
							continue
						}
						wantSchemaError(t, errs, i, bad, "unknown attribute", bad)
					}
				}
			}
			if id := "type " + e.typ; !seen[id] {
				seen[id] = true
				mut := cloneEntities(ents)
				mut[i].typ = e.typ[:len(e.typ)-1]
				errs := schemaErrors(t, schema, encodeRouterConfig(t, mut), routerschema.Strict)
				wantSchemaError(t, errs, i, "", "unknown entity type", mut[i].typ)
			}
		}
	}
	// Sanity: the golden configs cover the renderer's vocabulary.
	for _, id := range []string{"listener.sslProfile→sslProfil", "tcpListener.port→por", "tcpConnector.verifyHostname→verifyHostnam", "router.dataConnectionCount→dataConnectionCoun", "tcpListener.observer→observe", "connector.cost→cos", "type site"} {
		assert.True(t, seen[id], "no golden config exercised %s", id)
	}
}

// misspellings returns typical typos of an attribute name: the last letter
// dropped, and the name in lower case when that differs.
func misspellings(name string) []string {
	out := []string{name[:len(name)-1]}
	if l := strings.ToLower(name); l != name {
		out = append(out, l)
	}
	return out
}
