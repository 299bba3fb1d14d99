package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateExitCodes(t *testing.T) {
	home := t.TempDir()
	res := filepath.Join(home, "namespaces", "west", "input", "resources")
	require.NoError(t, os.MkdirAll(res, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(res, "site.yaml"), []byte("apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n"), 0o600))

	code, out, errOut := runCmd(t, "validate", "--data-home", home, "-n", "west")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
	require.Equal(t, "1 resource checked: 0 errors, 0 warnings\n", errOut)

	bad := filepath.Join(res, "listener.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  host: 0.0.0.0\n  port: 70000\n"), 0o600))
	code, out, _ = runCmd(t, "validate", "--data-home", home, "-n", "west")
	require.Equal(t, 1, code)
	require.Equal(t, bad+":8: Listener/db: spec.port: port 70000 is out of range; expected 1-65535\n", out)

	// The same file checked loose, with SKUPPER_DATA_HOME irrelevant.
	code, out, _ = runCmd(t, "validate", "-n", "west", bad)
	require.Equal(t, 1, code)
	require.Contains(t, out, "port 70000 is out of range")

	t.Setenv("SKUPPER_DATA_HOME", home)
	code, _, _ = runCmd(t, "validate", "-n", "west")
	require.Equal(t, 1, code, "SKUPPER_DATA_HOME is honoured")
}

func TestValidateUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"validate", "--bogus"},
		{"validate", "/does/not/exist.yaml"},
		{"validate", "-n", "Not_Valid", "x.yaml"},
		{"no-such-command"},
	} {
		code, _, errOut := runCmd(t, args...)
		require.Equal(t, 2, code, "%v: %s", args, errOut)
		require.True(t, strings.HasPrefix(errOut, "Error: "), errOut)
	}
	code, _, errOut := runCmd(t, "validate", "--data-home", t.TempDir(), "-n", "ghost")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `namespace "ghost" does not exist`)
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "skupperd "), out)
}
