package daemon_test

// A fault in one namespace's reconcile is contained: the namespace reports
// it, the daemon keeps running and every other namespace keeps being
// reconciled and served.

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/router"
)

func TestPanicInOneNamespaceIsContained(t *testing.T) {
	binaries(t)
	h := newTestHome(t)
	good := h.addNamespace("good")
	bad := h.addNamespace("bad")
	p := freePorts(t, 3)
	h.put("good", "site.yaml", siteYAML("good"))
	h.put("good", "listener.yaml", listenerYAML("backend", "backend", p[0]))
	h.put("bad", "site.yaml", siteYAML("bad"))
	h.put("bad", "listener.yaml", listenerYAML("backend", "backend", p[2]))
	t.Setenv("SKROUTERD_STANDIN_STATE_DIR", h.stateDir())

	var panics atomic.Int64
	inject := func(ctx context.Context, ns namespaces.Namespace, opts reconcile.Options) (*reconcile.Result, error) {
		if ns.Name == "bad" {
			panics.Add(1)
			panic("injected fault")
		}
		return reconcile.Run(ctx, ns, opts)
	}
	log := testLogger(t)
	var d *daemon.Daemon
	sup := &router.ProcessSupervisor{Binary: skrouterdBin, Logger: log, StopTimeout: 5 * time.Second,
		OnChange: func(ns string) { d.KickNamespace(ns) }}
	d = daemon.New(daemon.Config{Home: h.home, Supervisor: sup, Logger: log, Version: "test", Reconcile: inject})
	stop := runDaemon(t, d)

	// The faulty namespace says why nothing applies.
	eventually(t, "bad's summary reports the panic", func() (bool, string) {
		s, err := bad.ReadSummary()
		if err != nil || s == nil {
			return false, fmt.Sprint(err)
		}
		return s.Outcome == namespaces.Failed && len(s.Errors) == 1 && strings.Contains(s.Errors[0], "reconcile panicked: injected fault"),
			fmt.Sprintf("%+v", s)
	})
	// The other namespace was reconciled and its router serves.
	r := waitRouter(t, h, "good", 0)
	waitListener(t, good, "backend", p[0])
	// It keeps being reconciled after the panic: a change applies and
	// restarts its router.
	h.put("good", "listener.yaml", listenerYAML("backend", "backend", p[1]))
	waitListener(t, good, "backend", p[1])
	waitRouter(t, h, "good", r.PID)
	// The faulty namespace is retried with backoff, not abandoned.
	eventuallyWithin(t, 10*time.Second, "a retry of the faulty namespace", func() (bool, string) {
		return panics.Load() >= 2, fmt.Sprintf("%d reconciles of bad", panics.Load())
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestReconcileDeadline(t *testing.T) {
	h := newTestHome(t)
	slow := h.addNamespace("slow")
	h.put("slow", "site.yaml", siteYAML("slow"))
	block := func(ctx context.Context, ns namespaces.Namespace, opts reconcile.Options) (*reconcile.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	d := daemon.New(daemon.Config{Home: h.home, Logger: testLogger(t), Reconcile: block, ReconcileTimeout: 50 * time.Millisecond})
	stop := runDaemon(t, d)
	eventually(t, "the summary reports the deadline", func() (bool, string) {
		s, err := slow.ReadSummary()
		if err != nil || s == nil {
			return false, fmt.Sprint(err)
		}
		return s.Outcome == namespaces.Failed && len(s.Errors) == 1 && strings.Contains(s.Errors[0], "did not finish within 50ms"),
			fmt.Sprintf("%+v", s)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
