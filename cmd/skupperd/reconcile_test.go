package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
)

// writeNamespace creates <home>/namespaces/<ns>/input/resources/site.yaml.
func writeNamespace(t *testing.T, home, ns, content string) string {
	t.Helper()
	dir := filepath.Join(home, "namespaces", ns, "input", "resources")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	path := filepath.Join(dir, "site.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

const goodSite = `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: west
spec:
  linkAccess: default
---
apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: backend
spec:
  routingKey: backend
  host: 127.0.0.1
  port: 8080
`

const badSite = `apiVersion: skupper.io/v2alpha1
kind: Site
metadata:
  name: east
spec:
  linkAccess: bogus
`

func TestReconcileCommand(t *testing.T) {
	home := t.TempDir()
	writeNamespace(t, home, "west", goodSite)
	badPath := writeNamespace(t, home, "east", badSite)
	westDir := filepath.Join(home, "namespaces", "west")
	config := filepath.Join(westDir, "runtime", "router", "skrouterd.json")

	t.Run("good namespace", func(t *testing.T) {
		code, out, errOut := runCmd(t, "reconcile", "--data-home", home, "-n", "west")
		require.Equal(t, 0, code, "stderr: %s", errOut)
		assert.Equal(t, `Namespace "west": site applied; router config `+config+"\n", out)
		assert.Empty(t, errOut)
		assert.FileExists(t, config)
		assert.FileExists(t, filepath.Join(westDir, "runtime", "resources", "Site-west.yaml"))

		// Again: the same answer, and the config is not rewritten.
		before, err := os.Stat(config)
		require.NoError(t, err)
		code, out2, _ := runCmd(t, "reconcile", "--data-home", home, "-n", "west")
		require.Equal(t, 0, code)
		assert.Equal(t, out, out2)
		after, err := os.Stat(config)
		require.NoError(t, err)
		assert.Equal(t, before.ModTime(), after.ModTime())
	})

	t.Run("invalid site", func(t *testing.T) {
		code, out, errOut := runCmd(t, "reconcile", "--data-home", home, "-n", "east")
		require.Equal(t, 1, code)
		assert.Equal(t, `Namespace "east": not applied (no valid Site); the previous runtime configuration is kept`+"\n", out)
		assert.Contains(t, errOut, badPath+`:6: Site/east: spec.linkAccess: invalid linkAccess "bogus"`)
		assert.NoFileExists(t, filepath.Join(home, "namespaces", "east", "runtime", "router", "skrouterd.json"))
	})

	t.Run("every namespace", func(t *testing.T) {
		// One bad namespace fails the run; the good one is still applied.
		code, out, errOut := runCmd(t, "reconcile", "--data-home", home)
		require.Equal(t, 1, code)
		assert.Contains(t, out, `Namespace "west": site applied`)
		assert.Contains(t, out, `Namespace "east": not applied`)
		assert.Contains(t, errOut, `invalid linkAccess "bogus"`)
	})

	t.Run("unknown namespace", func(t *testing.T) {
		code, out, errOut := runCmd(t, "reconcile", "--data-home", home, "-n", "ghost")
		require.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Equal(t, `Error: namespace "ghost" does not exist (no directory `+filepath.Join(home, "namespaces", "ghost")+")\n", errOut)
		assert.NoDirExists(t, filepath.Join(home, "namespaces", "ghost"), "reconcile must not create it")
	})

	t.Run("empty data home", func(t *testing.T) {
		empty := t.TempDir()
		code, out, errOut := runCmd(t, "reconcile", "--data-home", empty)
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "No namespaces under "+filepath.Join(empty, "namespaces")+"\n", out)
	})
}

func TestReconcileUsageErrors(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{
		{"reconcile", "extra-arg"},
		{"reconcile", "--data-home", home, "-n", "west", "extra-arg"},
		{"reconcile", "--bogus"},
		{"reconcile", "--data-home", home, "-n", "Not_Valid"},
	} {
		code, out, errOut := runCmd(t, args...)
		assert.Equal(t, 2, code, "%v: %s", args, errOut)
		assert.Empty(t, out, "%v", args)
		assert.True(t, strings.HasPrefix(errOut, "Error: "), "%v: %q", args, errOut)
	}
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	assert.Empty(t, entries, "a usage error must not touch the data home")
}

// TestReconcileRefusesWhileDaemonRuns: with a daemon holding the data
// home's lock, "skupperd reconcile" exits 1 with a clear message and
// writes nothing (the daemon's live status is not overwritten).
func TestReconcileRefusesWhileDaemonRuns(t *testing.T) {
	home := t.TempDir()
	writeNamespace(t, home, "west", goodSite)
	release, err := namespaces.NewHome(home).Lock()
	require.NoError(t, err)
	code, out, errOut := runCmd(t, "reconcile", "--data-home", home, "-n", "west")
	require.Equal(t, 1, code, errOut)
	require.Empty(t, out)
	require.Contains(t, errOut, fmt.Sprintf("another skupperd (pid %d) manages data home %s", os.Getpid(), home))
	require.Contains(t, errOut, "skupper system reload")
	_, err = os.Stat(filepath.Join(home, "namespaces", "west", "runtime"))
	require.True(t, os.IsNotExist(err), "nothing written: %v", err)
	release()
	code, _, errOut = runCmd(t, "reconcile", "--data-home", home, "-n", "west")
	require.Equal(t, 0, code, errOut)
}
