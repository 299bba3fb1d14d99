package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/router"
)

// result is what one in-process run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs commands against one data home, in-process.
type cli struct {
	t     *testing.T
	home  string
	env   map[string]string
	stdin string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{t: t, home: t.TempDir(), env: map[string]string{"PATH": ""}}
}

// run executes args with the data home set through the environment.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == EnvDataHome {
			return c.home
		}
		return c.env[k]
	}
	var stdin io.Reader = strings.NewReader(c.stdin)
	a := &app{stdin: stdin, stdout: &out, stderr: &errOut, env: env, now: time.Now, procRoot: "/proc", pollInterval: 10 * time.Millisecond}
	code := a.run(args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// ok runs args and requires exit 0.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	require.Equal(c.t, 0, r.code, "skupper %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// ns returns a namespace of the data home.
func (c *cli) ns(name string) namespaces.Namespace {
	return namespaces.NewHome(c.home).Namespace(name)
}

// snapshot returns every file under dir with its content (empty for a
// missing dir), to check that a refused command wrote nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = string(data)
		return nil
	})
	require.NoError(t, err)
	return out
}

// writeInput writes a file to a namespace's input/resources.
func (c *cli) writeInput(ns, file, content string) string {
	c.t.Helper()
	n := c.ns(ns)
	require.NoError(c.t, n.EnsureInput())
	p := filepath.Join(n.InputResourcesDir(), file)
	require.NoError(c.t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// inputFiles lists the file names of a namespace's input/resources.
func (c *cli) inputFiles(ns string) []string {
	c.t.Helper()
	entries, err := os.ReadDir(c.ns(ns).InputResourcesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(c.t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// startDaemon runs the real daemon in-process over the data home (holding
// its lock, so the CLI sees it running), without starting routers. It
// stops at the end of the test.
func (c *cli) startDaemon() {
	c.t.Helper()
	home := namespaces.NewHome(c.home)
	release, err := home.Lock()
	require.NoError(c.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	d := daemon.New(daemon.Config{
		Home:       home,
		Supervisor: router.NoSupervisor{},
		Version:    "test",
		Hosts:      func() []string { return []string{"host.example.com", "192.0.2.10"} },
		Ports:      ports.New(home, ports.WithBasePorts(map[string]int{ports.RoleNormal: 25671, ports.RoleInterRouter: 25771, ports.RoleEdge: 25871})),
	})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	c.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(c.t, err)
		case <-time.After(30 * time.Second):
			c.t.Error("daemon did not stop within 30s")
		}
		release()
	})
}
