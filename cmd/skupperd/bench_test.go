package main

// Process-level benchmarks of `skupperd reconcile` (issue 14): the real
// binary, built once per test binary, run as a child process against a data
// home on tmpfs (/dev/shm when present, else the default temp dir; each
// benchmark logs which). The input is one file per resource, as a user
// managing resources by file (or the CLI) writes it: a Site with link
// access, N Listener files and N Connector files.
//
//	go test -run '^$' -bench 'ReconcileProcess' -count 5 ./cmd/skupperd/
//	SKUPPERD_HEAVY_BENCH=1 go test -run '^$' -bench 'ReconcileProcess/pairs=10000' -count 5 -timeout 30m ./cmd/skupperd/
//
// Targets (issue 14): cold 1,000 pairs <= 120 ms; no-op 1,000 pairs < 50 ms;
// cold 10,000 pairs < 1.5 s with a peak RSS (the child's rusage Maxrss)
// under 100 MB. pairs=10000 writes 20,001 input files and takes well over
// 30 s with -count 5, so it runs only with SKUPPERD_HEAVY_BENCH=1.
//
// BenchmarkReconcileCommand runs the same command in-process, for
// profiling (-cpuprofile, -memprofile).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	benchBuildOnce sync.Once
	benchBinDir    string
	benchBin       string
	benchBuildErr  error
)

// skupperdBinary builds skupperd once per test binary into a temporary
// directory (removed at exit by the caller's cleanup of its own process:
// the directory lives under the benchmark root of the first caller).
func skupperdBinary(b *testing.B) string {
	b.Helper()
	benchBuildOnce.Do(func() {
		benchBinDir, benchBuildErr = os.MkdirTemp("", "skupperd-bench-bin-")
		if benchBuildErr != nil {
			return
		}
		benchBin = filepath.Join(benchBinDir, "skupperd")
		cmd := exec.Command(goTool(), "build", "-o", benchBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as `make build` builds it
		if out, err := cmd.CombinedOutput(); err != nil {
			benchBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBuildErr != nil {
		b.Fatal(benchBuildErr)
	}
	return benchBin
}

// goTool is the go command of the toolchain that built this test binary.
func goTool() string {
	//lint:ignore SA1019 the benchmark runs on the machine that built it, so the build-time GOROOT is the toolchain to use.
	bin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("go"); err == nil {
			return p
		}
	}
	return bin
}

// tmpfsRoot returns a fresh directory on tmpfs (/dev/shm) when there is
// one, else in the default temp dir, and logs which.
func tmpfsRoot(b *testing.B) string {
	b.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "skupperd-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if base == "" {
		b.Logf("data home %s (no /dev/shm: not tmpfs)", dir)
	} else {
		b.Logf("data home %s (tmpfs)", dir)
	}
	return dir
}

// writeSite writes namespace "west" of the data home root: a Site with
// link access, and pairs Listener files plus pairs Connector files.
func writeSite(b testing.TB, root string, pairs int) {
	b.Helper()
	dir := filepath.Join(root, "namespaces", "west", "input", "resources")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	write("site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	for i := range pairs {
		write(fmt.Sprintf("Listener-l%d.yaml", i), fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l%d\nspec:\n  routingKey: k%d\n  host: 127.0.0.1\n  port: %d\n", i, i, 1024+i))
		write(fmt.Sprintf("Connector-c%d.yaml", i), fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: c%d\nspec:\n  routingKey: k%d\n  host: 127.0.0.1\n  port: %d\n", i, i, 8080))
	}
}

// resetOutput removes what a reconcile writes (runtime/, internal/ and the
// data home's port table), so that the next one is cold.
func resetOutput(b testing.TB, root string) {
	b.Helper()
	ns := filepath.Join(root, "namespaces", "west")
	for _, p := range []string{filepath.Join(ns, "runtime"), filepath.Join(ns, "internal"), filepath.Join(root, "internal")} {
		if err := os.RemoveAll(p); err != nil {
			b.Fatal(err)
		}
	}
}

// reconcileProcess runs `skupperd reconcile` once and returns its wall
// time, its CPU time (user + system) and its peak RSS in bytes.
func reconcileProcess(b *testing.B, bin, root string) (time.Duration, time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(bin, "reconcile", "--data-home", root, "-n", "west")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("skupperd reconcile: %v\n%s", err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		b.Fatalf("skupperd reconcile printed diagnostics:\n%s", stderr.Bytes())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage for the child")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return took, cpu, ru.Maxrss << 10 // kilobytes on Linux
}

// BenchmarkReconcileProcess measures `skupperd reconcile` as a process:
//
//   - pairs=N/cold: no runtime/ or internal/ yet: every CA, certificate,
//     port reservation, status file and the router config are made;
//   - pairs=N/noop: the same input reconciled again (nothing changes).
//
// It reports ns/op (the child's wall time), its CPU time (user + system,
// which a loaded machine inflates less than wall time) and its peak RSS.
func BenchmarkReconcileProcess(b *testing.B) {
	for _, pairs := range []int{1000, 10000} {
		for _, mode := range []string{"cold", "noop"} {
			b.Run(fmt.Sprintf("pairs=%d/%s", pairs, mode), func(b *testing.B) {
				if pairs > 1000 && os.Getenv("SKUPPERD_HEAVY_BENCH") != "1" {
					b.Skip("set SKUPPERD_HEAVY_BENCH=1 to run (20,001 input files; minutes with -count 5)")
				}
				benchProcess(b, pairs, mode == "cold")
			})
		}
	}
}

func benchProcess(b *testing.B, pairs int, cold bool) {
	bin := skupperdBinary(b)
	root := tmpfsRoot(b)
	writeSite(b, root, pairs)
	if !cold {
		settleInput()
		reconcileProcess(b, bin, root)
	}
	var peak int64
	var cpu time.Duration
	n := 0
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			resetOutput(b, root)
			b.StartTimer()
		}
		_, c, rss := reconcileProcess(b, bin, root)
		peak = max(peak, rss)
		cpu += c
		n++
	}
	b.StopTimer()
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/op")
}

// settleInput waits until the input just written is older than the pass
// memo's racy window (2 s): a no-op is a pass over input nobody is
// changing, and input changed within that window gets a full pass every
// time (see reconcile's pass memo). This sleep is part of the scenario,
// not synchronisation.
func settleInput() { time.Sleep(2100 * time.Millisecond) }

// BenchmarkReconcileCommand runs the `skupperd reconcile` command
// in-process over 1,000 pairs (cold and no-op), for profiles of what the
// process benchmark measures.
func BenchmarkReconcileCommand(b *testing.B) {
	for _, mode := range []string{"cold", "noop"} {
		b.Run("pairs=1000/"+mode, func(b *testing.B) {
			root := tmpfsRoot(b)
			writeSite(b, root, 1000)
			args := []string{"reconcile", "--data-home", root, "-n", "west"}
			if mode == "noop" {
				settleInput()
				if code := run(args, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if mode == "cold" {
					b.StopTimer()
					resetOutput(b, root)
					b.StartTimer()
				}
				var stderr bytes.Buffer
				if code := run(args, io.Discard, &stderr); code != 0 {
					b.Fatalf("exit %d: %s", code, stderr.Bytes())
				}
			}
		})
	}
}

// TestReconcileBenchFixture keeps the benchmarks' input honest without
// running them: it applies cleanly (no diagnostics, exit 0), a second run
// rewrites nothing, and every Listener finds its Connector.
func TestReconcileBenchFixture(t *testing.T) {
	root := t.TempDir()
	writeSite(t, root, 3)
	args := []string{"reconcile", "--data-home", root, "-n", "west"}
	code, _, errOut := runCmd(t, args...)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	status := filepath.Join(root, "namespaces", "west", "runtime", "resources")
	before := statusTimes(t, status)
	require.Len(t, before, 1+1+2*3, "Site, RouterAccess, Listeners and Connectors")
	code, _, errOut = runCmd(t, args...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, before, statusTimes(t, status), "a no-op reconcile rewrites no status file")
	for i := range 3 {
		data, err := os.ReadFile(filepath.Join(status, "Listener-l"+strconv.Itoa(i)+".yaml"))
		require.NoError(t, err)
		require.Contains(t, string(data), "hasMatchingConnector: true")
	}
	resetOutput(t, root)
	_, err := os.Stat(status)
	require.ErrorIs(t, err, os.ErrNotExist, "resetOutput makes the next run cold")
}

// statusTimes maps each file of dir to its modification time.
func statusTimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]time.Time{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // the status index
		}
		fi, err := e.Info()
		require.NoError(t, err)
		out[e.Name()] = fi.ModTime()
	}
	return out
}
