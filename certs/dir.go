package certs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/skupperd/skupperd/internal/atomicfile"
)

// Permissions of a bundle directory and its files. The directory and the key
// are private to the owner, as for anything holding a private key.
const (
	DirPerm  fs.FileMode = 0o700
	KeyPerm  fs.FileMode = 0o600
	CertPerm fs.FileMode = 0o644
)

// MaxFileSize is the largest bundle file ReadDir accepts (1 MiB): far beyond
// any real certificate chain, small enough that a wrong path cannot make the
// daemon read a huge file.
const MaxFileSize = 1 << 20

// ReadDir reads the bundle stored in dir as ca.crt, tls.crt and tls.key. A
// missing (or empty) file leaves its field empty and is not an error; whether
// the bundle is complete and sound is for Check to say. Symbolic links are
// followed. It fails when dir does not exist (the error wraps
// fs.ErrNotExist), is not a directory, or when a file is not a regular file,
// is larger than MaxFileSize or cannot be read.
func ReadDir(dir string) (Bundle, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return Bundle{}, fmt.Errorf("read credentials: %w", err)
	}
	if !fi.IsDir() {
		return Bundle{}, fmt.Errorf("read credentials: %s is not a directory", dir)
	}
	var b Bundle
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{CAFile, &b.CA}, {CertFile, &b.Cert}, {KeyFile, &b.Key}} {
		data, err := readBundleFile(filepath.Join(dir, f.name))
		if err != nil {
			return Bundle{}, fmt.Errorf("read credentials: %w", err)
		}
		*f.dst = data
	}
	return b, nil
}

// readBundleFile returns the contents of path, or nil if it does not exist.
func readBundleFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Checked before opening so that a FIFO cannot block the open.
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) { // removed since the Stat
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// WriteDir stores b in dir as ca.crt and tls.crt (mode 0644) and tls.key
// (mode 0600), creating dir (and missing parents) with mode 0700 and
// tightening an existing dir to 0700. Each file is written atomically, and
// only when its bytes or mode differ, so an unchanged file keeps its mtime. A
// file whose field is empty is removed, so that ReadDir(dir) returns b again;
// in particular an empty Key removes tls.key. It reports whether anything
// changed on disk (a file written or removed, or dir created).
//
// Files are written in the order ca.crt, tls.key, tls.crt. A crash part-way
// can leave a new key beside an old certificate; Check and Reusable detect
// that ("tls.key does not match tls.crt") and the caller issues again.
func WriteDir(dir string, b Bundle) (bool, error) {
	if dir == "" {
		return false, errors.New("write credentials: empty directory name")
	}
	changed := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		changed = true
	}
	if err := atomicfile.MkdirAll(dir, DirPerm); err != nil {
		return false, fmt.Errorf("write credentials: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm fs.FileMode
	}{{CAFile, b.CA, CertPerm}, {KeyFile, b.Key, KeyPerm}, {CertFile, b.Cert, CertPerm}} {
		path := filepath.Join(dir, f.name)
		if len(f.data) == 0 {
			removed, err := removeIfExists(path)
			if err != nil {
				return changed, fmt.Errorf("write credentials: %w", err)
			}
			changed = changed || removed
			continue
		}
		wrote, err := atomicfile.WriteFileIfChanged(path, f.data, f.perm)
		if err != nil {
			return changed, fmt.Errorf("write credentials: %w", err)
		}
		changed = changed || wrote
	}
	return changed, nil
}

func removeIfExists(path string) (bool, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := atomicfile.Remove(path); err != nil {
		return false, err
	}
	return true, nil
}
