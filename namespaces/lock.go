package namespaces

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/rawfs"
)

// DaemonLogPath is the daemon's log file (capped; see internal/logfile):
// its own lines and, under the process supervisor, its routers' output.
func (h Home) DaemonLogPath() string { return filepath.Join(h.Root, "skupperd.log") }

// LockPath is the file a running daemon holds an exclusive flock on.
func (h Home) LockPath() string { return filepath.Join(h.Root, "skupperd.lock") }

// The single-instance lock of a data home has two parts, taken in this
// order:
//
//   - the path lock: an abstract unix socket named after the data home's
//     absolute path, on which the holder listens. It needs no file, so it
//     outlives the data home: when the data home is deleted and created
//     again under a running daemon, the path stays held, a second skupperd
//     refuses to start, and the holder locks the new data home
//     (DaemonLock.Relock) and goes on managing it. The kernel releases it
//     when the process ends, kill -9 included, and it works for any user,
//     under systemd's ProtectSystem=strict (no file under /run) and in
//     tests. Abstract sockets belong to a network namespace, and any local
//     user may bind any name: a holder that does not answer as this user
//     (or root) is not taken for a skupperd (see TakeLock).
//   - an flock on the data home's lock file, which records the holder's
//     pid and tells the CLI that a daemon runs (DaemonRunning).

// ErrAlreadyRunning is matched (errors.Is) by the error of TakeLock and
// Relock when another skupperd (a daemon, or `skupperd reconcile`)
// manages the data home; the error is a *RunningError.
var ErrAlreadyRunning = errors.New("another skupperd manages this data home")

// RunningError says which process manages a data home.
type RunningError struct {
	// PID is the other process (0: not known).
	PID int
	// Root is the data home.
	Root string
}

func (e *RunningError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another skupperd (pid %d) manages data home %s", e.PID, e.Root)
	}
	return fmt.Sprintf("another skupperd manages data home %s", e.Root)
}

// Is makes a RunningError match ErrAlreadyRunning.
func (e *RunningError) Is(target error) bool { return target == ErrAlreadyRunning }

// ErrLockLost is returned by DaemonLock.Check when the lock file held is no
// longer the data home's: the data home (or the file) was removed or
// replaced. Relock locks the one now at the path.
var ErrLockLost = errors.New("the data home's lock file was removed or replaced")

// ErrDataHomeGone is returned by Relock when no data home exists at the
// path (and it was not asked to create one).
var ErrDataHomeGone = errors.New("the data home does not exist")

// Lock takes the data home's single-instance lock, recording this
// process's pid in it. The returned function releases it. Only the daemon
// and `skupperd reconcile` take the lock; everything else asks
// DaemonRunning.
func (h Home) Lock() (func(), error) {
	l, err := h.TakeLock()
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// DaemonLock is a held single-instance lock (see ErrAlreadyRunning): the
// path lock, unless it was left out (Warning), and the flock on the lock
// file of the data home now at the path.
type DaemonLock struct {
	home Home
	// Warning says why the path lock is not held ("" when it is): its
	// name is held by a process that is not a skupperd of this user.
	Warning string

	ln   *net.UnixListener // the path lock (nil: not held)
	done chan struct{}     // closed when the path lock's accept loop ends

	mu sync.Mutex
	f  *os.File // the locked lock file
}

// Release releases the lock. It is safe to call once.
func (l *DaemonLock) Release() {
	l.mu.Lock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.mu.Unlock()
	if l.ln != nil {
		_ = l.ln.Close()
		<-l.done
	}
}

// pathLockName is the abstract socket name of the data home at root: a
// digest of its absolute path and of the device and inode of its parent
// directory, which stays when the data home is deleted and created again,
// and tells apart data homes at the same path on other file systems
// (containers sharing the host's network namespace).
func pathLockName(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("path lock: %w", err)
	}
	abs = filepath.Clean(abs)
	fi, err := os.Stat(filepath.Dir(abs))
	if err != nil {
		return "", fmt.Errorf("path lock: %w", err)
	}
	var dev, ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev, ino = st.Dev, st.Ino
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d:%d", abs, dev, ino))
	return "@skupperd-data-home-" + hex.EncodeToString(sum[:16]), nil
}

// pathLockHolder connects to the path lock name and returns the
// credentials of the process listening on it (SO_PEERCRED).
func pathLockHolder(name string) (*syscall.Ucred, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// ours reports whether a path lock holder may be a skupperd managing a
// data home of this user: it runs as this user or as root.
func ours(cred *syscall.Ucred) bool {
	return cred.Uid == uint32(os.Geteuid()) || cred.Uid == 0
}

// pathLockAttempts bounds the retries of TakeLock when the path lock's
// name is bound but refuses connections: its holder is between bind and
// listen, or exiting.
const pathLockAttempts = 20

// listenPathLock takes the path lock of the data home at root. It returns
// a *RunningError when a process of this user (or root) holds it, and a
// warning instead of the lock when a process that cannot be a skupperd of
// this user holds the name (another user's, or one that does not listen).
func listenPathLock(root string) (*net.UnixListener, string, error) {
	name, err := pathLockName(root)
	if err != nil {
		return nil, "", err
	}
	for attempt := 1; ; attempt++ {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
		if err == nil {
			return ln, "", nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, "", fmt.Errorf("path lock: %w", err)
		}
		cred, herr := pathLockHolder(name)
		switch {
		case herr == nil && ours(cred):
			return nil, "", &RunningError{PID: int(cred.Pid), Root: root}
		case herr == nil:
			return nil, fmt.Sprintf("the path lock of the data home (abstract socket %s) is held by pid %d of uid %d, which is not a skupperd of this user; only the lock file guards the data home", name, cred.Pid, cred.Uid), nil
		case attempt < pathLockAttempts:
			time.Sleep(10 * time.Millisecond)
		default:
			return nil, fmt.Sprintf("the path lock of the data home (abstract socket %s) is bound by a process that does not answer; only the lock file guards the data home", name), nil
		}
	}
}

// acceptLoop answers connections to the path lock (so that a second
// skupperd learns the holder's pid from SO_PEERCRED) until it is closed.
func acceptLoop(ln *net.UnixListener, done chan<- struct{}) {
	defer close(done)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of descriptors
			continue
		}
		c.Close()
	}
}

// lockFileTries bounds the attempts to flock the lock file.
const lockFileTries = 5

// lockFile opens and flocks the lock file of the data home at the path,
// recording this process's pid in it. It does not create the data home.
func (h Home) lockFile() (*os.File, error) {
	path := h.LockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, FilePerm)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	// DaemonRunning holds a shared lock for a moment: a few tries before
	// concluding that another process holds it.
	for try := 1; ; try++ {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || try == lockFileTries {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := 0
			if data, rerr := os.ReadFile(path); rerr == nil {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			}
			return nil, &RunningError{PID: pid, Root: h.Root}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// TakeLock takes the data home's single-instance lock: the path lock,
// then the flock on the lock file (creating the data home directory). It
// fails with a *RunningError (ErrAlreadyRunning) when another skupperd
// holds either.
func (h Home) TakeLock() (*DaemonLock, error) {
	if abs, err := filepath.Abs(h.Root); err == nil {
		// The path lock is named after the parent directory too, so it
		// must exist. Created when missing, never chmodded: it is not
		// ours (/var/lib, ~/.local/share).
		if err := os.MkdirAll(filepath.Dir(abs), DirPerm); err != nil {
			return nil, fmt.Errorf("create directory %s: %w", filepath.Dir(abs), err)
		}
	}
	ln, warning, err := listenPathLock(h.Root)
	if err != nil {
		return nil, err
	}
	l := &DaemonLock{home: h, Warning: warning, ln: ln}
	if ln != nil {
		l.done = make(chan struct{})
		go acceptLoop(ln, l.done)
	}
	if err := atomicfile.MkdirAll(h.Root, DirPerm); err != nil {
		l.Release()
		return nil, err
	}
	f, err := h.lockFile()
	if err != nil {
		l.Release()
		return nil, err
	}
	l.f = f
	return l, nil
}

// Check reports whether the lock still guards the data home: the file at
// the lock path must be the very file held (same device and inode). When
// it is not (ErrLockLost), a process that no longer holds the lock must
// not act on the data home until Relock succeeds.
func (l *DaemonLock) Check() error {
	l.mu.Lock()
	f := l.f
	var held unix.Stat_t
	var err error
	if f != nil {
		err = fstatFile(f, &held)
	}
	l.mu.Unlock()
	if f == nil {
		return fmt.Errorf("%w: released", ErrLockLost)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	// The daemon checks every 2 s, idle or not: the checks go through
	// rawfs, whose calls do not wake the runtime's monitor thread where
	// the data home is local (rawfs.EnableFor).
	path := l.home.LockPath()
	var now unix.Stat_t
	if err := rawfs.Fstatat(unix.AT_FDCWD, path, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrLockLost, path, err)
	}
	if held.Dev != now.Dev || held.Ino != now.Ino {
		return fmt.Errorf("%w: %s is another file now", ErrLockLost, path)
	}
	return nil
}

// fstatFile is fstat(2) of f's descriptor through rawfs.
func fstatFile(f *os.File, st *unix.Stat_t) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = rawfs.Fstat(int(fd), st) }); err != nil {
		return err
	}
	return serr
}

// Relock locks the data home now at the lock's path, after Check found
// the held one removed or replaced; the path lock is kept throughout, so
// no other skupperd can have started meanwhile (unless Warning says it is
// not held, or the data home's parent directory was replaced too). Without create it fails with ErrDataHomeGone while no
// directory exists at the path; with create it makes one. It fails with a
// *RunningError when another process holds the new lock file.
func (l *DaemonLock) Relock(create bool) error {
	root := l.home.Root
	if create {
		if err := atomicfile.MkdirAll(root, DirPerm); err != nil {
			return err
		}
	} else if fi, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
		return fmt.Errorf("%w: %s", ErrDataHomeGone, root)
	} else if err != nil {
		return fmt.Errorf("data home %s: %w", root, err)
	}
	f, err := l.home.lockFile()
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// DaemonRunning reports whether a skupperd (a daemon, or `skupperd
// reconcile`) holds the data home's lock, and its pid (0 when not known):
// the lock file's flock, or else the path lock of a process of this user
// (the data home was replaced under a daemon that has not locked the new
// one yet).
func (h Home) DaemonRunning() (bool, int) {
	if f, err := os.Open(h.LockPath()); err == nil {
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
			data, _ := os.ReadFile(h.LockPath())
			pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			return true, pid
		}
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	}
	name, err := pathLockName(h.Root)
	if err != nil {
		return false, 0
	}
	if cred, err := pathLockHolder(name); err == nil && ours(cred) {
		return true, int(cred.Pid)
	}
	return false, 0
}
