package ports

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/skupperd/skupperd/namespaces"
)

// LockFile is the name of the data-home-wide lock in <data home>/namespaces/.
// Its name starts with a dot so namespace discovery ignores it.
const LockFile = ".ports.lock"

// Bounds of the retry loop while another process holds the lock.
const (
	lockRetryMin = 2 * time.Millisecond
	lockRetryMax = 100 * time.Millisecond
)

// LockPath is <data home>/namespaces/.ports.lock.
func LockPath(home namespaces.Home) string {
	return filepath.Join(home.NamespacesDir(), LockFile)
}

// fileLock is a held exclusive flock.
type fileLock struct{ f *os.File }

// lockHome takes the exclusive flock on the data home's lock file, waiting
// until it is free or ctx is done. The lock is tied to the open file, so it
// excludes other processes and other open files of this process alike, and
// the kernel drops it if the process dies. The namespaces directory must
// exist; the lock file is created 0600 if missing and never written.
func lockHome(ctx context.Context, home namespaces.Home) (*fileLock, error) {
	path := LockPath(home)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, namespaces.FilePerm)
	if err != nil {
		return nil, fmt.Errorf("open ports lock: %w", err)
	}
	wait := lockRetryMin
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("wait for ports lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
		if wait *= 2; wait > lockRetryMax {
			wait = lockRetryMax
		}
	}
}

// unlock releases the lock. Closing the file drops the flock.
func (l *fileLock) unlock() { _ = l.f.Close() }
