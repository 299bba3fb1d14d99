package namespaces

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/skupperd/skupperd/internal/atomicfile"
)

// DaemonLogPath is the daemon's log file (capped; see internal/logfile):
// its own lines and, under the process supervisor, its routers' output.
func (h Home) DaemonLogPath() string { return filepath.Join(h.Root, "skupperd.log") }

// LockPath is the file a running daemon holds an exclusive flock on.
func (h Home) LockPath() string { return filepath.Join(h.Root, "skupperd.lock") }

// ErrAlreadyRunning is returned by Lock when another daemon holds the lock.
var ErrAlreadyRunning = errors.New("another skupperd is already running for this data home")

// Lock takes the data home's single-instance lock, recording this
// process's pid in it. The returned function releases it. Only the daemon
// takes the lock; everything else asks DaemonRunning.
func (h Home) Lock() (func(), error) {
	l, err := h.TakeLock()
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// ErrLockLost is returned by DaemonLock.Check when the lock file held is no
// longer the data home's: the data home (or the file) was removed or
// replaced, so another daemon may now lock the new one.
var ErrLockLost = errors.New("the data home's lock file was removed or replaced")

// ErrPathInUse is returned by TakeLock when a process that locked an
// earlier data home at the same path still runs: the data home was
// removed or replaced under it, so the file lock no longer stops it. It
// detects that (DaemonLock.Check) and stops; wait for it.
var ErrPathInUse = errors.New("a skupperd whose data home at this path was removed or replaced is still running")

// DaemonLock is a held single-instance lock: an flock on the data home's
// lock file, and an abstract unix socket named after the data home's
// path, which no other process can bind while this one lives, even once
// the data home (and so the lock file) was deleted and created again.
type DaemonLock struct {
	f    *os.File
	path string
	sock int
}

// Release releases the lock.
func (l *DaemonLock) Release() {
	l.f.Close()
	if l.sock >= 0 {
		_ = syscall.Close(l.sock)
	}
}

// bindPathLock binds the abstract unix socket of the data home's path
// (absolute, cleaned), so that a single process holds it at a time; the
// kernel releases it when the process ends. It returns ErrPathInUse when
// it is held.
func bindPathLock(root string) (int, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return -1, err
	}
	sum := sha256.Sum256([]byte(filepath.Clean(abs)))
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("path lock: %w", err)
	}
	addr := &syscall.SockaddrUnix{Name: "@skupperd-data-home-" + hex.EncodeToString(sum[:16])}
	if err := syscall.Bind(fd, addr); err != nil {
		_ = syscall.Close(fd)
		if errors.Is(err, syscall.EADDRINUSE) {
			return -1, ErrPathInUse
		}
		return -1, fmt.Errorf("path lock: %w", err)
	}
	return fd, nil
}

// Check reports whether the lock still guards the data home: the file at
// the lock path must be the very file held (same device and inode). A
// daemon whose lock is lost must stop managing the data home, since a
// second daemon can lock the new file.
func (l *DaemonLock) Check() error {
	held, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	now, err := os.Lstat(l.path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrLockLost, l.path, err)
	}
	if !os.SameFile(held, now) {
		return fmt.Errorf("%w: %s is another file now", ErrLockLost, l.path)
	}
	return nil
}

// TakeLock is Lock returning the held lock, which can be checked.
func (h Home) TakeLock() (*DaemonLock, error) {
	if err := atomicfile.MkdirAll(h.Root, DirPerm); err != nil {
		return nil, err
	}
	path := h.LockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, FilePerm)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := ""
			if data, rerr := os.ReadFile(path); rerr == nil {
				pid = strings.TrimSpace(string(data))
			}
			return nil, fmt.Errorf("%w (pid %s, lock %s)", ErrAlreadyRunning, pid, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	sock, err := bindPathLock(h.Root)
	if err != nil {
		f.Close()
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &DaemonLock{f: f, path: path, sock: sock}, nil
}

// DaemonRunning reports whether a daemon holds the data home's lock, and
// its pid.
func (h Home) DaemonRunning() (bool, int) {
	f, err := os.Open(h.LockPath())
	if err != nil {
		return false, 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, 0
	}
	data, _ := os.ReadFile(h.LockPath())
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return true, pid
}
