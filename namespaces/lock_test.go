package namespaces

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// TestLockReplacedDataHomeIsRelocked: the data home is deleted and
// created again under a lock holder. The holder notices (Check), no other
// process can take the lock meanwhile (the path stays locked), and Relock
// moves the holder onto the new data home, whose lock file then records
// it and refuses everyone else.
func TestLockReplacedDataHomeIsRelocked(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := NewHome(filepath.Join(t.TempDir(), "home"))
	l, err := h.TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Warning != "" {
		t.Fatalf("path lock not held: %s", l.Warning)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("fresh lock: %v", err)
	}
	var running *RunningError
	_, err = h.TakeLock()
	if !errors.As(err, &running) || !errors.Is(err, ErrAlreadyRunning) || running.PID != os.Getpid() {
		t.Fatalf("second lock: %v, want a RunningError naming pid %d", err, os.Getpid())
	}
	if want := "another skupperd (pid " + strconv.Itoa(os.Getpid()) + ") manages data home " + h.Root; err.Error() != want {
		t.Fatalf("second lock: %q, want %q", err, want)
	}

	if err := os.RemoveAll(h.Root); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); !errors.Is(err, ErrLockLost) {
		t.Fatalf("after removal: %v, want ErrLockLost", err)
	}
	if err := l.Relock(false); !errors.Is(err, ErrDataHomeGone) {
		t.Fatalf("relock without a data home: %v, want ErrDataHomeGone", err)
	}
	if running, pid := h.DaemonRunning(); !running || pid != os.Getpid() {
		t.Fatalf("DaemonRunning without a data home: %v %d, want the holder by its path lock", running, pid)
	}
	if err := h.Ensure(); err != nil {
		t.Fatal(err)
	}
	// While the first holds the path, nobody locks the new data home.
	if _, err := h.TakeLock(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("lock of the re-created data home while the first holds the path: %v, want ErrAlreadyRunning", err)
	}
	if _, err := os.Stat(h.LockPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused lock wrote the lock file: %v", err)
	}
	if err := l.Check(); !errors.Is(err, ErrLockLost) {
		t.Fatalf("after re-creation: %v, want ErrLockLost", err)
	}
	if err := l.Relock(false); err != nil {
		t.Fatalf("relock: %v", err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("after relock: %v", err)
	}
	data, _ := os.ReadFile(h.LockPath())
	if strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q, want this pid", data)
	}
	if running, pid := h.DaemonRunning(); !running || pid != os.Getpid() {
		t.Fatalf("DaemonRunning after relock: %v %d", running, pid)
	}

	// Gone for good: Relock(true) creates it.
	if err := os.RemoveAll(h.Root); err != nil {
		t.Fatal(err)
	}
	if err := l.Relock(true); err != nil {
		t.Fatalf("relock creating the data home: %v", err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("after relock creating the data home: %v", err)
	}

	l.Release()
	if running, _ := h.DaemonRunning(); running {
		t.Fatal("DaemonRunning after Release")
	}
	l2, err := h.TakeLock()
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	defer l2.Release()
	if err := l2.Check(); err != nil {
		t.Fatalf("new lock: %v", err)
	}
}

// TestRelockRefusedWhileAnotherHoldsTheNewFile: a process that holds the
// new data home's lock file (one that ignores the path lock) keeps Relock
// out.
func TestRelockRefusedWhileAnotherHoldsTheNewFile(t *testing.T) {
	h := NewHome(filepath.Join(t.TempDir(), "home"))
	l, err := h.TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := os.RemoveAll(h.Root); err != nil {
		t.Fatal(err)
	}
	if err := h.Ensure(); err != nil {
		t.Fatal(err)
	}
	other, err := h.lockFile()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := l.Relock(false); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("relock while another holds the file: %v, want ErrAlreadyRunning", err)
	}
	if err := l.Check(); !errors.Is(err, ErrLockLost) {
		t.Fatalf("check: %v, want ErrLockLost", err)
	}
}

// TestPathLockSquatter: a name bound by a process that does not listen
// (not a skupperd) does not keep the data home from being locked; the
// lock says why the path lock is not held.
func TestPathLockSquatter(t *testing.T) {
	h := NewHome(filepath.Join(t.TempDir(), "home"))
	name, err := pathLockName(h.Root)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
	l, err := h.TakeLock()
	if err != nil {
		t.Fatalf("lock with a squatted path lock: %v", err)
	}
	defer l.Release()
	if !strings.Contains(l.Warning, "does not answer") {
		t.Fatalf("warning %q", l.Warning)
	}
	if _, err := h.TakeLock(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second lock: %v, want ErrAlreadyRunning (the lock file)", err)
	}
	// The name is still the squatter's: nothing answers on it.
	if _, err := net.Dial("unix", name); err == nil {
		t.Fatal("the squatted name answers")
	}
}

// TestPathLockTellsFileSystemsApart: the path lock is named after the
// parent directory too, so a data home at the same path under another
// parent directory (another file system, as in a container sharing the
// host's network) is another lock, while the data home itself may be
// re-created under the same parent.
func TestPathLockTellsFileSystemsApart(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "parent")
	h := NewHome(filepath.Join(parent, "home"))
	l, err := h.TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	first, err := pathLockName(h.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(h.Root); err != nil {
		t.Fatal(err)
	}
	if same, _ := pathLockName(h.Root); same != first {
		t.Fatal("the path lock's name changed with the data home re-created under the same parent")
	}
	if err := os.Rename(parent, parent+".old"); err != nil {
		t.Fatal(err)
	}
	other := NewHome(h.Root)
	l2, err := other.TakeLock()
	if err != nil {
		t.Fatalf("a data home at the same path under another parent: %v", err)
	}
	defer l2.Release()
	if l2.Warning != "" {
		t.Fatalf("path lock not held: %s", l2.Warning)
	}
}

// TestTakeLockLeavesTheParentAlone: the data home's parent (/var/lib,
// ~/.local/share) is not skupperd's: taking the lock creates it when
// missing but never changes an existing one's permissions.
func TestTakeLockLeavesTheParentAlone(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	parent := filepath.Join(t.TempDir(), "lib")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	l, err := NewHome(filepath.Join(parent, "skupper")).TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	fi, err := os.Stat(parent)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o755 {
		t.Fatalf("the parent's permissions became %o, want 755 unchanged", got)
	}
	missing := filepath.Join(t.TempDir(), "a", "b")
	l, err = NewHome(filepath.Join(missing, "skupper")).TakeLock()
	if err != nil {
		t.Fatalf("missing parent: %v", err)
	}
	l.Release()
}
