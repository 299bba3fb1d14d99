package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
)

// update rewrites the golden files:
//
//	go test ./cmd/skupper/cli -run 'Golden' -update
var update = flag.Bool("update", false, "rewrite testdata/golden/*")

const goldenDir = "testdata/golden"

// golden compares got with testdata/golden/<name>, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run `go test ./cmd/skupper/cli -run Golden -update`")
	assert.Equal(t, string(want), got, "%s differs (run `go test ./cmd/skupper/cli -run Golden -update` if the change is intended)", path)
}

// commandPaths lists every command of the tree (hidden ones and cobra's
// help command aside), as argument lists.
func commandPaths(cmd *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, c := range cmd.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		p := append(append([]string(nil), prefix...), c.Name())
		out = append(out, p)
		out = append(out, commandPaths(c, p)...)
	}
	return out
}

func TestHelpGolden(t *testing.T) {
	c := newCLI(t)
	root := (&app{env: func(string) string { return "" }}).newRootCommand()
	paths := append([][]string{{}}, commandPaths(root, nil)...)
	want := map[string]bool{}
	for _, p := range paths {
		name := "help/" + strings.Join(append([]string{"skupper"}, p...), "-") + ".txt"
		want[filepath.Base(name)] = true
		r := c.run(append(p, "--help")...)
		require.Equal(t, 0, r.code, "%v: %s", p, r.stderr)
		require.Empty(t, r.stderr)
		golden(t, name, r.stdout)
	}
	// Every golden help file belongs to a command that still exists.
	entries, err := os.ReadDir(filepath.Join(goldenDir, "help"))
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, want[e.Name()], "stale golden file help/%s: no such command", e.Name())
	}
	// The resource commands the reference documents are all there.
	for _, p := range []string{
		"site create", "site update", "site delete", "site status", "site generate",
		"listener create", "listener update", "listener delete", "listener status", "listener generate",
		"connector create", "connector update", "connector delete", "connector status", "connector generate",
		"link update", "link delete", "link status", "link generate",
		"system apply", "system delete", "system reload", "system start", "system stop", "system status", "system validate",
		"debug check", "debug dump", "version", "completion bash",
	} {
		assert.True(t, want["skupper-"+strings.ReplaceAll(p, " ", "-")+".txt"], "missing command %q", p)
	}
}

// statusFixture lays out a namespace "west" as skupperd leaves it: input
// files, status files with fixed times, and a reconcile summary.
func statusFixture(t *testing.T, c *cli) {
	t.Helper()
	c.writeInput("west", "Site-west.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	c.writeInput("west", "Listener-backend.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: backend\nspec:\n  routingKey: backend\n  host: 0.0.0.0\n  port: 8080\n")
	c.writeInput("west", "listeners.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: database\nspec:\n  routingKey: database\n  host: 127.0.0.1\n  port: 5432\n---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: new\nspec:\n  routingKey: new\n  host: 127.0.0.1\n  port: 9000\n")
	c.writeInput("west", "Connector-backend.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: backend\nspec:\n  routingKey: backend\n  host: localhost\n  port: 8081\n")
	c.writeInput("west", "Connector-database.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: database\nspec:\n  routingKey: database\n  host: db.example.com\n  port: 5432\n  tlsCredentials: db-tls\n")
	c.writeInput("west", "Link-east.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: east\nspec:\n  cost: 5\n  endpoints:\n  - name: inter-router\n    host: east.example.com\n    port: \"55671\"\n")
	c.writeInput("west", "Link-south.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: south\nspec:\n  endpoints:\n  - name: inter-router\n    host: south.example.com\n    port: \"55671\"\n")

	ns := c.ns("west")
	ts := "2026-01-02T03:04:05Z"
	cond := func(typ string, ok bool, reason, msg string) v2alpha1.Condition {
		s := "False"
		if ok {
			s = "True"
		}
		return v2alpha1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, LastTransitionTime: ts}
	}
	ready := func(extra ...v2alpha1.Condition) v2alpha1.ResourceStatus {
		conds := append([]v2alpha1.Condition{cond("Configured", true, "Configured", "OK")}, extra...)
		return v2alpha1.ResourceStatus{StatusType: v2alpha1.StatusReady, Message: "OK", Conditions: append(conds, cond("Ready", true, "Ready", "OK"))}
	}
	read := func(file string) v2alpha1.Object {
		data, err := os.ReadFile(filepath.Join(ns.InputResourcesDir(), file))
		require.NoError(t, err)
		docs, diags := v2alpha1.Decode(file, data)
		require.False(t, diags.HasErrors(), diags)
		return docs[0].Object
	}
	site := read("Site-west.yaml").(*v2alpha1.Site)
	site.Status.ResourceStatus = ready(cond("Running", true, "Running", "OK"), cond("Resolved", true, "Resolved", "OK"))
	site.Status.Endpoints = []v2alpha1.Endpoint{{Name: "inter-router", Host: "host.example.com", Port: "55671", Group: "skupper-router"}}
	backend := read("Listener-backend.yaml").(*v2alpha1.Listener)
	backend.Status.ResourceStatus = ready(cond("Matched", true, "Matched", "OK"))
	backend.Status.HasMatchingConnector = true
	db := &v2alpha1.Listener{TypeMeta: typeMeta(v2alpha1.KindListener), ObjectMeta: v2alpha1.ObjectMeta{Name: "database"},
		Spec: v2alpha1.ListenerSpec{RoutingKey: "database", Host: "127.0.0.1", Port: 5432}}
	db.Status.ResourceStatus = v2alpha1.ResourceStatus{StatusType: v2alpha1.StatusPending, Message: "No matching connectors",
		Conditions: []v2alpha1.Condition{cond("Configured", true, "Configured", "OK"), cond("Matched", false, "Matched", "No matching connectors"), cond("Ready", false, "Pending", "No matching connectors")}}
	cb := read("Connector-backend.yaml").(*v2alpha1.Connector)
	cb.Status.ResourceStatus = ready(cond("Matched", true, "Matched", "OK"))
	cb.Status.HasMatchingListener = true
	cd := read("Connector-database.yaml").(*v2alpha1.Connector)
	msg := `input/resources/Connector-database.yaml:9: spec.tlsCredentials: bundle "db-tls" not found: put the CA of your server in input/certs/db-tls/ca.crt (and tls.crt, tls.key for useClientCert)`
	cd.Status.ResourceStatus = v2alpha1.ResourceStatus{StatusType: v2alpha1.StatusError, Message: msg,
		Conditions: []v2alpha1.Condition{cond("Configured", false, "Error", msg), cond("Ready", false, "Error", msg)}}
	east := read("Link-east.yaml").(*v2alpha1.Link)
	east.Spec.TLSCredentials = "east" // the daemon's default
	east.Status.ResourceStatus = v2alpha1.ResourceStatus{StatusType: v2alpha1.StatusPending, Message: "Not Operational",
		Conditions: []v2alpha1.Condition{cond("Configured", true, "Configured", "OK"), cond("Operational", false, "NotOperational", "Not Operational"), cond("Ready", false, "Pending", "Not Operational")}}
	// A status file left from an earlier version of Link/south (cost 3):
	// the input changed since, so it is shown as not applied.
	south := read("Link-south.yaml").(*v2alpha1.Link)
	south.Spec.Cost = 3
	south.Status.ResourceStatus = ready()
	for _, o := range []v2alpha1.Object{site, backend, db, cb, cd, east, south} {
		_, err := ns.WriteStatus(o)
		require.NoError(t, err)
	}
	sum := namespaces.Summary{
		Namespace: "west", Outcome: reconcile.Applied, Site: "west", SiteID: "00000000-0000-4000-8000-000000000001",
		InputHash: "abc", LastReconcile: "2026-01-02T03:04:05.123456789Z", DurationMS: 4.2, Router: "Running",
		Errors:   []string{filepath.Join(ns.InputResourcesDir(), "Connector-database.yaml") + ":9: Connector/database: spec.tlsCredentials: " + `bundle "db-tls" not found`},
		Warnings: []string{filepath.Join(ns.InputResourcesDir(), "Link-south.yaml") + ":1: warning: Link/south: something to look at"},
	}
	data, err := yaml.Marshal(sum)
	require.NoError(t, err)
	require.NoError(t, atomicfile.MkdirAll(ns.InternalDir(), namespaces.DirPerm))
	require.NoError(t, atomicfile.WriteFile(ns.SummaryPath(), data, namespaces.FilePerm))
	// A second namespace that skupperd has not reconciled, and an empty one.
	c.writeInput("east", "Site-east.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: east\n")
	require.NoError(t, c.ns("empty").EnsureInput())
}

func TestStatusGolden(t *testing.T) {
	c := newCLI(t)
	statusFixture(t, c)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"site-status.txt", []string{"site", "status", "-n", "west"}},
		{"site-status-west.txt", []string{"site", "status", "west", "-n", "west"}},
		{"site-status-yaml.txt", []string{"site", "status", "-n", "west", "-o", "yaml"}},
		{"site-status-not-applied.txt", []string{"site", "status", "-n", "east"}},
		{"listener-status.txt", []string{"listener", "status", "-n", "west"}},
		{"listener-status-backend.txt", []string{"listener", "status", "backend", "-n", "west"}},
		{"listener-status-backend-json.txt", []string{"listener", "status", "backend", "-n", "west", "-o", "json"}},
		{"connector-status.txt", []string{"connector", "status", "-n", "west"}},
		{"connector-status-database.txt", []string{"connector", "status", "database", "-n", "west"}},
		{"link-status.txt", []string{"link", "status", "-n", "west"}},
		{"link-status-east.txt", []string{"link", "status", "east", "-n", "west"}},
		{"empty-site-status.txt", []string{"site", "status", "-n", "empty"}},
		{"empty-listener-status.txt", []string{"listener", "status", "-n", "empty"}},
		{"empty-connector-status.txt", []string{"connector", "status", "-n", "empty"}},
		{"empty-link-status.txt", []string{"link", "status", "-n", "empty"}},
		{"system-status.txt", []string{"system", "status"}},
		{"system-status-west.txt", []string{"system", "status", "-n", "west"}},
		{"version.txt", []string{"version"}},
		{"version-yaml.txt", []string{"version", "-o", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.ok(tc.args...)
			if strings.Contains(tc.name, "json") || strings.Contains(tc.name, "yaml") {
				// Structured output stays parseable: the note that no
				// daemon runs goes to stderr.
				if r.stderr != "" {
					require.Equal(t, "Warning: skupperd is not running; status as of 2026-01-02T03:04:05Z\n", r.stderr)
				}
			} else {
				require.Empty(t, r.stderr)
			}
			golden(t, tc.name, strings.ReplaceAll(r.stdout, c.home, "<home>"))
		})
	}
}

func TestDebugCheckGolden(t *testing.T) {
	c := newCLI(t)
	statusFixture(t, c)
	// A /proc with a low inotify limit; no router config, so no ports
	// are probed; certificates are absent.
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "sys", "fs", "inotify"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "sys", "fs", "inotify", "max_user_watches"), []byte("4096\n"), 0o644))
	var out, errOut strings.Builder
	a := &app{stdout: &out, stderr: &errOut, env: func(k string) string {
		if k == EnvDataHome {
			return c.home
		}
		return ""
	}, now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }, procRoot: proc}
	code := a.run([]string{"debug", "check", "-n", "west"})
	require.Equal(t, 1, code, errOut.String())
	golden(t, "debug-check.txt", strings.ReplaceAll(out.String(), c.home, "<home>"))
}
