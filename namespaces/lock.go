package namespaces

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/skupperd/skupperd/internal/atomicfile"
)

// LockPath is the file a running daemon holds an exclusive flock on.
func (h Home) LockPath() string { return filepath.Join(h.Root, "skupperd.lock") }

// ErrAlreadyRunning is returned by Lock when another daemon holds the lock.
var ErrAlreadyRunning = errors.New("another skupperd is already running for this data home")

// Lock takes the data home's single-instance lock, recording this
// process's pid in it. The returned function releases it. Only the daemon
// takes the lock; everything else asks DaemonRunning.
func (h Home) Lock() (func(), error) {
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
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
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
