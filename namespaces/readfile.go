package namespaces

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/rawfs"
)

// TooLargeError is a file over the size limit of ReadRegularFile.
type TooLargeError struct {
	Path  string
	Size  int64 // its size when opened
	Limit int64
	Grew  bool // it was within the limit when opened and grew past it
}

func (e *TooLargeError) Error() string {
	if e.Grew {
		return fmt.Sprintf("%s grew beyond %d bytes while being read", e.Path, e.Limit)
	}
	return fmt.Sprintf("%s is %d bytes, more than the limit of %d", e.Path, e.Size, e.Limit)
}

// ReadRegularFile reads the regular file path, of at most limit bytes,
// with open, fstat, one read (a file that grew since fstat takes more)
// and close: no symlink is followed (*fs.PathError wrapping ELOOP), a
// FIFO or device neither blocks nor is read (an error wrapping
// atomicfile.ErrNotRegular), a larger file is a *TooLargeError. It
// returns what fstat said of the file, for callers that recognise an
// unchanged file by its identity. Reconciles read thousands of small files;
// os.Open costs two more system calls each (the poller's).
func ReadRegularFile(path string, limit int64) ([]byte, *unix.Stat_t, error) {
	return ReadRegularFileAt(unix.AT_FDCWD, path, path, limit)
}

// ReadRegularFileAt is ReadRegularFile of the entry name of the directory
// open as dirfd (path names it in errors): the kernel resolves one path
// element instead of the whole path, which counts for thousands of files.
func ReadRegularFileAt(dirfd int, name, path string, limit int64) ([]byte, *unix.Stat_t, error) {
	var fd int
	var err error
	for {
		fd, err = rawfs.Openat(dirfd, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer rawfs.Close(fd)
	st := new(unix.Stat_t)
	if err := rawfs.Fstat(fd, st); err != nil {
		return nil, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, nil, fmt.Errorf("%s: %w", path, atomicfile.ErrNotRegular)
	}
	if st.Size > limit {
		return nil, nil, &TooLargeError{Path: path, Size: st.Size, Limit: limit}
	}
	buf := make([]byte, st.Size+1)
	n := 0
	for {
		m, err := rawfs.Read(fd, buf[n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], st, nil
		}
		n += m
		if n < len(buf) {
			// A short read of a regular file is its end.
			return buf[:n], st, nil
		}
		if int64(n) > limit {
			return nil, nil, &TooLargeError{Path: path, Size: st.Size, Limit: limit, Grew: true}
		}
		buf = append(buf, make([]byte, len(buf))...)
	}
}
