package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/skupperd/skupperd/internal/fsstamp"
	"github.com/skupperd/skupperd/internal/hostinfo"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
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
	home namespaces.Home
	fs   *fsnotify.Watcher
	mu   sync.Mutex
	// watched maps each directory with a watch to its generation: a
	// number given to it when the watch was added, never reused, so that
	// a directory watched again (after a gap) is told apart.
	watched map[string]uint64
	epochs  uint64 // the last generation given
	polling bool   // inotify unusable: fingerprints are polled
}

// errWatchLimit reports that inotify cannot be used (limit reached).
var errWatchLimit = errors.New("inotify watch limit reached")

func newWatcher(home namespaces.Home) (*watcher, error) {
	w := &watcher{home: home, watched: map[string]uint64{}}
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
	if w.polling || w.watched[dir] != 0 {
		return nil
	}
	err := w.fs.Add(dir)
	switch {
	case err == nil:
		w.epochs++
		w.watched[dir] = w.epochs
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

// reset drops every watch (the data home was replaced: the watches are on
// the old directories); arm sets them again on the directories now at
// the paths.
func (w *watcher) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.watched {
		if w.fs != nil {
			_ = w.fs.Remove(d)
		}
	}
	clear(w.watched)
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

// epoch returns the generation of the watch on dir: the same number as
// long as dir was watched without a gap, 0 when it is not watched (or
// inotify is not used).
func (w *watcher) epoch(dir string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.polling {
		return 0
	}
	return w.watched[dir]
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
	return path == ns.ReloadRequestPath() || path == ns.StoppedPath()
}

// isPolling reports whether inotify became unusable (add sets it from the
// workers' goroutines, hence the lock).
func (w *watcher) isPolling() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polling
}

func (w *watcher) close() {
	if w.fs != nil {
		_ = w.fs.Close()
	}
}

// fingerprint summarises a namespace's input (names, sizes, times, modes)
// for polling and resync; equal fingerprints mean nothing visible changed.
func fingerprint(ns namespaces.Namespace) string {
	s := fsstamp.New()
	withNamespaceDir(ns, func(fd int) { stampInput(s, ns, fd) })
	return s.Sum()
}

// stampInput adds the namespace's input tree and its reload request to s;
// fd is the namespace's directory (fsstamp.OpenDir), or -1 when it cannot
// be opened.
func stampInput(s *fsstamp.Stamp, ns namespaces.Namespace, fd int) {
	if fd < 0 {
		s.Text("unreadable")
		return
	}
	s.Tree(fd, relTo(ns, ns.InputDir()), 2)
	s.Path(fd, relTo(ns, ns.ReloadRequestPath()))
}

// withNamespaceDir runs f with a descriptor of the namespace's directory
// for fsstamp's lookups, or -1 when it cannot be opened.
func withNamespaceDir(ns namespaces.Namespace, f func(fd int)) {
	fd, err := fsstamp.OpenDir(ns.Dir)
	if err != nil {
		f(-1)
		return
	}
	defer fsstamp.CloseDir(fd)
	f(fd)
}

// relTo is path relative to the namespace's directory, which holds it.
func relTo(ns namespaces.Namespace, path string) string {
	return strings.TrimPrefix(path, ns.Dir+string(filepath.Separator))
}

// runtimeStamp summarises what a reconcile wrote and would repair, cheaply
// enough to run for every namespace at every resync tick: the router
// config, the namespace's site id and port table, and the directories of
// runtime/ including each certificate and issuer directory. A directory's
// mtime changes when an entry is added, removed or replaced (every write
// of skupperd is a rename), so a deleted or replaced runtime file is seen;
// a file other than those named, edited in place, is not (it is repaired
// by the next reconcile, at the latest after FullResync).
func runtimeStamp(ns namespaces.Namespace) string {
	s := fsstamp.New()
	withNamespaceDir(ns, func(fd int) {
		if fd < 0 {
			s.Text("unreadable")
			return
		}
		for _, p := range []string{ns.RuntimeDir(), ns.RouterDir(), ns.RouterConfigPath(), ns.StatusDir(), ns.LinksDir(),
			ns.RuntimeCertsDir(), ns.RuntimeIssuersDir(), filepath.Join(ns.InternalDir(), "site-id"), ports.TablePath(ns)} {
			s.Path(fd, relTo(ns, p))
		}
		for _, parent := range []string{ns.RuntimeCertsDir(), ns.RuntimeIssuersDir()} {
			s.Children(fd, relTo(ns, parent))
		}
	})
	return s.Sum()
}

// globalStamp summarises what a namespace's reconcile depends on beyond
// its own runtime files: the set of namespaces and every namespace's input
// (a namespace reads the AttachedConnectors of others, and the status of
// its own AttachedConnectors depends on other namespaces' bindings), every
// namespace's port table (clashes across namespaces) and the host's names
// and addresses (certificates, static links). It costs a few stat calls
// per namespace (package fsstamp) and the host lookup.
func globalStamp(home namespaces.Home, hosts func() []string) string {
	s := fsstamp.New()
	names, _ := home.List()
	for _, n := range names {
		ns := home.Namespace(n)
		s.Text(n)
		withNamespaceDir(ns, func(fd int) {
			stampInput(s, ns, fd)
			if fd >= 0 {
				s.Path(fd, relTo(ns, ports.TablePath(ns)))
			}
		})
	}
	if hosts == nil {
		hosts = hostinfo.Hosts
	}
	s.Text("hosts")
	for _, h := range hosts() {
		s.Text(h)
	}
	return s.Sum()
}
