package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBinary writes an executable file (systemd-analyze verify checks that
// ExecStart= names one).
func fakeBinary(t *testing.T, dir, name string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	return path
}

// verifyUnit runs `systemd-analyze [--user] verify` on a unit file and
// fails on a non-zero exit or any complaint naming the unit.
func verifyUnit(t *testing.T, path string, user bool) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd); unit files are not verified")
	}
	args := []string{"verify", path}
	cmd := exec.Command(analyze, args...)
	cmd.Env = os.Environ()
	if user {
		// A user manager needs a runtime directory, even offline.
		rt := t.TempDir()
		require.NoError(t, os.Chmod(rt, 0o700))
		cmd = exec.Command(analyze, append([]string{"--user"}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify %s:\n%s", path, out)
	base := filepath.Base(path)
	for line := range strings.Lines(string(out)) {
		assert.NotContains(t, line, base, "systemd-analyze verify complains about %s", base)
	}
}

func TestRouterUnitSystem(t *testing.T) {
	bin := fakeBinary(t, t.TempDir(), "skrouterd")
	cfg := "/var/lib/skupper/namespaces/west/runtime/router/skrouterd.json"
	text, err := RouterUnit(RouterUnitOptions{Namespace: "west", Binary: bin, ConfigPath: cfg, SiteID: "0b7c8a9e-5d4f-4e2a-9c1b-3f6e7d8a9b0c"})
	require.NoError(t, err)
	s := string(text)
	for _, want := range []string{
		"\nExecStart=\"" + bin + "\" -c \"" + cfg + "\"\n",
		"\nEnvironment=\"SKUPPER_SITE_ID=0b7c8a9e-5d4f-4e2a-9c1b-3f6e7d8a9b0c\"\n",
		"\nWorkingDirectory=/var/lib/skupper/namespaces/west/runtime/router\n",
		"\nType=exec\n", "\nRestart=always\n", "\nRestartSec=2s\n",
		"\nStartLimitIntervalSec=300s\n", "\nStartLimitBurst=20\n",
		"\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nProtectHome=yes\n", "\nPrivateTmp=yes\n",
		"\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"\nWants=network-online.target\n",
		"\nWantedBy=multi-user.target\n",
	} {
		assert.Contains(t, s, want)
	}
	assert.Equal(t, cfg, RouterUnitConfigPath(text))

	path := filepath.Join(t.TempDir(), RouterUnitName("west"))
	require.NoError(t, os.WriteFile(path, text, 0o644))
	verifyUnit(t, path, false)
}

func TestRouterUnitUser(t *testing.T) {
	home := t.TempDir()
	bin := fakeBinary(t, t.TempDir(), "skrouterd")
	cfg := filepath.Join(home, ".local/share/skupper/namespaces/east/runtime/router/skrouterd.json")
	text, err := RouterUnit(RouterUnitOptions{Namespace: "east", Binary: bin, ConfigPath: cfg, SiteID: "id-1", User: true,
		RestartDelay: 1500 * time.Millisecond, StartLimitInterval: time.Minute, StartLimitBurst: 5})
	require.NoError(t, err)
	s := string(text)
	assert.Contains(t, s, "\nWantedBy=default.target\n")
	assert.Contains(t, s, "\nRestartSec=1.5s\n")
	assert.Contains(t, s, "\nStartLimitIntervalSec=60s\n")
	assert.Contains(t, s, "\nStartLimitBurst=5\n")
	// Nothing that would hide the user's data home or need a mount
	// namespace in a user manager.
	for _, absent := range []string{"ProtectHome", "ProtectSystem", "PrivateTmp", "network-online", "CapabilityBoundingSet"} {
		assert.NotContains(t, s, absent)
	}
	path := filepath.Join(t.TempDir(), RouterUnitName("east"))
	require.NoError(t, os.WriteFile(path, text, 0o644))
	verifyUnit(t, path, true)
}

// Paths under /home keep ProtectHome read-only, under /tmp PrivateTmp off;
// awkward characters are quoted and escaped and still verify.
func TestRouterUnitPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `odd dir %n $HOME "q"`)
	bin := fakeBinary(t, filepath.Join(t.TempDir(), "bin dir %i"), "skrouterd")
	for _, tc := range []struct {
		cfg            string
		protectHome    string
		privateTmp     bool
		verifyableHere bool
	}{
		{cfg: "/home/alice/.local/share/skupper/namespaces/a/runtime/router/skrouterd.json", protectHome: "read-only", privateTmp: true},
		{cfg: "/root/data/namespaces/a/runtime/router/skrouterd.json", protectHome: "read-only", privateTmp: true},
		{cfg: filepath.Join(dir, "namespaces/a/runtime/router/skrouterd.json"), protectHome: "yes", privateTmp: false},
		{cfg: "/srv/skupper/namespaces/a/runtime/router/skrouterd.json", protectHome: "yes", privateTmp: true},
	} {
		text, err := RouterUnit(RouterUnitOptions{Namespace: "a", Binary: bin, ConfigPath: tc.cfg, SiteID: "x%y"})
		require.NoError(t, err)
		s := string(text)
		assert.Contains(t, s, "\nProtectHome="+tc.protectHome+"\n", tc.cfg)
		assert.Equal(t, tc.privateTmp, strings.Contains(s, "PrivateTmp=yes"), tc.cfg)
		assert.Contains(t, s, `Environment="SKUPPER_SITE_ID=x%%y"`)
		assert.Equal(t, tc.cfg, RouterUnitConfigPath(text), "config path round trip")
		path := filepath.Join(t.TempDir(), RouterUnitName("a"))
		require.NoError(t, os.WriteFile(path, text, 0o644))
		verifyUnit(t, path, false)
	}
}

func TestRouterUnitRejects(t *testing.T) {
	good := RouterUnitOptions{Namespace: "west", Binary: "/usr/sbin/skrouterd", ConfigPath: "/var/lib/skupper/namespaces/west/runtime/router/skrouterd.json", SiteID: "id"}
	for name, mutate := range map[string]func(*RouterUnitOptions){
		"bad namespace":     func(o *RouterUnitOptions) { o.Namespace = "West_1" },
		"empty namespace":   func(o *RouterUnitOptions) { o.Namespace = "" },
		"relative binary":   func(o *RouterUnitOptions) { o.Binary = "skrouterd" },
		"dollar in binary":  func(o *RouterUnitOptions) { o.Binary = "/opt/$x/skrouterd" },
		"unclean config":    func(o *RouterUnitOptions) { o.ConfigPath = "/var/lib/skupper/../x.json" },
		"newline in config": func(o *RouterUnitOptions) { o.ConfigPath = "/var/lib/a\nb.json" },
		"newline in site":   func(o *RouterUnitOptions) { o.SiteID = "a\nExecStartPre=/bin/false" },
	} {
		o := good
		mutate(&o)
		_, err := RouterUnit(o)
		assert.Error(t, err, name)
	}
	_, err := RouterUnit(good)
	assert.NoError(t, err)
}

func TestUnitNames(t *testing.T) {
	assert.Equal(t, "skupper-west.service", RouterUnitName("west"))
	ns, ok := NamespaceOfUnit("skupper-west.service")
	assert.True(t, ok)
	assert.Equal(t, "west", ns)
	for _, name := range []string{"skupperd.service", "skupper-.service", "skupper-west.socket", "skupper-We.service", "other.service"} {
		_, ok := NamespaceOfUnit(name)
		assert.False(t, ok, name)
	}
	dir, err := UnitDir(false)
	require.NoError(t, err)
	assert.Equal(t, "/etc/systemd/system", dir)
	t.Setenv("XDG_CONFIG_HOME", "/home/u/cfg")
	dir, err = UnitDir(true)
	require.NoError(t, err)
	assert.Equal(t, "/home/u/cfg/systemd/user", dir)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	dir, err = UnitDir(true)
	require.NoError(t, err)
	assert.Equal(t, "/home/u/.config/systemd/user", dir)
}

func TestSplitArgs(t *testing.T) {
	for _, words := range [][]string{
		{"/usr/sbin/skrouterd", "-c", "/a b/c.json"},
		{`/we"ird\path`, "-c", "%h$x"},
		{"/x", "-c", ""},
	} {
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, quoteArg(w))
		}
		assert.Equal(t, words, splitArgs(strings.Join(quoted, " ")))
	}
	assert.Equal(t, []string{"/bin/x", "-c", "/y"}, splitArgs("/bin/x  -c /y"))
}
