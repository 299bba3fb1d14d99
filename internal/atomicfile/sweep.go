package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// IsTempName reports whether name is one of this package's temporary file
// names (".<base>.tmp-<digits>").
func IsTempName(name string) bool {
	i := strings.LastIndex(name, ".tmp-")
	if !strings.HasPrefix(name, ".") || i < 1 || i+len(".tmp-") == len(name) {
		return false
	}
	for _, c := range name[i+len(".tmp-"):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SweepTemp removes, below root, the temporary files of writes that were
// interrupted (a process killed between creating and renaming one): this
// package's temporary files last modified before before. The caller makes
// sure that no writer of the tree is running (it holds the lock that
// writers take), or passes the time it started, so that a write in
// progress is left alone. Each file removed, or that could not be, is
// reported to report (err nil: removed). A missing root is not an error.
func SweepTemp(root string, before time.Time, report func(path string, err error)) {
	_ = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() || !IsTempName(e.Name()) {
			return nil
		}
		if info, err := e.Info(); err != nil || !info.ModTime().Before(before) {
			return nil
		}
		err = os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if report != nil {
			report(path, err)
		}
		return nil
	})
}
