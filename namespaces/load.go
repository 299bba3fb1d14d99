package namespaces

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/parallel"
	"github.com/skupperd/skupperd/internal/rawfs"
)

// MaxInputFileSize is the largest input file Load reads. Resource files are
// small; anything larger is a mistake (or an attack) and is refused with a
// diagnostic rather than read into memory.
const MaxInputFileSize = 4 << 20

// Bundle is the PEM material of one directory under input/certs or
// input/issuers. Missing files are nil.
type Bundle struct {
	Name string
	Dir  string
	CA   []byte // ca.crt
	Cert []byte // tls.crt
	Key  []byte // tls.key
}

// Snapshot is everything a reconcile needs from a namespace's input.
type Snapshot struct {
	Namespace Namespace
	// Docs are all decoded documents, valid or not, in file order.
	Docs []*v2alpha1.Document
	// Diagnostics are every problem found (per file, per resource and
	// namespace-wide), sorted by file and line.
	Diagnostics v2alpha1.Diagnostics
	// Certs and Issuers are the bundles of input/certs and input/issuers by
	// directory name.
	Certs   map[string]*Bundle
	Issuers map[string]*Bundle
	// Attached maps another namespace to its AttachedConnector documents
	// that name this namespace as siteNamespace (read only when this
	// namespace holds AttachedConnectorBindings).
	Attached map[string][]*v2alpha1.Document
	// InputHash is a SHA-256 over every input file's name and content
	// (including attached connectors read from other namespaces); equal
	// hashes mean equal input.
	InputHash string
	// ResourceFiles maps the path of each regular file of input/resources
	// that was read (or vouched for by the cache) to its identity as read:
	// that of the bytes the snapshot holds, for callers that record what a
	// pass saw (the pass memo).
	ResourceFiles map[string]FileID
	// Changed holds the paths of the resource files read and decoded for
	// this snapshot: new or changed since the cache last saw them (every
	// file, without a cache). The others the cache vouched for unread.
	Changed map[string]bool

	// valid is Valid's result, computed when the snapshot is loaded
	// (nil: computed on each call).
	valid []*v2alpha1.Document
}

// FileID is what tells a file's content apart without reading it: the
// inode, with its size, modification and change times and mode (fstat).
type FileID struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime unix.Timespec
	Mode         uint32
}

// FileIDOf is the FileID of an fstat.
func FileIDOf(st *unix.Stat_t) FileID {
	return FileID{Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mtime: st.Mtim, Ctime: st.Ctim, Mode: st.Mode}
}

// Valid returns the documents that may be applied, in file order. The
// slice is shared between callers (a loaded snapshot computes it once):
// they must not modify it.
func (s *Snapshot) Valid() []*v2alpha1.Document {
	if s.valid != nil {
		return s.valid
	}
	var out []*v2alpha1.Document
	for _, d := range s.Docs {
		if d.Valid() {
			out = append(out, d)
		}
	}
	return out
}

// Site returns the namespace's valid Site, or nil.
func (s *Snapshot) Site() *v2alpha1.Site {
	for _, d := range s.Docs {
		if site, ok := d.Object.(*v2alpha1.Site); ok && d.Valid() {
			return site
		}
	}
	return nil
}

// SiteDocument returns the document of the namespace's Site (valid or not)
// when there is exactly one, or the only valid one of several, else nil.
func (s *Snapshot) SiteDocument() *v2alpha1.Document {
	var found, valid *v2alpha1.Document
	n, nValid := 0, 0
	for _, d := range s.Docs {
		if d.Key().Kind == v2alpha1.KindSite {
			n++
			found = d
			if d.Valid() {
				nValid++
				valid = d
			}
		}
	}
	switch {
	case n == 1:
		return found
	case nValid == 1:
		return valid
	}
	return nil
}

// IgnoredName reports whether a directory entry in input is ignored:
// hidden files and editor or temporary files (".*", "*~", "*.swp", "*.tmp").
func IgnoredName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".tmp")
}

// IsResourceFile reports whether name is read as a resource file.
func IsResourceFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return !IgnoredName(name)
	}
	return false
}

// Load reads the namespace's input: every resource file of input/resources
// (sorted by name, not recursive), and the bundles of input/certs and
// input/issuers. It decodes and validates everything and returns a snapshot
// with all diagnostics: one bad file never hides the good ones.
//
// Load tolerates files that vanish while it reads (they are skipped), refuses
// symlinks that lead outside the namespace, and refuses files larger than
// MaxInputFileSize. The returned error is reserved for problems that make
// the whole namespace unreadable (its directory is missing or unreadable).
func Load(ns Namespace) (*Snapshot, error) {
	return LoadCached(ns, nil)
}

// LoadCached is Load with a cache of decoded files: a resource file whose
// bytes are those the cache decoded before (same path, same SHA-256) is
// not parsed again; its documents are handed out as copies (see
// v2alpha1.Document.Clone). Files are read and decoded on all CPUs. A nil
// cache decodes every file.
func LoadCached(ns Namespace, cache *DecodeCache) (*Snapshot, error) {
	return LoadWatched(ns, cache, nil)
}

// InputChanges is what a watcher of a namespace's input/resources
// directory (inotify) reports to LoadWatched: the names of the entries
// created, written, changed, removed or renamed there since the previous
// load of the namespace with the same DecodeCache began.
type InputChanges struct {
	Names []string
}

// LoadWatched is LoadCached for a caller that watches input/resources
// without a gap since the previous load of ns with cache began, and so
// knows which of its entries changed (changes; nil: it cannot tell, and
// LoadWatched is LoadCached). The directory is then not listed: the
// previous listing, with the changed entries looked at again, stands for
// it; and the cache's documents of a regular file not named in changes
// are used without looking at the file (not even an lstat). An event the
// watcher had not delivered yet when the load began is in the next load's
// changes: the caller loads again then.
func LoadWatched(ns Namespace, cache *DecodeCache, changes *InputChanges) (snap *Snapshot, err error) {
	defer func() {
		if snap == nil {
			// Failed (or panicked): the changes may not all have been
			// looked at, so the next load lists the directory and looks
			// at every file.
			cache.setListing(ns.InputResourcesDir(), nil)
		}
	}()
	if fi, err := os.Stat(ns.Dir); err != nil {
		return nil, fmt.Errorf("namespace %q: %w", ns.Name, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("namespace %q: %s is not a directory", ns.Name, ns.Dir)
	}
	l := &loader{ns: ns, hash: sha256.New(), cache: cache, changes: changes}
	realNS, err := filepath.EvalSymlinks(ns.Dir)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", ns.Name, err)
	}
	l.realNS = realNS
	snap = &Snapshot{Namespace: ns}
	docs, ids, changed, err := l.loadResources()
	if err != nil {
		return nil, err
	}
	snap.Docs, snap.ResourceFiles, snap.Changed = docs, ids, changed
	if snap.Certs, err = l.loadBundles(ns.InputCertsDir()); err != nil {
		return nil, err
	}
	if snap.Issuers, err = l.loadBundles(ns.InputIssuersDir()); err != nil {
		return nil, err
	}
	all := append(v2alpha1.Diagnostics(nil), l.diags...)
	all = append(all, v2alpha1.Validate(ns.Name, docs)...)
	var bindings []*v2alpha1.Document
	for _, d := range docs {
		if d.Key().Kind == v2alpha1.KindAttachedConnectorBinding {
			bindings = append(bindings, d)
		}
	}
	if len(bindings) > 0 {
		if snap.Attached, err = l.loadAttached(); err != nil {
			return nil, err
		}
		all = append(all, v2alpha1.ValidateAttachments(ns.Name, bindings, snap.Attached)...)
	}
	all = append(all, v2alpha1.CheckSitePresent(ns.Name, docs)...)
	all = append(all, checkCredentials(snap)...)
	snap.Diagnostics = all.Sort()
	snap.InputHash = hex.EncodeToString(l.hash.Sum(nil))
	snap.valid = snap.Valid()
	if snap.valid == nil {
		snap.valid = []*v2alpha1.Document{}
	}
	return snap, nil
}

// testHookAfterList, when set by tests, runs after a resource directory has
// been listed and before its files are read.
var testHookAfterList func(dir string)

// testHookReadEntry, when set by tests, runs before a listed resource file
// is read.
var testHookReadEntry func(path string)

type loader struct {
	ns     Namespace
	realNS string
	diags  v2alpha1.Diagnostics
	// hash is fed every file read, in order (nil: not hashed).
	hash interface {
		io.Writer
		Sum([]byte) []byte
	}
	cache *DecodeCache
	// changes are the entries of input/resources a watcher saw change
	// since the previous load (nil: unknown; see LoadWatched).
	changes *InputChanges
}

func (l *loader) fileDiag(path string, sev v2alpha1.Severity, format string, args ...any) {
	l.diags = append(l.diags, v2alpha1.Diagnostic{File: path, Message: fmt.Sprintf(format, args...), Severity: sev})
}

// hashEntry feeds a file's name, size and content digest into the input
// hash.
func (l *loader) hashEntry(path string, size int, sum [sha256.Size]byte) {
	if l.hash == nil {
		return
	}
	var rel string
	if root := l.ns.Home.Root + string(filepath.Separator); strings.HasPrefix(path, root) && filepath.Clean(l.ns.Home.Root) == l.ns.Home.Root {
		rel = path[len(root):] // paths under the root are joined to it, hence clean
	} else {
		rel, _ = filepath.Rel(l.ns.Home.Root, path)
	}
	b := make([]byte, 0, len(rel)+24+len(sum))
	b = append(b, rel...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, 0)
	l.hash.Write(append(b, sum[:]...))
}

// readDir lists a directory, sorted; a missing directory is empty.
func readDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return entries, nil
}

// ResourceFile is one resource file of input/resources, as read.
type ResourceFile struct {
	Path string
	Data []byte
}

// ReadResources reads the resource files of the namespace's
// input/resources with Load's rules (sorted by name; hidden, editor and
// non-resource files skipped; symlinks leading outside the namespace,
// non-regular files such as FIFOs, unreadable files and files over
// MaxInputFileSize left out with a diagnostic each), without decoding
// them: for the CLI, which edits the files. A missing namespace yields
// nothing; the error is for an unreadable directory.
func ReadResources(ns Namespace) ([]ResourceFile, v2alpha1.Diagnostics, error) {
	if _, err := os.Stat(ns.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	realNS, err := filepath.EvalSymlinks(ns.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace %q: %w", ns.Name, err)
	}
	l := &loader{ns: ns, realNS: realNS, hash: sha256.New()}
	files, err := l.resourceFiles()
	if err != nil {
		return nil, nil, err
	}
	return files, l.diags.Sort(), nil
}

// resourceFiles reads the resource files of input/resources.
func (l *loader) resourceFiles() ([]ResourceFile, error) {
	read, err := l.readResources(false)
	if err != nil {
		return nil, err
	}
	files := make([]ResourceFile, 0, len(read))
	for _, f := range read {
		files = append(files, ResourceFile{Path: f.path, Data: f.data})
	}
	return files, nil
}

// resourcePaths lists the candidate resource files of input/resources, in
// order, with a warning for each entry that is not one.
func (l *loader) resourcePaths() ([]string, []fs.DirEntry, func(name string) bool, error) {
	dir := l.ns.InputResourcesDir()
	entries, vouched, err := l.listResources(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if testHookAfterList != nil {
		testHookAfterList(dir)
	}
	var paths []string
	var kept []fs.DirEntry
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if IgnoredName(name) {
			continue
		}
		if e.IsDir() {
			l.fileDiag(path, v2alpha1.SeverityWarning, "subdirectories of input/resources are not read; move its files up")
			continue
		}
		if !IsResourceFile(name) {
			l.fileDiag(path, v2alpha1.SeverityWarning, "ignored: resource files must end in .yaml, .yml or .json")
			continue
		}
		paths = append(paths, path)
		kept = append(kept, e)
	}
	return paths, kept, vouched, nil
}

// listResources lists input/resources (dir), sorted, and returns whether
// the watcher vouches for a name (unchanged since the previous load). With the watcher's changes and the cache's listing from the
// previous load, the listing is that one with each changed name looked
// at again (an lstat); otherwise the directory is read. The listing is
// kept in the cache for the next load.
func (l *loader) listResources(dir string) ([]fs.DirEntry, func(name string) bool, error) {
	var prev []fs.DirEntry
	if l.changes != nil {
		prev = l.cache.listing(dir)
	}
	if prev == nil {
		entries, err := readDir(dir)
		if err == nil && l.cache != nil {
			l.cache.setListing(dir, entries)
		}
		return entries, none, err
	}
	byName := func(e fs.DirEntry, name string) int { return strings.Compare(e.Name(), name) }
	entries := slices.Clone(prev)
	changed := make(map[string]bool, len(l.changes.Names))
	for _, name := range l.changes.Names {
		if name == "" || strings.ContainsRune(name, filepath.Separator) || changed[name] {
			continue
		}
		changed[name] = true
		i, found := slices.BinarySearchFunc(entries, name, byName)
		fi, err := os.Lstat(dir + string(filepath.Separator) + name)
		switch {
		case err == nil && found:
			entries[i] = fs.FileInfoToDirEntry(fi)
		case err == nil:
			entries = slices.Insert(entries, i, fs.FileInfoToDirEntry(fi))
		case errors.Is(err, fs.ErrNotExist) && found:
			entries = slices.Delete(entries, i, i+1)
		case errors.Is(err, fs.ErrNotExist):
		default:
			// Cannot tell: read the directory as without a watcher.
			l.cache.setListing(dir, nil)
			entries, err := readDir(dir)
			if err == nil {
				l.cache.setListing(dir, entries)
			}
			return entries, none, err
		}
	}
	l.cache.setListing(dir, entries)
	return entries, func(name string) bool { return !changed[name] }, nil
}

// none vouches for no name.
func none(string) bool { return false }

// readFileResult is one resource file as read (and decoded) by a worker.
type readFileResult struct {
	path      string
	data      []byte // nil when the cache vouched for the file unread
	size      int
	sum       [sha256.Size]byte
	id        *unix.Stat_t // its fstat as read, nil when not known
	docs      []*v2alpha1.Document
	fileDiags v2alpha1.Diagnostics // diagnostics not attached to a document
}

// readResources reads (and, with decode, decodes) the resource files of
// input/resources on all CPUs. The result keeps file order; files skipped
// with a diagnostic are left out. Their digests are fed to the input
// hash in order. With decode, a file the cache decoded before and whose
// identity (lstat) is unchanged is not read again (see DecodeCache).
func (l *loader) readResources(decode bool) ([]readFileResult, error) {
	paths, entries, vouched, err := l.resourcePaths()
	if err != nil {
		return nil, err
	}
	results := make([]readFileResult, len(paths))
	ok := make([]bool, len(paths))
	// Files are opened relative to the directory (one path element for the
	// kernel to resolve, not the whole path).
	dirfd, err := unix.Open(l.ns.InputResourcesDir(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		dirfd = unix.AT_FDCWD
	} else {
		defer unix.Close(dirfd)
	}
	start := time.Now()
	parallel.For(len(paths), func(i int) {
		res := &results[i]
		res.path = paths[i]
		if decode && entries[i].Type().IsRegular() {
			if f := l.cache.unchanged(dirfd, paths[i], entries[i].Name(), vouched(entries[i].Name())); f != nil {
				res.size, res.sum, res.id = int(f.id.Size), f.sum, &f.id
				res.docs, res.fileDiags = cloneDocs(f.docs), append(v2alpha1.Diagnostics(nil), f.diags...)
				ok[i] = true
				return
			}
		}
		sub := &loader{ns: l.ns, realNS: l.realNS}
		var st *unix.Stat_t
		res.data, st, ok[i] = sub.readEntry(dirfd, paths[i], entries[i])
		res.id = st
		res.fileDiags = sub.diags
		if !ok[i] {
			// Not what the cache holds any more: a later load must not
			// be vouched its old documents.
			l.cache.forget(paths[i])
			return
		}
		res.size, res.sum = len(res.data), sha256.Sum256(res.data)
		if decode {
			var ds v2alpha1.Diagnostics
			res.docs, ds = l.cache.decode(l.ns.Name, paths[i], res.data, res.sum, st, start)
			res.fileDiags = append(res.fileDiags, ds...)
		}
	})
	out := results[:0]
	for i, r := range results {
		l.diags = append(l.diags, r.fileDiags...)
		if ok[i] {
			l.hashEntry(r.path, r.size, r.sum)
			out = append(out, r)
		}
	}
	return out, nil
}

func (l *loader) loadResources() ([]*v2alpha1.Document, map[string]FileID, map[string]bool, error) {
	files, err := l.readResources(true)
	if err != nil {
		return nil, nil, nil, err
	}
	var docs []*v2alpha1.Document
	ids := make(map[string]FileID, len(files))
	changed := map[string]bool{}
	for _, f := range files {
		docs = append(docs, f.docs...)
		if f.id != nil {
			ids[f.path] = FileIDOf(f.id)
		}
		if f.data != nil {
			changed[f.path] = true
		}
	}
	return docs, ids, changed, nil
}

// readEntry reads a listed file: a regular file (as the listing says) is
// read with ReadRegularFile (open without following a symlink, fstat,
// read, close), and its fstat returned; anything else, or a file replaced
// since the listing, goes through readFile's checks (and no stat is
// returned).
func (l *loader) readEntry(dirfd int, path string, e fs.DirEntry) ([]byte, *unix.Stat_t, bool) {
	if testHookReadEntry != nil {
		testHookReadEntry(path)
	}
	if !e.Type().IsRegular() {
		data, ok := l.readFile(path)
		return data, nil, ok
	}
	name := e.Name()
	if dirfd == unix.AT_FDCWD {
		name = path
	}
	data, st, err := ReadRegularFileAt(dirfd, name, path, MaxInputFileSize)
	var tooLarge *TooLargeError
	var pe *fs.PathError
	switch {
	case err == nil:
		return data, st, true
	case errors.As(err, &tooLarge) && tooLarge.Grew:
		l.fileDiag(path, v2alpha1.SeverityError, "file grew beyond %d bytes (4 MiB) while being read", MaxInputFileSize)
	case errors.As(err, &tooLarge):
		l.fileDiag(path, v2alpha1.SeverityError, "file is %d bytes; input files are limited to %d bytes (4 MiB)", tooLarge.Size, MaxInputFileSize)
	case errors.As(err, &pe) && pe.Op == "read":
		l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
	default:
		// Replaced meanwhile (by a symlink or a FIFO, or removed): the
		// full checks say what it is now.
		data, ok := l.readFile(path)
		return data, nil, ok
	}
	return nil, nil, false
}

// readOpen reads an open input file, checking it is a regular file within
// the size limit.
func (l *loader) readOpen(path string, f *os.File) ([]byte, bool) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		l.fileDiag(path, v2alpha1.SeverityError, "not a regular file")
		return nil, false
	}
	if fi.Size() > MaxInputFileSize {
		l.fileDiag(path, v2alpha1.SeverityError, "file is %d bytes; input files are limited to %d bytes (4 MiB)", fi.Size(), MaxInputFileSize)
		return nil, false
	}
	// One read for a file that did not grow since fstat (a short read of
	// a regular file is its end); the rest, bounded, for one that did.
	buf := make([]byte, fi.Size()+1)
	n, err := f.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
		return nil, false
	}
	data := buf[:n]
	if n == len(buf) {
		rest, err := io.ReadAll(io.LimitReader(f, MaxInputFileSize+1-int64(n)))
		if err != nil {
			l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
			return nil, false
		}
		data = append(data, rest...)
	}
	if len(data) > MaxInputFileSize {
		l.fileDiag(path, v2alpha1.SeverityError, "file grew beyond %d bytes (4 MiB) while being read", MaxInputFileSize)
		return nil, false
	}
	return data, true
}

// readFile reads one input file with the namespace's safety rules. It
// returns ok=false when the file is to be skipped (a diagnostic has been
// recorded where that is news to the user).
func (l *loader) readFile(path string) ([]byte, bool) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false // removed while we listed: the next reconcile sees the truth
	}
	if err != nil {
		l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
		return nil, false
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if errors.Is(err, fs.ErrNotExist) {
			l.fileDiag(path, v2alpha1.SeverityError, "symlink target does not exist")
			return nil, false
		}
		if err != nil {
			l.fileDiag(path, v2alpha1.SeverityError, "cannot resolve symlink: %v", unwrapPathError(err))
			return nil, false
		}
		if !within(l.realNS, target) {
			l.fileDiag(path, v2alpha1.SeverityError, "symlink points outside the namespace (to %s); refusing to read it", target)
			return nil, false
		}
		if fi, err = os.Stat(target); err != nil {
			l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
			return nil, false
		}
	}
	if !fi.Mode().IsRegular() {
		l.fileDiag(path, v2alpha1.SeverityError, "not a regular file")
		return nil, false
	}
	if fi.Size() > MaxInputFileSize {
		l.fileDiag(path, v2alpha1.SeverityError, "file is %d bytes; input files are limited to %d bytes (4 MiB)", fi.Size(), MaxInputFileSize)
		return nil, false
	}
	// Non-blocking: a file replaced by a FIFO since Lstat cannot hang
	// the open; the descriptor is checked again.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
		return nil, false
	}
	defer f.Close()
	return l.readOpen(path, f)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// within reports whether path is dir or below it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// loadBundles reads every <dir>/<name>/{ca.crt,tls.crt,tls.key}.
func (l *loader) loadBundles(dir string) (map[string]*Bundle, error) {
	entries, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*Bundle{}
	for _, e := range entries {
		name := e.Name()
		if IgnoredName(name) {
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil || !fi.IsDir() {
			if err == nil {
				l.fileDiag(path, v2alpha1.SeverityWarning, "ignored: bundles are directories holding ca.crt, tls.crt and tls.key")
			} else {
				l.fileDiag(path, v2alpha1.SeverityError, "cannot read: %v", unwrapPathError(err))
			}
			continue
		}
		if real, err := filepath.EvalSymlinks(path); err != nil || !within(l.realNS, real) {
			l.fileDiag(path, v2alpha1.SeverityError, "symlink points outside the namespace; refusing to read this bundle")
			continue
		}
		b := &Bundle{Name: name, Dir: path}
		for _, f := range []struct {
			file string
			dst  *[]byte
		}{{"ca.crt", &b.CA}, {"tls.crt", &b.Cert}, {"tls.key", &b.Key}} {
			p := filepath.Join(path, f.file)
			if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if data, ok := l.readFile(p); ok {
				l.hashEntry(p, len(data), sha256.Sum256(data))
				*f.dst = data
			}
		}
		out[name] = b
	}
	return out, nil
}

// checkCredentials reports resources whose tlsCredentials name a bundle that
// is neither in input/certs nor (for Links) a Secret in input/resources.
// Listeners without a bundle get a generated certificate, and RouterAccess
// credentials are generated, so only Links and Connectors need one.
func checkCredentials(s *Snapshot) v2alpha1.Diagnostics {
	secrets := map[string]bool{}
	for _, d := range s.Docs {
		if sec, ok := d.Object.(*v2alpha1.Secret); ok && d.Valid() {
			secrets[sec.Name] = true
		}
	}
	var out v2alpha1.Diagnostics
	for _, d := range s.Docs {
		if !d.Valid() {
			continue
		}
		switch o := d.Object.(type) {
		case *v2alpha1.Link:
			name := o.Spec.TLSCredentials
			if name == "" {
				name = o.Name
			}
			if !secrets[name] && s.Certs[name] == nil {
				diag := v2alpha1.Diagnostic{File: d.File, Line: d.LineOf("spec.tlsCredentials"), Kind: o.Kind, Name: o.Name, Field: "spec.tlsCredentials",
					Message: fmt.Sprintf("link credentials %q not found: add a Secret named %q to input/resources (skupper link generate emits one) or a bundle in input/certs/%s/", name, name, name)}
				d.Diags = append(d.Diags, diag)
				out = append(out, diag)
			}
		case *v2alpha1.Connector:
			if name := o.Spec.TLSCredentials; name != "" && s.Certs[name] == nil {
				diag := v2alpha1.Diagnostic{File: d.File, Line: d.LineOf("spec.tlsCredentials"), Kind: o.Kind, Name: o.Name, Field: "spec.tlsCredentials",
					Message: fmt.Sprintf("bundle %q not found: put the CA of your server in input/certs/%s/ca.crt (and tls.crt, tls.key for useClientCert)", name, name)}
				d.Diags = append(d.Diags, diag)
				out = append(out, diag)
			}
		}
	}
	return out
}

// SortedNames returns the keys of a bundle map in order.
func SortedNames(m map[string]*Bundle) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loadAttached reads the AttachedConnectors of every other namespace that
// name this namespace as their site namespace. Problems in other namespaces
// are reported by their own reconciles, not here.
func (l *loader) loadAttached() (map[string][]*v2alpha1.Document, error) {
	names, err := l.ns.Home.List()
	if err != nil {
		return nil, err
	}
	out := map[string][]*v2alpha1.Document{}
	for _, other := range names {
		if other == l.ns.Name {
			continue
		}
		sub := &loader{ns: l.ns.Home.Namespace(other), hash: l.hash, cache: l.cache}
		real, err := filepath.EvalSymlinks(sub.ns.Dir)
		if err != nil {
			continue
		}
		sub.realNS = real
		docs, _, _, err := sub.loadResources()
		if err != nil {
			continue
		}
		var mine []*v2alpha1.Document
		for _, d := range docs {
			if ac, ok := d.Object.(*v2alpha1.AttachedConnector); ok && ac.Spec.SiteNamespace == l.ns.Name {
				mine = append(mine, d)
			}
		}
		if len(mine) > 0 {
			v2alpha1.Validate(other, mine)
			out[other] = mine
		}
	}
	return out, nil
}

// LoadPaths decodes and validates loose files as the input of one namespace
// (for `skupperd validate PATH...`). A directory contributes its resource
// files (not recursive). Namespace-wide rules that need the whole input (a
// Site must be present, credentials must exist) are not applied. The error
// is returned when a path does not exist or cannot be listed.
func LoadPaths(namespace string, paths []string) ([]*v2alpha1.Document, v2alpha1.Diagnostics, error) {
	l := &loader{hash: sha256.New(), realNS: "/"}
	var docs []*v2alpha1.Document
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, unwrapPathError(err))
		}
		files := []string{p}
		if fi.IsDir() {
			entries, err := readDir(p)
			if err != nil {
				return nil, nil, err
			}
			files = files[:0]
			for _, e := range entries {
				if !e.IsDir() && IsResourceFile(e.Name()) {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		for _, f := range files {
			data, ok := l.readFile(f)
			if !ok {
				continue
			}
			d, ds := v2alpha1.Decode(f, data)
			docs = append(docs, d...)
			attached := 0
			for _, doc := range d {
				attached += len(doc.Diags)
			}
			l.diags = append(l.diags, ds[attached:]...)
		}
	}
	all := append(v2alpha1.Diagnostics(nil), l.diags...)
	all = append(all, v2alpha1.Validate(namespace, docs)...)
	return docs, all.Sort(), nil
}

// DecodeCache remembers the documents decoded from input files, by path
// and SHA-256 of their bytes, so that a reconcile parses only the files
// that changed; and each file's identity (inode, size, times, mode) as it
// was read, so that a file whose identity is unchanged is not even read
// again (one lstat instead of open, fstat, read and close). The identity
// is trusted only for a file that had not changed for racyWindow when it
// was read: a file changed twice within one tick of the filesystem's
// clock, with the same size, keeps its identity (git's "racily clean"
// files), so a recently changed file is read every time until it is
// older. It is safe for concurrent use; its zero value is empty. It is
// emptied when it holds decodeCacheLimit files, which bounds its memory.
// A nil *DecodeCache decodes every file.
type DecodeCache struct {
	mu    sync.Mutex
	files map[string]*decodedFile
	// listings are the directories of input/resources as the last load
	// listed them (see LoadWatched), by path.
	listings map[string][]fs.DirEntry
}

// forget drops what the cache knows of the file path.
func (c *DecodeCache) forget(path string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.files, path)
}

// listing returns the listing of dir kept by the last load (nil: none).
func (c *DecodeCache) listing(dir string) []fs.DirEntry {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listings[dir]
}

// setListing keeps the listing of dir (nil: forget it). The entries are
// not changed afterwards: a load changes a copy.
func (c *DecodeCache) setListing(dir string, entries []fs.DirEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if entries == nil {
		delete(c.listings, dir)
		return
	}
	if c.listings == nil {
		c.listings = map[string][]fs.DirEntry{}
	}
	c.listings[dir] = entries
}

// decodedFile is one file as decoded: pristine documents (only clones are
// handed out) and the diagnostics not attached to a document.
type decodedFile struct {
	sum   [sha256.Size]byte
	docs  []*v2alpha1.Document
	diags v2alpha1.Diagnostics
	// id is the file's fstat when it was read; trusted when it had not
	// changed for racyWindow then (see DecodeCache).
	id      unix.Stat_t
	trusted bool
}

const decodeCacheLimit = 1 << 16

// racyWindow is how long a file must have been unchanged when it was read
// for its identity to vouch for its content later (a variable for tests).
var racyWindow = 2 * time.Second

// unchanged returns the cached decoding of path when its identity (name
// looked up in dirfd) is the one it had when read and is trusted, or,
// with vouched (a watcher saw no change of it since it was read), without
// looking; nil otherwise.
func (c *DecodeCache) unchanged(dirfd int, path, name string, vouched bool) *decodedFile {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	f := c.files[path]
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	if vouched {
		// Any change after the read raised an event, which the watcher
		// reports in a later load's changes: the racy window that an
		// identity cannot tell apart does not apply.
		return f
	}
	if !f.trusted {
		return nil
	}
	if dirfd == unix.AT_FDCWD {
		name = path
	}
	var st unix.Stat_t
	if err := rawfs.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || FileIDOf(&st) != FileIDOf(&f.id) {
		return nil
	}
	return f
}

// decode returns the documents of the file path of namespace holding data
// (whose SHA-256 is sum; st is its fstat as read at readStart, nil if not
// known), checked alone (v2alpha1.CheckDocuments), and the file's own
// diagnostics (those of its documents are attached to them).
func (c *DecodeCache) decode(namespace, path string, data []byte, sum [sha256.Size]byte, st *unix.Stat_t, readStart time.Time) ([]*v2alpha1.Document, v2alpha1.Diagnostics) {
	var f *decodedFile
	if c != nil {
		c.mu.Lock()
		f = c.files[path]
		c.mu.Unlock()
	}
	if f == nil || f.sum != sum {
		docs, ds := v2alpha1.Decode(path, data)
		// Decode lists the documents' own diagnostics first and the
		// file-level ones last; the former stay with their documents.
		attached := 0
		for _, doc := range docs {
			attached += len(doc.Diags)
		}
		if c == nil {
			return docs, ds[attached:]
		}
		// The documents are checked once, here, on this file's worker;
		// their clones carry the result (see v2alpha1.CheckDocuments).
		v2alpha1.CheckDocuments(namespace, docs)
		f = &decodedFile{sum: sum, docs: docs, diags: ds[attached:]}
	} else {
		f = &decodedFile{sum: sum, docs: f.docs, diags: f.diags}
	}
	if st != nil {
		f.id = *st
		f.trusted = time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(readStart.Add(-racyWindow))
	}
	c.mu.Lock()
	if c.files == nil {
		c.files = map[string]*decodedFile{}
	} else if len(c.files) >= decodeCacheLimit {
		clear(c.files)
	}
	c.files[path] = f
	c.mu.Unlock()
	return cloneDocs(f.docs), append(v2alpha1.Diagnostics(nil), f.diags...)
}

func cloneDocs(docs []*v2alpha1.Document) []*v2alpha1.Document {
	out := make([]*v2alpha1.Document, len(docs))
	for i, d := range docs {
		out[i] = d.Clone()
	}
	return out
}
