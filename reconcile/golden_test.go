package reconcile_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/test/routerschema"
)

// Golden tests: each directory testdata/golden/<scenario>/ holds the input
// of a data home (namespaces/<ns>/input/...) and the expected outputs
// (want/<ns>/...). The test copies the input into a temporary data home,
// reconciles every namespace (sorted) with a fixed clock, fixed host names
// and a port probe that finds every port free, and compares:
//
//   - want/<ns>/skrouterd.json: runtime/router/skrouterd.json, byte for byte;
//   - want/<ns>/links.txt: the file names under runtime/links;
//   - want/<ns>/certs.txt: every runtime/certs and runtime/issuers
//     directory, its files and what its certificates say (subject, issuer,
//     SANs, usages, expiry), so a wrong or missing sslProfile file shows;
//   - want/<ns>/status.txt: the diagnostics of the reconcile and every
//     runtime/resources status, condition by condition.
//
// skrouterd.json, links.txt and certs.txt exist only for namespaces with a
// Site. The temporary data home is written as /var/lib/skupper.
//
//	go test ./reconcile -run TestGolden -update
//
// rewrites the want files and generates the TLS fixtures a scenario lists in
// goldenScenarios when they are missing (certificates valid for 100 years
// from 2025-01-01, so the committed files stay valid). Fixtures that exist
// are kept, so -update is stable.

var update = flag.Bool("update", false, "rewrite testdata/golden/*/want and generate missing TLS fixtures")

const (
	goldenRoot  = "testdata/golden"
	displayHome = "/var/lib/skupper"
)

var (
	goldenNow       = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	goldenHosts     = []string{"host.example.com", "192.0.2.10", "2001:db8::10"}
	fixtureTime     = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fixtureValidity = 100 * 365 * 24 * time.Hour
)

// goldenFixture is TLS material a scenario needs, generated under -update when
// missing: either a bundle directory (Bundle) or a resource file with a
// Secret and a Link in the format of `skupper link generate` (Link).
type goldenFixture struct {
	// Path relative to the scenario directory.
	Path   string
	Bundle *bundleFixture
	Link   *linkFixture
}

// bundleFixture is a certificate signed by a fresh CA, written as the files
// listed in Files (a subset of ca.crt, tls.crt, tls.key).
type bundleFixture struct {
	CommonName string
	Hosts      []string
	Usage      certs.Usage
	Files      []string
}

// linkFixture is a link to a remote site: a client certificate signed by
// the remote site's CA (the Secret), and a Link with the given endpoints.
type linkFixture struct {
	Name      string
	Host      string
	Cost      int
	Endpoints []string // roles: inter-router, edge
}

var fixtureAllFiles = []string{certs.CAFile, certs.CertFile, certs.KeyFile}

type goldenScenario struct {
	name     string
	fixtures []goldenFixture
	// noSite lists namespaces without a Site (outcome NoSiteNeeded).
	noSite []string
	// check runs extra assertions on the reconciled data home.
	check func(t *testing.T, run *goldenRun)
}

var goldenScenarios = []goldenScenario{
	{name: "minimal-site"},
	{name: "link-access", check: checkLinkAccessStaticLinks},
	{name: "edge-with-link", fixtures: []goldenFixture{
		{Path: "namespaces/edge/input/resources/link-hub.yaml", Link: &linkFixture{Name: "link-hub", Host: "hub.example.com", Cost: 1, Endpoints: []string{v2alpha1.RoleInterRouter, v2alpha1.RoleEdge}}},
	}},
	{name: "edge-link-no-edge-endpoint", fixtures: []goldenFixture{
		{Path: "namespaces/edge/input/resources/link-hub.yaml", Link: &linkFixture{Name: "link-hub", Host: "hub.example.com", Cost: 1, Endpoints: []string{v2alpha1.RoleInterRouter}}},
	}},
	{name: "interior-two-links-cost", fixtures: []goldenFixture{
		{Path: "namespaces/east/input/resources/link-west.yaml", Link: &linkFixture{Name: "link-west", Host: "west.example.com", Cost: 1, Endpoints: []string{v2alpha1.RoleInterRouter, v2alpha1.RoleEdge}}},
		{Path: "namespaces/east/input/resources/link-north.yaml", Link: &linkFixture{Name: "link-north", Host: "198.51.100.20", Cost: 5, Endpoints: []string{v2alpha1.RoleInterRouter, v2alpha1.RoleEdge}}},
	}},
	{name: "listener-connector-plain"},
	{name: "listener-tls-generated"},
	{name: "listener-tls-user-mutual", fixtures: []goldenFixture{
		{Path: "namespaces/west/input/certs/secure-tls", Bundle: &bundleFixture{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}, Usage: certs.ServerAuth, Files: fixtureAllFiles}},
		{Path: "namespaces/west/input/certs/server-only-tls", Bundle: &bundleFixture{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}, Usage: certs.ServerAuth, Files: []string{certs.CertFile, certs.KeyFile}}},
	}},
	{name: "connector-tls-ca-only", fixtures: []goldenFixture{
		{Path: "namespaces/east/input/certs/db-ca", Bundle: &bundleFixture{CommonName: "db.example.com", Hosts: []string{"db.example.com"}, Usage: certs.ServerAuth, Files: []string{certs.CAFile}}},
	}},
	{name: "connector-tls-client-cert", fixtures: []goldenFixture{
		{Path: "namespaces/east/input/certs/api-client", Bundle: &bundleFixture{CommonName: "skupper-client", Usage: certs.ClientAuth, Files: fixtureAllFiles}},
	}},
	{name: "attached-connector", noSite: []string{"workload"}, fixtures: []goldenFixture{
		{Path: "namespaces/workload/input/certs/db-ca", Bundle: &bundleFixture{CommonName: "db.workload.example.com", Hosts: []string{"db.workload.example.com"}, Usage: certs.ServerAuth, Files: []string{certs.CAFile}}},
	}},
	{name: "settings"},
	{name: "settings-log-modules"},
	{name: "ipv6-hosts", fixtures: []goldenFixture{
		{Path: "namespaces/v6/input/resources/link-v6.yaml", Link: &linkFixture{Name: "link-v6", Host: "2001:db8::20", Cost: 2, Endpoints: []string{v2alpha1.RoleInterRouter, v2alpha1.RoleEdge}}},
	}, check: checkIPv6StaticLink},
	{name: "routeraccess-bindhost-sans", check: checkBindHostStaticLink},
	{name: "connector-selector-only"},
	{name: "two-sites-one-home", check: checkTwoSitesStaticLinks},
}

// TestGoldenScenariosListed keeps goldenScenarios and the directories in
// testdata/golden in step.
func TestGoldenScenariosListed(t *testing.T) {
	entries, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	var dirs, listed []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, s := range goldenScenarios {
		listed = append(listed, s.name)
	}
	sort.Strings(listed)
	assert.Equal(t, dirs, listed, "every directory of %s must be listed in goldenScenarios and vice versa", goldenRoot)
	assert.GreaterOrEqual(t, len(listed), 12, "the issue asks for at least 12 scenarios")
}

func TestGolden(t *testing.T) {
	for _, sc := range goldenScenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := filepath.Join(goldenRoot, sc.name)
			for _, f := range sc.fixtures {
				ensureFixture(t, dir, f)
			}
			run := runGoldenScenario(t, dir)
			got := map[string][]byte{}
			for _, nr := range run.namespaces {
				wantOutcome := reconcile.Applied
				if slices.Contains(sc.noSite, nr.ns.Name) {
					wantOutcome = reconcile.NoSiteNeeded
				}
				assert.Equal(t, wantOutcome, nr.res.Outcome, "namespace %s: outcome", nr.ns.Name)
				for _, d := range nr.res.Diagnostics {
					if d.IsError() {
						t.Errorf("namespace %s: unexpected error diagnostic: %s", nr.ns.Name, d.Error())
					}
				}
				prefix := "want/" + nr.ns.Name + "/"
				if nr.res.Outcome == reconcile.Applied {
					cfg, err := os.ReadFile(nr.ns.RouterConfigPath())
					require.NoError(t, err)
					checkRouterConfigNeeds(t, nr.ns, cfg)
					got[prefix+"skrouterd.json"] = run.display(cfg)
					got[prefix+"links.txt"] = goldenLinksListing(t, nr.ns)
					got[prefix+"certs.txt"] = run.display(goldenCertsListing(t, nr.ns))
				} else {
					_, err := os.Stat(nr.ns.RouterConfigPath())
					assert.ErrorIs(t, err, fs.ErrNotExist, "namespace %s: a router config without a Site", nr.ns.Name)
				}
				got[prefix+"status.txt"] = run.display(goldenStatusListing(t, nr))
			}
			compareGolden(t, dir, got)
			checkGoldenIdempotent(t, run)
			if sc.check != nil {
				sc.check(t, run)
			}
		})
	}
}

// goldenRun is a reconciled temporary data home.
type goldenRun struct {
	home       namespaces.Home
	opts       reconcile.Options
	namespaces []goldenNSRun
}

type goldenNSRun struct {
	ns  namespaces.Namespace
	res *reconcile.Result
}

// ns returns the run of namespace name.
func (r *goldenRun) ns(t *testing.T, name string) goldenNSRun {
	t.Helper()
	for _, nr := range r.namespaces {
		if nr.ns.Name == name {
			return nr
		}
	}
	t.Fatalf("no namespace %q in the scenario", name)
	return goldenNSRun{}
}

// display replaces the temporary data home with /var/lib/skupper.
func (r *goldenRun) display(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(r.home.Root), []byte(displayHome))
}

func goldenOptions(home namespaces.Home) reconcile.Options {
	return reconcile.Options{
		Now:     func() time.Time { return goldenNow },
		Hosts:   func() []string { return slices.Clone(goldenHosts) },
		Version: "test",
		Ports:   ports.New(home, ports.WithProbe(func(string, int) bool { return true })),
		Router:  router.State{},
	}
}

// runGoldenScenario copies dir/namespaces into a temporary data home and
// reconciles every namespace once, in name order.
func runGoldenScenario(t *testing.T, dir string) *goldenRun {
	t.Helper()
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Ensure())
	goldenCopyTree(t, filepath.Join(dir, "namespaces"), home.NamespacesDir())
	return reconcileGoldenHome(t, home)
}

func reconcileGoldenHome(t *testing.T, home namespaces.Home) *goldenRun {
	t.Helper()
	run := &goldenRun{home: home, opts: goldenOptions(home)}
	names, err := home.List()
	require.NoError(t, err)
	require.NotEmpty(t, names, "no namespaces in %s", home.Root)
	for _, name := range names {
		ns := home.Namespace(name)
		res, err := reconcile.Run(context.Background(), ns, run.opts)
		require.NoError(t, err, "reconcile namespace %s", name)
		run.namespaces = append(run.namespaces, goldenNSRun{ns: ns, res: res})
	}
	return run
}

// checkGoldenIdempotent reconciles every namespace again: nothing may change.
func checkGoldenIdempotent(t *testing.T, run *goldenRun) {
	t.Helper()
	for _, nr := range run.namespaces {
		before, _ := os.ReadFile(nr.ns.RouterConfigPath())
		res, err := reconcile.Run(context.Background(), nr.ns, run.opts)
		require.NoError(t, err)
		assert.Equal(t, nr.res.Outcome, res.Outcome, "namespace %s: second reconcile outcome", nr.ns.Name)
		assert.False(t, res.ConfigChanged, "namespace %s: second reconcile rewrote skrouterd.json", nr.ns.Name)
		assert.False(t, res.CertsChanged, "namespace %s: second reconcile changed certificates", nr.ns.Name)
		after, _ := os.ReadFile(nr.ns.RouterConfigPath())
		assert.Equal(t, string(before), string(after), "namespace %s: second reconcile changed skrouterd.json", nr.ns.Name)
	}
}

// goldenCopyTree copies the regular files under src to dst, directories 0700 and
// files 0600 as in a data home.
func goldenCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	require.NoError(t, err)
}

// compareGolden compares got (paths relative to dir) with the files under
// dir/want, or rewrites dir/want with -update.
func compareGolden(t *testing.T, dir string, got map[string][]byte) {
	t.Helper()
	wantDir := filepath.Join(dir, "want")
	if *update {
		require.NoError(t, os.RemoveAll(wantDir))
		for rel, data := range got {
			path := filepath.Join(dir, filepath.FromSlash(rel))
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}
		return
	}
	present := map[string]bool{}
	_ = filepath.WalkDir(wantDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			present[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	rels := make([]string, 0, len(got))
	for rel := range got {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Errorf("%s: %v (run `go test ./reconcile -run TestGolden -update` to create it)", rel, err)
			continue
		}
		if !bytes.Equal(want, got[rel]) {
			t.Errorf("%s/%s differs (- want, + got; run `go test ./reconcile -run TestGolden -update` if the change is intended):\n%s", dir, rel, lineDiff(string(want), string(got[rel])))
		}
		delete(present, rel)
	}
	for rel := range present {
		t.Errorf("%s/%s: stale golden file, no longer produced (run -update)", dir, rel)
	}
}

// lineDiff renders the differences between two texts line by line, with
// two lines of context around each change.
func lineDiff(want, got string) string {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	}
	a, b := split(want), split(got)
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i]})
			i++
		default:
			lines = append(lines, line{'+', b[j]})
			j++
		}
	}
	const context = 2
	var out strings.Builder
	last := -1
	for k, l := range lines {
		near := false
		for d := -context; d <= context; d++ {
			if k+d >= 0 && k+d < len(lines) && lines[k+d].op != ' ' {
				near = true
			}
		}
		if !near {
			continue
		}
		if last >= 0 && k > last+1 {
			out.WriteString("  ...\n")
		}
		last = k
		out.WriteString(string(l.op) + " " + strings.TrimSuffix(l.text, "\n") + "\n")
	}
	return out.String()
}

// ---- Fixtures

// ensureFixture checks that a fixture exists, generating it under -update.
func ensureFixture(t *testing.T, dir string, f goldenFixture) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(f.Path))
	_, err := os.Stat(path)
	if err == nil {
		return
	}
	require.ErrorIs(t, err, fs.ErrNotExist)
	if !*update {
		t.Fatalf("fixture %s is missing; run `go test ./reconcile -run TestGolden -update` to generate it", path)
	}
	switch {
	case f.Bundle != nil:
		b := issueFixture(t, f.Bundle.CommonName, f.Bundle.Hosts, f.Bundle.Usage)
		require.NoError(t, os.MkdirAll(path, 0o755))
		for _, name := range f.Bundle.Files {
			data := map[string][]byte{certs.CAFile: b.CA, certs.CertFile: b.Cert, certs.KeyFile: b.Key}[name]
			require.NotEmpty(t, data, name)
			require.NoError(t, os.WriteFile(filepath.Join(path, name), data, 0o644))
		}
	case f.Link != nil:
		require.NoError(t, os.WriteFile(path, linkFixtureYAML(t, f.Link), 0o644))
	default:
		t.Fatalf("fixture %s: neither a bundle nor a link", f.Path)
	}
}

// issueFixture makes a CA named "<cn>-ca" and a certificate it signs, both
// valid for 100 years from fixtureTime.
func issueFixture(t *testing.T, cn string, hosts []string, usage certs.Usage) certs.Bundle {
	t.Helper()
	ca, err := certs.NewCA(cn+"-ca", fixtureValidity, fixtureTime)
	require.NoError(t, err)
	b, err := certs.Issue(ca, certs.Request{CommonName: cn, Hosts: hosts, Usage: usage, Validity: fixtureValidity}, fixtureTime)
	require.NoError(t, err)
	return b
}

// linkFixtureYAML renders a Secret and a Link as upstream `skupper link
// generate` writes them (k8s serializer field order, creationTimestamp:
// null, status: {}).
func linkFixtureYAML(t *testing.T, l *linkFixture) []byte {
	t.Helper()
	b := issueFixture(t, l.Name, nil, certs.ClientAuth)
	var s strings.Builder
	fmt.Fprintf(&s, "# Generated by `go test ./reconcile -run TestGolden -update` in the format of\n")
	fmt.Fprintf(&s, "# upstream `skupper link generate`: the client certificate is signed by the\n")
	fmt.Fprintf(&s, "# remote site's CA, valid until %s.\n", fixtureTime.Add(fixtureValidity).Format(time.DateOnly))
	s.WriteString("---\napiVersion: v1\ndata:\n")
	for _, kv := range []struct {
		k string
		v []byte
	}{{"ca.crt", b.CA}, {"tls.crt", b.Cert}, {"tls.key", b.Key}} {
		fmt.Fprintf(&s, "  %s: %s\n", kv.k, base64.StdEncoding.EncodeToString(kv.v))
	}
	fmt.Fprintf(&s, "kind: Secret\nmetadata:\n  creationTimestamp: null\n  name: %s\ntype: kubernetes.io/tls\n", l.Name)
	fmt.Fprintf(&s, "---\napiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  creationTimestamp: null\n  name: %s\nspec:\n  cost: %d\n  endpoints:\n", l.Name, l.Cost)
	for _, role := range l.Endpoints {
		port := ports.BasePort[role]
		fmt.Fprintf(&s, "  - host: %s\n    name: %s\n    port: %q\n", l.Host, role, strconv.Itoa(port))
	}
	fmt.Fprintf(&s, "  tlsCredentials: %s\nstatus: {}\n", l.Name)
	return []byte(s.String())
}

// ---- Listings

func goldenLinksListing(t *testing.T, ns namespaces.Namespace) []byte {
	t.Helper()
	entries, err := os.ReadDir(ns.LinksDir())
	require.NoError(t, err)
	var b bytes.Buffer
	for _, e := range entries {
		b.WriteString(e.Name() + "\n")
	}
	return b.Bytes()
}

// goldenCertsListing describes runtime/issuers and runtime/certs.
func goldenCertsListing(t *testing.T, ns namespaces.Namespace) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, top := range []string{ns.RuntimeIssuersDir(), ns.RuntimeCertsDir()} {
		entries, err := os.ReadDir(top)
		require.NoError(t, err)
		for _, e := range entries {
			rel, _ := filepath.Rel(ns.Dir, filepath.Join(top, e.Name()))
			if !e.IsDir() {
				fmt.Fprintf(&b, "%s: not a directory\n", rel)
				continue
			}
			files, err := os.ReadDir(filepath.Join(top, e.Name()))
			require.NoError(t, err)
			var names []string
			for _, f := range files {
				names = append(names, f.Name())
			}
			fmt.Fprintf(&b, "%s: %s\n", rel, strings.Join(names, " "))
			for _, f := range []string{certs.CAFile, certs.CertFile} {
				data, err := os.ReadFile(filepath.Join(top, e.Name(), f))
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				require.NoError(t, err)
				sums, err := certs.Summarize(data)
				require.NoError(t, err, "%s/%s", rel, f)
				for _, s := range sums {
					fmt.Fprintf(&b, "  %s: %s\n", f, goldenDescribeCert(s))
				}
			}
		}
	}
	return b.Bytes()
}

func goldenDescribeCert(s certs.Summary) string {
	parts := []string{s.Subject}
	if s.Issuer != s.Subject {
		parts = append(parts, "issuer "+s.Issuer)
	}
	if s.IsCA {
		parts = append(parts, "CA")
	}
	if len(s.ExtKeyUsage) > 0 {
		parts = append(parts, strings.Join(s.ExtKeyUsage, "+"))
	}
	if len(s.DNSNames) > 0 {
		parts = append(parts, "DNS "+strings.Join(s.DNSNames, ","))
	}
	if len(s.IPs) > 0 {
		parts = append(parts, "IP "+strings.Join(s.IPs, ","))
	}
	parts = append(parts, "until "+s.NotAfter.Format(time.RFC3339))
	return strings.Join(parts, "; ")
}

// goldenStatusListing lists the reconcile's diagnostics and every status file.
func goldenStatusListing(t *testing.T, nr goldenNSRun) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "outcome: %s\n", nr.res.Outcome)
	for _, d := range nr.res.Diagnostics {
		fmt.Fprintf(&b, "diagnostic: %s\n", d.Error())
	}
	keys, err := nr.ns.ListStatus()
	require.NoError(t, err)
	for _, k := range keys {
		obj, err := nr.ns.ReadStatus(k)
		require.NoError(t, err)
		st := obj.GetStatus()
		fmt.Fprintf(&b, "%s: %s: %s\n", k, st.StatusType, st.Message)
		for _, c := range st.Conditions {
			fmt.Fprintf(&b, "  %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
		var eps []v2alpha1.Endpoint
		switch o := obj.(type) {
		case *v2alpha1.Site:
			eps = o.Status.Endpoints
		case *v2alpha1.RouterAccess:
			eps = o.Status.Endpoints
		case *v2alpha1.Listener:
			fmt.Fprintf(&b, "  hasMatchingConnector: %v\n", o.Status.HasMatchingConnector)
		case *v2alpha1.Connector:
			fmt.Fprintf(&b, "  hasMatchingListener: %v\n", o.Status.HasMatchingListener)
		case *v2alpha1.AttachedConnectorBinding:
			fmt.Fprintf(&b, "  hasMatchingListener: %v\n", o.Status.HasMatchingListener)
		}
		for _, ep := range eps {
			fmt.Fprintf(&b, "  endpoint %s %s port %s group %s\n", ep.Name, ep.Host, ep.Port, ep.Group)
		}
	}
	return b.Bytes()
}

// ---- What skupper-router needs beyond its schema

// checkRouterConfigNeeds checks a freshly rendered config against the schema
// (Strict) and against what the router checks only when it starts: every
// sslProfile named is defined and its files exist in runtime/certs/<name>
// and hold what they should; TLS roles have the files they need; no two
// listeners bind the same port; connectors never dial a wildcard address.
func checkRouterConfigNeeds(t *testing.T, ns namespaces.Namespace, cfg []byte) {
	t.Helper()
	schema, err := routerschema.Load()
	require.NoError(t, err)
	ents, errs := schema.Parse(cfg, routerschema.Strict)
	for _, e := range errs {
		t.Errorf("namespace %s: skrouterd.json: %v", ns.Name, e)
	}
	if len(errs) > 0 {
		return
	}
	profiles := map[string]map[string]any{}
	for _, e := range ents {
		if e.Type == "sslProfile" {
			name, _ := e.Attrs["name"].(string)
			profiles[name] = e.Attrs
			dir := strings.TrimPrefix(name, "tls/")
			assert.Equal(t, render.SSLProfileName(dir), name, "sslProfile names are tls/<runtime/certs dir>")
			for attr, file := range map[string]string{"caCertFile": certs.CAFile, "certFile": certs.CertFile, "privateKeyFile": certs.KeyFile} {
				path, ok := e.Attrs[attr].(string)
				if !ok {
					continue
				}
				assert.Equal(t, filepath.Join(ns.RuntimeCertDir(dir), file), path, "sslProfile %s %s", name, attr)
				data, err := os.ReadFile(path)
				if !assert.NoError(t, err, "sslProfile %s %s", name, attr) {
					continue
				}
				block, _ := pem.Decode(data)
				if assert.NotNil(t, block, "sslProfile %s %s: no PEM", name, attr) {
					if file == certs.KeyFile {
						assert.Contains(t, block.Type, "PRIVATE KEY", "sslProfile %s %s", name, attr)
					} else {
						assert.Equal(t, "CERTIFICATE", block.Type, "sslProfile %s %s", name, attr)
					}
				}
			}
			certFile, hasCert := e.Attrs["certFile"].(string)
			keyFile, hasKey := e.Attrs["privateKeyFile"].(string)
			assert.Equal(t, hasCert, hasKey, "sslProfile %s: certFile and privateKeyFile go together", name)
			if hasCert && hasKey {
				// The key matches the certificate, which is valid now.
				var b certs.Bundle
				b.Cert, _ = os.ReadFile(certFile)
				b.Key, _ = os.ReadFile(keyFile)
				assert.NoError(t, certs.Check(b, certs.CheckOptions{RequireCert: true, RequireKey: true}, goldenNow), "sslProfile %s", name)
			}
		}
	}
	has := func(p map[string]any, attr string) bool { _, ok := p[attr]; return ok }
	type binding struct {
		what, host, port string
	}
	var bound []binding
	for _, e := range ents {
		name, _ := e.Attrs["name"].(string)
		what := e.Type + " " + name
		var prof map[string]any
		if pn, ok := e.Attrs["sslProfile"].(string); ok {
			prof = profiles[pn]
			if !assert.NotNil(t, prof, "%s: sslProfile %q is not defined", what, pn) {
				continue
			}
		}
		peer, _ := e.Attrs["authenticatePeer"].(bool)
		switch e.Type {
		case "listener", "tcpListener":
			host, _ := e.Attrs["host"].(string)
			port, _ := e.Attrs["port"].(string)
			for _, b := range bound {
				if b.port == port && v2alpha1.BindingsClash(b.host, host) {
					t.Errorf("%s and %s both bind port %s", b.what, what, port)
				}
			}
			bound = append(bound, binding{what, host, port})
			if prof != nil {
				assert.True(t, has(prof, "certFile"), "%s: a TLS listener needs a certificate", what)
			}
			if peer {
				if assert.NotNil(t, prof, "%s: authenticatePeer without sslProfile", what) {
					assert.True(t, has(prof, "caCertFile"), "%s: authenticatePeer needs caCertFile to verify clients", what)
				}
			}
			if e.Type == "listener" && e.Attrs["role"] != "normal" {
				assert.True(t, peer && prof != nil, "%s: %v listeners must authenticate peers over TLS", what, e.Attrs["role"])
			}
		case "connector":
			if assert.NotNil(t, prof, "%s: link connectors need TLS", what) {
				for _, a := range []string{"caCertFile", "certFile", "privateKeyFile"} {
					assert.True(t, has(prof, a), "%s: link sslProfile needs %s", what, a)
				}
			}
			assert.False(t, v2alpha1.IsWildcardHost(e.Attrs["host"].(string)), "%s: dials a wildcard address", what)
		case "tcpConnector":
			if prof != nil {
				assert.True(t, has(prof, "caCertFile"), "%s: needs the server's CA", what)
			}
			assert.False(t, v2alpha1.IsWildcardHost(e.Attrs["host"].(string)), "%s: dials a wildcard address", what)
		}
	}
}

// ---- Scenario-specific checks

// checkLinkAccessStaticLinks checks the static links of the link-access
// scenario: one per reachable host, each exactly a Secret and a Link whose
// endpoints are the allocated ports, and whose certificates work with the
// router's RouterAccess credentials.
func checkLinkAccessStaticLinks(t *testing.T, run *goldenRun) {
	nr := run.ns(t, "west")
	got := readGoldenStaticLinks(t, nr.ns)
	var names []string
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	require.Equal(t, []string{"link-west-192.0.2.10.yaml", "link-west-2001:db8::10.yaml", "link-west-host.example.com.yaml"}, names)
	for name, sl := range got {
		host := strings.TrimSuffix(strings.TrimPrefix(name, "link-west-"), ".yaml")
		assert.Equal(t, []v2alpha1.Endpoint{
			{Name: v2alpha1.RoleInterRouter, Host: host, Port: "55671"},
			{Name: v2alpha1.RoleEdge, Host: host, Port: "45671"},
		}, sl.link.Spec.Endpoints, name)
		checkGoldenStaticLinkCredentials(t, nr.ns, "west", host, sl)
	}
}

// checkBindHostStaticLink: a RouterAccess bound to one address offers
// exactly that address, with its explicit ports.
func checkBindHostStaticLink(t *testing.T, run *goldenRun) {
	nr := run.ns(t, "west")
	got := readGoldenStaticLinks(t, nr.ns)
	sl, ok := got["link-public-192.0.2.10.yaml"]
	require.True(t, ok, "static links: %v", got)
	require.Len(t, got, 1)
	assert.Equal(t, []v2alpha1.Endpoint{
		{Name: v2alpha1.RoleInterRouter, Host: "192.0.2.10", Port: "56000"},
		{Name: v2alpha1.RoleEdge, Host: "192.0.2.10", Port: "46000"},
	}, sl.link.Spec.Endpoints)
	checkGoldenStaticLinkCredentials(t, nr.ns, "public", "192.0.2.10", sl)
	// The certificate also covers the extra names.
	server, err := certs.ReadDir(nr.ns.RuntimeCertDir("public"))
	require.NoError(t, err)
	for _, h := range []string{"router.example.com", "198.51.100.7"} {
		goldenVerifyCert(t, server.Cert, sl.ca, h, x509.ExtKeyUsageServerAuth)
	}
}

// checkIPv6StaticLink: a RouterAccess bound to an IPv6 address offers it,
// without brackets, in the file name and the endpoints.
func checkIPv6StaticLink(t *testing.T, run *goldenRun) {
	nr := run.ns(t, "v6")
	got := readGoldenStaticLinks(t, nr.ns)
	sl, ok := got["link-ipv6-2001:db8::10.yaml"]
	require.True(t, ok, "static links: %v", got)
	require.Len(t, got, 1)
	assert.Equal(t, []v2alpha1.Endpoint{
		{Name: v2alpha1.RoleInterRouter, Host: "2001:db8::10", Port: "55671"},
		{Name: v2alpha1.RoleEdge, Host: "2001:db8::10", Port: "45671"},
	}, sl.link.Spec.Endpoints)
	checkGoldenStaticLinkCredentials(t, nr.ns, "ipv6", "2001:db8::10", sl)
}

// checkTwoSitesStaticLinks: each site of one data home offers its own
// ports, and its links are signed by its own CA.
func checkTwoSitesStaticLinks(t *testing.T, run *goldenRun) {
	for _, c := range []struct {
		ns, ir, edge string
	}{{"east", "55671", "45671"}, {"west", "55672", "45672"}} {
		nr := run.ns(t, c.ns)
		got := readGoldenStaticLinks(t, nr.ns)
		require.Len(t, got, len(goldenHosts), "namespace %s", c.ns)
		for _, host := range goldenHosts {
			sl, ok := got["link-"+c.ns+"-"+host+".yaml"]
			if !assert.True(t, ok, "namespace %s: no static link for %s", c.ns, host) {
				continue
			}
			assert.Equal(t, []v2alpha1.Endpoint{
				{Name: v2alpha1.RoleInterRouter, Host: host, Port: v2alpha1.PortString(c.ir)},
				{Name: v2alpha1.RoleEdge, Host: host, Port: v2alpha1.PortString(c.edge)},
			}, sl.link.Spec.Endpoints, "namespace %s", c.ns)
			checkGoldenStaticLinkCredentials(t, nr.ns, c.ns, host, sl)
		}
	}
	east, west := readGoldenStaticLinks(t, run.ns(t, "east").ns), readGoldenStaticLinks(t, run.ns(t, "west").ns)
	assert.NotEqual(t, east["link-east-host.example.com.yaml"].ca, west["link-west-host.example.com.yaml"].ca, "each site has its own CA")
}

type goldenStaticLink struct {
	secret        *v2alpha1.Secret
	link          *v2alpha1.Link
	ca, cert, key []byte
}

func readGoldenStaticLinks(t *testing.T, ns namespaces.Namespace) map[string]goldenStaticLink {
	t.Helper()
	entries, err := os.ReadDir(ns.LinksDir())
	require.NoError(t, err)
	out := map[string]goldenStaticLink{}
	for _, e := range entries {
		path := filepath.Join(ns.LinksDir(), e.Name())
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(data, []byte("---\n")), "%s: starts like upstream's files with ---", e.Name())
		docs, diags := v2alpha1.Decode(path, data)
		require.Empty(t, diags, "%s", e.Name())
		require.Len(t, docs, 2, "%s: a Secret and a Link", e.Name())
		var sl goldenStaticLink
		for _, d := range docs {
			require.Empty(t, v2alpha1.Validate(ns.Name, []*v2alpha1.Document{d}), "%s", e.Name())
			switch o := d.Object.(type) {
			case *v2alpha1.Secret:
				sl.secret = o
			case *v2alpha1.Link:
				sl.link = o
			}
		}
		require.NotNil(t, sl.secret, "%s: no Secret", e.Name())
		require.NotNil(t, sl.link, "%s: no Link", e.Name())
		assert.Equal(t, sl.secret.Name, sl.link.Spec.TLSCredentials, "%s: the Link uses the Secret", e.Name())
		assert.Equal(t, v2alpha1.SecretTypeTLS, sl.secret.Type)
		for _, ep := range sl.link.Spec.Endpoints {
			assert.False(t, v2alpha1.IsWildcardHost(ep.Host), "%s: wildcard endpoint %q", e.Name(), ep.Host)
		}
		var ok bool
		sl.ca, ok = sl.secret.SecretValue(v2alpha1.SecretKeyCA)
		require.True(t, ok)
		sl.cert, ok = sl.secret.SecretValue(v2alpha1.SecretKeyCert)
		require.True(t, ok)
		sl.key, ok = sl.secret.SecretValue(v2alpha1.SecretKeyKey)
		require.True(t, ok)
		out[e.Name()] = sl
	}
	return out
}

// checkGoldenStaticLinkCredentials: a remote router using the static link
// verifies this router's RouterAccess certificate for host with the
// Secret's ca.crt, and this router verifies the Secret's client
// certificate with its sslProfile's ca.crt.
func checkGoldenStaticLinkCredentials(t *testing.T, ns namespaces.Namespace, ra, host string, sl goldenStaticLink) {
	t.Helper()
	require.NoError(t, certs.Check(certs.Bundle{CA: sl.ca, Cert: sl.cert, Key: sl.key}, certs.CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}, goldenNow))
	server, err := certs.ReadDir(ns.RuntimeCertDir(ra))
	require.NoError(t, err)
	goldenVerifyCert(t, server.Cert, sl.ca, host, x509.ExtKeyUsageServerAuth)
	goldenVerifyCert(t, sl.cert, server.CA, "", x509.ExtKeyUsageClientAuth)
}

func goldenVerifyCert(t *testing.T, certPEM, caPEM []byte, host string, usage x509.ExtKeyUsage) {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	_, err = c.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: goldenNow, KeyUsages: []x509.ExtKeyUsage{usage}})
	assert.NoError(t, err, "certificate %s for host %q", c.Subject, host)
}

// ---- Known bugs

// reconcileBugInput reconciles a one-namespace data home whose input is the
// given resource file, twice, and returns the namespace and both results.
func reconcileBugInput(t *testing.T, input string) (namespaces.Namespace, *reconcile.Result, *reconcile.Result) {
	t.Helper()
	home := namespaces.NewHome(t.TempDir())
	ns := home.Namespace("west")
	require.NoError(t, ns.EnsureInput())
	require.NoError(t, os.WriteFile(filepath.Join(ns.InputResourcesDir(), "site.yaml"), []byte(input), 0o600))
	run := reconcileGoldenHome(t, home)
	again, err := reconcile.Run(context.Background(), ns, run.opts)
	require.NoError(t, err)
	return ns, run.namespaces[0].res, again
}

func errorDiagnosticsOf(res *reconcile.Result) []string {
	var out []string
	for _, d := range res.Diagnostics {
		if d.IsError() {
			out = append(out, d.Error())
		}
	}
	return out
}

// TestKnownBugs guards against bugs found while writing the golden tests
// (all fixed): duplicate log modules, non-UUID site uids and credential
// directories shared by resources with different needs. Each case asserts
// the correct behaviour.
func TestKnownBugs(t *testing.T) {
	schema, err := routerschema.Load()
	require.NoError(t, err)
	// acceptedOrRejected: the input is either refused with an error
	// diagnostic, or gives a config the router loads.
	acceptedOrRejected := func(t *testing.T, ns namespaces.Namespace, res *reconcile.Result) {
		if len(errorDiagnosticsOf(res)) > 0 {
			return
		}
		cfg, err := os.ReadFile(ns.RouterConfigPath())
		require.NoError(t, err)
		assert.Empty(t, schema.Check(cfg, routerschema.Router), "valid input, but the router refuses its config")
	}

	t.Run("routerLogging names a module twice", func(t *testing.T) {
		// validateRouterLogging accepts ROUTER_CORE twice and logEntities
		// renders two log entities for it; skrouterd refuses to start
		// ("log module ROUTER_CORE is configured more than once").
		ns, res, _ := reconcileBugInput(t, `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
spec:
  settings:
    routerLogging: ROUTER_CORE:trace,ROUTER_CORE:debug
`)
		acceptedOrRejected(t, ns, res)
	})

	t.Run("routerLogging notice and trace", func(t *testing.T) {
		// The API accepts notice and trace; skrouterd refuses to start
		// with "notice+" and an UPDATE refuses "trace+".
		for _, level := range []string{"notice", "trace", "TCP_ADAPTOR:notice,ROUTER:trace"} {
			ns, res, _ := reconcileBugInput(t, `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
spec:
  settings:
    routerLogging: "`+level+`"
`)
			acceptedOrRejected(t, ns, res)
			cfg, err := os.ReadFile(ns.RouterConfigPath())
			require.NoError(t, err)
			assert.NotContains(t, string(cfg), `"enable": "notice`, level)
			assert.NotContains(t, string(cfg), `"enable": "trace`, level)
		}
	})

	t.Run("metadata.uid is not a UUID", func(t *testing.T) {
		// metadata.uid becomes the site id unchecked; router.id
		// "west-my site" holds a space and skrouterd refuses to start.
		ns, res, _ := reconcileBugInput(t, `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
  uid: my site
`)
		acceptedOrRejected(t, ns, res)
	})

	t.Run("two Listeners share generated tlsCredentials", func(t *testing.T) {
		// Without a check on runtime/certs directory names, both
		// Listeners issue runtime/certs/shared for their own host; the
		// last one wins, so one listener's certificate does not cover
		// its host, and every reconcile issues both again (CertsChanged
		// is never false). Refusing the second Listener with an error
		// (credentials.claim) or issuing one certificate for both hosts
		// fixes it.
		ns, res, again := reconcileBugInput(t, `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
---
apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: a
spec:
  routingKey: a
  host: 127.0.0.1
  port: 8080
  tlsCredentials: shared
---
apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: b
spec:
  routingKey: b
  host: localhost
  port: 8081
  tlsCredentials: shared
`)
		if len(errorDiagnosticsOf(res)) > 0 {
			return // refusing the clash is a fix too
		}
		assert.False(t, again.CertsChanged, "second reconcile of unchanged input changed certificates")
		b, err := certs.ReadDir(ns.RuntimeCertDir("shared"))
		require.NoError(t, err)
		for _, h := range []string{"127.0.0.1", "localhost"} {
			goldenVerifyCert(t, b.Cert, b.CA, h, x509.ExtKeyUsageServerAuth)
		}
	})

	t.Run("Listener tlsCredentials named after the site with link access", func(t *testing.T) {
		// The implied RouterAccess "west" keeps its server certificate in
		// runtime/certs/west; the Listener's generated certificate goes
		// to the same directory and replaces it, so the inter-router and
		// edge listeners present a service-CA certificate for 127.0.0.1:
		// no remote site can link. Both are issued again on every
		// reconcile. Refusing the Listener (credentials.claim) fixes it.
		ns, res, again := reconcileBugInput(t, `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
spec:
  linkAccess: default
---
apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: app
spec:
  routingKey: app
  host: 127.0.0.1
  port: 8443
  tlsCredentials: west
`)
		if len(errorDiagnosticsOf(res)) > 0 {
			return // refusing the clash is a fix too
		}
		assert.False(t, again.CertsChanged, "second reconcile of unchanged input changed certificates")
		links := readGoldenStaticLinks(t, ns)
		sl, ok := links["link-west-host.example.com.yaml"]
		require.True(t, ok)
		checkGoldenStaticLinkCredentials(t, ns, "west", "host.example.com", sl)
	})
}
