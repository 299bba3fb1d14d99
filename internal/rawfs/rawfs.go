// Package rawfs makes the file system calls of a reconcile's hot path
// (open, stat, read, write, close, rename and unlink of one small file)
// without the Go scheduler's system-call bookkeeping, on filesystems that
// answer them from memory.
//
// Why: a reconcile reads one input file and replaces one status file per
// resource, about ten calls per resource. The runtime treats every call
// made the ordinary way as one that may block: its monitor thread wakes,
// polls every 20 µs while calls run, and hands the processor of a call
// that lasts longer than that to another thread (waking it, and waking
// the first again after). On the virtual machines the project is measured
// on, a file system call takes 10-30 µs, so nearly every call pays that
// hand-off. Reading 2,001 files and atomically replacing 2,001 others on
// tmpfs with two workers, the file I/O of a cold 1,000-pair pass, took
// 53-57 ms with ordinary calls and 36-42 ms with raw ones
// (atomicfile's BenchmarkPassIO). In a one-shot `skupperd reconcile`,
// strace counted 4,036 nanosleep and 624 futex calls of the runtime next
// to the file calls with ordinary calls, and 241 and 91 with raw ones.
//
// The cost, and why it is bounded: a raw call is not reported to the
// scheduler, so while it runs its goroutine keeps its processor (P) and a
// stop-the-world pause of the garbage collector waits for it to return.
// A call that has to wait for a disk (the first read of a file not in the
// page cache, a rename behind a journal commit) holds the P for that long,
// one P per worker of the pass at most. That is why the raw calls are
// used only where EnableFor found a local filesystem, whose calls return
// from memory in the common case, and never for fsync or syncfs. On a
// network or FUSE filesystem, whose calls can wait on a server for as
// long as it takes, every call is an ordinary one.
//
// Until EnableFor turns them on, every function here is the ordinary call
// of golang.org/x/sys/unix. The raw calls exist for amd64 and arm64;
// elsewhere EnableFor leaves the calls ordinary.
package rawfs

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

var enabled atomic.Bool

// localFilesystems are the filesystem types (statfs f_type) whose calls
// on a small file return from memory in the common case.
var localFilesystems = map[int64]string{
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.EXT4_SUPER_MAGIC:      "ext2/3/4",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.F2FS_SUPER_MAGIC:      "f2fs",
	0x2fc12fc1:                 "zfs",
}

// EnableFor turns raw calls on for the process when dir is on a local
// filesystem (see localFilesystems), and reports the filesystem's type
// and whether it did. A dir on any other filesystem, or that cannot be
// looked at, leaves the calls as they were. The process's data lives
// under one directory, so the daemon and the reconcile command call it
// once, with their data home, before any reconcile.
func EnableFor(dir string) (fsType string, raw bool) {
	if !rawSupported {
		return "", false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", false
	}
	name, ok := localFilesystems[int64(st.Type)]
	if !ok {
		return fmt.Sprintf("%#x", st.Type), false
	}
	enabled.Store(true)
	return name, true
}

// Disable turns raw calls off again (for tests).
func Disable() { enabled.Store(false) }

// Enabled reports whether raw calls are on.
func Enabled() bool { return enabled.Load() }

// errnoErr returns e as an error, nil for 0.
func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Openat is openat(2).
func Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	if !enabled.Load() {
		return unix.Openat(dirfd, path, flags, mode)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_LARGEFILE), uintptr(mode), 0, 0)
		if e != unix.EINTR {
			return int(r), errnoErr(e)
		}
	}
}

// Read is read(2).
func Read(fd int, b []byte) (int, error) {
	if !enabled.Load() {
		return syscall.Read(fd, b)
	}
	return rawIO(unix.SYS_READ, fd, b)
}

// Write is write(2).
func Write(fd int, b []byte) (int, error) {
	if !enabled.Load() {
		return syscall.Write(fd, b)
	}
	return rawIO(unix.SYS_WRITE, fd, b)
}

// rawIO makes read(2) or write(2) (sysno) of b as a raw call, returning
// -1 and the errno on failure as the syscall package does.
func rawIO(sysno uintptr, fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR {
			if e != 0 {
				return -1, e
			}
			return int(r), nil
		}
	}
}

// Close is close(2). It is not retried on EINTR: the descriptor is gone
// either way on Linux.
func Close(fd int) error {
	if !enabled.Load() {
		return syscall.Close(fd)
	}
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errnoErr(e)
}

// Fstat is fstat(2).
func Fstat(fd int, st *unix.Stat_t) error {
	if !enabled.Load() {
		return unix.Fstat(fd, st)
	}
	for {
		_, _, e := unix.RawSyscall(unix.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// Fstatat is fstatat(2) (newfstatat).
func Fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error {
	if !enabled.Load() {
		return unix.Fstatat(dirfd, path, st, flags)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	for {
		_, _, e := unix.RawSyscall6(sysFstatat, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), uintptr(flags), 0, 0)
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// Renameat is renameat(2), made as renameat2 without flags (the same
// call, and the only one that arm64 has).
func Renameat(olddirfd int, oldpath string, newdirfd int, newpath string) error {
	if !enabled.Load() {
		return unix.Renameat(olddirfd, oldpath, newdirfd, newpath)
	}
	op, err := unix.BytePtrFromString(oldpath)
	if err != nil {
		return err
	}
	np, err := unix.BytePtrFromString(newpath)
	if err != nil {
		return err
	}
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_RENAMEAT2, uintptr(olddirfd), uintptr(unsafe.Pointer(op)), uintptr(newdirfd), uintptr(unsafe.Pointer(np)), 0, 0)
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// Unlinkat is unlinkat(2).
func Unlinkat(dirfd int, path string, flags int) error {
	if !enabled.Load() {
		return unix.Unlinkat(dirfd, path, flags)
	}
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	for {
		_, _, e := unix.RawSyscall(unix.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags))
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// Getdents is getdents64(2): the entries of the directory fd that fit in
// buf, in the kernel's format (unix.ParseDirent reads it); 0 at the end.
func Getdents(fd int, buf []byte) (int, error) {
	if !enabled.Load() {
		return unix.Getdents(fd, buf)
	}
	return rawIO(unix.SYS_GETDENTS64, fd, buf)
}
