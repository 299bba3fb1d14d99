package atomicfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a helper process that
// rewrites one file in a loop, SIGKILLs it at a random instant and checks
// that the file holds exactly one of the two contents. It is the acceptance
// test for the package's central promise.

const (
	// helperEnv selects what a re-executed test binary does; see
	// TestHelperRewriter and TestHelperWriteFailure.
	helperEnv = "ATOMICFILE_HELPER"
	// helperPathEnv is the file the helper process works on.
	helperPathEnv = "ATOMICFILE_HELPER_PATH"
	// helperModeEnv is "derived" for a helper that writes with
	// WriteDerived (no fsync), else it writes with WriteFile.
	helperModeEnv = "ATOMICFILE_HELPER_MODE"
	// crashSeedEnv, when set to a number, replaces the time-based seed of
	// TestCrashNeverTorn so that a failing run can be replayed.
	crashSeedEnv = "ATOMICFILE_CRASH_SEED"

	// crashKills is how many kills a run makes. The test counts kills, not
	// time: a busy machine makes it slower, never weaker or failing.
	crashKills       = 200
	crashMaxDelay    = 3 * time.Millisecond
	crashMaxPreWrite = 2 // kill after 0..crashMaxPreWrite reported writes plus a random delay
	// crashHangGuard only catches a hung run (a normal run takes a few
	// seconds, a run on a saturated machine a minute or two); it is never
	// what ends a healthy run. go test's -timeout lowers it.
	crashHangGuard   = 8 * time.Minute
	crashStartupWait = 20 * time.Second // a child that is not ready by then is stuck
	crashPerm        = 0o644
	crashSizeA       = 64 << 10
	crashSizeB       = 200 << 10
)

var crashA, crashB = selfDescribing("A", crashSizeA), selfDescribing("B", crashSizeB)

// selfDescribing returns size bytes made of numbered lines that name the
// content and the offset of the line, so that any splice of two contents,
// a truncation or a zero-filled hole is detectable and can be located.
func selfDescribing(name string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "content %s, %d bytes\n", name, size)
	for b.Len() < size {
		fmt.Fprintf(&b, "%s@%09d %s\n", name, b.Len(), strings.Repeat(name, 20))
	}
	b.Truncate(size - 1)
	b.WriteByte('\n')
	return b.Bytes()
}

// describeContent explains how got differs from both crash contents.
func describeContent(got []byte) string {
	head := got
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	} else if len(head) > 64 {
		head = head[:64]
	}
	return fmt.Sprintf("%d bytes, first line %q; first difference from A at %d, from B at %d",
		len(got), head, firstDiff(got, crashA), firstDiff(got, crashB))
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// TestHelperRewriter is not a test: it is the body of the helper process of
// TestCrashNeverTorn. It writes B, A, B, A, ... to the file named by
// helperPathEnv forever, printing "ready" before the first write and the
// name of each content after its WriteFile returned.
func TestHelperRewriter(t *testing.T) {
	if os.Getenv(helperEnv) != "rewriter" {
		t.Skip("helper process for TestCrashNeverTorn")
	}
	path := os.Getenv(helperPathEnv)
	writeFile := WriteFile
	if os.Getenv(helperModeEnv) == "derived" {
		writeFile = WriteDerived
	}
	// os.Stdout is unbuffered: every line reaches the pipe before the next
	// write starts.
	if _, err := os.Stdout.WriteString("ready\n"); err != nil {
		os.Exit(2)
	}
	for i := 0; ; i++ {
		data, name := crashB, "B\n"
		if i%2 == 1 {
			data, name = crashA, "A\n"
		}
		if err := writeFile(path, data, crashPerm); err != nil {
			fmt.Fprintf(os.Stderr, "helper: %v\n", err)
			os.Exit(3)
		}
		if _, err := os.Stdout.WriteString(name); err != nil {
			os.Exit(2)
		}
	}
}

// crashStats summarises a TestCrashNeverTorn run.
type crashStats struct {
	kills          int // children SIGKILLed (and reaped)
	sawA, sawB     int // file content after a kill
	completed      int // WriteFile calls the children reported as returned
	withWrites     int // kills after which the child had reported >= 1 write
	leftoverTemps  int // ".<base>.tmp-*" files left behind: kills inside WriteFile
	maxWritesOnce  int // most writes a single child completed before its kill
	totalKillDelay time.Duration
}

// TestCrashNeverTorn kills a child process at random points while it rewrites
// a file in a loop and checks after every kill that the file is exactly the
// old or the new content, never torn, truncated, empty or missing: with
// WriteFile (durable) and with WriteDerived (no fsync; a crash of the
// process still never tears the file, since the data is in the page cache
// before the rename).
func TestCrashNeverTorn(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("inside a helper process")
	}
	for _, mode := range []string{"durable", "derived"} {
		t.Run(mode, func(t *testing.T) { crashNeverTorn(t, mode) })
	}
}

func crashNeverTorn(t *testing.T, mode string) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	deadline := time.Now().Add(crashHangGuard)
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(deadline) {
		deadline = d.Add(-5 * time.Second)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "state.yaml")
	// Pre-create the target with A so that it is never legitimately absent.
	if err := WriteFile(path, crashA, crashPerm); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var st crashStats
	for st.kills < crashKills {
		if time.Now().After(deadline) {
			t.Fatalf("hang guard: only %d of %d kills after %v (A %d times, B %d times, none torn so far); "+
				"each kill takes a child start, so this is a stuck child or an extreme overload, not a slow disk",
				st.kills, crashKills, time.Since(start).Round(time.Millisecond), st.sawA, st.sawB)
		}
		// The kill point is: after the child reported preWrites completed
		// writes (0, 1 or 2, so that both contents are due to be seen
		// however fast or slow the disk is), plus a random 0-3 ms.
		preWrites := rng.IntN(crashMaxPreWrite + 1)
		delay := time.Duration(rng.Int64N(int64(crashMaxDelay) + 1))
		writes := killRewriter(t, path, mode, preWrites, delay)
		st.kills++
		st.totalKillDelay += delay
		st.completed += writes
		st.maxWritesOnce = max(st.maxWritesOnce, writes)
		if writes > 0 {
			st.withWrites++
		}

		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("kill %d (%d writes + %v, %d writes done): target unreadable: %v", st.kills, preWrites, delay, writes, err)
		}
		switch {
		case bytes.Equal(got, crashA):
			st.sawA++
		case bytes.Equal(got, crashB):
			st.sawB++
		default:
			t.Fatalf("kill %d (%d writes + %v, %d writes done): target is torn: %s", st.kills, preWrites, delay, writes, describeContent(got))
		}
		if fi, err := os.Lstat(path); err != nil {
			t.Fatalf("kill %d: %v", st.kills, err)
		} else if !fi.Mode().IsRegular() || fi.Mode().Perm() != crashPerm {
			t.Fatalf("kill %d: target is %v, want a regular %04o file", st.kills, fi.Mode(), crashPerm)
		}
		st.leftoverTemps += removeCrashLeftovers(t, dir, filepath.Base(path))
	}
	elapsed := time.Since(start)
	t.Logf("%d kills in %v (mean kill delay %v): target was A %d times, B %d times; "+
		"children completed %d writes (max %d in one child), %d of %d kills came after >= 1 completed write; "+
		"%d kills landed inside WriteFile (leftover temp file)",
		st.kills, elapsed.Round(time.Millisecond), st.totalKillDelay/time.Duration(max(st.kills, 1)),
		st.sawA, st.sawB, st.completed, st.maxWritesOnce, st.withWrites, st.kills, st.leftoverTemps)

	// The kills must have been spread over the write loop, not all before
	// the first write or all at the same phase of it.
	if st.sawA == 0 || st.sawB == 0 {
		t.Errorf("kills never observed both contents (A %d, B %d): the child does not get into its loop", st.sawA, st.sawB)
	}
	if st.withWrites < st.kills/2 {
		t.Errorf("only %d of %d children completed a write before being killed", st.withWrites, st.kills)
	}
	if st.leftoverTemps == 0 {
		t.Errorf("no kill landed inside WriteFile (no temporary file was ever left behind)")
	}

	// Leftovers of killed writers must not get in the way of a later write.
	if err := WriteFile(path, []byte("after the storm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, []byte("after the storm\n"), 0o600)
}

// killRewriter starts a TestHelperRewriter child on path, waits until it is
// about to enter its write loop and has then reported preWrites completed
// writes, lets it run for delay more, SIGKILLs it and reaps it. It returns how
// many writes the child reported as completed in all. preWrites and delay
// only choose the kill point: correctness is checked on the file afterwards.
func killRewriter(t *testing.T, path, mode string, preWrites int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRewriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=rewriter", helperPathEnv+"="+path, helperModeEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Never hang on a stuck child: kill it if it does not get going.
	watchdog := time.AfterFunc(crashStartupWait, func() { _ = cmd.Process.Kill() })
	r := bufio.NewReader(out)
	var early strings.Builder
	line, readyErr := r.ReadString('\n')
	if readyErr == nil && line == "ready\n" {
		for range preWrites {
			l, err := r.ReadString('\n')
			early.WriteString(l)
			if err != nil {
				readyErr = err
				break
			}
		}
	}
	watchdog.Stop()
	if readyErr == nil && line == "ready\n" {
		time.Sleep(delay)
	}
	killErr := cmd.Process.Kill()
	rest, _ := io.ReadAll(r)
	waitErr := cmd.Wait()

	if readyErr != nil || line != "ready\n" {
		t.Fatalf("helper did not get going: read %q then %q, %v; wait: %v; stderr:\n%s",
			line, early.String(), readyErr, waitErr, stderr.String())
	}
	if killErr != nil {
		t.Fatalf("kill helper: %v (wait: %v; stderr:\n%s)", killErr, waitErr, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		t.Fatalf("helper was not killed: wait returned %v; stderr:\n%s", waitErr, stderr.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended on its own instead of by SIGKILL: %v; stderr:\n%s", waitErr, stderr.String())
	}
	// The child alternates B, A, B, ...; check it reported exactly that.
	writes := 0
	for _, l := range strings.SplitAfter(early.String()+string(rest), "\n") {
		if l == "" {
			continue
		}
		want := "B\n"
		if writes%2 == 1 {
			want = "A\n"
		}
		if l != want {
			// The last line may be cut by the kill only if the child died
			// inside the write(2) of its report, which is one syscall on a
			// pipe and therefore atomic; anything else is a bug here.
			t.Fatalf("helper output line %d is %q, want %q", writes, l, want)
		}
		writes++
	}
	return writes
}

// removeCrashLeftovers deletes the temporary files a killed writer left in
// dir, failing on anything that is neither the target nor such a temporary
// file, and returns how many it removed.
func removeCrashLeftovers(t *testing.T, dir, base string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		switch {
		case e.Name() == base:
		case isTempName(e.Name(), base):
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
			n++
		default:
			t.Fatalf("unexpected file %q next to %q", e.Name(), base)
		}
	}
	return n
}
