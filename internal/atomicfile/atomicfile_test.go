package atomicfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/internal/rawfs"
)

// rawCallsEnv, set to 1, runs the package's tests with rawfs's raw calls
// on (TestWithRawCalls sets it for a second run of them all).
const rawCallsEnv = "SKUPPERD_TEST_RAW_CALLS"

func TestMain(m *testing.M) {
	if os.Getenv(rawCallsEnv) == "1" {
		if fsType, ok := rawfs.EnableFor(os.TempDir()); !ok {
			fmt.Fprintf(os.Stderr, "raw calls refused for %s (%s)\n", os.TempDir(), fsType)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m)
}

// TestWithRawCalls runs every other test of the package again with raw
// system calls on, as the daemon and `skupperd reconcile` make them on a
// local filesystem: the crash test among them, in its derived mode (the
// durable mode adds only fsync, which is never a raw call, and doubles
// the time).
func TestWithRawCalls(t *testing.T) {
	if os.Getenv(rawCallsEnv) == "1" {
		t.Skip("this is the run with raw calls")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	// The child's temp dirs must be on a local filesystem: the temp dir,
	// else tmpfs.
	tmp := os.TempDir()
	if fsType, ok := rawfs.EnableFor(tmp); !ok {
		shm, err := os.MkdirTemp("/dev/shm", "atomicfile-raw-")
		if err != nil {
			t.Skipf("%s is on %s, where raw calls are not used, and there is no /dev/shm", tmp, fsType)
		}
		t.Cleanup(func() { os.RemoveAll(shm) })
		if _, ok := rawfs.EnableFor(shm); !ok {
			t.Skipf("neither %s (%s) nor /dev/shm takes raw calls", tmp, fsType)
		}
		tmp = shm
	}
	rawfs.Disable()
	cmd := exec.Command(os.Args[0], "-test.skip=^TestWithRawCalls$|^TestCrashNeverTorn$/^durable$", "-test.count=1")
	cmd.Env = append(os.Environ(), rawCallsEnv+"=1", "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests with raw calls failed: %v\n%s", err, out)
	}
}

// --- helpers ---------------------------------------------------------------

// isTempName reports whether name is one of WriteFile's temporary files for
// a target named base.
func isTempName(name, base string) bool {
	prefix := "." + base + ".tmp-"
	return strings.HasPrefix(name, prefix) && len(name) > len(prefix)
}

// assertFile checks that path is a regular file with exactly data and perm.
func assertFile(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is %v, want a regular file", path, fi.Mode())
	}
	if got := fi.Mode().Perm(); got != perm {
		t.Errorf("%s has permission %04o, want %04o", path, got, perm)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s holds %q, want %q", path, abbrev(got), abbrev(data))
	}
}

func abbrev(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%s...(%d bytes)", b[:80], len(b))
	}
	return string(b)
}

// assertNoTemps fails if dir holds any dot-file that looks like a temporary
// file of WriteFile (for any base name).
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir %s: %v", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind in %s: %q", dir, e.Name())
		}
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir %s: %v", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// setUmask sets the process umask for the rest of the test. Tests using it
// must not run in parallel with others (none in this package do).
func setUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	forgetUmask()
	t.Cleanup(func() { syscall.Umask(old); forgetUmask() })
}

// TestProcessUmask checks that the umask read from /proc is the process's,
// the one the writer trusts to create files with their final mode.
func TestProcessUmask(t *testing.T) {
	for _, mask := range []int{0o022, 0o077, 0o002, 0} {
		setUmask(t, mask)
		if got := processUmask(); got != mask {
			t.Fatalf("processUmask() = %#o, want %#o", got, mask)
		}
	}
}

func writeFixture(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // os.WriteFile obeys the umask
		t.Fatal(err)
	}
}

func statT(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// within runs f and fails the test if it does not return within d, so that a
// regression that opens a FIFO for writing fails instead of hanging.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// --- WriteFile -------------------------------------------------------------

func TestWriteFileNewFileExactPermRegardlessOfUmask(t *testing.T) {
	for _, umask := range []int{0o000, 0o022, 0o077, 0o777} {
		for _, perm := range []fs.FileMode{0o600, 0o644, 0o640, 0o400, 0o666, 0o755} {
			t.Run(fmt.Sprintf("umask%04o/perm%04o", umask, perm), func(t *testing.T) {
				dir := t.TempDir()
				setUmask(t, umask)
				path := filepath.Join(dir, "config.yaml")
				data := []byte("site: west\n")
				if err := WriteFile(path, data, perm); err != nil {
					t.Fatalf("WriteFile: %v", err)
				}
				assertFile(t, path, data, perm)
				if got := dirNames(t, dir); len(got) != 1 {
					t.Errorf("directory holds %q, want only the target", got)
				}
			})
		}
	}
}

func TestWriteFileIgnoresNonPermissionModeBits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("x"), fs.ModeSetuid|fs.ModeSticky|0o640); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o640 {
		t.Errorf("mode %v, want -rw-r-----", fi.Mode())
	}
}

func TestWriteFileReplacesExisting(t *testing.T) {
	tests := []struct {
		name             string
		oldData, newData []byte
		oldPerm, newPerm fs.FileMode
	}{
		{"longer", []byte("short\n"), bytes.Repeat([]byte("long line\n"), 1000), 0o644, 0o644},
		{"shorter", bytes.Repeat([]byte("long line\n"), 1000), []byte("short\n"), 0o644, 0o644},
		{"same length", []byte("aaaa"), []byte("bbbb"), 0o600, 0o600},
		{"to empty", []byte("something"), nil, 0o644, 0o644},
		{"from empty", nil, []byte("something"), 0o644, 0o644},
		{"tighten perm", []byte("secret"), []byte("secret2"), 0o644, 0o600},
		{"loosen perm", []byte("public"), []byte("public2"), 0o600, 0o644},
		{"read-only old file", []byte("ro"), []byte("rw"), 0o400, 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "target")
			writeFixture(t, path, tt.oldData, tt.oldPerm)
			oldIno := statT(t, path).Ino
			// Someone holding the old file open keeps seeing the old content:
			// the file is replaced, not rewritten in place.
			held, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()

			if err := WriteFile(path, tt.newData, tt.newPerm); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			assertFile(t, path, tt.newData, tt.newPerm)
			assertNoTemps(t, dir)
			if statT(t, path).Ino == oldIno {
				t.Errorf("target kept its inode: it was rewritten in place, not replaced")
			}
			var heldData bytes.Buffer
			if _, err := heldData.ReadFrom(held); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(heldData.Bytes(), tt.oldData) {
				t.Errorf("an open reader of the old file saw %q, want the old %q", abbrev(heldData.Bytes()), abbrev(tt.oldData))
			}
		})
	}
}

func TestWriteFileRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := WriteFile("rel.conf", []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile("rel.conf", []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, "rel.conf"), []byte("two"), 0o600)
	assertNoTemps(t, dir)
}

func TestWriteFileLargeContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big")
	data := selfDescribing("L", 3<<20+17)
	if err := WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, data, 0o644)
}

// TestWriteFileConcurrentWriters: writers racing on one path each use their
// own temporary file, so the result is one complete content and nothing is
// left behind.
func TestWriteFileConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shared")
	const writers, rounds = 8, 10
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = selfDescribing(fmt.Sprintf("W%d", i), 4096+i*1000)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if err := WriteFile(path, contents[i], 0o644); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("WriteFile: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range contents {
		found = found || bytes.Equal(got, c)
	}
	if !found {
		t.Errorf("target is not any one writer's content: %q", abbrev(got))
	}
	assertNoTemps(t, dir)
}

// --- refusing non-regular targets -------------------------------------------

// nonRegular builds a non-regular target in dir and returns its path and a
// check that it was left exactly as it was.
type nonRegular struct {
	name  string
	build func(t *testing.T, dir string) (path string, unchanged func(t *testing.T))
}

var nonRegularTargets = []nonRegular{
	{"directory", func(t *testing.T, dir string) (string, func(*testing.T)) {
		path := filepath.Join(dir, "target")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFixture(t, filepath.Join(path, "inside"), []byte("keep"), 0o644)
		return path, func(t *testing.T) {
			t.Helper()
			fi, err := os.Lstat(path)
			if err != nil || !fi.IsDir() {
				t.Fatalf("directory target is gone or changed: %v, %v", fi, err)
			}
			assertFile(t, filepath.Join(path, "inside"), []byte("keep"), 0o644)
		}
	}},
	{"symlink to regular file", func(t *testing.T, dir string) (string, func(*testing.T)) {
		real := filepath.Join(dir, "real")
		writeFixture(t, real, []byte("original"), 0o600)
		path := filepath.Join(dir, "target")
		if err := os.Symlink("real", path); err != nil {
			t.Fatal(err)
		}
		ino := statT(t, real).Ino
		return path, func(t *testing.T) {
			t.Helper()
			assertSymlink(t, path, "real")
			assertFile(t, real, []byte("original"), 0o600)
			if statT(t, real).Ino != ino {
				t.Errorf("symlink target was replaced")
			}
		}
	}},
	{"symlink to directory", func(t *testing.T, dir string) (string, func(*testing.T)) {
		if err := os.Mkdir(filepath.Join(dir, "realdir"), 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "target")
		if err := os.Symlink("realdir", path); err != nil {
			t.Fatal(err)
		}
		return path, func(t *testing.T) {
			t.Helper()
			assertSymlink(t, path, "realdir")
			if got := dirNames(t, filepath.Join(dir, "realdir")); len(got) != 0 {
				t.Errorf("symlinked directory got entries %q", got)
			}
		}
	}},
	{"dangling symlink", func(t *testing.T, dir string) (string, func(*testing.T)) {
		path := filepath.Join(dir, "target")
		if err := os.Symlink("nowhere", path); err != nil {
			t.Fatal(err)
		}
		return path, func(t *testing.T) {
			t.Helper()
			assertSymlink(t, path, "nowhere")
			if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dangling symlink's target was created: %v", err)
			}
		}
	}},
	{"fifo", func(t *testing.T, dir string) (string, func(*testing.T)) {
		path := filepath.Join(dir, "target")
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
		return path, func(t *testing.T) {
			t.Helper()
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
				t.Fatalf("fifo target is gone or changed: %v, %v", fi, err)
			}
		}
	}},
}

func assertSymlink(t *testing.T, path, dest string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSymlink {
		t.Fatalf("%s is no longer a symlink: %v", path, fi.Mode())
	}
	if got, err := os.Readlink(path); err != nil || got != dest {
		t.Errorf("symlink %s points to %q (%v), want %q", path, got, err, dest)
	}
}

func TestRefusesNonRegularTarget(t *testing.T) {
	ops := []struct {
		name string
		call func(path string) error
	}{
		{"WriteFile", func(path string) error { return WriteFile(path, []byte("new"), 0o644) }},
		{"WriteFileIfChanged", func(path string) error {
			wrote, err := WriteFileIfChanged(path, []byte("new"), 0o644)
			if wrote {
				return errors.New("WriteFileIfChanged reported a write")
			}
			return err
		}},
		{"Same", func(path string) error {
			same, err := Same(path, []byte("original"), 0o600)
			if same {
				return errors.New("Same reported true")
			}
			return err
		}},
	}
	for _, target := range nonRegularTargets {
		for _, op := range ops {
			t.Run(target.name+"/"+op.name, func(t *testing.T) {
				dir := t.TempDir()
				path, unchanged := target.build(t, dir)
				var err error
				within(t, 10*time.Second, op.name, func() { err = op.call(path) })
				if !errors.Is(err, ErrNotRegular) {
					t.Errorf("%s(%s) = %v, want ErrNotRegular", op.name, target.name, err)
				}
				if err != nil && !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the path", err)
				}
				unchanged(t)
				assertNoTemps(t, dir)
			})
		}
	}
}

// --- temporary files ----------------------------------------------------------

func TestNoTempFilesAfterSuccess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t")
	for i := range 20 {
		if err := WriteFile(path, []byte(strings.Repeat("x", i*100)), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteFileIfChanged(path, []byte("y"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := dirNames(t, dir); len(got) != 1 || got[0] != "t" {
		t.Errorf("directory holds %q, want only [t]", got)
	}
}

func TestNoTempFilesAfterFailure(t *testing.T) {
	t.Run("parent missing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "missing", "t")
		err := WriteFile(path, []byte("x"), 0o644)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("WriteFile with missing parent = %v, want ErrNotExist", err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("directory holds %q, want nothing", got)
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		dir := t.TempDir()
		writeFixture(t, filepath.Join(dir, "file"), []byte("x"), 0o644)
		if err := WriteFile(filepath.Join(dir, "file", "t"), []byte("x"), 0o644); err == nil {
			t.Error("WriteFile below a regular file succeeded")
		}
		if got := dirNames(t, dir); len(got) != 1 {
			t.Errorf("directory holds %q, want only the file", got)
		}
	})
	t.Run("name too long", func(t *testing.T) {
		// The target name fits, the temporary name does not.
		dir := t.TempDir()
		path := filepath.Join(dir, strings.Repeat("n", 250))
		if err := WriteFile(path, []byte("x"), 0o644); err == nil {
			t.Error("WriteFile succeeded although the temporary name is too long")
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("directory holds %q, want nothing", got)
		}
	})
	t.Run("parent read-only", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root bypasses directory permissions")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "t")
		writeFixture(t, path, []byte("old"), 0o644)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		if err := WriteFile(path, []byte("new"), 0o644); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("WriteFile in read-only dir = %v, want ErrPermission", err)
		}
		assertFile(t, path, []byte("old"), 0o644)
		if got := dirNames(t, dir); len(got) != 1 {
			t.Errorf("directory holds %q, want only the target", got)
		}
	})
	t.Run("write fails after temp file was created", func(t *testing.T) {
		// Works for root too: the helper process lowers RLIMIT_FSIZE so that
		// the write into the already created temporary file fails with EFBIG.
		dir := t.TempDir()
		path := filepath.Join(dir, "t")
		writeFixture(t, path, []byte("old"), 0o644)
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriteFailure$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"=fsize", helperPathEnv+"="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("helper: write failed as expected")) {
			t.Fatalf("helper failed: %v\n%s", err, out)
		}
		assertFile(t, path, []byte("old"), 0o644)
		if got := dirNames(t, dir); len(got) != 1 {
			t.Errorf("directory holds %q, want only the target", got)
		}
	})
}

// TestHelperWriteFailure is not a test: it is the helper process of
// TestNoTempFilesAfterFailure. With a 4 KiB file size limit it asks WriteFile
// for 64 KiB, which must fail with EFBIG after the temporary file exists.
func TestHelperWriteFailure(t *testing.T) {
	if os.Getenv(helperEnv) != "fsize" {
		t.Skip("helper process for TestNoTempFilesAfterFailure")
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 4096, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	// The Go runtime ignores SIGXFSZ, so the write returns EFBIG.
	err := WriteFile(os.Getenv(helperPathEnv), make([]byte, 64<<10), 0o644)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("WriteFile = %v, want EFBIG", err)
	}
	t.Log("helper: write failed as expected:", err)
}

// TestTempFilesAreDotFiles watches the directory with inotify while
// WriteFile runs: the content must be written under a dot-name and renamed
// over the target, so the target name is never created or modified directly
// and a loader that ignores dot-files never sees a partial file.
func TestTempFilesAreDotFiles(t *testing.T) {
	dir := t.TempDir()
	base := "skrouterd.json"
	path := filepath.Join(dir, base)
	w := newDirWatch(t, dir)

	for i, step := range []struct {
		name string
		perm fs.FileMode
	}{{"create", 0o600}, {"replace", 0o644}} {
		data := selfDescribing(fmt.Sprint(i), 10000+i)
		if err := WriteFile(path, data, step.perm); err != nil {
			t.Fatal(err)
		}
		evs := w.events(t)
		var created, movedFrom, movedTo []string
		for _, ev := range evs {
			switch {
			case ev.mask&syscall.IN_CREATE != 0:
				created = append(created, ev.name)
			case ev.mask&syscall.IN_MOVED_FROM != 0:
				movedFrom = append(movedFrom, ev.name)
			case ev.mask&syscall.IN_MOVED_TO != 0:
				movedTo = append(movedTo, ev.name)
			case ev.mask&(syscall.IN_MODIFY|syscall.IN_ATTRIB|syscall.IN_CLOSE_WRITE) != 0:
				if ev.name == base {
					t.Errorf("%s: target was modified in place: %v", step.name, ev)
				}
			}
		}
		if len(created) != 1 || !isTempName(created[0], base) {
			t.Fatalf("%s: created %q, want exactly one %q temporary file (events %v)", step.name, created, "."+base+".tmp-*", evs)
		}
		if !strings.HasPrefix(created[0], ".") {
			t.Errorf("%s: temporary file %q is not a dot-file", step.name, created[0])
		}
		if len(movedFrom) != 1 || movedFrom[0] != created[0] || len(movedTo) != 1 || movedTo[0] != base {
			t.Errorf("%s: renames %q -> %q, want %q -> %q", step.name, movedFrom, movedTo, created[0], base)
		}
		assertFile(t, path, data, step.perm)
		assertNoTemps(t, dir)
	}

	// An unchanged WriteFileIfChanged creates, modifies and renames nothing.
	if wrote, err := WriteFileIfChanged(path, selfDescribing("1", 10001), 0o644); err != nil || wrote {
		t.Fatalf("WriteFileIfChanged(unchanged) = %v, %v; want false, nil", wrote, err)
	}
	if evs := w.events(t); len(evs) != 0 {
		t.Errorf("unchanged WriteFileIfChanged touched the directory: %v", evs)
	}
}

type dirEvent struct {
	mask uint32
	name string
}

func (e dirEvent) String() string { return fmt.Sprintf("%s:%#x", e.name, e.mask) }

type dirWatch struct{ fd int }

func newDirWatch(t *testing.T, dir string) *dirWatch {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify unavailable: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	mask := uint32(syscall.IN_CREATE | syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO |
		syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_CLOSE_WRITE | syscall.IN_DELETE)
	if _, err := syscall.InotifyAddWatch(fd, dir, mask); err != nil {
		t.Fatal(err)
	}
	return &dirWatch{fd: fd}
}

// events drains the queued events. inotify queues them synchronously in the
// syscalls that cause them, so after WriteFile returns all of its events are
// there.
func (w *dirWatch) events(t *testing.T) []dirEvent {
	t.Helper()
	var evs []dirEvent
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			return evs
		}
		if err != nil {
			t.Fatalf("read inotify: %v", err)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+nameLen]
			evs = append(evs, dirEvent{mask: mask, name: string(bytes.TrimRight(name, "\x00"))})
			if mask&syscall.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflow")
			}
			off += syscall.SizeofInotifyEvent + nameLen
		}
	}
}

// --- WriteFileIfChanged and Same ---------------------------------------------

var oldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func TestWriteFileIfChanged(t *testing.T) {
	tests := []struct {
		name      string
		exists    bool
		oldData   []byte
		oldPerm   fs.FileMode
		newData   []byte
		newPerm   fs.FileMode
		wantWrote bool
	}{
		{"missing", false, nil, 0, []byte("data\n"), 0o644, true},
		{"missing empty", false, nil, 0, nil, 0o600, true},
		{"equal", true, []byte("data\n"), 0o644, []byte("data\n"), 0o644, false},
		{"equal empty", true, nil, 0o600, []byte{}, 0o600, false},
		{"equal large", true, crashB, 0o640, bytes.Clone(crashB), 0o640, false},
		{"content differs same size", true, []byte("data1"), 0o644, []byte("data2"), 0o644, true},
		{"content differs in last byte of large", true, crashB, 0o644, append(bytes.Clone(crashB[:len(crashB)-1]), 'x'), 0o644, true},
		{"content longer", true, []byte("data"), 0o644, []byte("data+"), 0o644, true},
		{"content shorter", true, []byte("data"), 0o644, []byte("dat"), 0o644, true},
		{"perm tighter", true, []byte("data"), 0o644, []byte("data"), 0o600, true},
		{"perm looser", true, []byte("data"), 0o600, []byte("data"), 0o644, true},
		{"both differ", true, []byte("data"), 0o600, []byte("other"), 0o644, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "target")
			var before *syscall.Stat_t
			if tt.exists {
				writeFixture(t, path, tt.oldData, tt.oldPerm)
				if err := os.Chtimes(path, oldTime, oldTime); err != nil {
					t.Fatal(err)
				}
				before = statT(t, path)
			}
			wrote, err := WriteFileIfChanged(path, tt.newData, tt.newPerm)
			if err != nil {
				t.Fatalf("WriteFileIfChanged: %v", err)
			}
			if wrote != tt.wantWrote {
				t.Errorf("WriteFileIfChanged = %v, want %v", wrote, tt.wantWrote)
			}
			assertFile(t, path, tt.newData, tt.newPerm)
			assertNoTemps(t, dir)
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			after := fi.Sys().(*syscall.Stat_t)
			if !tt.wantWrote {
				if !fi.ModTime().Equal(oldTime) {
					t.Errorf("mtime changed from %v to %v on an unchanged file", oldTime, fi.ModTime())
				}
				if after.Ino != before.Ino || after.Ctim != before.Ctim {
					t.Errorf("unchanged file was touched: inode %d -> %d, ctime %v -> %v",
						before.Ino, after.Ino, before.Ctim, after.Ctim)
				}
			} else if tt.exists && fi.ModTime().Equal(oldTime) {
				t.Errorf("mtime still %v after a write", oldTime)
			}

			// Idempotent: the second call finds it unchanged.
			if wrote, err := WriteFileIfChanged(path, tt.newData, tt.newPerm); err != nil || wrote {
				t.Errorf("second WriteFileIfChanged = %v, %v; want false, nil", wrote, err)
			}
		})
	}
}

func TestWriteFileIfChangedMissingParent(t *testing.T) {
	wrote, err := WriteFileIfChanged(filepath.Join(t.TempDir(), "no", "t"), []byte("x"), 0o644)
	if err == nil || wrote {
		t.Errorf("WriteFileIfChanged with missing parent = %v, %v; want false, error", wrote, err)
	}
}

func TestSame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	writeFixture(t, path, []byte("hello"), 0o640)
	tests := []struct {
		name string
		path string
		data []byte
		perm fs.FileMode
		want bool
	}{
		{"equal", path, []byte("hello"), 0o640, true},
		{"equal ignoring non-perm bits", path, []byte("hello"), fs.ModeSetgid | 0o640, true},
		{"other content", path, []byte("hellO"), 0o640, false},
		{"prefix", path, []byte("hell"), 0o640, false},
		{"longer", path, []byte("hello!"), 0o640, false},
		{"other perm", path, []byte("hello"), 0o644, false},
		{"missing", filepath.Join(dir, "missing"), []byte("hello"), 0o640, false},
		{"missing parent", filepath.Join(dir, "no", "f"), nil, 0o640, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Same(tt.path, tt.data, tt.perm)
			if err != nil {
				t.Fatalf("Same: %v", err)
			}
			if got != tt.want {
				t.Errorf("Same = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("parent is a file", func(t *testing.T) {
		if _, err := Same(filepath.Join(path, "x"), nil, 0o640); err == nil {
			t.Error("Same below a regular file succeeded")
		}
	})
}

// --- Remove, SyncDir, MkdirAll ---------------------------------------------

func TestRemove(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		if err := Remove(filepath.Join(dir, "missing")); err != nil {
			t.Errorf("Remove(missing) = %v, want nil", err)
		}
		if err := Remove(filepath.Join(dir, "no", "missing")); err != nil {
			t.Errorf("Remove(missing parent) = %v, want nil", err)
		}
	})
	t.Run("regular file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		writeFixture(t, path, []byte("x"), 0o644)
		if err := Remove(path); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("file still there: %v", err)
		}
		if err := Remove(path); err != nil {
			t.Errorf("second Remove = %v, want nil", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		for _, withEntries := range []bool{false, true} {
			dir := t.TempDir()
			path := filepath.Join(dir, "d")
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			if withEntries {
				writeFixture(t, filepath.Join(path, "inside"), []byte("x"), 0o644)
			}
			if err := Remove(path); err == nil {
				t.Errorf("Remove(directory, entries=%v) = nil, want an error", withEntries)
			}
			if fi, err := os.Lstat(path); err != nil || !fi.IsDir() {
				t.Errorf("directory was removed or changed: %v", err)
			}
		}
	})
	t.Run("symlink removes the link only", func(t *testing.T) {
		dir := t.TempDir()
		real := filepath.Join(dir, "real")
		writeFixture(t, real, []byte("keep"), 0o644)
		link := filepath.Join(dir, "link")
		if err := os.Symlink("real", link); err != nil {
			t.Fatal(err)
		}
		if err := Remove(link); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(link); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("symlink still there: %v", err)
		}
		assertFile(t, real, []byte("keep"), 0o644)
	})
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir(existing) = %v", err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir(missing) = %v, want ErrNotExist", err)
	}
}

func TestMkdirAll(t *testing.T) {
	setUmask(t, 0o022)
	permOf := func(t *testing.T, path string) fs.FileMode {
		t.Helper()
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() {
			t.Fatalf("%s is not a directory: %v", path, fi.Mode())
		}
		return fi.Mode().Perm()
	}
	t.Run("creates parents", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b", "c")
		if err := MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if got := permOf(t, dir); got != 0o700 {
			t.Errorf("perm %04o, want 0700", got)
		}
		if got := permOf(t, filepath.Dir(dir)); got&0o077 != 0 {
			t.Errorf("created parent has perm %04o, want no group/other bits", got)
		}
	})
	t.Run("tightens 0755 to 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if got := permOf(t, dir); got != 0o755 {
			t.Fatalf("fixture perm %04o, want 0755", got)
		}
		if err := MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if got := permOf(t, dir); got != 0o700 {
			t.Errorf("perm %04o, want 0700", got)
		}
	})
	t.Run("tightens 0777 to 0750", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if got := permOf(t, dir); got != 0o750 {
			t.Errorf("perm %04o, want 0750", got)
		}
	})
	t.Run("does not loosen", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if got := permOf(t, dir); got != 0o700 {
			t.Errorf("perm %04o, want 0700 kept", got)
		}
	})
	t.Run("keeps entries", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFixture(t, filepath.Join(dir, "f"), []byte("x"), 0o644)
		if err := MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		assertFile(t, filepath.Join(dir, "f"), []byte("x"), 0o644)
	})
	t.Run("regular file in the way", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f")
		writeFixture(t, path, []byte("x"), 0o644)
		if err := MkdirAll(path, 0o700); err == nil {
			t.Error("MkdirAll over a regular file succeeded")
		}
		assertFile(t, path, []byte("x"), 0o644)
	})
}

// --- benchmarks --------------------------------------------------------------

func BenchmarkWriteFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench")
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096/16)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFileIfChangedUnchanged(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench")
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096/16)
	if err := WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		wrote, err := WriteFileIfChanged(path, data, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if wrote {
			b.Fatal("WriteFileIfChanged wrote an unchanged file")
		}
	}
}

// --- Derived files -----------------------------------------------------------

func TestWriteDerived(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.yaml")
	if err := WriteDerived(path, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, []byte("one\n"), 0o600)
	if err := os.Chtimes(path, oldTime, oldTime); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteDerivedIfChanged(path, []byte("one\n"), 0o600); err != nil || wrote {
		t.Errorf("WriteDerivedIfChanged(same) = %v, %v; want false, nil", wrote, err)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.ModTime().Equal(oldTime) {
		t.Errorf("an unchanged derived file was touched: %v, %v", fi.ModTime(), err)
	}
	if wrote, err := WriteDerivedIfChanged(path, []byte("two\n"), 0o644); err != nil || !wrote {
		t.Errorf("WriteDerivedIfChanged(changed) = %v, %v; want true, nil", wrote, err)
	}
	assertFile(t, path, []byte("two\n"), 0o644)
	assertNoTemps(t, dir)
	if err := SyncFS(dir); err != nil {
		t.Errorf("SyncFS = %v", err)
	}
	if err := RemoveDerived(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("derived file still there: %v", err)
	}
	if err := RemoveDerived(path); err != nil {
		t.Errorf("RemoveDerived(missing) = %v, want nil", err)
	}
	if err := RemoveDerived(dir); err == nil {
		t.Error("RemoveDerived(directory) = nil, want an error")
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("elsewhere", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteDerived(link, []byte("x"), 0o600); !errors.Is(err, ErrNotRegular) {
		t.Errorf("WriteDerived(symlink) = %v, want ErrNotRegular", err)
	}
	if err := SyncFS(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncFS(missing) = %v, want ErrNotExist", err)
	}
}

func TestWriteDerivedAt(t *testing.T) {
	dir := t.TempDir()
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := WriteDerivedAt(fd, dir, "f.yaml", []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, "f.yaml"), []byte("one\n"), 0o600)
	if err := WriteDerivedAt(fd, dir, "f.yaml", []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, "f.yaml"), []byte("two\n"), 0o644)
	assertNoTemps(t, dir)
	if err := os.Symlink("f.yaml", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := WriteDerivedAt(fd, dir, "link", []byte("x"), 0o600); !errors.Is(err, ErrNotRegular) {
		t.Errorf("WriteDerivedAt(symlink) = %v, want ErrNotRegular", err)
	}
	if err := WriteDerivedAt(fd, dir, "missing/f", []byte("x"), 0o600); err == nil {
		t.Error("WriteDerivedAt into a missing directory succeeded")
	}
	assertNoTemps(t, dir)
}
