package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/skupperd/skupperd/namespaces"
)

// watchedDirs returns the directories of a namespace whose changes matter:
// the namespace itself (so input/ appearing is seen), input, its three
// subdirectories, every bundle directory under input/certs and
// input/issuers, and internal (reload requests).
func watchedDirs(ns namespaces.Namespace) []string {
	dirs := []string{ns.Dir, ns.InputDir(), ns.InputResourcesDir(), ns.InputCertsDir(), ns.InputIssuersDir(), ns.InternalDir()}
	for _, parent := range []string{ns.InputCertsDir(), ns.InputIssuersDir()} {
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && !namespaces.IgnoredName(e.Name()) {
				dirs = append(dirs, filepath.Join(parent, e.Name()))
			}
		}
	}
	return dirs
}

// watcher turns file system events into "namespace N is dirty" calls. It
// watches directories, never files. Watches are (re)armed with arm before a
// namespace is read, so no change between arming and reading is missed.
type watcher struct {
	home    namespaces.Home
	fs      *fsnotify.Watcher
	mu      sync.Mutex
	watched map[string]bool // directories with a watch
	polling bool            // inotify unusable: fingerprints are polled
}

// errWatchLimit reports that inotify cannot be used (limit reached).
var errWatchLimit = errors.New("inotify watch limit reached")

func newWatcher(home namespaces.Home) (*watcher, error) {
	w := &watcher{home: home, watched: map[string]bool{}}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.polling = true
		return w, fmt.Errorf("%w: %v", errWatchLimit, err)
	}
	w.fs = fw
	return w, nil
}

// add watches dir if it exists and is not watched yet. Errors other than a
// missing directory are reported; a watch limit switches to polling.
func (w *watcher) add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.polling || w.watched[dir] {
		return nil
	}
	err := w.fs.Add(dir)
	switch {
	case err == nil:
		w.watched[dir] = true
		return nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE):
		w.polling = true
		return fmt.Errorf("%w: %v (raise fs.inotify.max_user_watches)", errWatchLimit, err)
	}
	return fmt.Errorf("watch %s: %w", dir, err)
}

// forget drops the bookkeeping of watches at or under dir (the kernel
// removes the watch of a deleted directory itself).
func (w *watcher) forget(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.watched {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			delete(w.watched, d)
			if w.fs != nil {
				_ = w.fs.Remove(d)
			}
		}
	}
}

// arm watches the namespaces directory and every directory that matters in
// namespace ns.
func (w *watcher) arm(ns namespaces.Namespace) error {
	if err := w.add(w.home.NamespacesDir()); err != nil {
		return err
	}
	for _, d := range watchedDirs(ns) {
		if err := w.add(d); err != nil {
			return err
		}
	}
	return nil
}

// namespaceOf maps a path under the namespaces directory to its namespace
// ("" for the namespaces directory itself or paths outside it).
func (w *watcher) namespaceOf(path string) string {
	rel, err := filepath.Rel(w.home.NamespacesDir(), path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return ""
	}
	ns, _, _ := strings.Cut(rel, string(filepath.Separator))
	return ns
}

// relevant reports whether an event on path can change a namespace's
// desired state (or asks for a reload).
func relevant(ns namespaces.Namespace, path string) bool {
	if path == ns.Dir {
		return true
	}
	base := filepath.Base(path)
	if strings.HasPrefix(path, ns.InputDir()) {
		return !namespaces.IgnoredName(base) || path == ns.InputDir()
	}
	if filepath.Dir(path) == ns.Dir {
		return base == "input" || base == "internal"
	}
	return path == reloadRequestPath(ns)
}

func (w *watcher) close() {
	if w.fs != nil {
		_ = w.fs.Close()
	}
}

// fingerprint summarises a namespace's input (names, sizes, mtimes, modes)
// for polling; equal fingerprints mean nothing visible changed.
func fingerprint(ns namespaces.Namespace) string {
	h := sha256.New()
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			fmt.Fprintf(h, "%s:missing\n", dir)
			return
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue
			}
			fmt.Fprintf(h, "%s/%s %d %d %v\n", dir, e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode())
			if e.IsDir() && depth > 0 {
				walk(filepath.Join(dir, e.Name()), depth-1)
			}
		}
	}
	walk(ns.InputDir(), 2)
	if fi, err := os.Stat(reloadRequestPath(ns)); err == nil {
		fmt.Fprintf(h, "reload %d %d\n", fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))
}
