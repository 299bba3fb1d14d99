package rawfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCalls runs every call, and the errors callers test for, with raw
// calls off and on: the two must not be told apart.
func TestCalls(t *testing.T) {
	for _, raw := range []bool{false, true} {
		name := "ordinary"
		if raw {
			name = "raw"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if raw {
				if fsType, ok := EnableFor(dir); !ok {
					// Try tmpfs before giving up on the raw calls.
					shm, err := os.MkdirTemp("/dev/shm", "rawfs-test-")
					if err != nil {
						t.Skipf("the temp dir is on %s, not a local filesystem, and there is no /dev/shm", fsType)
					}
					t.Cleanup(func() { os.RemoveAll(shm) })
					if _, ok := EnableFor(shm); !ok {
						t.Skipf("neither the temp dir (%s) nor /dev/shm is a local filesystem", fsType)
					}
					dir = shm
				}
				t.Cleanup(Disable)
			}
			if Enabled() != raw {
				t.Fatalf("Enabled() = %v, want %v", Enabled(), raw)
			}
			dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dirfd)

			if _, err := Openat(dirfd, "missing", unix.O_RDONLY|unix.O_CLOEXEC, 0); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
				t.Fatalf("open of a missing file: %v, want ENOENT", err)
			}
			fd, err := Openat(dirfd, "a", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Openat(dirfd, "a", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o640); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("exclusive create of an existing file: %v, want EEXIST", err)
			}
			if n, err := Write(fd, []byte("hello")); n != 5 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			if n, err := Write(fd, nil); n != 0 || err != nil {
				t.Fatalf("empty write: %d, %v", n, err)
			}
			var st unix.Stat_t
			if err := Fstat(fd, &st); err != nil || st.Size != 5 {
				t.Fatalf("fstat: size %d, %v", st.Size, err)
			}
			if err := Close(fd); err != nil {
				t.Fatal(err)
			}
			if err := Close(fd); !errors.Is(err, unix.EBADF) {
				t.Fatalf("second close: %v, want EBADF", err)
			}
			if _, err := Write(fd, []byte("x")); !errors.Is(err, unix.EBADF) {
				t.Fatalf("write to a closed descriptor: %v, want EBADF", err)
			}
			if err := Renameat(dirfd, "a", dirfd, "b"); err != nil {
				t.Fatal(err)
			}
			if err := Renameat(dirfd, "a", dirfd, "c"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("rename of a missing file: %v, want ENOENT", err)
			}
			if err := Fstatat(dirfd, "b", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Size != 5 || st.Mode&0o777 != 0o640&^umask(t) {
				t.Fatalf("fstatat: size %d mode %o, %v", st.Size, st.Mode&0o777, err)
			}
			if err := Fstatat(dirfd, "a", &st, 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("fstatat of a missing file: %v, want ENOENT", err)
			}
			fd, err = Openat(dirfd, "b", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16)
			if n, err := Read(fd, buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("read: %q, %v", buf[:max(n, 0)], err)
			}
			if n, err := Read(fd, buf); n != 0 || err != nil {
				t.Fatalf("read at the end: %d, %v", n, err)
			}
			_ = Close(fd)
			listfd, err := Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			dents := make([]byte, 4096)
			for {
				n, err := Getdents(listfd, dents)
				if err != nil {
					t.Fatalf("getdents: %v", err)
				}
				if n == 0 {
					break
				}
				_, _, names = unix.ParseDirent(dents[:n], -1, names)
			}
			_ = Close(listfd)
			if len(names) != 1 || names[0] != "b" {
				t.Fatalf("getdents: %q, want [b]", names)
			}
			if _, err := Getdents(listfd, dents); !errors.Is(err, unix.EBADF) {
				t.Fatalf("getdents of a closed descriptor: %v, want EBADF", err)
			}
			if err := Unlinkat(dirfd, "b", 0); err != nil {
				t.Fatal(err)
			}
			if err := Unlinkat(dirfd, "b", 0); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("unlink of a missing file: %v, want ENOENT", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "b")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("b still there: %v", err)
			}
			if _, err := Openat(dirfd, "nul\x00byte", unix.O_RDONLY, 0); err == nil {
				t.Fatal("a name holding NUL was opened")
			}
		})
	}
}

func umask(t *testing.T) uint32 {
	t.Helper()
	m := unix.Umask(0)
	unix.Umask(m)
	return uint32(m)
}

// TestEnableForRefuses leaves the calls ordinary for a directory that
// cannot be looked at.
func TestEnableForRefuses(t *testing.T) {
	t.Cleanup(Disable)
	if fsType, ok := EnableFor(filepath.Join(t.TempDir(), "missing")); ok || fsType != "" || Enabled() {
		t.Fatalf("EnableFor(missing) = %q, %v; Enabled %v", fsType, ok, Enabled())
	}
}

func TestLocalFilesystemsName(t *testing.T) {
	if localFilesystems[unix.TMPFS_MAGIC] != "tmpfs" || localFilesystems[unix.EXT4_SUPER_MAGIC] == "" {
		t.Fatal("tmpfs and ext4 must be local filesystems")
	}
	for _, remote := range []int64{unix.NFS_SUPER_MAGIC, unix.FUSE_SUPER_MAGIC, unix.CIFS_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC, unix.V9FS_MAGIC} {
		if _, ok := localFilesystems[remote]; ok {
			t.Fatalf("%#x is a network or FUSE filesystem, whose calls may wait on a server", remote)
		}
	}
}
