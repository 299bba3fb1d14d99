package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/parallel"
	"github.com/skupperd/skupperd/internal/rawfs"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
)

// The pass memo, internal/pass-memo, lets a one-shot reconcile (a new
// process each time: `skupperd reconcile`) find in a few milliseconds that
// a namespace is as its last pass left it, and skip the pass, as make skips
// a target whose inputs are older than it. It is written after a full pass
// with Options.Memo and holds:
//
//   - a key: skupperd's version and executable, the observed router state
//     given to the pass and the host's names and addresses (all of which
//     a pass reads besides files);
//   - until: the pass's NextChange (a certificate due for renewal, a grant
//     expiring), and at most passMemoMaxAge after the pass;
//   - every directory and file of the namespace, with its inode, size,
//     times and mode as the pass left them, input and status files as the
//     pass read or wrote them (the directories' times change
//     when an entry is added, removed or renamed, the files' when their
//     bytes change), internal/ by its list of names (the summary and this
//     memo are rewritten in it by every run), and the ports tables of the
//     other namespaces, which the port allocator reads;
//   - the pass's result (outcome, diagnostics, ...), given back on a hit.
//
// A memo is trusted only while every one of these is as recorded. It is
// not written when an input file (under input/) changed within
// racyWindow of the pass's start: a file changed again within the same
// tick of the filesystem's clock, with the same size, would look
// unchanged (git's "racily clean" entries); such a namespace gets a full
// pass each time until its input is older. Nor is it written for a
// namespace whose input depends on other namespaces' inputs
// (AttachedConnectorBindings), or whose pass left a token redemption to
// retry. Derived files (status, router config, certificates) changed in
// place by someone else with the same size within a clock tick of the
// pass would go unnoticed; they are skupperd's own and nobody else's to
// write.
//
// The memo is derived: written atomically, never fsync'd (lost, the next
// run makes a full pass), ignored whole when it does not parse.

const (
	passMemoFile   = "pass-memo"
	passMemoHeader = "skupperd pass memo 1"
	passMemoMaxAge = time.Hour
)

// racyWindow is how recently an input file may have changed, before a
// pass's start, for the pass to be memoized (a variable for tests).
var racyWindow = 2 * time.Second

// internalSkipped are the files of internal/ that a pass neither reads
// nor writes as its own (the summary it rewrites every run, this memo,
// the CLI's input lock and the daemon's reload handshake).
var internalSkipped = []string{"status.yaml", passMemoFile, "input.lock", "reload-request", "reload-done"}

func passMemoPath(ns namespaces.Namespace) string {
	return filepath.Join(ns.InternalDir(), passMemoFile)
}

// memoEligible reports whether opts allow a memo: nothing observed (a
// daemon's passes change with its observations; it keeps its own
// caches), no grant server, no redeemer.
func memoEligible(opts Options) bool {
	return opts.Memo && opts.Network == nil && opts.Unbound == nil && opts.Grants == nil && opts.Redeem == nil
}

// memoKey fingerprints what a pass reads besides files.
func memoKey(opts Options) string {
	h := sha256.New()
	h.Write([]byte(opts.Version + "\x00"))
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				h.Write([]byte(strconv.FormatUint(st.Ino, 10) + "." + strconv.FormatInt(st.Size, 10) + "." + strconv.FormatInt(st.Mtim.Nano(), 10)))
			}
		}
	}
	rs, _ := json.Marshal(opts.Router)
	h.Write(append(rs, 0))
	for _, host := range opts.Hosts() {
		h.Write([]byte(host + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// memoResult is the part of a Result a memo hit gives back.
type memoResult struct {
	Outcome      Outcome    `json:"outcome"`
	SiteID       string     `json:"siteId,omitempty"`
	Site         string     `json:"site,omitempty"`
	SiteDeclared bool       `json:"siteDeclared,omitempty"`
	InputHash    string     `json:"inputHash"`
	LocalPort    int        `json:"localPort,omitempty"`
	ConfigPath   string     `json:"configPath,omitempty"`
	AttachesTo   []string   `json:"attachesTo,omitempty"`
	NextChange   int64      `json:"nextChange,omitempty"`
	Diagnostics  []memoDiag `json:"diagnostics,omitempty"`
}

type memoDiag struct {
	v2alpha1.Diagnostic
	Warning bool `json:"warning,omitempty"`
}

// memoEntry is one path of the memo, relative to the data home: a
// directory or file with its identity, a file that must not exist, or
// (names != nil) a directory by its list of names.
type memoEntry struct {
	rel   string
	kind  byte // 'D' directory, 'F' file, 'A' absent, 'L' listing
	id    fileID
	names string // 'L': sorted names joined by "/"
}

// checkPassMemo returns the result the namespace's memo records when the
// memo holds (see the file comment), else nil.
func checkPassMemo(ns namespaces.Namespace, opts Options, now time.Time) *memoResult {
	data, err := os.ReadFile(passMemoPath(ns))
	if err != nil {
		return nil
	}
	res, entries, ok := parsePassMemo(string(data), memoKey(opts), now)
	if !ok {
		return nil
	}
	// Files are looked up relative to their directory, opened once (one
	// path element for the kernel to resolve, not the whole path).
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			_ = unix.Close(fd)
		}
	}()
	fds := make([]int, len(entries))
	paths := make([]string, len(entries))
	root := filepath.Clean(ns.Home.Root) + string(filepath.Separator)
	for i, e := range entries {
		// The walk wrote clean relative paths (a memo that does not is
		// not ours, and does not hold).
		paths[i] = root + filepath.FromSlash(e.rel)
		fds[i] = unix.AT_FDCWD
		if e.kind != 'F' && e.kind != 'A' {
			continue
		}
		dir := filepath.Dir(paths[i])
		fd, ok := dirs[dir]
		if !ok {
			var err error
			if fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				fd = unix.AT_FDCWD
			}
			dirs[dir] = fd
		}
		fds[i] = fd
	}
	var changed atomic.Bool
	parallel.For(len(entries), func(i int) {
		if !changed.Load() && !entries[i].holds(paths[i], fds[i]) {
			changed.Store(true)
		}
	})
	if changed.Load() {
		return nil
	}
	return res
}

func parsePassMemo(text, key string, now time.Time) (*memoResult, []memoEntry, bool) {
	line := func() string {
		var l string
		l, text, _ = strings.Cut(text, "\n")
		return l
	}
	if line() != passMemoHeader || line() != "key\t"+key {
		return nil, nil, false
	}
	until, err := strconv.ParseInt(strings.TrimPrefix(line(), "until\t"), 10, 64)
	if err != nil || now.UnixNano() >= until {
		return nil, nil, false
	}
	var res memoResult
	r, ok := strings.CutPrefix(line(), "result\t")
	if !ok || json.Unmarshal([]byte(r), &res) != nil {
		return nil, nil, false
	}
	entries := make([]memoEntry, 0, strings.Count(text, "\n")+1)
	for text != "" {
		e, ok := parseMemoEntry(line())
		if !ok {
			return nil, nil, false
		}
		entries = append(entries, e)
	}
	return &res, entries, true
}

func parseMemoEntry(l string) (memoEntry, bool) {
	var fields [10]string
	f := fields[:0]
	for len(f) < len(fields) {
		field, rest, more := strings.Cut(l, "\t")
		f = append(f, field)
		if !more {
			l = ""
			break
		}
		l = rest
	}
	if l != "" || len(f) < 2 || len(f[0]) != 1 {
		return memoEntry{}, false // more fields than any entry has, or too few
	}
	e := memoEntry{kind: f[0][0], rel: f[1]}
	switch {
	case e.kind == 'A' && len(f) == 2:
		return e, true
	case e.kind == 'L' && len(f) == 3:
		e.names = f[2]
		return e, true
	case (e.kind == 'D' || e.kind == 'F') && len(f) == 10:
		id, ok := parseFileID(f[2:])
		e.id = id
		return e, ok
	}
	return memoEntry{}, false
}

// holds reports whether path, the entry's, is still as the entry records.
// dirfd is its directory, open (AT_FDCWD: the path is looked up whole).
func (e memoEntry) holds(path string, dirfd int) bool {
	name := path
	if dirfd != unix.AT_FDCWD {
		name = filepath.Base(path)
	}
	var st unix.Stat_t
	switch e.kind {
	case 'L':
		names, ok := listNames(path)
		return ok && names == e.names
	case 'A':
		return errors.Is(rawfs.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW), unix.ENOENT)
	}
	if err := rawfs.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false
	}
	id := idOfUnixStat(&st)
	if e.kind == 'D' {
		// A directory's size is the filesystem's business.
		id.Size = e.id.Size
	}
	return id == e.id
}

// listNames lists dir's names, sorted, but those of internalSkipped.
func listNames(dir string) (string, bool) {
	f, err := os.Open(dir)
	if err != nil {
		return "", false
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return "", false
	}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(internalSkipped, n) })
	slices.Sort(names)
	return strings.Join(names, "/"), true
}

// writePassMemo records r's pass (see the file comment), or removes the
// namespace's memo when the pass may not be memoized.
func (r *run) writePassMemo(wallStart time.Time) error {
	path := passMemoPath(r.ns)
	data, ok := r.passMemo(wallStart)
	if !ok {
		if err := atomicfile.RemoveDerived(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := atomicfile.MkdirAll(r.ns.InternalDir(), namespaces.DirPerm); err != nil {
		return err
	}
	return atomicfile.WriteDerived(path, data, namespaces.FilePerm)
}

// passMemo encodes the memo of r's pass; ok is false when the pass may not
// be memoized.
func (r *run) passMemo(wallStart time.Time) ([]byte, bool) {
	if r.snap.Attached != nil || r.res.RetryRedemption {
		return nil, false
	}
	for _, d := range r.snap.Docs {
		if d.Key().Kind == v2alpha1.KindAttachedConnectorBinding {
			return nil, false
		}
	}
	w := &memoWalk{root: r.ns.Home.Root, racyAfter: wallStart.Add(-racyWindow), input: r.ns.InputDir(), internal: r.ns.InternalDir(),
		entries: make([]memoEntry, 0, len(r.snap.ResourceFiles)+len(r.snap.Docs)+64)}
	// The status files and resource files this pass wrote or read are
	// recorded as the pass saw them, without another lstat: a file changed
	// since no longer matches its entry, and the next run makes a pass.
	statusDir := r.ns.StatusDir()
	w.known = func(dir, name, path string) (fileID, bool) {
		if dir == statusDir {
			// The Cache holds every status file the pass wrote or
			// found unchanged, as it left them.
			if o := r.opts.Cache.status(path); o != nil && o.exists {
				return o.id, true
			}
			return fileID{}, false
		}
		id, ok := r.snap.ResourceFiles[path]
		return id, ok
	}
	if !w.walk(r.ns.Dir) || !w.otherTables(r.ns) {
		return nil, false
	}
	until := r.now.Add(passMemoMaxAge)
	if nc := r.res.NextChange; !nc.IsZero() && nc.Before(until) {
		until = nc
	}
	mr := memoResult{Outcome: r.res.Outcome, SiteID: r.siteID, SiteDeclared: r.res.SiteDeclared, InputHash: r.res.InputHash,
		LocalPort: r.res.LocalPort, ConfigPath: r.res.ConfigPath, AttachesTo: r.res.AttachesTo}
	if r.site != nil {
		mr.Site = r.site.Name
	}
	if !r.res.NextChange.IsZero() {
		mr.NextChange = r.res.NextChange.UnixNano()
	}
	for _, d := range r.res.Diagnostics {
		mr.Diagnostics = append(mr.Diagnostics, memoDiag{Diagnostic: d, Warning: !d.IsError()})
	}
	js, err := json.Marshal(mr)
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.Grow(len(js) + 256 + len(w.entries)*128) // about an entry's line: one allocation
	b.WriteString(passMemoHeader + "\nkey\t" + memoKey(r.opts) + "\nuntil\t" + strconv.FormatInt(until.UnixNano(), 10) + "\nresult\t")
	b.Write(js)
	b.WriteByte('\n')
	for _, e := range w.entries {
		e.append(&b)
	}
	return b.Bytes(), true
}

func (e memoEntry) append(b *bytes.Buffer) {
	b.WriteString(string(e.kind) + "\t" + e.rel)
	switch e.kind {
	case 'L':
		b.WriteString("\t" + e.names)
	case 'D', 'F':
		appendFileID(b, e.id)
	}
	b.WriteByte('\n')
}

// memoWalk collects the entries of a memo.
type memoWalk struct {
	root, input, internal string
	racyAfter             time.Time
	entries               []memoEntry
	// known returns the identity the pass already has of the file name
	// of dir (whose path is path), if any: used for the regular files
	// listed, instead of an lstat.
	known func(dir, name, path string) (fileID, bool)
}

// walk records dir and everything below it; false when something cannot
// be recorded (a name the format cannot hold, a racy input file, an
// unreadable directory).
func (w *memoWalk) walk(dir string) bool {
	rel, err := filepath.Rel(w.root, dir)
	if err != nil || strings.ContainsAny(rel, "\t\n") {
		return false
	}
	rel = filepath.ToSlash(rel)
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil {
		return false
	}
	if dir == w.internal {
		names, ok := listNames(dir)
		if !ok {
			return false
		}
		w.entries = append(w.entries, memoEntry{kind: 'L', rel: rel, names: names})
	} else {
		w.entries = append(w.entries, memoEntry{kind: 'D', rel: rel, id: idOfUnixStat(&st)})
	}
	entries, err := readDirUnsorted(dir)
	if err != nil {
		return false
	}
	inInput := within(w.input, dir)
	racyAfter := w.racyAfter.UnixNano()
	for _, e := range entries {
		name := e.Name()
		path := dir + string(filepath.Separator) + name // dir is clean
		if dir == w.internal && slices.Contains(internalSkipped, name) {
			continue
		}
		if e.IsDir() {
			if !w.walk(path) {
				return false
			}
			continue
		}
		if strings.ContainsAny(name, "\t\n/") {
			return false
		}
		id, ok := w.known(dir, name, path)
		if !ok || !e.Type().IsRegular() {
			if unix.Lstat(path, &st) != nil {
				return false
			}
			id = idOfUnixStat(&st)
		}
		if inInput && id.Ctime.Nano() >= racyAfter {
			return false // changed just before or during the pass
		}
		w.entries = append(w.entries, memoEntry{kind: 'F', rel: rel + "/" + name, id: id})
	}
	return true
}

// otherTables records the namespaces directory (which namespaces exist)
// and the ports table of every other namespace.
func (w *memoWalk) otherTables(ns namespaces.Namespace) bool {
	dir := ns.Home.NamespacesDir()
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil {
		return false
	}
	w.entries = append(w.entries, memoEntry{kind: 'D', rel: "namespaces", id: idOfUnixStat(&st)})
	names, err := ns.Home.List()
	if err != nil {
		return false
	}
	for _, other := range names {
		if other == ns.Name {
			continue
		}
		path := ports.TablePath(ns.Home.Namespace(other))
		rel, err := filepath.Rel(w.root, path)
		if err != nil || strings.ContainsAny(rel, "\t\n") {
			return false
		}
		rel = filepath.ToSlash(rel)
		switch err := unix.Lstat(path, &st); {
		case err == nil:
			w.entries = append(w.entries, memoEntry{kind: 'F', rel: rel, id: idOfUnixStat(&st)})
		case errors.Is(err, unix.ENOENT):
			w.entries = append(w.entries, memoEntry{kind: 'A', rel: rel})
		default:
			return false
		}
	}
	return true
}

// readDirUnsorted lists dir in the order the file system gives (the memo
// does not depend on it; sorting tens of thousands of names does cost).
func readDirUnsorted(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// within reports whether path is dir or below it.
func within(dir, path string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}
