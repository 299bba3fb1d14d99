package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/router"
)

// mkNamespace lays out a namespace with the given runtime pieces.
func mkNamespace(t *testing.T, home namespaces.Home, name string, runtime, config bool, site string) {
	t.Helper()
	ns := home.Namespace(name)
	require.NoError(t, os.MkdirAll(ns.InputResourcesDir(), 0o700))
	if runtime {
		require.NoError(t, os.MkdirAll(ns.StatusDir(), 0o700))
	}
	if config {
		require.NoError(t, os.MkdirAll(ns.RouterDir(), 0o700))
		require.NoError(t, os.WriteFile(ns.RouterConfigPath(), []byte("[]"), 0o600))
	}
	if site != "" {
		require.NoError(t, os.WriteFile(filepath.Join(ns.StatusDir(), "Site-"+site+".yaml"), []byte("kind: Site\n"), 0o600))
	}
}

func TestActiveSites(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Ensure())
	unitDir := t.TempDir()
	mkNamespace(t, home, "configured", true, true, "west")  // runtime + router config
	mkNamespace(t, home, "unitonly", true, false, "")       // runtime + unit file
	mkNamespace(t, home, "inputonly", false, false, "")     // never reconciled
	mkNamespace(t, home, "runtimeonly", true, false, "old") // runtime, nothing to run
	require.NoError(t, os.WriteFile(filepath.Join(unitDir, RouterUnitName("unitonly")), []byte("[Unit]\n"), 0o644))

	active, err := ActiveSites(home, unitDir)
	require.NoError(t, err)
	assert.Equal(t, []ActiveSite{{Namespace: "configured", Site: "west"}, {Namespace: "unitonly"}}, active)
}

// Without Force, an active site stops UninstallDaemon before it talks to
// systemd at all.
func TestUninstallRefusesActiveSites(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Ensure())
	mkNamespace(t, home, "west", true, true, "west")
	res, err := UninstallDaemon(context.Background(), UninstallOptions{DataHome: home.Root, UnitDir: t.TempDir()})
	var active *ActiveSitesError
	require.ErrorAs(t, err, &active)
	assert.Equal(t, []ActiveSite{{Namespace: "west", Site: "west"}}, active.Sites)
	assert.Equal(t, active.Sites, res.ActiveSites)
	assert.Contains(t, err.Error(), "--force")
	assert.DirExists(t, home.Namespace("west").RuntimeDir())

	_, err = UninstallDaemon(context.Background(), UninstallOptions{})
	assert.ErrorContains(t, err, "data home is not set")
}

func TestPurgeRefusesShallowPaths(t *testing.T) {
	for _, p := range []string{"/", "/home", "/var", "relative/dir"} {
		assert.Error(t, purge(namespaces.NewHome(p)), p)
	}
	dir := filepath.Join(t.TempDir(), "skupper")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "namespaces", "x"), 0o700))
	require.NoError(t, purge(namespaces.NewHome(dir)))
	assert.NoDirExists(t, dir)
}

func TestLingerHint(t *testing.T) {
	assert.Empty(t, InstallResult{User: false}.LingerHint())
	assert.Empty(t, InstallResult{User: true, UserName: "alice", Lingering: true}.LingerHint())
	hint := InstallResult{User: true, UserName: "alice"}.LingerHint()
	assert.True(t, strings.HasPrefix(hint, "It is recommended to enable lingering for alice, otherwise Skupper may not start on boot."), hint)
	assert.Contains(t, hint, "loginctl enable-linger alice")
}

func TestDescribe(t *testing.T) {
	const j = "journalctl -u skupper-w.service"
	for _, tc := range []struct {
		st      UnitState
		running bool
		msg     string
	}{
		{UnitState{Name: "skupper-w.service", LoadState: "loaded", ActiveState: "active", SubState: "running", MainPID: 42}, true, "Router running (unit skupper-w.service, pid 42)"},
		{UnitState{Name: "skupper-w.service", LoadState: "not-found", ActiveState: "inactive"}, false, "not loaded (not-found)"},
		{UnitState{Name: "skupper-w.service", LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Result: "exit-code", NRestarts: 3}, false, "Router exited (exit-code); systemd restarts unit skupper-w.service (restarts: 3; see " + j + ")"},
		{UnitState{Name: "skupper-w.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "start-limit-hit"}, false, "failed (start-limit-hit); see " + j},
		{UnitState{Name: "skupper-w.service", LoadState: "loaded", ActiveState: "activating", SubState: "start"}, false, "Router starting"},
		{UnitState{Name: "skupper-w.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}, false, "is inactive"},
	} {
		got := describe(tc.st, 0, j)
		assert.Equal(t, tc.running, got.Running, tc.st)
		assert.Contains(t, got.Message, tc.msg)
	}
	// Active but the local port does not answer: still starting.
	got := describe(UnitState{Name: "u", LoadState: "loaded", ActiveState: "active", SubState: "running", MainPID: 7}, freePort(t), j)
	assert.Equal(t, router.State{Message: "Router starting (unit u, pid 7)"}, got)
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	for p := 1; p < 1024; p++ {
		if !portAnswers(p) {
			return p
		}
	}
	t.Skip("no closed privileged port on loopback")
	return 0
}

// The paths of the daemon that cost no D-Bus call: State before Ensure,
// Stop of a namespace without a unit, and a unit of another data home.
func TestSupervisorWithoutManager(t *testing.T) {
	unitDir := t.TempDir()
	home := t.TempDir()
	bin := fakeBinary(t, t.TempDir(), "skrouterd")
	sup, err := NewSupervisor(context.Background(), SupervisorOptions{Binary: bin, UnitDir: unitDir, DataHome: home, Client: &Client{}})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(unitDir, "skupper-west.service"), sup.UnitPath("west"))
	assert.Equal(t, router.State{Message: "Router not started"}, sup.State("west"))
	require.NoError(t, sup.Stop(context.Background(), "west"))

	// A unit that runs another data home's configuration is left alone.
	other, err := RouterUnit(RouterUnitOptions{Namespace: "west", Binary: bin, ConfigPath: "/elsewhere/namespaces/west/runtime/router/skrouterd.json", SiteID: "x"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(sup.UnitPath("west"), other, 0o644))
	assert.Contains(t, sup.State("west").Message, "not checked yet")
	require.NoError(t, sup.Stop(context.Background(), "west"))
	assert.FileExists(t, sup.UnitPath("west"))
	cfg, owned := sup.ownedByOther(sup.UnitPath("west"), filepath.Join(home, "namespaces/west/runtime/router/skrouterd.json"))
	assert.True(t, owned)
	assert.Equal(t, "/elsewhere/namespaces/west/runtime/router/skrouterd.json", cfg)

	// Without the router binary, Ensure writes nothing and says why.
	sup2, err := NewSupervisor(context.Background(), SupervisorOptions{Binary: "skrouterd-does-not-exist", UnitDir: unitDir, Client: &Client{}})
	require.NoError(t, err)
	require.NoError(t, sup2.Ensure(context.Background(), router.Spec{Namespace: "east", ConfigPath: "/x/skrouterd.json", SiteID: "id", LocalPort: 1}, false))
	assert.Contains(t, sup2.State("east").Message, "skrouterd-does-not-exist is not installed")
	assert.NoFileExists(t, sup2.UnitPath("east"))
	require.NoError(t, sup2.Stop(context.Background(), "east"))
	require.NoError(t, sup2.Close(context.Background()))
	require.NoError(t, sup.Close(context.Background()))
}

func TestErrorMapping(t *testing.T) {
	assert.Nil(t, wrapDBusError(nil))
	plain := errors.New("boom")
	assert.Equal(t, plain, wrapDBusError(plain))
	assert.Equal(t, "", dbusErrorName(plain))
	je := &JobError{Op: "start", Unit: "u.service", Result: "failed", ServiceResult: "exit-code"}
	assert.Equal(t, "start u.service: job failed (exit-code)", je.Error())
}
