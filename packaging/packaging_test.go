// Package packaging holds skupperd's systemd units, nfpm configuration and
// maintainer scripts; its tests check the units with systemd-analyze and
// the .deb and .rpm that `make deb rpm` builds.
package packaging

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireToolsEnv, when "1" (as in .ci/run), turns missing packaging tools
// (dpkg-deb, rpm, systemd-analyze) into failures instead of skips.
const requireToolsEnv = "SKUPPERD_REQUIRE_PACKAGE_TOOLS"

func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(requireToolsEnv) == "1" {
			t.Fatalf("%s is not installed (apt-get install %s); %s=1 requires it", name, pkg, requireToolsEnv)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return path
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// verify runs systemd-analyze [--user] verify on a unit file.
func verify(t *testing.T, path string, user bool) {
	t.Helper()
	analyze := needTool(t, "systemd-analyze", "systemd")
	args := []string{"verify", path}
	env := os.Environ()
	if user {
		rt := t.TempDir()
		require.NoError(t, os.Chmod(rt, 0o700))
		args = append([]string{"--user"}, args...)
		env = append(env, "XDG_RUNTIME_DIR="+rt)
	}
	cmd := exec.Command(analyze, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-analyze %v:\n%s", args, out)
	assert.NotContains(t, string(out), filepath.Base(path), "systemd-analyze complains about the unit")
}

// TestShippedUnits verifies the daemon units as shipped, with ExecStart
// pointed at a real executable (systemd-analyze verify checks it exists),
// and checks the settings the daemon relies on.
func TestShippedUnits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "skupperd")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	for _, mode := range []string{"system", "user"} {
		t.Run(mode, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("systemd", mode, "skupperd.service"))
			require.NoError(t, err)
			s := string(data)
			for _, want := range []string{
				"\nType=notify\n", "\nNotifyAccess=main\n", "\nExecStart=/usr/bin/skupperd run\n",
				"\nExecReload=/bin/kill -HUP $MAINPID\n", "\nRestart=on-failure\n", "\nWatchdogSec=30s\n",
				"\nNoNewPrivileges=yes\n",
			} {
				assert.Contains(t, s, want)
			}
			if mode == "system" {
				for _, want := range []string{
					"\nStateDirectory=skupper\n", "\nStateDirectoryMode=0700\n", "\nProtectSystem=strict\n",
					"\nReadWritePaths=/etc/systemd/system\n", "\nPrivateTmp=yes\n", "\nWantedBy=multi-user.target\n",
				} {
					assert.Contains(t, s, want)
				}
			} else {
				assert.Contains(t, s, "\nWorkingDirectory=%h\n")
				assert.Contains(t, s, "\nWantedBy=default.target\n")
				var settings strings.Builder
				for line := range strings.Lines(s) {
					if !strings.HasPrefix(line, "#") {
						settings.WriteString(line)
					}
				}
				for _, absent := range []string{"ProtectHome", "ProtectSystem", "StateDirectory"} {
					assert.NotContains(t, settings.String(), absent, "a user unit must not hide or relocate the user's data home")
				}
			}
			path := filepath.Join(t.TempDir(), "skupperd.service")
			require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(s, "/usr/bin/skupperd", bin)), 0o644))
			verify(t, path, mode == "user")
		})
	}
}

// TestMakeInstall installs into a DESTDIR and uninstalls again.
// assertStatic checks that the ELF binary at path needs no dynamic loader:
// the packages declare no libc to load.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s is dynamically linked", path)
	}
}

func TestMakeInstall(t *testing.T) {
	needTool(t, "make", "make")
	dest := t.TempDir()
	bin := t.TempDir()
	run(t, "..", nil, "make", "install", "BIN="+bin, "DESTDIR="+dest, "PREFIX=/opt/sk")
	for _, f := range []string{"opt/sk/bin/skupperd", "opt/sk/bin/skupper"} {
		assertStatic(t, filepath.Join(dest, f))
	}
	for _, f := range []string{
		"opt/sk/bin/skupperd", "opt/sk/bin/skupper",
		"opt/sk/lib/systemd/system/skupperd.service", "opt/sk/lib/systemd/user/skupperd.service",
		"opt/sk/share/bash-completion/completions/skupper", "opt/sk/share/zsh/site-functions/_skupper",
		"opt/sk/share/fish/vendor_completions.d/skupper.fish",
		"opt/sk/share/doc/skupperd/README.md", "opt/sk/share/doc/skupperd/docs/architecture.md",
		"opt/sk/share/doc/skupperd/examples/hello-world/west/site.yaml",
	} {
		assert.FileExists(t, filepath.Join(dest, f))
	}
	unit, err := os.ReadFile(filepath.Join(dest, "opt/sk/lib/systemd/system/skupperd.service"))
	require.NoError(t, err)
	assert.Contains(t, string(unit), "\nExecStart=/opt/sk/bin/skupperd run\n")
	assert.Contains(t, string(unit), "file:/opt/sk/share/doc/skupperd/README.md")
	assert.NotContains(t, string(unit), "/usr/bin/skupperd")

	run(t, "..", nil, "make", "uninstall", "DESTDIR="+dest, "PREFIX=/opt/sk")
	var left []string
	require.NoError(t, filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left = append(left, p)
		}
		return err
	}))
	assert.Empty(t, left, "make uninstall left files behind")
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  string
)

// packages builds the .deb and .rpm once (make deb rpm into a temporary
// DIST) and returns their paths.
func packages(t *testing.T) (deb, rpm string) {
	t.Helper()
	needTool(t, "make", "make")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skupperd-packages-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		buildDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "deb", "rpm", "BIN="+filepath.Join(dir, "bin"), "DIST="+filepath.Join(dir, "dist"), "VERSION=v1.2.3-4-gabcdef")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = "make deb rpm: " + err.Error() + "\n" + string(out)
		}
	})
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	debs, _ := filepath.Glob(filepath.Join(buildDir, "dist", "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(buildDir, "dist", "*.rpm"))
	require.Len(t, debs, 1, "one .deb")
	require.Len(t, rpms, 1, "one .rpm")
	return debs[0], rpms[0]
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// shipped is every file both packages must hold.
var shipped = []string{
	"/usr/bin/skupper",
	"/usr/bin/skupperd",
	"/usr/lib/systemd/system/skupperd.service",
	"/usr/lib/systemd/user/skupperd.service",
	"/usr/share/bash-completion/completions/skupper",
	"/usr/share/fish/vendor_completions.d/skupper.fish",
	"/usr/share/doc/skupperd/README.md",
	"/usr/share/doc/skupperd/docs/architecture.md",
	"/usr/share/doc/skupperd/examples/hello-world/west/site.yaml",
	"/usr/share/doc/skupperd/examples/hello-world/east/site.yaml",
}

// checkScripts checks maintainer scripts: daemon-reload, enable on
// install, stop/disable on removal, and nothing that deletes the data home.
func checkScripts(t *testing.T, postinst, prerm, postrm string) {
	t.Helper()
	assert.Contains(t, postinst, "systemctl daemon-reload")
	assert.Contains(t, postinst, "systemctl enable skupperd.service")
	assert.Contains(t, prerm, "systemctl stop skupperd.service")
	assert.Contains(t, prerm, "systemctl disable skupperd.service")
	assert.Contains(t, postrm, "systemctl daemon-reload")
	for name, s := range map[string]string{"postinst": postinst, "prerm": prerm, "postrm": postrm} {
		for line := range strings.Lines(s) {
			code, _, _ := strings.Cut(line, "#")
			assert.NotRegexp(t, `\brm\b|/var/lib/skupper`, code, "%s must never touch the data home: %q", name, line)
		}
	}
}

func TestDeb(t *testing.T) {
	dpkgDeb := needTool(t, "dpkg-deb", "dpkg")
	deb, _ := packages(t)
	assert.Contains(t, filepath.Base(deb), "skupperd_1.2.3.4.gabcdef-1_")

	list := run(t, ".", nil, dpkgDeb, "-c", deb)
	for _, f := range append(shipped, "/usr/share/zsh/vendor-completions/_skupper") {
		assert.Contains(t, list, " ."+f+"\n", "the .deb lacks %s", f)
	}
	assert.NotContains(t, list, "/var/lib/skupper", "the package must not own the data home")
	assert.Regexp(t, `-rwxr-xr-x root/root +\d+ \S+ \S+ \./usr/bin/skupperd\n`, list)
	assert.Regexp(t, `-rw-r--r-- root/root +\d+ \S+ \S+ \./usr/lib/systemd/system/skupperd.service\n`, list)

	info := run(t, ".", nil, dpkgDeb, "-I", deb)
	for _, want := range []string{"Package: skupperd", "Version: 1.2.3.4.gabcdef-1", "Recommends: skupper-router", " postinst ", " prerm ", " postrm "} {
		assert.Contains(t, info, want)
	}
	ctrl := t.TempDir()
	run(t, ".", nil, dpkgDeb, "-e", deb, ctrl)
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(ctrl, name))
		require.NoError(t, err)
		return string(data)
	}
	checkScripts(t, read("postinst"), read("prerm"), read("postrm"))

	// The units inside the package verify (ExecStart pointed at the
	// package's own binary).
	root := t.TempDir()
	run(t, ".", nil, dpkgDeb, "-x", deb, root)
	for _, mode := range []string{"system", "user"} {
		data, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd", mode, "skupperd.service"))
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "skupperd.service")
		require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "/usr/bin/skupperd", filepath.Join(root, "usr/bin/skupperd"))), 0o644))
		verify(t, path, mode == "user")
	}
	out := run(t, ".", nil, filepath.Join(root, "usr/bin/skupperd"), "version")
	assert.Contains(t, out, "v1.2.3-4-gabcdef")
}

func TestRPM(t *testing.T) {
	rpmTool := needTool(t, "rpm", "rpm")
	_, rpm := packages(t)
	assert.Contains(t, filepath.Base(rpm), "skupperd-1.2.3.4.gabcdef-1.")

	list := run(t, ".", nil, rpmTool, "-qpl", rpm)
	for _, f := range append(shipped, "/usr/share/zsh/site-functions/_skupper") {
		assert.Contains(t, list, f+"\n", "the .rpm lacks %s", f)
	}
	assert.NotContains(t, list, "/var/lib/skupper")
	assert.Contains(t, run(t, ".", nil, rpmTool, "-qp", "--recommends", rpm), "skupper-router")

	scripts := run(t, ".", nil, rpmTool, "-qp", "--scripts", rpm)
	sections := map[string]string{}
	cur := ""
	for line := range strings.Lines(scripts) {
		if name, ok := strings.CutSuffix(strings.TrimSpace(line), " scriptlet (using /bin/sh):"); ok {
			cur = name
			continue
		}
		sections[cur] += line
	}
	checkScripts(t, sections["postinstall"], sections["preuninstall"], sections["postuninstall"])
}

// TestDebThrowawayRoot installs, removes and purges the .deb with dpkg
// --root in a throwaway root (maintainer scripts run chrootless with
// DPKG_ROOT, so systemctl acts offline on that root): the unit is enabled
// on install, disabled on removal, and the data home survives.
func TestDebThrowawayRoot(t *testing.T) {
	dpkg := needTool(t, "dpkg", "dpkg")
	needTool(t, "systemctl", "systemd")
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root")
	}
	deb, _ := packages(t)
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/skupper/namespaces/west/input/resources"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
	}
	site := filepath.Join(root, "var/lib/skupper/namespaces/west/input/resources/site.yaml")
	require.NoError(t, os.WriteFile(site, []byte("kind: Site\n"), 0o600))
	dpkgRun := func(args ...string) string {
		return run(t, ".", nil, dpkg, append([]string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null"}, args...)...)
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/skupperd.service")

	dpkgRun("-i", deb)
	for _, f := range shipped {
		assert.FileExists(t, filepath.Join(root, f))
	}
	target, err := os.Readlink(wants)
	require.NoError(t, err, "postinst enables skupperd.service")
	assert.Equal(t, "/usr/lib/systemd/system/skupperd.service", target)

	dpkgRun("-r", "skupperd")
	assert.NoFileExists(t, filepath.Join(root, "usr/bin/skupperd"))
	_, err = os.Lstat(wants)
	assert.True(t, os.IsNotExist(err), "prerm disables skupperd.service")
	assert.FileExists(t, site, "removal keeps the data home")

	dpkgRun("-P", "skupperd")
	assert.FileExists(t, site, "purge keeps the data home")
	data, err := os.ReadFile(site)
	require.NoError(t, err)
	assert.Equal(t, "kind: Site\n", string(data))
}
