package reconcile_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/router/vanflow"
)

// memoHarness reconciles with Options.Memo, as `skupperd reconcile` does,
// with a fresh Cache per run (a new process each time). Input counts as
// settled at once (no racy window), so that a test need not wait; edits
// therefore change a file's size, which no clock granularity can hide.
type memoHarness struct {
	*harness
	opts func() reconcile.Options
}

func newMemoHarness(t *testing.T) *memoHarness {
	t.Cleanup(reconcile.SetRacyWindow(0))
	h := newHarness(t)
	m := &memoHarness{harness: h}
	m.opts = func() reconcile.Options {
		o := h.options()
		o.Cache = reconcile.NewOnePassCache()
		o.Memo = true
		return o
	}
	return m
}

func (m *memoHarness) run(n namespaces.Namespace) *reconcile.Result {
	m.t.Helper()
	res, err := reconcile.Run(context.Background(), n, m.opts())
	require.NoError(m.t, err)
	return res
}

// settledSite is a namespace reconciled twice: the second run finds the
// first's memo and skips its pass.
func (m *memoHarness) settledSite(t *testing.T) namespaces.Namespace {
	n := m.ns("west")
	m.writeInput(n, "site.yaml", docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("backend", 8080, ""), connectorDoc("backend", 9090, "")))
	first := m.run(n)
	require.False(t, first.Unchanged)
	require.Equal(t, reconcile.Applied, first.Outcome)
	second := m.run(n)
	require.True(t, second.Unchanged, "the second run over unchanged input skips its pass")
	return n
}

func TestPassMemoSkipsAnUnchangedNamespace(t *testing.T) {
	m := newMemoHarness(t)
	n := m.ns("west")
	m.writeInput(n, "site.yaml", docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("backend", 8080, ""), connectorDoc("backend", 9090, "")))
	m.writeInput(n, "warn.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: odd\nspec:\n  routingKey: odd\n  port: 8081\n  unknownField: 1\n")
	first := m.run(n)
	require.False(t, first.Unchanged)
	before := nsTree(t, n)
	summary1, err := n.ReadSummary()
	require.NoError(t, err)

	m.now = m.now.Add(time.Minute)
	second := m.run(n)
	require.True(t, second.Unchanged)
	// The same result, and nothing rewritten but the summary.
	require.Equal(t, first.Outcome, second.Outcome)
	require.Equal(t, first.SiteID, second.SiteID)
	require.Equal(t, first.InputHash, second.InputHash)
	require.Equal(t, first.LocalPort, second.LocalPort)
	require.Equal(t, first.Diagnostics.Sort(), second.Diagnostics)
	require.NotEmpty(t, second.Diagnostics, "the warning of the first pass is given again")
	require.Empty(t, changedFiles(before, nsTree(t, n)))
	summary2, err := n.ReadSummary()
	require.NoError(t, err)
	require.NotEqual(t, summary1.LastReconcile, summary2.LastReconcile, "the summary says when this run looked")
	summary1.LastReconcile, summary2.LastReconcile = "", ""
	summary1.DurationMS, summary2.DurationMS = 0, 0
	require.Equal(t, summary1, summary2)
}

func TestPassMemoSeesEveryChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, m *memoHarness, n namespaces.Namespace)
		check  func(t *testing.T, m *memoHarness, n namespaces.Namespace)
	}{
		{name: "input edited in place", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			path := filepath.Join(n.InputResourcesDir(), "site.yaml")
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			require.NoError(t, err)
			_, err = f.WriteString(docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("backend", 18080, ""), connectorDoc("backend", 9090, "")))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, check: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.Equal(t, 18080, specPort(t, m.harness, n, "Listener", "backend"))
		}},
		{name: "input file added", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			m.writeInput(n, "more.yaml", listenerDoc("more", 8082, ""))
		}, check: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NotNil(t, m.status(n, "Listener", "more"))
		}},
		{name: "input file removed", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			m.writeInput(n, "site.yaml", siteDoc("west", "linkAccess: default\n"))
		}, check: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			_, err := os.Stat(filepath.Join(n.StatusDir(), "Listener-backend.yaml"))
			require.ErrorIs(t, err, os.ErrNotExist)
		}},
		{name: "status file removed", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NoError(t, os.Remove(filepath.Join(n.StatusDir(), "Listener-backend.yaml")))
		}, check: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NotNil(t, m.status(n, "Listener", "backend"))
		}},
		{name: "status file truncated", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NoError(t, os.Truncate(filepath.Join(n.StatusDir(), "Listener-backend.yaml"), 0))
		}, check: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NotNil(t, m.status(n, "Listener", "backend"))
		}},
		{name: "router config removed", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NoError(t, os.Remove(n.RouterConfigPath()))
		}, check: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.FileExists(t, n.RouterConfigPath())
		}},
		{name: "marked stopped", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NoError(t, n.MarkStopped(m.now))
		}},
		{name: "hosts changed", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			m.hosts = append(m.hosts, "192.0.2.7")
		}},
		{name: "router state changed", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			opts := m.opts
			m.opts = func() reconcile.Options {
				o := opts()
				o.Router.Message = "another message"
				return o
			}
		}},
		{name: "past the next change", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			m.now = m.now.Add(2 * time.Hour) // beyond the memo's hour
		}},
		{name: "another namespace took ports", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			east := m.ns("east")
			m.writeInput(east, "site.yaml", siteDoc("east", "linkAccess: default\n"))
			_, err := reconcile.Run(context.Background(), east, m.opts())
			require.NoError(t, err)
		}},
		{name: "memo corrupt", change: func(t *testing.T, m *memoHarness, n namespaces.Namespace) {
			require.NoError(t, os.WriteFile(reconcile.PassMemoPath(n), []byte("skupperd pass memo 1\nkey\tnonsense\n"), 0o600))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemoHarness(t)
			n := m.settledSite(t)
			tc.change(t, m, n)
			res := m.run(n)
			require.False(t, res.Unchanged, "a change must not be skipped")
			if tc.check != nil {
				tc.check(t, m, n)
			}
			require.True(t, m.run(n).Unchanged, "the pass after it is memoized again")
		})
	}
}

func specPort(t *testing.T, h *harness, n namespaces.Namespace, kind, name string) int {
	t.Helper()
	l, ok := h.status(n, kind, name).(*v2alpha1.Listener)
	require.True(t, ok, "%s/%s is a Listener", kind, name)
	return l.Spec.Port
}

func TestPassMemoNotWrittenForRecentInput(t *testing.T) {
	t.Cleanup(reconcile.SetRacyWindow(time.Hour)) // every input is "just changed"
	h := newHarness(t)
	n := h.ns("west")
	h.writeInput(n, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	opts := h.options()
	opts.Cache, opts.Memo = reconcile.NewOnePassCache(), true
	for range 2 {
		res, err := reconcile.Run(context.Background(), n, opts)
		require.NoError(t, err)
		require.False(t, res.Unchanged)
		require.NoFileExists(t, reconcile.PassMemoPath(n), "input changed within the racy window could change again unseen")
	}
}

func TestPassMemoOnlyForOneShotPasses(t *testing.T) {
	t.Cleanup(reconcile.SetRacyWindow(0))
	h := newHarness(t)
	n := h.ns("west")
	h.writeInput(n, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	observed := h.options()
	observed.Memo, observed.Network = true, &vanflow.NetworkStatus{}
	for range 2 {
		res, err := reconcile.Run(context.Background(), n, observed)
		require.NoError(t, err)
		require.False(t, res.Unchanged, "an observed pass changes with what is observed")
	}
	require.NoFileExists(t, reconcile.PassMemoPath(n))

	// A namespace bound to another namespace's AttachedConnectors depends
	// on that namespace's input.
	h.writeInput(n, "binding.yaml", "apiVersion: skupper.io/v2alpha1\nkind: AttachedConnectorBinding\nmetadata:\n  name: db\nspec:\n  connectorNamespace: other\n  routingKey: db\n")
	oneShot := h.options()
	oneShot.Memo, oneShot.Ports = true, ports.New(h.home, ports.WithProbe(func(string, int) bool { return true }))
	for range 2 {
		res, err := reconcile.Run(context.Background(), n, oneShot)
		require.NoError(t, err)
		require.False(t, res.Unchanged)
	}
	require.NoFileExists(t, reconcile.PassMemoPath(n))
}

// TestPassMemoRecordsInputAsRead checks that the memo records each input
// file as the pass read it: a file changed after the pass read it (and
// before the memo is written) is not taken for the input of the recorded
// result, and the next run makes a pass over it.
func TestPassMemoRecordsInputAsRead(t *testing.T) {
	m := newMemoHarness(t)
	n := m.settledSite(t)
	input := func(port int) string {
		return docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("backend", port, ""), connectorDoc("backend", 9090, ""))
	}
	m.writeInput(n, "site.yaml", input(8081))
	once := false
	t.Cleanup(reconcile.SetLoadedHook(func(namespaces.Namespace, *namespaces.Snapshot) {
		if !once {
			once = true
			m.writeInput(n, "site.yaml", input(18082)) // a longer file: another size
		}
	}))
	during := m.run(n)
	require.True(t, once)
	require.False(t, during.Unchanged)
	next := m.run(n)
	require.False(t, next.Unchanged, "the input changed after the last pass read it")
	st := m.status(n, v2alpha1.KindListener, "backend").(*v2alpha1.Listener)
	require.Equal(t, 18082, st.Spec.Port)
	require.True(t, m.run(n).Unchanged, "settled again")
}

// TestBeginPassOnlyForPassesThatRun: Options.BeginPass is called once per
// pass that runs, and not for a pass the memo skips.
func TestBeginPassOnlyForPassesThatRun(t *testing.T) {
	m := newMemoHarness(t)
	n := m.ns("west")
	m.writeInput(n, "site.yaml", docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("backend", 8080, "")))
	begun := 0
	run := func() *reconcile.Result {
		o := m.opts()
		o.BeginPass = func() { begun++ }
		res, err := reconcile.Run(context.Background(), n, o)
		require.NoError(t, err)
		return res
	}
	require.False(t, run().Unchanged)
	require.Equal(t, 1, begun, "the first pass runs")
	require.True(t, run().Unchanged)
	require.Equal(t, 1, begun, "a pass the memo skips does not begin")
	m.writeInput(n, "connector.yaml", connectorDoc("backend", 9090, ""))
	require.False(t, run().Unchanged)
	require.Equal(t, 2, begun, "a changed namespace's pass begins")
}
