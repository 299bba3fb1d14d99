package cli

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/testwait"
)

func TestCreateUpdateDeleteWithoutDaemon(t *testing.T) {
	c := newCLI(t)
	r := c.ok("site", "create", "west", "--enable-link-access")
	sitePath := filepath.Join(c.ns("default").InputResourcesDir(), "Site-west.yaml")
	assert.Equal(t, "Site \"west\" written to "+sitePath+".\n"+notRunningHint+"\n", r.stdout)
	c.ok("listener", "create", "backend", "8080")
	c.ok("connector", "create", "backend", "8081", "--routing-key", "be", "--host", "10.0.0.5")
	assert.Equal(t, []string{"Connector-backend.yaml", "Listener-backend.yaml", "Site-west.yaml"}, c.inputFiles("default"))

	read := func(file string) string {
		data, err := os.ReadFile(filepath.Join(c.ns("default").InputResourcesDir(), file))
		require.NoError(t, err)
		return string(data)
	}
	assert.Equal(t, "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n", read("Site-west.yaml"))
	assert.Equal(t, "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: backend\nspec:\n  host: 0.0.0.0\n  port: 8080\n  routingKey: backend\n", read("Listener-backend.yaml"))
	assert.Equal(t, "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: backend\nspec:\n  host: 10.0.0.5\n  port: 8081\n  routingKey: be\n", read("Connector-backend.yaml"))

	// Permissions: files 0600, directories 0700.
	for _, p := range []string{sitePath, c.ns("default").InputResourcesDir(), c.ns("default").Dir} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		assert.Equal(t, want, fi.Mode().Perm(), p)
	}

	r = c.ok("listener", "status")
	assert.Contains(t, r.stdout, "Not applied yet: skupperd is not running")

	c.ok("listener", "update", "backend", "--port", "9090", "--host", "127.0.0.1")
	assert.Contains(t, read("Listener-backend.yaml"), "port: 9090")
	assert.Contains(t, read("Listener-backend.yaml"), "host: 127.0.0.1")
	assert.Contains(t, read("Listener-backend.yaml"), "routingKey: backend", "options not given keep their values")
	c.ok("connector", "update", "backend", "--routing-key", "backend")
	assert.Contains(t, read("Connector-backend.yaml"), "routingKey: backend")
	c.ok("site", "update", "--enable-link-access=false")
	assert.Contains(t, read("Site-west.yaml"), "linkAccess: none")

	r = c.ok("listener", "delete", "backend")
	assert.Equal(t, "Listener \"backend\" deleted (removed "+filepath.Join(c.ns("default").InputResourcesDir(), "Listener-backend.yaml")+").\n"+notRunningHint+"\n", r.stdout)
	c.ok("connector", "delete", "backend")
	c.ok("site", "delete")
	assert.Empty(t, c.inputFiles("default"))
}

func TestBadInputWritesNothing(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	c.ok("listener", "create", "db", "5432")
	c.writeInput("default", "two.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: one\nspec:\n  routingKey: one\n  host: localhost\n  port: 1\n---\napiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: two\nspec:\n  routingKey: two\n  host: localhost\n  port: 2\n")
	unknownKind := filepath.Join(t.TempDir(), "kind.yaml")
	require.NoError(t, os.WriteFile(unknownKind, []byte("apiVersion: skupper.io/v2alpha1\nkind: Listner\nmetadata:\n  name: x\n"), 0o600))
	unknownField := filepath.Join(t.TempDir(), "field.yaml")
	require.NoError(t, os.WriteFile(unknownField, []byte("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: x\nspec:\n  routingKey: x\n  host: 0.0.0.0\n  prot: 80\n"), 0o600))
	badValues := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(badValues, []byte("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: x\nspec:\n  routingKey: x\n  host: 0.0.0.0\n  port: 70000\n---\napiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: y\nspec:\n  routingKey: y\n  host: localhost\n  port: 80\n"), 0o600))
	dir := t.TempDir()

	before := snapshot(t, c.home)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listener", "create"}, "missing <name> and <port>"},
		{[]string{"listener", "create", "x"}, "missing <port>"},
		{[]string{"listener", "create", "x", "80", "extra"}, "too many arguments"},
		{[]string{"connector", "create", "x", "0"}, "invalid port: port 0 is out of range; expected 1-65535"},
		{[]string{"connector", "create", "x", "70000"}, "invalid port: port 70000 is out of range; expected 1-65535"},
		{[]string{"listener", "create", "x", "abc"}, `invalid port "abc": expected a number from 1 to 65535`},
		{[]string{"listener", "create", "Bad_Name", "80"}, `invalid listener name: "Bad_Name" is not a valid name`},
		{[]string{"connector", "create", "a.b", "80"}, `invalid connector name: "a.b" is not a valid name`},
		{[]string{"site", "create", "-west"}, "unknown shorthand flag"},
		{[]string{"listener", "create", "x", "80", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"listener", "create", "x", "80", "--wait", "bogus"}, `invalid --wait "bogus": expected none, configured or ready`},
		{[]string{"listener", "create", "x", "80", "--timeout", "0s"}, "invalid --timeout 0s: must be positive"},
		{[]string{"listener", "create", "x", "80", "--host", "not a host"}, `Listener/x: spec.host: "not a host" is not a valid host`},
		{[]string{"listener", "create", "x", "80", "--routing-key", "-bad"}, `Listener/x: spec.routingKey: "-bad" is not a valid routing key`},
		{[]string{"listener", "create", "x", "80", "--type", "udp"}, `listener type "udp" is not supported`},
		{[]string{"connector", "create", "x", "80", "--use-client-cert"}, "useClientCert needs tlsCredentials"},
		{[]string{"listener", "create", "db", "5433"}, `Listener "db" already exists in namespace "default"`},
		{[]string{"listener", "create", "db2", "5432"}, `Listener/db2: spec.port: port 5432 on host "0.0.0.0" clashes with Listener/db`},
		{[]string{"connector", "create", "one", "80"}, `Connector "one" already exists in namespace "default"`},
		{[]string{"site", "create", "east"}, "There is already a site resource defined for the namespace."},
		{[]string{"site", "update", "--edge", "--enable-link-access"}, "edge sites cannot accept links"},
		{[]string{"site", "update"}, "nothing to update: give at least one of --enable-link-access, --edge"},
		{[]string{"listener", "update", "db"}, "nothing to update"},
		{[]string{"listener", "update", "db", "--port", "0"}, "invalid port: port 0 is out of range"},
		{[]string{"listener", "update", "db", "--port", "abc"}, `invalid argument "abc" for "--port"`},
		{[]string{"link", "update", "x", "--cost", "0"}, "invalid --cost 0: expected 1 or more"},
		{[]string{"listener", "status", "-o", "xml"}, `invalid --output "xml": expected json or yaml`},
		{[]string{"listener", "bogus"}, `unknown command or argument "bogus" for "skupper listener"`},
		{[]string{"bogus"}, `unknown command or argument "bogus" for "skupper"`},
		{[]string{"-n", "Not_Valid", "listener", "status"}, "invalid namespace"},
		{[]string{"--platform", "podman", "listener", "create", "x", "80"}, `platform "podman" is not supported by this build; skupper here manages Linux sites (--platform linux)`},
		{[]string{"--platform", "nope", "site", "status"}, `unknown platform "nope"`},
		{[]string{"system", "apply"}, "You need to provide a file to apply or use standard input."},
		{[]string{"system", "apply", "-f", dir}, `The file "` + dir + `" is a directory`},
		{[]string{"system", "apply", "-f", filepath.Join(dir, "nope.yaml")}, `The file "` + filepath.Join(dir, "nope.yaml") + `" does not exist`},
		{[]string{"system", "apply", "-f", unknownKind}, unknownKind + `:2: kind: unknown kind "Listner"`},
		{[]string{"system", "apply", "-f", unknownField}, unknownField + `:8: Listener/x: spec.prot: unknown field "prot"; did you mean "port"?`},
		{[]string{"system", "apply", "-f", badValues}, badValues + ":8: Listener/x: spec.port: port 70000 is out of range; expected 1-65535"},
		{[]string{"system", "delete", "-f", unknownKind}, `unknown kind "Listner"`},
		{[]string{"system", "validate", "-f", filepath.Join(dir, "nope.yaml")}, "no such file or directory"},
	} {
		r := c.run(tc.args...)
		assert.Equal(t, 2, r.code, "%v\nstdout: %s\nstderr: %s", tc.args, r.stdout, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
		assert.Empty(t, r.stdout, "%v: errors go to stderr", tc.args)
	}
	assert.Equal(t, before, snapshot(t, c.home), "refused commands write nothing")
}

func TestFailuresExitOne(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listener", "status", "-n", "ghost"}, `namespace "ghost" does not exist (no directory ` + c.ns("ghost").Dir + `)`},
		{[]string{"site", "status", "-n", "ghost"}, `namespace "ghost" does not exist`},
		{[]string{"listener", "delete", "x", "-n", "ghost"}, `namespace "ghost" does not exist`},
	} {
		r := c.run(tc.args...)
		assert.Equal(t, 1, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want)
	}

	c.ok("site", "create", "west")
	multi := c.writeInput("default", "services.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: a\nspec:\n  routingKey: a\n  host: 0.0.0.0\n  port: 1001\n---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: b\nspec:\n  routingKey: b\n  host: 0.0.0.0\n  port: 1002\n")
	before := snapshot(t, c.home)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listener", "delete", "x"}, `Listener "x" does not exist in namespace "default"`},
		{[]string{"listener", "update", "x", "--port", "80"}, `Listener "x" does not exist in namespace "default"`},
		{[]string{"connector", "delete", "x"}, `Connector "x" does not exist`},
		{[]string{"link", "delete", "x"}, `Link "x" does not exist`},
		{[]string{"listener", "status", "x"}, `Listener "x" does not exist`},
		{[]string{"site", "status", "east"}, `Site "east" does not exist`},
		{[]string{"listener", "delete", "a"}, `Listener "a" is defined in ` + multi + ` together with Listener/b; skupper only removes files that hold nothing else, so edit that file instead`},
		{[]string{"listener", "update", "b", "--port", "80"}, `Listener "b" is defined in ` + multi + ` together with other resources; skupper only rewrites files that hold a single resource`},
		{[]string{"link", "generate"}, `Link access is not enabled for site "west"; enable it with "skupper site update --enable-link-access"`},
		{[]string{"system", "reload"}, "skupperd is not running, so there is nothing to reload"},
	} {
		r := c.run(tc.args...)
		assert.Equal(t, 1, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
	assert.Equal(t, before, snapshot(t, c.home))

	// A file that does not decode hides its resources; the message says so.
	c.writeInput("default", "broken.yaml", "kind: [\n")
	r := c.run("listener", "delete", "x")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "broken.yaml could not be read")

	// Link generate with link access but no links produced yet.
	c.ok("site", "update", "--enable-link-access")
	r = c.run("link", "generate")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `no links have been produced for site "west" yet: skupperd is not running; start it with "skupperd run"`)

	r = c.run("link", "generate", "-n", "ghost")
	assert.Equal(t, 1, r.code)
	require.NoError(t, c.ns("nosite").EnsureInput())
	r = c.run("link", "generate", "-n", "nosite")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `There is no existing Skupper site resource in namespace "nosite"`)
}

func TestUserFilesAreEditedInPlace(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	yml := c.writeInput("default", "backend.yml", "# my backend\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: backend\n  labels:\n    team: a\nspec:\n  routingKey: backend\n  host: 0.0.0.0\n  port: 8080\n")
	jsn := c.writeInput("default", "db.json", `{"apiVersion": "skupper.io/v2alpha1", "kind": "Connector", "metadata": {"name": "db"}, "spec": {"routingKey": "db", "host": "localhost", "port": 5432}}`)

	c.ok("listener", "update", "backend", "--port", "8081")
	c.ok("connector", "update", "db", "--port", "5433")
	assert.Equal(t, []string{"Site-west.yaml", "backend.yml", "db.json"}, c.inputFiles("default"), "no new files")
	data, err := os.ReadFile(yml)
	require.NoError(t, err)
	assert.Contains(t, string(data), "port: 8081")
	assert.Contains(t, string(data), "team: a", "metadata is kept")
	data, err = os.ReadFile(jsn)
	require.NoError(t, err)
	var conn v2alpha1.Connector
	require.NoError(t, json.Unmarshal(data, &conn), "a .json file stays JSON")
	assert.Equal(t, 5433, conn.Spec.Port)

	r := c.ok("system", "validate")
	assert.Contains(t, r.stderr, "3 resources checked: 0 errors")

	c.ok("listener", "delete", "backend")
	c.ok("connector", "delete", "db")
	assert.Equal(t, []string{"Site-west.yaml"}, c.inputFiles("default"))
}

func TestSystemApplyAndDelete(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	three := "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: a1\nspec:\n  routingKey: a\n  host: 127.0.0.1\n  port: 7001\n" +
		"---\napiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: a\nspec:\n  routingKey: a\n  host: localhost\n  port: 7000\n" +
		"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: kubernetes.io/tls\nstringData:\n  ca.crt: x\n  tls.crt: y\n  tls.key: z\n"
	c.stdin = three
	r := c.ok("system", "apply", "-f", "-")
	assert.Equal(t, "Listener a1 applied\nConnector a applied\nSecret creds applied\n"+notRunningHint+"\n", r.stdout)
	assert.Equal(t, []string{"Connector-a.yaml", "Listener-a1.yaml", "Secret-creds.yaml", "Site-west.yaml"}, c.inputFiles("default"))

	// Applying again updates in place.
	c.stdin = strings.Replace(three, "port: 7001", "port: 7002", 1)
	c.ok("system", "apply", "-f", "-")
	data, err := os.ReadFile(filepath.Join(c.ns("default").InputResourcesDir(), "Listener-a1.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(data), "port: 7002")

	// A clash with the namespace's input refuses the whole file.
	before := snapshot(t, c.home)
	c.stdin = "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: z\nspec:\n  routingKey: z\n  host: 127.0.0.1\n  port: 7002\n---\napiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: other\n"
	r = c.run("system", "apply", "-f", "-")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "3 problems; nothing was written")
	assert.Contains(t, r.stderr, "clashes with Listener/a1")
	assert.Contains(t, r.stderr, "a namespace holds exactly one Site")
	// Duplicates within the file.
	c.stdin = "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n---\napiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n"
	r = c.run("system", "apply", "-f", "-")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "<stdin>:4: Site/west: metadata.name: Site/west is defined more than once (also at <stdin>:6)")
	assert.Equal(t, before, snapshot(t, c.home))

	// Delete from a file; a missing resource refuses the whole deletion.
	c.stdin = three + "---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: ghost\nspec:\n  routingKey: g\n  host: 127.0.0.1\n  port: 1\n"
	r = c.run("system", "delete", "-f", "-")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `Listener "ghost" does not exist in namespace "default"`)
	assert.Equal(t, before, snapshot(t, c.home))
	c.stdin = three
	r = c.ok("system", "delete", "-f", "-")
	assert.Equal(t, "Listener a1 deleted\nConnector a deleted\nSecret creds deleted\n"+notRunningHint+"\n", r.stdout)
	assert.Equal(t, []string{"Site-west.yaml"}, c.inputFiles("default"))
}

func TestLinkDelete(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "east")
	link := func(name, tls string) string {
		s := "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: " + name + "\nspec:\n  endpoints:\n  - name: inter-router\n    host: west.example.com\n    port: \"55671\"\n"
		if tls != "" {
			s += "  tlsCredentials: " + tls + "\n"
		}
		return s
	}
	secret := func(name string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\ntype: kubernetes.io/tls\nstringData:\n  ca.crt: x\n  tls.crt: y\n  tls.key: z\n"
	}
	// As "skupper system apply" writes a generated link: two files.
	c.stdin = secret("link-west") + "---\n" + link("link-west", "link-west")
	c.ok("system", "apply", "-f", "-")
	// As a user drops a generated link into input: one file.
	c.writeInput("default", "from-south.yaml", "---\n"+secret("link-south")+"---\n"+link("link-south", ""))
	// Two links sharing credentials.
	c.writeInput("default", "Secret-shared.yaml", secret("shared"))
	c.writeInput("default", "Link-n1.yaml", link("n1", "shared"))
	c.writeInput("default", "Link-n2.yaml", link("n2", "shared"))

	c.ok("link", "delete", "link-west")
	c.ok("link", "delete", "link-south")
	// Shared credentials: without a terminal to ask on, refused with a
	// hint and nothing removed; --credentials keep keeps them.
	before := snapshot(t, c.ns("default").InputDir())
	r := c.run("link", "delete", "n1")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `the credentials "shared" of Link "n1" are also used by Link/n2; give --credentials keep`)
	assert.Equal(t, before, snapshot(t, c.ns("default").InputDir()))
	c.ok("link", "delete", "n1", "--credentials", "keep")
	assert.Equal(t, []string{"Link-n2.yaml", "Secret-shared.yaml", "Site-east.yaml"}, c.inputFiles("default"))
	c.ok("link", "delete", "n2")
	assert.Equal(t, []string{"Site-east.yaml"}, c.inputFiles("default"))
}

func TestGenerate(t *testing.T) {
	c := newCLI(t)
	r := c.ok("listener", "generate", "backend", "8080")
	assert.Equal(t, "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: backend\nspec:\n  host: 0.0.0.0\n  port: 8080\n  routingKey: backend\n", r.stdout)
	r = c.ok("connector", "generate", "backend", "8080", "-o", "json")
	var conn v2alpha1.Connector
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &conn))
	assert.Equal(t, "localhost", conn.Spec.Host)
	r = c.ok("site", "generate", "west", "--enable-link-access")
	assert.Equal(t, "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n", r.stdout)
	assert.NoDirExists(t, filepath.Join(c.home, "namespaces"), "generate writes nothing")
	r = c.run("site", "generate", "west", "--edge", "--enable-link-access")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "edge sites cannot accept links")
}

func TestGlobalFlagsAndEnvironment(t *testing.T) {
	c := newCLI(t)
	c.env[EnvPlatform] = "docker"
	r := c.run("site", "status")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `platform "docker" is not supported by this build`)
	c.ok("--platform", "linux", "site", "create", "west") // the flag wins
	delete(c.env, EnvPlatform)

	other := t.TempDir()
	c.ok("--data-home", other, "site", "create", "east")
	assert.FileExists(t, filepath.Join(other, "namespaces", "default", "input", "resources", "Site-east.yaml"), "--data-home wins over SKUPPER_DATA_HOME")
	c.ok("-n", "other", "site", "create", "west")
	assert.FileExists(t, filepath.Join(c.home, "namespaces", "other", "input", "resources", "Site-west.yaml"))

	r = c.ok("completion", "bash")
	assert.Contains(t, r.stdout, "bash completion")
}

func TestSystemValidate(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	bad := c.writeInput("default", "bad.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  host: 0.0.0.0\n  port: 70000\n")
	r := c.run("system", "validate")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, bad+":8: Listener/db: spec.port: port 70000 is out of range; expected 1-65535\n", r.stdout)
	assert.Equal(t, "2 resources checked: 1 error, 0 warnings\n", r.stderr)
	r = c.run("system", "validate", "-f", bad)
	assert.Equal(t, 1, r.code)
	good := filepath.Join(c.ns("default").InputResourcesDir(), "Site-west.yaml")
	r = c.ok("system", "validate", "-f", good)
	assert.Equal(t, "1 resource checked: 0 errors, 0 warnings\n", r.stderr)
}

func TestStopStartWithoutDaemon(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	r := c.ok("system", "stop")
	assert.Contains(t, r.stdout, `Namespace "default" is marked stopped`)
	assert.FileExists(t, c.ns("default").StoppedPath())
	assert.Equal(t, []string{"Site-west.yaml"}, c.inputFiles("default"), "stop never deletes input")
	r = c.ok("system", "status")
	assert.Contains(t, r.stdout, `stopped by "skupper system stop"`)
	r = c.ok("system", "start")
	assert.Contains(t, r.stdout, `Namespace "default" may run`)
	assert.NoFileExists(t, c.ns("default").StoppedPath())
}

// TestStopWaitsForTheDaemon plays the daemon side proposed for "skupper
// system stop": on seeing internal/stopped, a reconcile reports the Site's
// router as not running.
func TestStopWaitsForTheDaemon(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	ns := c.ns("default")
	release, err := namespaces.NewHome(c.home).Lock()
	require.NoError(t, err)
	defer release()

	writeSite := func(running bool) {
		site := &v2alpha1.Site{TypeMeta: typeMeta(v2alpha1.KindSite), ObjectMeta: v2alpha1.ObjectMeta{Name: "west"}}
		st := "False"
		if running {
			st = "True"
		}
		site.Status.Conditions = []v2alpha1.Condition{{Type: "Running", Status: st, Message: "stopped"}}
		_, err := ns.WriteStatus(site)
		require.NoError(t, err)
		data, err := yaml.Marshal(namespaces.Summary{Namespace: "default", LastReconcile: time.Now().UTC().Format(time.RFC3339Nano)})
		require.NoError(t, err)
		require.NoError(t, atomicfile.MkdirAll(ns.InternalDir(), namespaces.DirPerm))
		require.NoError(t, atomicfile.WriteFile(ns.SummaryPath(), data, namespaces.FilePerm))
	}
	writeSite(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Not testwait.For: a goroutine other than the test's must not fail
		// it; the command's own timeout reports a router that never stops.
		if ok, _ := testwait.Poll(10*time.Second, func() (bool, string) { return ns.Stopped(), "the namespace is not stopped" }); ok {
			writeSite(false)
		}
	}()
	r := c.ok("system", "stop", "--timeout", "10s")
	<-done
	assert.Equal(t, "Waiting for the router to stop...\nNamespace \"default\" is stopped.\n", r.stdout)
}

func TestDebugDumpRedactsKeys(t *testing.T) {
	c := newCLI(t)
	statusFixture(t, c)
	ns := c.ns("west")
	key := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
	c.writeInput("west", "Secret-creds.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: kubernetes.io/tls\nstringData:\n  ca.crt: x\n  tls.crt: y\n  tls.key: |\n    "+strings.ReplaceAll(strings.TrimSpace(key), "\n", "\n    ")+"\n")
	c.writeInput("west", "broken.yaml", "tls.key: [\n"+key)
	require.NoError(t, os.MkdirAll(ns.LinksDir(), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(ns.LinksDir(), "link-west-host.yaml"), []byte("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: link-west\ntype: kubernetes.io/tls\ndata:\n  ca.crt: eA==\n  tls.crt: eQ==\n  tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t\n"), 0o600))
	certDir := ns.RuntimeCertDir("west")
	require.NoError(t, os.MkdirAll(certDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(certDir, "tls.key"), []byte(key), 0o600))

	dir := t.TempDir()
	t.Chdir(dir)
	r := c.ok("debug", "dump", "-n", "west")
	require.True(t, strings.HasPrefix(r.stdout, "Debug dump file: "+dir+"/skupper-dump-west-"), r.stdout)
	file := strings.TrimSpace(strings.TrimPrefix(r.stdout, "Debug dump file: "))
	assert.Regexp(t, `skupper-dump-west-\d{14}\.tar\.gz$`, file)

	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	names := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		names[hdr.Name] = string(data)
		assert.NotContains(t, hdr.Name, "tls.key")
		assert.NotContains(t, string(data), "PRIVATE KEY", hdr.Name)
		assert.NotContains(t, string(data), "LS0tLS1CRUdJTiBQUklWQVRF", hdr.Name)
	}
	for _, want := range []string{"versions.yaml", "check.txt", "certificates.yaml", "internal/status.yaml", "input/resources/Site-west.yaml",
		"input/resources/Secret-creds.yaml", "input/resources/broken.yaml.omitted.txt", "runtime/resources/Listener-backend.yaml", "runtime/links/link-west-host.yaml"} {
		assert.Contains(t, names, want)
	}
	assert.Contains(t, names["input/resources/Secret-creds.yaml"], "tls.key: <redacted>")
	assert.Contains(t, names["runtime/links/link-west-host.yaml"], "tls.key: <redacted>")

	// An existing file is never overwritten.
	r = c.run("debug", "dump", file, "-n", "west")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "already exists")
}
