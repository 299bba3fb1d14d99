package daemon_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/test/realrouter"
)

// BenchmarkIdle20ObservedNamespaces measures the daemon's cost while 20
// namespaces run real routers that it observes (vanflow subscription and
// address-table hints per router) and nothing changes: CPU over the window
// and RSS. Targets: < 0.2 % of one core (7.2 CPU-s/hour), < 60 MB.
// SKUPPERD_IDLE_BENCH=1 runs it (over a minute); SKUPPERD_IDLE_WINDOW sets
// the window (default 60s).
func BenchmarkIdle20ObservedNamespaces(b *testing.B) {
	if os.Getenv("SKUPPERD_IDLE_BENCH") != "1" {
		b.Skip("set SKUPPERD_IDLE_BENCH=1 to run (takes over a minute)")
	}
	bin := realrouter.Binary(b)
	window := 60 * time.Second
	if v := os.Getenv("SKUPPERD_IDLE_WINDOW"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			window = d
		}
	}
	const n = 20
	h := newTestHome(b)
	listen := freePorts(b, n)
	for i := range n {
		name := fmt.Sprintf("ns%02d", i)
		h.addNamespace(name)
		h.put(name, "site.yaml", siteYAML(name)+"---\n"+listenerYAML("backend", "backend", listen[i])+"---\n"+connectorYAML("backend", "backend", 9))
	}
	p := startDaemon(b, h, daemonOpts{routerBinary: bin, args: []string{"--log-level", "info"}})
	p.waitReady()
	eventuallyWithin(b, 180*time.Second, "every namespace observed", func() (bool, string) {
		for i := range n {
			name := fmt.Sprintf("ns%02d", i)
			st, err := readStatusFile(h.ns(name), "Site", name)
			if err != nil || st == nil {
				return false, name + ": no status"
			}
			if c, _ := st.condition("Running"); c.Status != "True" {
				return false, name + ": not running"
			}
			if st.Status.SitesInNetwork != 1 {
				return false, name + ": network not observed yet"
			}
		}
		return true, ""
	})
	// Past the observers' fast start (address-table hints every second
	// for 20 s), and quiet: no reconcile for a second.
	time.Sleep(25 * time.Second) // lets the start-up phase end; not synchronisation
	eventuallyWithin(b, 60*time.Second, "the daemon to be quiet", func() (bool, string) {
		n1 := len(p.logLines("reconciled", ""))
		time.Sleep(time.Second) // the observation window of "quiet", not synchronisation
		return len(p.logLines("reconciled", "")) == n1, "still reconciling"
	})
	reconciles := len(p.logLines("reconciled", ""))
	rss0, cpu0 := procStat(b, p.pid())
	time.Sleep(window) // the measurement window
	rss1, cpu1 := procStat(b, p.pid())
	perHour := (cpu1 - cpu0).Seconds() * float64(time.Hour) / float64(window)
	b.ReportMetric(float64(max(rss0, rss1))/(1<<20), "RSS-MB")
	b.ReportMetric(perHour, "CPU-s/hour")
	b.ReportMetric(100*(cpu1-cpu0).Seconds()/window.Seconds(), "%core")
	b.ReportMetric(float64(len(p.logLines("reconciled", ""))-reconciles), "reconciles-idle")
	b.Logf("20 observed namespaces: RSS %.1f MB before, %.1f MB after the %s window; CPU %s over it = %.2f s/hour = %.3f %% of a core; %d reconciles during it",
		float64(rss0)/(1<<20), float64(rss1)/(1<<20), window, cpu1-cpu0, perHour, 100*(cpu1-cpu0).Seconds()/window.Seconds(), len(p.logLines("reconciled", ""))-reconciles)
	p.signal(syscall.SIGTERM)
	<-p.exited
}
