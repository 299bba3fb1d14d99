// Package logfile is a size-capped, append-only log file: the daemon's
// recent log (its own lines and, under the process supervisor, its
// routers' output), kept in the data home so that "skupper debug dump"
// can include it where there is no journal.
package logfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// DefaultMax is the size at which a log file is rotated.
const DefaultMax = 4 << 20

// File is an append-only log file capped at Max bytes: a write that would
// pass the cap first renames the file to <path>.1 (replacing the previous
// one) and starts a new file, so at most two files of Max bytes are kept.
// It is safe for concurrent use.
type File struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

// Open opens (creating, mode 0600) the log file at path, capped at max
// bytes (DefaultMax when max <= 0).
func Open(path string, max int64) (*File, error) {
	if max <= 0 {
		max = DefaultMax
	}
	l := &File{path: path, max: max}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would pass the cap.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *File) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate log file: %w", err)
	}
	return l.open()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Tail returns at most n bytes from the end of the log at path, older
// lines first: the end of <path>.1 when <path> holds fewer than n bytes.
// The first, partial line is dropped. Missing files give no bytes.
func Tail(path string, n int64) ([]byte, error) {
	cur, err := tail(path, n)
	if err != nil {
		return nil, err
	}
	var out []byte
	if rest := n - int64(len(cur)); rest > 0 {
		prev, err := tail(path+".1", rest)
		if err != nil {
			return nil, err
		}
		out = append(out, dropPartial(prev, int64(len(prev)) == rest)...)
		out = append(out, cur...)
		return out, nil
	}
	return dropPartial(cur, true), nil
}

// tail reads at most n bytes from the end of path.
func tail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, n))
}

// dropPartial drops the first line of b when it may be cut (truncated).
func dropPartial(b []byte, truncated bool) []byte {
	if !truncated {
		return b
	}
	for i, c := range b {
		if c == '\n' {
			return b[i+1:]
		}
	}
	return nil
}
