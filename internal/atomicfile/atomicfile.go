// Package atomicfile is the one way skupperd writes files.
//
// WriteFile replaces a file so that a crash at any instant leaves either the
// complete old content or the complete new content on disk, never a torn or
// empty file: the data goes to a temporary file in the same directory, which is
// written, chmod-ed, fsync-ed and renamed over the target, and then the
// directory itself is fsync-ed so that the rename is durable.
//
// Temporary files are named ".<base>.tmp-<random>" so that directory watchers
// and loaders, which ignore dot-files and "*.tmp", never pick them up.
//
// Derived files (WriteDerived, WriteDerivedIfChanged, RemoveDerived) are
// files that every reconcile computes again from durable input: they are
// replaced the same atomic way, so no crash of the process ever leaves one
// torn, but neither the file nor its directory is fsync-ed. The caller makes
// a batch of them durable with one SyncFS. Until then a power loss can leave
// such a file with its old content, empty or missing (the filesystem may
// have committed the rename before the data); the next reconcile finds it
// different from what it computes and writes it again.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/internal/rawfs"
)

// ErrNotRegular is returned when the target exists and is not a regular file
// (a directory, symlink, device, socket or FIFO). Such a target is never
// replaced.
var ErrNotRegular = errors.New("target exists and is not a regular file")

// WriteFile atomically replaces path with data and permission perm.
// The parent directory must exist. It refuses to replace a non-regular file.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, true)
}

// WriteDerived atomically replaces path with data and permission perm, like
// WriteFile, but without fsync: the result is never torn by a crash of the
// process, and it is durable once SyncFS of its filesystem returned (see the
// package comment).
func WriteDerived(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, false)
}

// WriteDerivedAt is WriteDerived of the entry name of the directory open
// as dirfd, whose path is dir: every system call resolves one path
// element, not the whole path (a reconcile writes thousands of status
// files).
func WriteDerivedAt(dirfd int, dir, name string, data []byte, perm fs.FileMode) error {
	return writeAt(dirfd, dir, name, data, perm, false)
}

func write(path string, data []byte, perm fs.FileMode, durable bool) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return writeAt(unix.AT_FDCWD, dir, base, data, perm, durable)
}

// ReplaceDerivedAt is WriteDerivedAt for a caller that has just seen that
// name is missing or a regular file (in a listing of the directory, or by
// reading it): it is not looked at again. Replacing it stays safe if that
// changed since: a directory put there makes the rename fail, and a
// symbolic link is replaced, not followed.
func ReplaceDerivedAt(dirfd int, dir, name string, data []byte, perm fs.FileMode) error {
	return replaceAt(dirfd, dir, name, data, perm, false)
}

// writeAt writes the entry base of dir, open as dirfd (AT_FDCWD: names
// are joined to dir).
func writeAt(dirfd int, dir, base string, data []byte, perm fs.FileMode, durable bool) error {
	name := base
	if dirfd == unix.AT_FDCWD {
		name = filepath.Join(dir, base)
	}
	if err := checkTargetAt(dirfd, name, filepath.Join(dir, base)); err != nil {
		return err
	}
	return replaceAt(dirfd, dir, base, data, perm, durable)
}

// replaceAt is writeAt without the check of the target.
func replaceAt(dirfd int, dir, base string, data []byte, perm fs.FileMode, durable bool) error {
	at := func(name string) string {
		if dirfd == unix.AT_FDCWD {
			return filepath.Join(dir, name)
		}
		return name
	}
	path := filepath.Join(dir, base)
	// The file is created with the wanted mode when the umask leaves it
	// whole; else 0600, and set explicitly after, so that the result
	// never depends on the umask.
	mode, chmod := uint32(0o600), true
	if m := processUmask(); m >= 0 && uint32(m)&uint32(perm.Perm()) == 0 {
		mode, chmod = uint32(perm.Perm()), false
	}
	// Raw system calls rather than *os.File: an os.File registers with
	// the poller (two more system calls per file, which a reconcile
	// writing thousands of status files notices).
	fd, tmpName, err := createTemp(dirfd, at, base, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	committed := false
	defer func() {
		if fd >= 0 {
			_ = rawfs.Close(fd)
		}
		if !committed {
			_ = rawfs.Unlinkat(dirfd, tmpName, 0)
		}
	}()
	if err := writeAll(fd, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if chmod {
		if err := retryEINTR(func() error { return syscall.Fchmod(fd, uint32(perm.Perm())) }); err != nil {
			return fmt.Errorf("write %s: chmod: %w", path, err)
		}
	}
	if durable {
		if err := retryEINTR(func() error { return syscall.Fsync(fd) }); err != nil {
			return fmt.Errorf("write %s: fsync: %w", path, err)
		}
	}
	err = rawfs.Close(fd)
	fd = -1
	if err != nil {
		return fmt.Errorf("write %s: close: %w", path, err)
	}
	if err := rawfs.Renameat(dirfd, tmpName, dirfd, at(base)); err != nil {
		return fmt.Errorf("write %s: rename: %w", path, err)
	}
	committed = true
	if !durable {
		return nil
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createTemp creates ".<base>.tmp-<random digits>" in the directory open
// as dirfd (at names it there), exclusively, with mode (less the umask),
// and returns its descriptor and name.
func createTemp(dirfd int, at func(string) string, base string, mode uint32) (int, string, error) {
	for try := 0; ; try++ {
		name := at("." + base + ".tmp-" + strconv.FormatUint(uint64(rand.Uint32()), 10))
		var fd int
		err := retryEINTR(func() error {
			var err error
			fd, err = rawfs.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, mode)
			return err
		})
		if err == nil {
			return fd, name, nil
		}
		if !errors.Is(err, syscall.EEXIST) || try == 100 {
			return -1, "", &fs.PathError{Op: "create", Path: name, Err: err}
		}
	}
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := rawfs.Write(fd, data)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// WriteFileIfChanged writes data to path only when the file does not already
// hold exactly data with permission perm. It reports whether it wrote. An
// unchanged file is not touched at all, so its mtime is kept.
func WriteFileIfChanged(path string, data []byte, perm fs.FileMode) (bool, error) {
	return writeIfChanged(path, data, perm, true)
}

// WriteDerivedIfChanged is WriteFileIfChanged for a derived file: it writes
// with WriteDerived.
func WriteDerivedIfChanged(path string, data []byte, perm fs.FileMode) (bool, error) {
	return writeIfChanged(path, data, perm, false)
}

func writeIfChanged(path string, data []byte, perm fs.FileMode, durable bool) (bool, error) {
	if same, err := Same(path, data, perm); err != nil {
		return false, err
	} else if same {
		return false, nil
	}
	if err := write(path, data, perm, durable); err != nil {
		return false, err
	}
	return true, nil
}

// Same reports whether path is a regular file holding exactly data with
// permission perm. A missing file is not an error: it is simply not the same.
func Same(path string, data []byte, perm fs.FileMode) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("write %s: %w", path, ErrNotRegular)
	}
	if fi.Mode().Perm() != perm.Perm() || fi.Size() != int64(len(data)) {
		return false, nil
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return bytes.Equal(old, data), nil
}

// Remove deletes path if it exists and syncs its directory. A missing file is
// not an error. It refuses to remove a directory.
func Remove(path string) error {
	return remove(path, true)
}

// RemoveDerived deletes a derived file if it exists, without syncing its
// directory: the removal is durable once SyncFS returned. A missing file is
// not an error. It refuses to remove a directory.
func RemoveDerived(path string) error {
	return remove(path, false)
}

func remove(path string, durable bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("remove %s: is a directory", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if !durable {
		return nil
	}
	return SyncDir(filepath.Dir(path))
}

// SyncFS makes every write to the filesystem holding path durable, with one
// syncfs(2): the one sync a batch of derived files needs.
func SyncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync filesystem of %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync filesystem of %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory so that renames and removals in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents with permission perm, and
// tightens dir itself to perm if it already exists with looser permissions.
func MkdirAll(dir string, perm fs.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("create directory %s: not a directory", dir)
	}
	if fi.Mode().Perm()&^perm.Perm() != 0 {
		if err := os.Chmod(dir, perm.Perm()); err != nil {
			return fmt.Errorf("chmod directory %s: %w", dir, err)
		}
	}
	return nil
}

// checkTargetAt refuses to replace name (path) of the directory open as
// dirfd unless it is missing or a regular file.
func checkTargetAt(dirfd int, name, path string) error {
	var st unix.Stat_t
	err := rawfs.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, &fs.PathError{Op: "lstat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("write %s: %w", path, ErrNotRegular)
	}
	return nil
}
