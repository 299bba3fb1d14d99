package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/skupperd/skupperd/daemon"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// logDurations is a log handler that keeps the "duration" of the records
// with the messages it is asked about, and counts every message.
type logDurations struct {
	mu     sync.Mutex
	d      map[string][]time.Duration
	counts map[string]int
}

func newLogDurations() *logDurations {
	return &logDurations{d: map[string][]time.Duration{}, counts: map[string]int{}}
}

func (*logDurations) Enabled(context.Context, slog.Level) bool { return true }
func (l *logDurations) WithAttrs([]slog.Attr) slog.Handler     { return l }
func (l *logDurations) WithGroup(string) slog.Handler          { return l }
func (l *logDurations) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() != slog.KindDuration {
			return true
		}
		key := r.Message
		if a.Key != "duration" {
			key += " " + a.Key
		}
		l.d[key] = append(l.d[key], a.Value.Duration())
		return true
	})
	return nil
}

// take returns (and forgets) the durations logged with msg, sorted.
func (l *logDurations) take(msg string) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d[msg]
	delete(l.d, msg)
	slices.Sort(d)
	return d
}

func (l *logDurations) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[msg]
}

// BenchmarkRealRouterAddPairTo1000 is issue 13's acceptance benchmark: on
// a site of 1,000 Listener+Connector pairs (one file each) served by the
// real skrouterd under the in-process daemon, the time from writing one
// new pair's file to traffic echoing through the new listener; target p50
// < 200 ms. A connection held open through an untouched listener (pair 0)
// must still echo at the end, and the router is never restarted. It also
// reports the daemon's reconcile and hot-apply durations (p50) of those
// additions. Setting up 1,000 pairs takes about a minute on a loaded
// 2-core machine; each addition uses a fresh free port.
func BenchmarkRealRouterAddPairTo1000(b *testing.B) {
	const pairs = 1000
	bin := realrouter.Binary(b)
	h := newTestHome(b)
	b.Cleanup(func() { killRecordedRouters(h) })
	echo := realrouter.EchoServer(b)
	listen := freePorts(b, pairs)
	h.addNamespace("west")
	ns := h.ns("west")
	h.put("west", "site.yaml", siteYAML("west"))
	for i := range pairs {
		h.put("west", fmt.Sprintf("pair-%04d.yaml", i),
			listenerYAML(fmt.Sprintf("l%d", i), fmt.Sprintf("k%d", i), listen[i])+"---\n"+connectorYAML(fmt.Sprintf("c%d", i), fmt.Sprintf("k%d", i), echo))
	}
	logs := newLogDurations()
	log := slog.New(logs)
	var d *daemon.Daemon
	sup := &router.ProcessSupervisor{Binary: bin, Logger: log, StopTimeout: 5 * time.Second,
		OnChange: func(ns string) { d.KickNamespace(ns) }}
	d = daemon.New(daemon.Config{Home: h.home, Supervisor: sup, Logger: log, Version: "bench"})
	runDaemon(b, d)
	waitTraffic(b, listen[0], "hello through the first pair")
	held := holdConn(b, listen[0])
	mc := routerMgmt(b, ns)
	waitSkupperdConnected(b, mc, "west")
	testwait.For(b, 2*time.Minute, "the router to equal the configuration", routerMatchesConfig(mc, ns))
	waitTraffic(b, listen[pairs-1], "hello through the last pair")
	starts := logs.count("router started")
	logs.take("reconciled")
	logs.take(hotApplied)

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		port := freePorts(b, 1)[0]
		name := fmt.Sprintf("new%d", i)
		content := listenerYAML(name, name, port) + "---\n" + connectorYAML(name, name, echo)
		msg := "hello through " + name
		b.StartTimer()
		start := time.Now()
		h.put("west", "pair-"+name+".yaml", content)
		// Polled every millisecond, the resolution of the figure (a
		// refused connection answers at once), within trafficTimeout.
		for {
			got, err := realrouter.Echo(port, msg, time.Second)
			if err == nil && got == msg {
				break
			}
			if time.Since(start) > trafficTimeout {
				b.Fatalf("no traffic through %s's listener on port %d after %s: %q, %v", name, port, trafficTimeout, got, err)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	n := held.check(b, fmt.Sprintf("%d pairs added", len(lat)))
	if got := logs.count("router started"); got != starts {
		b.Fatalf("the router was started %d times while pairs were added", got-starts)
	}
	slices.Sort(lat)
	reconciles, applies := logs.take("reconciled"), logs.take(hotApplied)
	query, ops, readBack := logs.take(hotApplied+" query"), logs.take(hotApplied+" apply"), logs.take(hotApplied+" read_back")
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(percentile(reconciles, 0.50), "reconcile-p50-ms")
	b.ReportMetric(percentile(applies, 0.50), "hotapply-p50-ms")
	b.Logf("hot apply p50: %.1f ms learning what runs and planning, %.1f ms operations, %.1f ms read-back",
		percentile(query, 0.5), percentile(ops, 0.5), percentile(readBack, 0.5))
	b.Logf("%d pairs added to %d: traffic p50 %.1f ms, p99 %.1f ms; %d reconciles (p50 %.1f ms), %d hot applies (p50 %.1f ms); held connection %d echoes",
		len(lat), pairs, percentile(lat, 0.5), percentile(lat, 0.99), len(reconciles), percentile(reconciles, 0.5), len(applies), percentile(applies, 0.5), n)
}
