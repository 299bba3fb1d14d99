package daemon_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skupperd/skupperd/test/realrouter"
)

// BenchmarkIdle20ObservedNamespaces measures the daemon's cost while 20
// namespaces run real routers that it observes (vanflow subscription and
// address-table hints per router) and nothing changes: CPU over the window
// (all its threads' scheduler time, in nanoseconds) and RSS. Targets:
// < 0.2 % of one core (7.2 CPU-s/hour), < 60 MB.
// SKUPPERD_IDLE_BENCH=1 runs it (over a minute); SKUPPERD_IDLE_WINDOW sets
// the window (default 60s), SKUPPERD_IDLE_N the number of namespaces
// (default 20). It also reports the daemon's context switches per second
// (wakeups/s), which, unlike CPU time, a busy neighbour of the machine
// barely moves. SKUPPERD_CPUPROFILE=<file> also writes the
// daemon's CPU profile over the window there (through its hidden
// --debug-pprof-addr), for `go tool pprof`; profiling adds a little CPU.
// SKUPPERD_IDLE_TIMELINE=<file> writes the daemon's CPU second by second
// over the window there ("second microseconds clock" per line), which shows
// what of the total is periodic work (a collection, a resync) and what is
// the steady cost of the routers' traffic; the daemon's log is kept beside
// it (<file>.log), with the runtime's trace of collections in it when
// GODEBUG=gctrace=1 is set.
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
	n := 20
	if v, err := strconv.Atoi(os.Getenv("SKUPPERD_IDLE_N")); err == nil && v > 0 {
		n = v
	}
	h := newTestHome(b)
	listen := freePorts(b, n)
	for i := range n {
		name := fmt.Sprintf("ns%02d", i)
		h.addNamespace(name)
		h.put(name, "site.yaml", siteYAML(name)+"---\n"+listenerYAML("backend", "backend", listen[i])+"---\n"+connectorYAML("backend", "backend", 9))
	}
	args := []string{"--log-level", "info"}
	profile := os.Getenv("SKUPPERD_CPUPROFILE")
	pprofAddr := ""
	if profile != "" {
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", freePorts(b, 1)[0])
		args = append(args, "--debug-pprof-addr", pprofAddr)
	}
	p := startDaemon(b, h, daemonOpts{routerBinary: bin, args: args})
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
	// for 20 s, listener checks every 2 s for 30 s, both from the last
	// change of the topology, which comes with the first records), and
	// quiet: no reconcile for a second.
	time.Sleep(45 * time.Second) // lets the start-up phase end; not synchronisation
	eventuallyWithin(b, 60*time.Second, "the daemon to be quiet", func() (bool, string) {
		n1 := len(p.logLines("reconciled", ""))
		time.Sleep(time.Second) // the observation window of "quiet", not synchronisation
		return len(p.logLines("reconciled", "")) == n1, "still reconciling"
	})
	reconciles := len(p.logLines("reconciled", ""))
	rss0, ticks0 := procStat(b, p.pid())
	cpu0 := threadsCPU(b, p.pid())
	routers0 := routersCPU(b, p.pid())
	wake0 := wakeups(b, p.pid())
	switch timeline := os.Getenv("SKUPPERD_IDLE_TIMELINE"); {
	case profile != "":
		cpuProfile(b, pprofAddr, window, profile) // takes the window
	case timeline != "":
		cpuTimeline(b, p.pid(), window, timeline) // takes the window
		defer keepLog(b, p, timeline+".log")
	default:
		time.Sleep(window) // the measurement window
	}
	rss1, ticks1 := procStat(b, p.pid())
	cpu1 := threadsCPU(b, p.pid())
	routers1 := routersCPU(b, p.pid())
	wake1 := wakeups(b, p.pid())
	perHour := (cpu1 - cpu0).Seconds() * float64(time.Hour) / float64(window)
	b.ReportMetric(float64(max(rss0, rss1))/(1<<20), "RSS-MB")
	b.ReportMetric(perHour, "CPU-s/hour")
	b.ReportMetric(100*(cpu1-cpu0).Seconds()/window.Seconds(), "%core")
	b.ReportMetric(float64(len(p.logLines("reconciled", ""))-reconciles), "reconciles-idle")
	b.ReportMetric(100*(routers1-routers0).Seconds()/window.Seconds(), "routers-%core")
	b.ReportMetric(float64(wake1-wake0)/window.Seconds(), "wakeups/s")
	b.Logf("20 observed namespaces: RSS %.1f MB before, %.1f MB after the %s window; CPU %s over it = %.2f s/hour = %.3f %% of a core; %d reconciles during it",
		float64(rss0)/(1<<20), float64(rss1)/(1<<20), window, cpu1-cpu0, perHour, 100*(cpu1-cpu0).Seconds()/window.Seconds(), len(p.logLines("reconciled", ""))-reconciles)
	b.Logf("CPU in clock ticks (/proc/PID/stat, 10 ms each): %s", ticks1-ticks0)
	b.Logf("the 20 routers themselves: CPU %s over the window = %.3f %% of a core (%.3f %% each)",
		routers1-routers0, 100*(routers1-routers0).Seconds()/window.Seconds(), 100*(routers1-routers0).Seconds()/window.Seconds()/float64(n))
	p.signal(syscall.SIGTERM)
	<-p.exited
}

// threadsCPU is the CPU time of every thread of pid, from the
// scheduler's nanosecond accounts (/proc/PID/task/TID/schedstat): over an
// idle minute the daemon uses about a tenth of a second, which the 10 ms
// clock ticks of /proc/PID/stat measure only to within a tenth. A thread
// that exits takes its time with it (the Go runtime keeps its threads).
func threadsCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// routersCPU sums the CPU time (user + system) of the daemon's child
// processes that are alive now: its routers.
func routersCPU(b *testing.B, daemonPID int) time.Duration {
	b.Helper()
	var total time.Duration
	for _, pid := range childPIDs(b, daemonPID) {
		if cpu, ok := procStatIfAlive(pid); ok {
			total += cpu
		}
	}
	return total
}

// childPIDs lists the children of pid (every thread's children).
func childPIDs(b *testing.B, pid int) []int {
	b.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// procStatIfAlive is procStat for a process that may have exited.
func procStatIfAlive(pid int) (cpu time.Duration, ok bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100, true
}

// cpuProfile fetches a CPU profile of the daemon over window from its
// debug pprof server at addr and writes it to path.
func cpuProfile(b *testing.B, addr string, window time.Duration, path string) {
	b.Helper()
	c := &http.Client{Timeout: window + 30*time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(window.Seconds())))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("cpu profile: %v %s", err, resp.Status)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("CPU profile of the window written to %s", path)
}

// cpuTimeline samples the CPU time of pid's threads every second for
// window and writes each second's share to path, one "second
// microseconds hh:mm:ss" line per second.
func cpuTimeline(b *testing.B, pid int, window time.Duration, path string) {
	b.Helper()
	var out strings.Builder
	start := time.Now()
	prev := threadsCPU(b, pid)
	for i := 1; time.Duration(i)*time.Second <= window; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second))) // the sampling period
		cur := threadsCPU(b, pid)
		fmt.Fprintf(&out, "%d %d %s\n", i, (cur - prev).Microseconds(), time.Now().UTC().Format("15:04:05"))
		prev = cur
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("CPU timeline of the window written to %s", path)
}

// keepLog copies the daemon's log to path (the test home, with the log in
// it, is removed at the end).
func keepLog(b *testing.B, p *daemonProc, path string) {
	b.Helper()
	data, err := os.ReadFile(p.logPath)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Fatal(err)
	}
}
