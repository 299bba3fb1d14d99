package namespaces

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

const siteYAML = `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
spec:
  linkAccess: default
`

const listenerYAML = `apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: backend
spec:
  routingKey: backend
  host: 0.0.0.0
  port: 8080
`

func newNS(t *testing.T, name string) Namespace {
	t.Helper()
	h := NewHome(t.TempDir())
	ns := h.Namespace(name)
	require.NoError(t, ns.EnsureInput())
	return ns
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func keys(s *Snapshot) []string {
	var out []string
	for _, d := range s.Valid() {
		out = append(out, d.Key().String())
	}
	return out
}

func messages(s *Snapshot) string {
	var out []string
	for _, d := range s.Diagnostics {
		out = append(out, d.Error())
	}
	return strings.Join(out, "\n")
}

func TestDefaultDataHome(t *testing.T) {
	for _, tc := range []struct {
		euid      int
		xdg, home string
		want      string
	}{
		{0, "/x", "/root", "/var/lib/skupper"},
		{1000, "/xdg", "/home/u", "/xdg/skupper"},
		{1000, "", "/home/u", "/home/u/.local/share/skupper"},
	} {
		got, err := DefaultDataHome(tc.euid, tc.xdg, tc.home)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := DefaultDataHome(1000, "", "")
	require.ErrorContains(t, err, "HOME is not set")
}

func TestResolveDataHomeFlagWinsOverEnv(t *testing.T) {
	t.Setenv(EnvDataHome, "/from/env")
	got, err := ResolveDataHome("/from/flag")
	require.NoError(t, err)
	require.Equal(t, "/from/flag", got)
	got, err = ResolveDataHome("")
	require.NoError(t, err)
	require.Equal(t, "/from/env", got)
}

func TestListNamespaces(t *testing.T) {
	h := NewHome(t.TempDir())
	names, err := h.List()
	require.NoError(t, err)
	require.Empty(t, names)
	for _, n := range []string{"west", "east", "Bad_Name"} {
		require.NoError(t, os.MkdirAll(filepath.Join(h.NamespacesDir(), n), 0o700))
	}
	write(t, filepath.Join(h.NamespacesDir(), "controller.lock"), "")
	names, err = h.List()
	require.NoError(t, err)
	require.Equal(t, []string{"east", "west"}, names)
}

func TestLayoutPermissions(t *testing.T) {
	ns := NewHome(t.TempDir()).Namespace("west")
	require.NoError(t, ns.EnsureInput())
	require.NoError(t, ns.EnsureRuntime())
	for _, d := range []string{ns.Dir, ns.InputResourcesDir(), ns.InputCertsDir(), ns.RuntimeCertsDir(), ns.RuntimeIssuersDir(), ns.StatusDir(), ns.LinksDir(), ns.InternalDir(), ns.RouterDir()} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
	}
}

func TestLoadGoodAndBadFilesTogether(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputResourcesDir(), "a-site.yaml"), siteYAML)
	write(t, filepath.Join(ns.InputResourcesDir(), "b-broken.yaml"), "kind: [\n")
	write(t, filepath.Join(ns.InputResourcesDir(), "c-listener.yml"), listenerYAML)
	write(t, filepath.Join(ns.InputResourcesDir(), "d-bad-port.json"), `{"apiVersion":"skupper.io/v2alpha1","kind":"Connector","metadata":{"name":"db"},"spec":{"routingKey":"db","host":"localhost","port":0}}`)
	// Ignored: editor and temporary files, hidden files.
	for _, f := range []string{".hidden.yaml", "x.yaml~", ".x.yaml.swp", "y.yaml.swp", "z.tmp", ".Site-west.yaml.tmp-123"} {
		write(t, filepath.Join(ns.InputResourcesDir(), f), "garbage: [")
	}
	write(t, filepath.Join(ns.InputResourcesDir(), "notes.txt"), "hello")

	snap, err := Load(ns)
	require.NoError(t, err)
	require.Equal(t, []string{"Site/west", "Listener/backend"}, keys(snap))
	msg := messages(snap)
	require.Contains(t, msg, "b-broken.yaml:1: invalid YAML")
	require.Contains(t, msg, "d-bad-port.json:1: Connector/db: spec.port: port is missing or 0")
	require.Contains(t, msg, "notes.txt: warning: ignored: resource files must end in .yaml, .yml or .json")
	require.NotContains(t, msg, "hidden")
	require.NotContains(t, msg, "swp")
	require.NotContains(t, msg, ".tmp")
	require.NotNil(t, snap.Site())
	require.Len(t, snap.InputHash, 64)
}

func TestLoadSortedOrderAndDuplicatesAcrossFiles(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputResourcesDir(), "site.yaml"), siteYAML)
	write(t, filepath.Join(ns.InputResourcesDir(), "b.yaml"), listenerYAML)
	write(t, filepath.Join(ns.InputResourcesDir(), "a.yaml"), listenerYAML)
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Equal(t, []string{"Site/west"}, keys(snap))
	msg := messages(snap)
	a, b := filepath.Join(ns.InputResourcesDir(), "a.yaml"), filepath.Join(ns.InputResourcesDir(), "b.yaml")
	require.Contains(t, msg, a+":4: Listener/backend: metadata.name: Listener/backend is defined more than once (also at "+b+":1)")
	require.Contains(t, msg, b+":4: Listener/backend: metadata.name: Listener/backend is defined more than once (also at "+a+":1)")
	require.Less(t, strings.Index(msg, a), strings.Index(msg, b), "diagnostics sorted by file")
}

func TestLoadNoSite(t *testing.T) {
	ns := newNS(t, "west")
	write(t, filepath.Join(ns.InputResourcesDir(), "l.yaml"), listenerYAML)
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Contains(t, messages(snap), `namespace "west" has no Site`)
	require.Nil(t, snap.Site())
}

func TestLoadPartialWrite(t *testing.T) {
	ns := newNS(t, "default")
	path := filepath.Join(ns.InputResourcesDir(), "all.yaml")
	full := siteYAML + "---\n" + listenerYAML
	// A writer that writes in two parts: the first part ends inside the
	// listener's flow mapping, so the file does not parse and nothing in
	// it applies — not even the complete Site before it.
	half := siteYAML + "---\n" + strings.Replace(listenerYAML, "spec:\n", "spec: {\n", 1)[:len(listenerYAML)-20]
	write(t, path, half)
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Empty(t, keys(snap))
	require.Contains(t, messages(snap), "invalid YAML")
	require.Contains(t, messages(snap), "nothing in this file is applied")

	// The second write completes the file.
	write(t, path, full[:len(full)/2])
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(full[len(full)/2:])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	snap, err = Load(ns)
	require.NoError(t, err)
	require.Equal(t, []string{"Site/west", "Listener/backend"}, keys(snap))
	require.Equal(t, 8080, snap.Valid()[1].Object.(*v2alpha1.Listener).Spec.Port)
}

func TestLoadAtomicRenameIntoPlace(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputResourcesDir(), "site.yaml"), siteYAML)
	tmp := filepath.Join(ns.InputResourcesDir(), ".listener.yaml.tmp-1")
	write(t, tmp, listenerYAML)
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Equal(t, []string{"Site/west"}, keys(snap), "temporary file must be ignored")
	require.NoError(t, os.Rename(tmp, filepath.Join(ns.InputResourcesDir(), "listener.yaml")))
	snap, err = Load(ns)
	require.NoError(t, err)
	require.Equal(t, []string{"Listener/backend", "Site/west"}, keys(snap), "files are read in name order")
}

func TestLoadFileRemovedBetweenListAndRead(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputResourcesDir(), "a-site.yaml"), siteYAML)
	gone := filepath.Join(ns.InputResourcesDir(), "b-listener.yaml")
	write(t, gone, listenerYAML)
	testHookAfterList = func(string) { _ = os.Remove(gone) }
	t.Cleanup(func() { testHookAfterList = nil })
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Equal(t, []string{"Site/west"}, keys(snap))
	require.NotContains(t, messages(snap), "b-listener")
}

func TestLoadSymlinks(t *testing.T) {
	ns := newNS(t, "default")
	outside := filepath.Join(t.TempDir(), "outside.yaml")
	write(t, outside, siteYAML)
	require.NoError(t, os.Symlink(outside, filepath.Join(ns.InputResourcesDir(), "escape.yaml")))
	inside := filepath.Join(ns.Dir, "shared", "listener.yaml")
	write(t, inside, listenerYAML)
	require.NoError(t, os.Symlink(inside, filepath.Join(ns.InputResourcesDir(), "inside.yaml")))
	require.NoError(t, os.Symlink("../../nowhere.yaml", filepath.Join(ns.InputResourcesDir(), "dangling.yaml")))
	// A bundle directory that is a symlink out of the namespace.
	outCerts := t.TempDir()
	write(t, filepath.Join(outCerts, "tls.crt"), "x")
	require.NoError(t, os.Symlink(outCerts, filepath.Join(ns.InputCertsDir(), "stolen")))

	snap, err := Load(ns)
	require.NoError(t, err)
	msg := messages(snap)
	require.Contains(t, msg, "escape.yaml: symlink points outside the namespace")
	require.Contains(t, msg, "dangling.yaml: symlink target does not exist")
	require.Contains(t, msg, "stolen: symlink points outside the namespace")
	require.Equal(t, []string{"Listener/backend"}, keys(snap))
	require.Nil(t, snap.Certs["stolen"])
}

func TestLoadHugeFileRefused(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputResourcesDir(), "site.yaml"), siteYAML)
	f, err := os.Create(filepath.Join(ns.InputResourcesDir(), "huge.yaml"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(100<<20)) // 100 MB, sparse
	require.NoError(t, f.Close())
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Contains(t, messages(snap), "huge.yaml: file is 104857600 bytes; input files are limited to 4194304 bytes (4 MiB)")
	require.Equal(t, []string{"Site/west"}, keys(snap))
}

func TestLoadNonRegularAndSubdirectory(t *testing.T) {
	ns := newNS(t, "default")
	require.NoError(t, syscall.Mkfifo(filepath.Join(ns.InputResourcesDir(), "fifo.yaml"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(ns.InputResourcesDir(), "more"), 0o700))
	snap, err := Load(ns)
	require.NoError(t, err)
	msg := messages(snap)
	require.Contains(t, msg, "fifo.yaml: not a regular file")
	require.Contains(t, msg, "more: warning: subdirectories of input/resources are not read")
}

func TestLoadBundles(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputCertsDir(), "mine", "ca.crt"), "CA")
	write(t, filepath.Join(ns.InputCertsDir(), "mine", "tls.crt"), "CERT")
	write(t, filepath.Join(ns.InputIssuersDir(), "skupper-site-ca", "tls.key"), "KEY")
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Equal(t, "CA", string(snap.Certs["mine"].CA))
	require.Equal(t, "CERT", string(snap.Certs["mine"].Cert))
	require.Nil(t, snap.Certs["mine"].Key)
	require.Equal(t, "KEY", string(snap.Issuers["skupper-site-ca"].Key))
}

func TestLoadMissingCredentials(t *testing.T) {
	ns := newNS(t, "default")
	write(t, filepath.Join(ns.InputResourcesDir(), "site.yaml"), siteYAML)
	write(t, filepath.Join(ns.InputResourcesDir(), "c.yaml"), `apiVersion: skupper.io/v2alpha1
kind: Connector
metadata:
  name: db
spec:
  routingKey: db
  host: localhost
  port: 5432
  tlsCredentials: db-tls
`)
	snap, err := Load(ns)
	require.NoError(t, err)
	require.Contains(t, messages(snap), `c.yaml:9: Connector/db: spec.tlsCredentials: bundle "db-tls" not found`)
	require.Equal(t, []string{"Site/west"}, keys(snap))
}

func TestAttachedConnectorPairing(t *testing.T) {
	h := NewHome(t.TempDir())
	site, work, other := h.Namespace("site"), h.Namespace("work"), h.Namespace("other")
	for _, n := range []Namespace{site, work, other} {
		require.NoError(t, n.EnsureInput())
	}
	write(t, filepath.Join(site.InputResourcesDir(), "site.yaml"), siteYAML)
	write(t, filepath.Join(site.InputResourcesDir(), "b.yaml"), `apiVersion: skupper.io/v2alpha1
kind: AttachedConnectorBinding
metadata:
  name: db
spec:
  connectorNamespace: work
  routingKey: db
---
apiVersion: skupper.io/v2alpha1
kind: AttachedConnectorBinding
metadata:
  name: cache
spec:
  connectorNamespace: other
  routingKey: cache
`)
	write(t, filepath.Join(work.InputResourcesDir(), "ac.yaml"), `apiVersion: skupper.io/v2alpha1
kind: AttachedConnector
metadata:
  name: db
spec:
  siteNamespace: site
  host: localhost
  port: 5432
`)
	// "other" names a different site namespace for its "cache" connector.
	write(t, filepath.Join(other.InputResourcesDir(), "ac.yaml"), `apiVersion: skupper.io/v2alpha1
kind: AttachedConnector
metadata:
  name: cache
spec:
  siteNamespace: elsewhere
  host: localhost
  port: 6379
`)
	snap, err := Load(site)
	require.NoError(t, err)
	require.Len(t, snap.Attached["work"], 1)
	require.Empty(t, snap.Attached["other"], "connectors for another site are not attached here")
	var found int
	for _, d := range snap.Docs {
		if b, ok := d.Object.(*v2alpha1.AttachedConnectorBinding); ok {
			if b.Name == "db" {
				require.NotNil(t, v2alpha1.FindAttachment("site", b, snap.Attached))
			} else {
				require.Nil(t, v2alpha1.FindAttachment("site", b, snap.Attached), "cache is pending")
			}
			found++
		}
	}
	require.Equal(t, 2, found)

	// The workload namespace holds no Site, and that is valid.
	wsnap, err := Load(work)
	require.NoError(t, err)
	require.False(t, wsnap.Diagnostics.HasErrors(), messages(wsnap))

	// A connector that names this site but whose binding names another
	// connector namespace is a mismatch reported on the binding.
	write(t, filepath.Join(other.InputResourcesDir(), "ac.yaml"), `apiVersion: skupper.io/v2alpha1
kind: AttachedConnector
metadata:
  name: db
spec:
  siteNamespace: elsewhere
  host: localhost
  port: 5432
`)
	write(t, filepath.Join(site.InputResourcesDir(), "b.yaml"), `apiVersion: skupper.io/v2alpha1
kind: AttachedConnectorBinding
metadata:
  name: db
spec:
  connectorNamespace: other
  routingKey: db
`)
	snap, err = Load(site)
	require.NoError(t, err)
	require.Empty(t, snap.Attached["other"])
}

// TestLoadPermissionDenied runs the check as an unprivileged user when the
// tests run as root (root reads any file).
func TestLoadPermissionDenied(t *testing.T) {
	if os.Getenv("NAMESPACES_PERM_CHILD") != "" {
		ns := NewHome(os.Getenv("NAMESPACES_PERM_HOME")).Namespace("default")
		snap, err := Load(ns)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println(strings.Join(keys(snap), ","))
		fmt.Println(messages(snap))
		os.Exit(0)
	}
	base, err := os.MkdirTemp("", "skupperd-perm-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	ns := NewHome(base).Namespace("default")
	require.NoError(t, ns.EnsureInput())
	write(t, filepath.Join(ns.InputResourcesDir(), "a.yaml"), siteYAML)
	secret := filepath.Join(ns.InputResourcesDir(), "b.yaml")
	write(t, secret, listenerYAML)
	require.NoError(t, os.Chmod(secret, 0o000))

	if os.Geteuid() != 0 {
		snap, err := Load(ns)
		require.NoError(t, err)
		require.Contains(t, messages(snap), "b.yaml: cannot read: permission denied")
		require.Equal(t, []string{"Site/west"}, keys(snap))
		return
	}
	// As root: make the tree traversable by nobody and rerun this test as
	// nobody, where the file really is unreadable.
	require.NoError(t, filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == secret {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	}))
	require.NoError(t, os.Chmod(base, 0o755))
	// The test binary lives in a root-only build directory: copy it.
	bin := filepath.Join(base, "namespaces.test")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	cmd := exec.Command(bin, "-test.run=^TestLoadPermissionDenied$")
	cmd.Env = append(os.Environ(), "NAMESPACES_PERM_CHILD=1", "NAMESPACES_PERM_HOME="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "Site/west\n")
	require.Contains(t, string(out), "b.yaml: cannot read: permission denied")
}

// TestDecodeCacheSkipsUnchangedFiles: with a DecodeCache, a file that had
// not changed for the racy window when it was read is not read again while
// its identity holds; one edited in place is read again, and
// a recently changed file is read every time.
func TestDecodeCacheSkipsUnchangedFiles(t *testing.T) {
	home := NewHome(t.TempDir())
	ns := home.Namespace("west")
	require.NoError(t, ns.EnsureInput())
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(ns.InputResourcesDir(), name), []byte(content), 0o600))
	}
	listener := func(port int) string {
		return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l\nspec:\n  routingKey: k\n  port: %d\n", port)
	}
	write("site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n")
	write("l.yaml", listener(1001))
	reads := countReads(t)
	port := func(s *Snapshot) int {
		for _, d := range s.Docs {
			if l, ok := d.Object.(*v2alpha1.Listener); ok {
				return l.Spec.Port
			}
		}
		return 0
	}
	cache := &DecodeCache{}
	load := func() *Snapshot {
		s, err := LoadCached(ns, cache)
		require.NoError(t, err)
		return s
	}

	// Just written: within the racy window, read every time.
	first := load()
	second := load()
	require.Equal(t, 2, reads["l.yaml"])
	require.Equal(t, first.InputHash, second.InputHash)

	// Older than the window: read once more (to be trusted), then not.
	old := racyWindow
	racyWindow = -time.Hour // every file counts as settled
	t.Cleanup(func() { racyWindow = old })
	load()
	require.Equal(t, 3, reads["l.yaml"])
	third := load()
	require.Equal(t, 3, reads["l.yaml"], "an unchanged, settled file is not read again")
	require.Empty(t, third.Changed, "no file was read")
	lpath := filepath.Join(ns.InputResourcesDir(), "l.yaml")
	require.Contains(t, third.ResourceFiles, lpath, "a file vouched for keeps its identity")
	require.Equal(t, 1001, port(third))
	require.Equal(t, first.InputHash, third.InputHash, "the input hash does not depend on how a file was known")
	for _, d := range third.Docs {
		if l, ok := d.Object.(*v2alpha1.Listener); ok {
			l.Spec.Port = 1 // the documents handed out are copies...
		}
	}
	require.Equal(t, 1001, port(load()), "...and changing them does not change the cache")

	// Edited in place: its identity changes, so it is read again. (The
	// new size makes that so whatever the clock's granularity: racyWindow
	// is off here; the racy case is the first step's.)
	f, err := os.OpenFile(filepath.Join(ns.InputResourcesDir(), "l.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	_, err = f.WriteString(listener(20022))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	edited := load()
	require.Equal(t, 4, reads["l.yaml"])
	require.Equal(t, map[string]bool{lpath: true}, edited.Changed, "the edited file, and only it, was read")
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(lpath, &st))
	require.Equal(t, FileIDOf(&st), edited.ResourceFiles[lpath])
	require.Equal(t, 20022, port(edited))
	require.NotEqual(t, first.InputHash, edited.InputHash)
}

// LoadWatched trusts the watcher: a file it does not name is neither
// listed nor looked at (even one just written, within the racy window),
// and the previous listing with the named entries looked at again stands
// for the directory.
func TestLoadWatched(t *testing.T) {
	ns := newNS(t, "west")
	dir := ns.InputResourcesDir()
	listener := func(name string, port int) string {
		return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: %s\nspec:\n  routingKey: k\n  port: %d\n", name, port)
	}
	write(t, filepath.Join(dir, "site.yaml"), "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n")
	write(t, filepath.Join(dir, "a.yaml"), listener("a", 1001))
	write(t, filepath.Join(dir, "b.yaml"), listener("b", 1002))
	reads := countReads(t)
	load := watchedLoader(t, ns)
	ports := func(s *Snapshot) map[string]int {
		out := map[string]int{}
		for _, d := range s.Docs {
			if l, ok := d.Object.(*v2alpha1.Listener); ok {
				out[l.Name] = l.Spec.Port
			}
		}
		return out
	}

	// Without changes (the watcher cannot tell): as LoadCached.
	first := load(nil)
	require.Equal(t, map[string]int{"a": 1001, "b": 1002}, ports(first))
	require.Equal(t, 1, reads["a.yaml"])

	// Nothing changed: nothing read, though just written.
	quiet := load(&InputChanges{})
	require.Equal(t, 1, reads["a.yaml"])
	require.Empty(t, quiet.Changed)
	require.Equal(t, first.InputHash, quiet.InputHash)
	require.Equal(t, ports(first), ports(quiet))

	// a edited, b removed, c added, d a subdirectory, .e ignored: only
	// the named entries are looked at.
	write(t, filepath.Join(dir, "a.yaml"), listener("a", 2001))
	require.NoError(t, os.Remove(filepath.Join(dir, "b.yaml")))
	write(t, filepath.Join(dir, "c.yaml"), listener("c", 1003))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "d"), 0o700))
	s := load(&InputChanges{Names: []string{"a.yaml", "b.yaml", "c.yaml", "d", "a.yaml", "gone.yaml"}})
	require.Equal(t, map[string]int{"a": 2001, "c": 1003}, ports(s))
	require.Equal(t, 2, reads["a.yaml"])
	require.Equal(t, 1, reads["c.yaml"])
	require.Equal(t, 1, reads["site.yaml"], "site.yaml was not named")
	require.Equal(t, map[string]bool{filepath.Join(dir, "a.yaml"): true, filepath.Join(dir, "c.yaml"): true}, s.Changed)
	require.Contains(t, messages(s), "subdirectories of input/resources are not read")

	// Changes the watcher did not report are not seen (the directory is
	// not listed)...
	write(t, filepath.Join(dir, "c.yaml"), listener("c", 9999))
	write(t, filepath.Join(dir, "x.yaml"), listener("x", 1004))
	require.Equal(t, map[string]int{"a": 2001, "c": 1003}, ports(load(&InputChanges{})))
	// ...until it reports them, or cannot tell.
	require.Equal(t, map[string]int{"a": 2001, "c": 9999}, ports(load(&InputChanges{Names: []string{"c.yaml"}})))
	write(t, filepath.Join(dir, "c.yaml"), listener("c", 7777))
	require.Equal(t, map[string]int{"a": 2001, "c": 7777, "x": 1004}, ports(load(nil)))

	// The result equals a fresh load's.
	fresh, err := Load(ns)
	require.NoError(t, err)
	watched := load(&InputChanges{})
	require.Equal(t, fresh.InputHash, watched.InputHash)
	require.Equal(t, keys(fresh), keys(watched))
	require.Equal(t, messages(fresh), messages(watched))
}

// A file the watcher names that can no longer be read is not vouched for
// later with its old documents: its diagnostic stays.
func TestLoadWatchedUnreadableFile(t *testing.T) {
	ns := newNS(t, "west")
	dir := ns.InputResourcesDir()
	write(t, filepath.Join(dir, "site.yaml"), siteYAML)
	write(t, filepath.Join(dir, "l.yaml"), listenerYAML)
	load := watchedLoader(t, ns)
	require.Contains(t, keys(load(nil)), "Listener/backend")
	require.NoError(t, os.Truncate(filepath.Join(dir, "l.yaml"), MaxInputFileSize+1))
	for _, changes := range []*InputChanges{{Names: []string{"l.yaml"}}, {}} {
		s := load(changes)
		require.NotContains(t, keys(s), "Listener/backend")
		require.Contains(t, messages(s), "l.yaml: file is")
	}
}

// countReads counts, by file name, the resource files the loader reads
// until the test ends. Read it between loads (the loader reads on several
// goroutines).
func countReads(t *testing.T) map[string]int {
	var mu sync.Mutex
	reads := map[string]int{}
	testHookReadEntry = func(path string) {
		mu.Lock()
		defer mu.Unlock()
		reads[filepath.Base(path)]++
	}
	t.Cleanup(func() { testHookReadEntry = nil })
	return reads
}

// watchedLoader returns LoadWatched of ns with one DecodeCache, failing
// the test on an error.
func watchedLoader(t *testing.T, ns Namespace) func(*InputChanges) *Snapshot {
	cache := &DecodeCache{}
	return func(changes *InputChanges) *Snapshot {
		t.Helper()
		s, err := LoadWatched(ns, cache, changes)
		require.NoError(t, err)
		return s
	}
}
