package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
)

// reconcileNow is the fixed clock of these tests. Handshake tests hand it to
// crypto/tls as well, so nothing depends on the real time.
var reconcileNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// harness is a data home in t.TempDir() with one deterministic port
// allocator (every port probes free, so ports are the base ports upwards)
// shared by all its namespaces, a fixed clock and fixed host names.
type harness struct {
	t     testing.TB
	home  namespaces.Home
	alloc *ports.Allocator
	now   time.Time
	hosts []string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Ensure())
	return &harness{
		t:     t,
		home:  home,
		alloc: ports.New(home, ports.WithProbe(func(string, int) bool { return true })),
		now:   reconcileNow,
		hosts: []string{"host.example.com", "127.0.0.1"},
	}
}

// ns returns namespace name with its input directories created.
func (h *harness) ns(name string) namespaces.Namespace {
	h.t.Helper()
	n := h.home.Namespace(name)
	require.NoError(h.t, n.EnsureInput())
	return n
}

func (h *harness) options() reconcile.Options {
	return reconcile.Options{
		Now:     func() time.Time { return h.now },
		Hosts:   func() []string { return append([]string(nil), h.hosts...) },
		Version: "1.2.3-test",
		Ports:   h.alloc,
		Cache:   testCache,
	}
}

// testCache is shared by every harness, as the daemon shares one Cache
// between its workers; the golden tests run without one.
var testCache = reconcile.NewCache()

// reconcile runs one reconcile of n and fails the test on an error.
func (h *harness) reconcile(n namespaces.Namespace) *reconcile.Result {
	h.t.Helper()
	res, err := reconcile.Run(context.Background(), n, h.options())
	require.NoError(h.t, err)
	require.Equal(h.t, n.Name, res.Namespace)
	return res
}

// writeInput writes input/resources/<file>.
func (h *harness) writeInput(n namespaces.Namespace, file, content string) string {
	h.t.Helper()
	path := filepath.Join(n.InputResourcesDir(), file)
	require.NoError(h.t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// writeBundleFiles writes input/certs/<name>/ with the given files (file
// name → content); files not given are absent.
func (h *harness) writeBundleFiles(n namespaces.Namespace, name string, files map[string][]byte) {
	h.t.Helper()
	dir := n.InputCertDir(name)
	require.NoError(h.t, os.MkdirAll(dir, 0o700))
	for f, data := range files {
		require.NoError(h.t, os.WriteFile(filepath.Join(dir, f), data, 0o600))
	}
}

// status reads the status file of Kind/name.
func (h *harness) status(n namespaces.Namespace, kind, name string) v2alpha1.Object {
	h.t.Helper()
	obj, err := n.ReadStatus(v2alpha1.Key{Kind: kind, Name: name})
	require.NoError(h.t, err)
	return obj
}

func (h *harness) statusOf(n namespaces.Namespace, kind, name string) v2alpha1.ResourceStatus {
	h.t.Helper()
	return *h.status(n, kind, name).GetStatus()
}

// condition returns the condition typ of a status.
func condition(st v2alpha1.ResourceStatus, typ string) (v2alpha1.Condition, bool) {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return v2alpha1.Condition{}, false
}

// ---- resource documents

func siteDoc(name, spec string) string {
	doc := "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: " + name + "\n"
	if spec != "" {
		doc += "spec:\n" + indent(spec)
	}
	return doc
}

func listenerDoc(name string, port int, extra string) string {
	return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: %s\nspec:\n  routingKey: %s\n  host: 127.0.0.1\n  port: %d\n%s",
		name, name, port, indent(extra))
}

func connectorDoc(name string, port int, extra string) string {
	return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: %s\nspec:\n  routingKey: %s\n  host: 127.0.0.1\n  port: %d\n%s",
		name, name, port, indent(extra))
}

// indent indents every line of a spec fragment by two spaces.
func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func docs(ds ...string) string { return "---\n" + strings.Join(ds, "---\n") }

// ---- router config

// routerEntity is one ["type", {attributes}] entry of skrouterd.json.
type routerEntity struct {
	Type  string
	Attrs map[string]any
}

func readRouterConfig(t testing.TB, n namespaces.Namespace) []routerEntity {
	t.Helper()
	data, err := os.ReadFile(n.RouterConfigPath())
	require.NoError(t, err)
	var raw [][2]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw), "skrouterd.json is not a list of [type, attributes]")
	out := make([]routerEntity, len(raw))
	for i, r := range raw {
		require.NoError(t, json.Unmarshal(r[0], &out[i].Type))
		require.NoError(t, json.Unmarshal(r[1], &out[i].Attrs))
	}
	return out
}

// entity returns the entity of type typ named name.
func entity(ents []routerEntity, typ, name string) (map[string]any, bool) {
	for _, e := range ents {
		if e.Type == typ && e.Attrs["name"] == name {
			return e.Attrs, true
		}
	}
	return nil, false
}

func mustEntity(t testing.TB, ents []routerEntity, typ, name string) map[string]any {
	t.Helper()
	e, ok := entity(ents, typ, name)
	require.True(t, ok, "skrouterd.json has no %s %q", typ, name)
	return e
}

// portOf returns an entity's port as a number.
func portOf(t testing.TB, attrs map[string]any) int {
	t.Helper()
	s, ok := attrs["port"].(string)
	require.True(t, ok, "port of %v is not a string", attrs["name"])
	p, err := strconv.Atoi(s)
	require.NoError(t, err)
	return p
}

// routerPorts returns the local, inter-router and edge ports of a site
// whose only RouterAccess is the one implied by linkAccess.
func routerPorts(t testing.TB, n namespaces.Namespace, site string) (local, interRouter, edge int) {
	t.Helper()
	ents := readRouterConfig(t, n)
	local = portOf(t, mustEntity(t, ents, "listener", "skupper-local-normal"))
	interRouter = portOf(t, mustEntity(t, ents, "listener", "routeraccess/"+site+"/inter-router"))
	edge = portOf(t, mustEntity(t, ents, "listener", "routeraccess/"+site+"/edge"))
	return
}

// ---- file trees

// fileState is what idempotence is judged by: content and modification time.
type fileState struct {
	data  string
	mtime time.Time
	mode  fs.FileMode
}

// snapshotTree records every regular file under dir by path relative to
// root. A missing dir is empty.
func snapshotTree(t testing.TB, root, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == filepath.Join(root, dir) {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out[rel] = fileState{data: string(data), mtime: fi.ModTime(), mode: fi.Mode()}
		return nil
	})
	require.NoError(t, err)
	return out
}

// ageTree sets the mtime of every regular file under dir to long ago, so a
// rewrite is visible whatever the file system's timestamp granularity;
// files named in except keep theirs.
func ageTree(t testing.TB, dir string, except ...string) {
	t.Helper()
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, e := range except {
			if path == e {
				return nil
			}
		}
		return os.Chtimes(path, old, old)
	})
	require.NoError(t, err)
}

// changedFiles lists the files that differ between two snapshots (added,
// removed, other content, mode or mtime), sorted.
func changedFiles(before, after map[string]fileState) []string {
	var out []string
	for p, b := range before {
		a, ok := after[p]
		if !ok || a.data != b.data || !a.mtime.Equal(b.mtime) || a.mode != b.mode {
			out = append(out, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// nsTree snapshots runtime/ and internal/ of n (without
// internal/status.yaml, which records every reconcile by design).
func nsTree(t testing.TB, n namespaces.Namespace) map[string]fileState {
	t.Helper()
	s := snapshotTree(t, n.Dir, "runtime")
	// The status index is the status files' cache: it changes with them
	// (and when their times do), and only then.
	delete(s, filepath.Join("runtime", "resources", ".status-index"))
	for p, f := range snapshotTree(t, n.Dir, "internal") {
		if p != filepath.Join("internal", "status.yaml") {
			s[p] = f
		}
	}
	return s
}

// ageNamespace ages runtime/ and internal/ but internal/status.yaml.
func ageNamespace(t testing.TB, n namespaces.Namespace) {
	t.Helper()
	ageTree(t, n.RuntimeDir())
	ageTree(t, n.InternalDir(), n.SummaryPath())
}

// ---- tests

// idempotenceInput is a site with link access, two Listeners (one with a
// generated server certificate), a Connector and a static link to itself.
func idempotenceInput(backendPort int) string {
	return docs(
		siteDoc("west", "linkAccess: default\n"),
		listenerDoc("backend", backendPort, "tlsCredentials: backend-tls\n"),
		listenerDoc("frontend", 9090, ""),
		connectorDoc("frontend", 8081, ""),
	)
}

func TestReconcileIsIdempotent(t *testing.T) {
	h := newHarness(t)
	west := h.ns("west")
	h.writeInput(west, "site.yaml", idempotenceInput(8080))

	first := h.reconcile(west)
	require.Equal(t, reconcile.Applied, first.Outcome, "%v", first.Diagnostics)
	require.Empty(t, first.Diagnostics)
	require.True(t, first.ConfigChanged)
	require.True(t, first.CertsChanged)

	ageNamespace(t, west)
	before := nsTree(t, west)
	require.Contains(t, before, filepath.Join("runtime", "router", "skrouterd.json"))
	require.Contains(t, before, filepath.Join("internal", "ports.yaml"))
	require.Contains(t, before, filepath.Join("internal", "site-id"))

	// The same input an hour later: nothing is written.
	h.now = h.now.Add(time.Hour)
	second := h.reconcile(west)
	require.Equal(t, reconcile.Applied, second.Outcome)
	assert.False(t, second.ConfigChanged, "ConfigChanged")
	assert.False(t, second.CertsChanged, "CertsChanged")
	assert.Equal(t, first.SiteID, second.SiteID)
	assert.Equal(t, first.InputHash, second.InputHash)
	assert.Empty(t, changedFiles(before, nsTree(t, west)), "files touched by a reconcile of unchanged input")

	// Status files hold exactly what namespaces.WriteStatus would write.
	assertStatusFilesCanonical(t, west)

	// A status file edited or loosened by hand is put back, and nothing else
	// is touched.
	siteStatus := west.StatusPath(v2alpha1.Key{Kind: v2alpha1.KindSite, Name: "west"})
	connStatus := west.StatusPath(v2alpha1.Key{Kind: v2alpha1.KindConnector, Name: "frontend"})
	f, err := os.OpenFile(siteStatus, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("# edited\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chmod(connStatus, 0o644))
	ageNamespace(t, west)
	edited := nsTree(t, west)
	h.reconcile(west)
	restored := nsTree(t, west)
	rel := func(p string) string { r, _ := filepath.Rel(west.Dir, p); return r }
	assert.Equal(t, []string{rel(connStatus), rel(siteStatus)}, changedFiles(edited, restored))
	for _, p := range []string{rel(connStatus), rel(siteStatus)} {
		assert.Equal(t, before[p].data, restored[p].data, p)
		assert.Equal(t, before[p].mode, restored[p].mode, p)
	}

	// One Listener moves to another port: only the router config, that
	// Listener's status and the ports table change.
	h.writeInput(west, "site.yaml", idempotenceInput(8088))
	ageNamespace(t, west)
	before = nsTree(t, west)
	h.now = h.now.Add(time.Hour)
	third := h.reconcile(west)
	require.Equal(t, reconcile.Applied, third.Outcome)
	assert.True(t, third.ConfigChanged)
	assert.False(t, third.CertsChanged)
	assert.NotEqual(t, first.InputHash, third.InputHash)
	assert.Equal(t, []string{
		filepath.Join("internal", "ports.yaml"),
		filepath.Join("runtime", "resources", "Listener-backend.yaml"),
		filepath.Join("runtime", "router", "skrouterd.json"),
	}, changedFiles(before, nsTree(t, west)))
	l := mustEntity(t, readRouterConfig(t, west), "tcpListener", "listener/backend")
	assert.Equal(t, "8088", l["port"])
	st := h.status(west, v2alpha1.KindListener, "backend").(*v2alpha1.Listener)
	assert.Equal(t, 8088, st.Spec.Port)
	// The Listener's conditions did not transition, so they keep the time
	// of the first reconcile.
	for _, c := range st.Status.Conditions {
		assert.Equal(t, reconcileNow.Format(time.RFC3339), c.LastTransitionTime, c.Type)
	}
}

// assertStatusFilesCanonical checks that every status file holds exactly
// v2alpha1.Marshal of the resource it describes, with mode 0600.
func assertStatusFilesCanonical(t testing.TB, n namespaces.Namespace) {
	t.Helper()
	keys, err := n.ListStatus()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		data, err := os.ReadFile(n.StatusPath(k))
		require.NoError(t, err)
		obj, err := n.ReadStatus(k)
		require.NoError(t, err)
		want, err := v2alpha1.Marshal(obj)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(data), "%s", k)
		fi, err := os.Stat(n.StatusPath(k))
		require.NoError(t, err)
		assert.Equal(t, namespaces.FilePerm, fi.Mode().Perm(), "%s", k)
	}
}

// TestConcurrentNamespaces reconciles several namespaces at once with one
// allocator, as the daemon's per-namespace workers do.
func TestConcurrentNamespaces(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t)
	names := []string{"ns-a", "ns-b", "ns-c", "ns-d"}
	for i, name := range names {
		n := h.ns(name)
		h.writeInput(n, "site.yaml", docs(
			siteDoc(name, "linkAccess: default\n"),
			listenerDoc("backend", 8080+i, ""),
			connectorDoc("backend", 9000, ""),
		))
	}
	opts := h.options()
	for round := range 2 {
		var wg sync.WaitGroup
		results := make([]*reconcile.Result, len(names))
		errs := make([]error, len(names))
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = reconcile.Run(context.Background(), h.home.Namespace(name), opts)
			}()
		}
		wg.Wait()
		seen := map[int]string{}
		for i, name := range names {
			require.NoError(t, errs[i], name)
			require.Equal(t, reconcile.Applied, results[i].Outcome, "%s: %v", name, results[i].Diagnostics)
			assert.Equal(t, round == 0, results[i].ConfigChanged, "%s round %d", name, round)
			local, ir, edge := routerPorts(t, h.home.Namespace(name), name)
			for _, p := range []int{local, ir, edge} {
				if other, dup := seen[p]; dup {
					t.Errorf("port %d given to %s and %s", p, other, name)
				}
				seen[p] = name
			}
			assertStatusFilesCanonical(t, h.home.Namespace(name))
		}
	}
}

func TestKeepLastGood(t *testing.T) {
	h := newHarness(t)
	west := h.ns("west")
	listener := listenerDoc("backend", 8080, "")
	h.writeInput(west, "listener.yaml", listener)
	sitePath := h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	res := h.reconcile(west)
	require.Equal(t, reconcile.Applied, res.Outcome)

	ageNamespace(t, west)
	before := nsTree(t, west)
	good := before[filepath.Join("runtime", "router", "skrouterd.json")]

	// The Site becomes invalid: nothing the router uses is touched.
	h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: bogus\n"))
	h.now = h.now.Add(time.Minute)
	res = h.reconcile(west)
	require.Equal(t, reconcile.NotApplied, res.Outcome)
	assert.False(t, res.ConfigChanged)
	after := nsTree(t, west)
	assert.Equal(t, good, after[filepath.Join("runtime", "router", "skrouterd.json")], "skrouterd.json kept byte for byte, mtime too")
	for _, p := range changedFiles(before, after) {
		assert.True(t, strings.HasPrefix(p, filepath.Join("runtime", "resources")+string(filepath.Separator)),
			"only status files may change while no Site is valid; %s changed", p)
	}

	// The Site's status names the file and line of the problem.
	const linkAccessLine = 6 // "  linkAccess: bogus" in siteDoc's output
	wantMsg := fmt.Sprintf(`input/resources/site.yaml:%d: spec.linkAccess: invalid linkAccess "bogus"`, linkAccessLine)
	site := h.statusOf(west, v2alpha1.KindSite, "west")
	assert.Equal(t, v2alpha1.StatusError, site.StatusType)
	assert.True(t, strings.HasPrefix(site.Message, wantMsg), "Site status %q should start with %q", site.Message, wantMsg)
	require.NotEmpty(t, res.Diagnostics)
	found := false
	for _, d := range res.Diagnostics {
		if d.File == sitePath && d.Line == linkAccessLine && d.Field == "spec.linkAccess" && d.IsError() {
			found = true
		}
	}
	assert.True(t, found, "diagnostics %v lack %s:%d spec.linkAccess", res.Diagnostics, sitePath, linkAccessLine)

	// The Listener is valid but, without a Site, not configured.
	l := h.statusOf(west, v2alpha1.KindListener, "backend")
	assert.NotEqual(t, v2alpha1.StatusError, l.StatusType)
	cond, ok := condition(l, v2alpha1.ConditionConfigured)
	require.True(t, ok)
	assert.Equal(t, "False", cond.Status)
	assert.Contains(t, cond.Message, "no valid Site")
	assert.Contains(t, l.Message, "no valid Site")

	// Fixed again: applied, and since the input equals the last good one the
	// router config is not even rewritten.
	h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	h.now = h.now.Add(time.Minute)
	res = h.reconcile(west)
	require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)
	assert.False(t, res.ConfigChanged)
	assert.Equal(t, good, nsTree(t, west)[filepath.Join("runtime", "router", "skrouterd.json")])
	assert.NotEqual(t, v2alpha1.StatusError, h.statusOf(west, v2alpha1.KindSite, "west").StatusType)
	cond, ok = condition(h.statusOf(west, v2alpha1.KindListener, "backend"), v2alpha1.ConditionConfigured)
	require.True(t, ok)
	assert.Equal(t, "True", cond.Status)
}

func TestPortsAcrossNamespaces(t *testing.T) {
	h := newHarness(t)
	west, east := h.ns("west"), h.ns("east")
	h.writeInput(west, "site.yaml", docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("backend", 8080, "")))
	res := h.reconcile(west)
	require.Equal(t, reconcile.Applied, res.Outcome)
	wLocal, wIR, wEdge := routerPorts(t, west, "west")

	// east asks for west's inter-router port for one of its Listeners.
	h.writeInput(east, "site.yaml", docs(
		siteDoc("east", "linkAccess: default\n"),
		listenerDoc("clash", wIR, ""),
		listenerDoc("db", 5432, ""),
		connectorDoc("db", 15432, ""),
	))
	res = h.reconcile(east)
	require.Equal(t, reconcile.Applied, res.Outcome)
	eLocal, eIR, eEdge := routerPorts(t, east, "east")

	all := []int{wLocal, wIR, wEdge, eLocal, eIR, eEdge, 8080, 5432}
	seen := map[int]bool{}
	for _, p := range all {
		assert.False(t, seen[p], "port %d handed out twice in %v", p, all)
		seen[p] = true
	}

	st := h.statusOf(east, v2alpha1.KindListener, "clash")
	assert.Equal(t, v2alpha1.StatusError, st.StatusType)
	assert.Contains(t, st.Message, fmt.Sprintf("port %d", wIR))
	assert.Contains(t, st.Message, "Listener/clash")
	assert.Contains(t, st.Message, `RouterAccess/west role inter-router in namespace "west"`)
	found := false
	for _, d := range res.Diagnostics {
		if d.Kind == v2alpha1.KindListener && d.Name == "clash" && strings.Contains(d.Message, `namespace "west"`) {
			found = true
		}
	}
	assert.True(t, found, "the conflict is among the result's diagnostics: %v", res.Diagnostics)

	ents := readRouterConfig(t, east)
	_, ok := entity(ents, "tcpListener", "listener/clash")
	assert.False(t, ok, "the clashing Listener is left out of east's config")
	mustEntity(t, ents, "tcpListener", "listener/db")
	mustEntity(t, ents, "tcpConnector", "connector/db")
	assert.Equal(t, v2alpha1.StatusReady, h.statusOf(east, v2alpha1.KindListener, "db").StatusType)
	assert.Equal(t, v2alpha1.StatusReady, h.statusOf(east, v2alpha1.KindConnector, "db").StatusType)
	assert.NotEqual(t, v2alpha1.StatusError, h.statusOf(east, v2alpha1.KindSite, "east").StatusType)

	// Reconciling both again moves nothing.
	h.reconcile(west)
	h.reconcile(east)
	l2, ir2, e2 := routerPorts(t, west, "west")
	assert.Equal(t, []int{wLocal, wIR, wEdge}, []int{l2, ir2, e2})
	l2, ir2, e2 = routerPorts(t, east, "east")
	assert.Equal(t, []int{eLocal, eIR, eEdge}, []int{l2, ir2, e2})
}

// staticLinkFile returns the static link of west for host 127.0.0.1 (or the
// first one).
func staticLinkFile(t testing.TB, n namespaces.Namespace) string {
	t.Helper()
	entries, err := os.ReadDir(n.LinksDir())
	require.NoError(t, err)
	require.NotEmpty(t, entries, "no static links in %s", n.LinksDir())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "-127.0.0.1.yaml") {
			return filepath.Join(n.LinksDir(), e.Name())
		}
	}
	return filepath.Join(n.LinksDir(), entries[0].Name())
}

func TestStaticLinkBetweenNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name     string
		eastSpec string
		role     string
	}{
		{"interior", "linkAccess: none\n", v2alpha1.RoleInterRouter},
		{"edge", "edge: true\n", v2alpha1.RoleEdge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			h := newHarness(t)
			west, east := h.ns("west"), h.ns("east")
			h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))
			require.Equal(t, reconcile.Applied, h.reconcile(west).Outcome)
			_, wIR, wEdge := routerPorts(t, west, "west")
			wantPort := map[string]int{v2alpha1.RoleInterRouter: wIR, v2alpha1.RoleEdge: wEdge}[tc.role]

			link, err := os.ReadFile(staticLinkFile(t, west))
			require.NoError(t, err)
			h.writeInput(east, "site.yaml", siteDoc("east", tc.eastSpec))
			h.writeInput(east, "link-west.yaml", string(link))
			res := h.reconcile(east)
			require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)
			require.Empty(t, res.Diagnostics)

			c := mustEntity(t, readRouterConfig(t, east), "connector", "link/link-west")
			assert.Equal(t, tc.role, c["role"])
			assert.Equal(t, "127.0.0.1", c["host"])
			assert.Equal(t, strconv.Itoa(wantPort), c["port"])
			assert.Equal(t, "tls/link-west-profile", c["sslProfile"])

			// east's copy of the client certificate verifies against west's CA.
			client, err := certs.ReadDir(east.RuntimeCertDir("link-west-profile"))
			require.NoError(t, err)
			westCA, err := certs.ReadDir(west.RuntimeIssuerDir(reconcile.SiteCA))
			require.NoError(t, err)
			verifyLeaf(t, client.Cert, westCA.Cert, h.now, "link-west-profile")

			ls := h.statusOf(east, v2alpha1.KindLink, "link-west")
			assert.NotEqual(t, v2alpha1.StatusError, ls.StatusType)
			cond, ok := condition(ls, v2alpha1.ConditionConfigured)
			require.True(t, ok)
			assert.Equal(t, "True", cond.Status)

			// And the two routers would agree: a handshake with east's link
			// profile as client and west's link-access certificate as server.
			server, err := certs.ReadDir(west.RuntimeCertDir("west"))
			require.NoError(t, err)
			handshake(t, server, client, "127.0.0.1", h.now)
		})
	}
}

func TestSiteIDStable(t *testing.T) {
	h := newHarness(t)
	west := h.ns("west")
	h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))

	routerID := func() (string, string) {
		t.Helper()
		ents := readRouterConfig(t, west)
		var router map[string]any
		for _, e := range ents {
			if e.Type == "router" {
				router = e.Attrs
			}
		}
		require.NotNil(t, router)
		var site map[string]any
		for _, e := range ents {
			if e.Type == "site" {
				site = e.Attrs
			}
		}
		require.NotNil(t, site)
		return router["id"].(string), site["name"].(string)
	}

	first := h.reconcile(west)
	require.NoError(t, uuid.Validate(first.SiteID), "site id %q", first.SiteID)
	persisted, err := os.ReadFile(filepath.Join(west.InternalDir(), "site-id"))
	require.NoError(t, err)
	assert.Equal(t, first.SiteID, strings.TrimSpace(string(persisted)))
	// The router id carries the site id; the site entity is named after
	// the Site (the SITE record's name, which other sites show), while
	// the router's SITE record takes its id from SKUPPER_SITE_ID.
	rid, siteName := routerID()
	assert.Equal(t, "west-"+first.SiteID, rid)
	assert.Equal(t, "west", siteName)

	// Again, and after runtime/ is deleted altogether.
	h.now = h.now.Add(time.Hour)
	assert.Equal(t, first.SiteID, h.reconcile(west).SiteID)
	require.NoError(t, os.RemoveAll(west.RuntimeDir()))
	res := h.reconcile(west)
	assert.Equal(t, first.SiteID, res.SiteID)
	assert.True(t, res.ConfigChanged)
	rid2, _ := routerID()
	assert.Equal(t, rid, rid2)

	// metadata.uid wins while it is set.
	const uid = "0b6a3c1e-7c55-4d8e-9a55-2f1f0e5d9c11"
	h.writeInput(west, "site.yaml", strings.Replace(siteDoc("west", "linkAccess: default\n"), "  name: west\n", "  name: west\n  uid: "+uid+"\n", 1))
	res = h.reconcile(west)
	require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)
	assert.Equal(t, uid, res.SiteID)
	rid, siteName = routerID()
	assert.Equal(t, "west-"+uid, rid)
	assert.Equal(t, "west", siteName)
	assert.Equal(t, uid, h.reconcile(west).SiteID)

	// Without it, the persisted id is back.
	h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	assert.Equal(t, first.SiteID, h.reconcile(west).SiteID)
	rid, _ = routerID()
	assert.Equal(t, "west-"+first.SiteID, rid)

	// A uid that is no UUID would make a router id skrouterd refuses: the
	// Site is invalid and the last good config stays.
	h.writeInput(west, "site.yaml", strings.Replace(siteDoc("west", "linkAccess: default\n"), "  name: west\n", "  name: west\n  uid: my site\n", 1))
	res = h.reconcile(west)
	assert.Equal(t, reconcile.NotApplied, res.Outcome)
	st := h.statusOf(west, v2alpha1.KindSite, "west")
	assert.Equal(t, v2alpha1.StatusError, st.StatusType)
	assert.Contains(t, st.Message, "input/resources/site.yaml:5: metadata.uid")
	rid, _ = routerID()
	assert.Equal(t, "west-"+first.SiteID, rid)
}

// TestStatusPathNotAFile checks that a status file's place taken by a
// directory or a symbolic link (found in the pass's listing of the status
// directory) is refused with an error naming it, and that the link's
// target is not written through.
func TestStatusPathNotAFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, path string) (check func())
	}{
		{"directory", func(t *testing.T, path string) func() {
			require.NoError(t, os.Mkdir(path, 0o700))
			return func() {
				fi, err := os.Lstat(path)
				require.NoError(t, err)
				assert.True(t, fi.IsDir(), "the directory is left alone")
			}
		}},
		{"symlink", func(t *testing.T, path string) func() {
			target := filepath.Join(t.TempDir(), "elsewhere.yaml")
			require.NoError(t, os.WriteFile(target, []byte("mine\n"), 0o600))
			require.NoError(t, os.Symlink(target, path))
			return func() {
				data, err := os.ReadFile(target)
				require.NoError(t, err)
				assert.Equal(t, "mine\n", string(data), "the link's target is not written")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			west := h.ns("west")
			h.writeInput(west, "site.yaml", idempotenceInput(8080))
			h.reconcile(west)
			path := west.StatusPath(v2alpha1.Key{Kind: v2alpha1.KindListener, Name: "backend"})
			require.NoError(t, os.Remove(path))
			check := tc.plant(t, path)
			_, err := reconcile.Run(context.Background(), west, h.options())
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			check()
		})
	}
}

// TestEditedResourcesStatusFirst checks that the status of a resource
// whose input file changed is written before the statuses it changes in
// other resources: a Listener edited to match a Connector of another file
// has its status file replaced first.
func TestEditedResourcesStatusFirst(t *testing.T) {
	h := newHarness(t)
	west := h.ns("west")
	listener := func(key string) string {
		return "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: front\nspec:\n  routingKey: " + key + "\n  host: 127.0.0.1\n  port: 8080\n"
	}
	h.writeInput(west, "a-site.yaml", siteDoc("west", ""))
	h.writeInput(west, "b-connector.yaml", connectorDoc("svc", 9090, ""))
	edited := h.writeInput(west, "z-listener.yaml", listener("nomatch"))
	h.reconcile(west)
	require.False(t, h.status(west, v2alpha1.KindConnector, "svc").(*v2alpha1.Connector).Status.HasMatchingListener)

	w, err := fsnotify.NewWatcher()
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Add(west.StatusDir()))
	h.writeInput(west, "z-listener.yaml", listener("svc"))
	// As the daemon's settled cache reports it: only the edited file was
	// read again.
	t.Cleanup(reconcile.SetLoadedHook(func(_ namespaces.Namespace, snap *namespaces.Snapshot) {
		snap.Changed = map[string]bool{edited: true}
	}))
	h.reconcile(west)
	require.True(t, h.status(west, v2alpha1.KindConnector, "svc").(*v2alpha1.Connector).Status.HasMatchingListener)

	var order []string
	deadline := time.After(10 * time.Second)
	for len(order) < 2 {
		select {
		case ev := <-w.Events:
			base := filepath.Base(ev.Name)
			if ev.Has(fsnotify.Create) && (base == "Listener-front.yaml" || base == "Connector-svc.yaml") && !slices.Contains(order, base) {
				order = append(order, base)
			}
		case err := <-w.Errors:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("status files replaced: %v", order)
		}
	}
	assert.Equal(t, []string{"Listener-front.yaml", "Connector-svc.yaml"}, order)
}
