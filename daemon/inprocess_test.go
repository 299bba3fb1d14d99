package daemon_test

// The daemon in-process: no goroutine outlives Run, and the polling
// fallback converges.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/router"
)

// syncBuffer is a log sink shown when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(t testing.TB) *slog.Logger {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runDaemon runs d.Run in the background; the returned function cancels
// it and waits (bounded) for Run to return.
func runDaemon(t testing.TB, d *daemon.Daemon) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return within 30s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestInProcessNoGoroutineLeaks(t *testing.T) {
	binaries(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	h := newTestHome(t)
	west := h.addNamespace("west")
	p := freePorts(t, 2)
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[0]))
	t.Setenv("SKROUTERD_STANDIN_STATE_DIR", h.stateDir())
	log := testLogger(t)
	var d *daemon.Daemon
	sup := &router.ProcessSupervisor{Binary: skrouterdBin, Logger: log, StopTimeout: 5 * time.Second,
		OnChange: func(ns string) { d.KickNamespace(ns) }}
	d = daemon.New(daemon.Config{Home: h.home, Supervisor: sup, Logger: log, Version: "test"})
	stop := runDaemon(t, d)

	r := waitRouter(t, h, "west", 0)
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[1]))
	waitListener(t, west, "backend", p[1])
	waitRouter(t, h, "west", r.PID)
	d.Reload()
	// A namespace added and removed while running.
	h.addNamespace("east")
	h.put("east", "site.yaml", siteYAML("east"))
	waitRouter(t, h, "east", 0)
	h.removeNamespace("east")
	eventually(t, "east's router gone", func() (bool, string) {
		got := routerStates(h)["east"]
		return len(got) == 0, fmt.Sprint(got)
	})
	if d.Passes() == 0 {
		t.Fatal("no reconcile counted")
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := routerStates(h); len(got) != 0 {
		t.Fatalf("routers still running after Run returned: %v", got)
	}
}

func TestInProcessPollingFallback(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := newTestHome(t)
	west := h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	log := testLogger(t)
	d := daemon.New(daemon.Config{
		Home: h.home, Logger: log, ForcePolling: true, PollInterval: 20 * time.Millisecond,
		Ports: ports.New(h.home, ports.WithProbe(func(string, int) bool { return true })),
	})
	stop := runDaemon(t, d)
	eventually(t, "site status", func() (bool, string) {
		st, err := readStatusFile(west, "Site", "west")
		return st != nil, fmt.Sprint(err)
	})

	// A file dropped in (renamed from elsewhere on the file system, which
	// keeps its old mtime) is found by polling.
	stage := filepath.Join(h.base, "stage.yaml")
	if err := os.WriteFile(stage, []byte(listenerYAML("backend", "backend", 18080)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(stage, filepath.Join(west.InputResourcesDir(), "listener.yaml")); err != nil {
		t.Fatal(err)
	}
	waitListener(t, west, "backend", 18080)
	// Edited in place.
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", 18081))
	waitListener(t, west, "backend", 18081)
	// A namespace appears and goes.
	east := h.addNamespace("east")
	h.put("east", "site.yaml", siteYAML("east"))
	eventually(t, "east's site status", func() (bool, string) {
		st, err := readStatusFile(east, "Site", "east")
		return st != nil, fmt.Sprint(err)
	})
	h.removeNamespace("east")
	h.remove("west", "listener.yaml")
	waitListener(t, west, "backend", 0)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(east.Dir); !os.IsNotExist(err) {
		t.Fatalf("removed namespace came back: %v", err)
	}
}
