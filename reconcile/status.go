package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/parallel"
	"github.com/skupperd/skupperd/internal/rawfs"
	"github.com/skupperd/skupperd/namespaces"
)

// EndpointGroup is the endpoint group of the link-access endpoints a Site
// reports (as on Kubernetes).
const EndpointGroup = "skupper-router"

// conditions builds a resource's conditions, keeping each condition's
// lastTransitionTime from the previous status while its status is the same,
// so that an unchanged resource's status file is not rewritten.
type conditions struct {
	prev prevConditions
	now  string
	list []v2alpha1.Condition
}

// prevCondition is what a condition of the previous status contributes.
type prevCondition struct {
	typ                        string
	status, lastTransitionTime string
}

// prevConditions are a status's conditions, in order (a handful: a slice
// is smaller and as fast as a map).
type prevConditions []prevCondition

func (p prevConditions) get(typ string) (prevCondition, bool) {
	for _, c := range p {
		if c.typ == typ {
			return c, true
		}
	}
	return prevCondition{}, false
}

// set records a condition; a type given again replaces the earlier one.
func (p prevConditions) set(typ, status, lastTransitionTime string) prevConditions {
	c := prevCondition{typ: typ, status: status, lastTransitionTime: lastTransitionTime}
	for i := range p {
		if p[i].typ == typ {
			p[i] = c
			return p
		}
	}
	return append(p, c)
}

func (r *run) conditionsFor(k v2alpha1.Key) *conditions {
	// Room for the usual conditions (Configured, Matched or Operational,
	// Ready): one allocation per status, not a doubling series.
	return &conditions{prev: r.previous(k).conds, now: r.now.UTC().Format(time.RFC3339), list: make([]v2alpha1.Condition, 0, 4)}
}

func (c *conditions) set(typ string, ok bool, reason, msg string) {
	status := "False"
	if ok {
		status = "True"
	}
	t := c.now
	if p, found := c.prev.get(typ); found && p.status == status {
		t = p.lastTransitionTime
	}
	c.list = append(c.list, v2alpha1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: t})
}

// finish adds the Ready condition (all others true) and fills in the
// aggregate status: Ready/"OK", or Pending with the first unmet
// condition's message.
func (c *conditions) finish(st *v2alpha1.ResourceStatus) {
	pending := ""
	for _, cond := range c.list {
		if cond.Status != "True" {
			pending = cond.Message
			break
		}
	}
	if pending == "" {
		c.set(v2alpha1.ConditionReady, true, "Ready", "OK")
		st.StatusType, st.Message = v2alpha1.StatusReady, "OK"
	} else {
		c.set(v2alpha1.ConditionReady, false, "Pending", pending)
		st.StatusType, st.Message = v2alpha1.StatusPending, pending
	}
	st.Conditions = c.list
}

// failWith marks a resource as Error with message msg.
func (c *conditions) failWith(st *v2alpha1.ResourceStatus, msg string) {
	c.set(v2alpha1.ConditionConfigured, false, "Error", msg)
	c.set(v2alpha1.ConditionReady, false, "Error", msg)
	st.StatusType, st.Message, st.Conditions = v2alpha1.StatusError, msg, c.list
}

// relative renders a diagnostic for a status message, with the file path
// relative to the namespace home.
func (r *run) relative(d v2alpha1.Diagnostic) string {
	if rel, err := filepath.Rel(r.ns.Dir, d.File); err == nil && d.File != "" {
		d.File = rel
	}
	d.Kind, d.Name = "", ""
	return d.Error()
}

// writeStatuses writes runtime/resources/<Kind>-<name>.yaml for every
// resource of the input (and the RouterAccess implied by linkAccess), and
// removes the files of resources that are gone. Secrets get no status file:
// it would copy their keys.
//
// It runs in three steps: the previous status files are read (or taken from
// the Cache) on all CPUs, every status is computed in memory, and the
// statuses are encoded, compared and written on all CPUs. The resources
// whose input files were read this pass (new or changed: Snapshot.Changed)
// go through the three steps first, so that the status of what a user just
// edited is written without waiting for every other resource's.
func (r *run) writeStatuses() error {
	r.statusDir = r.ns.StatusDir()
	r.olds, r.index, r.indexTried = nil, nil, false
	docs, keep := r.statusDocs()
	if len(docs) > 0 {
		// As WriteStatus: create runtime/resources, or tighten it.
		if err := atomicfile.MkdirAll(r.ns.StatusDir(), namespaces.DirPerm); err != nil {
			return err
		}
	}
	// Status files are looked at and written relative to their directory
	// (one path element for the kernel to resolve, not the whole path).
	dirfd, err := unix.Open(r.ns.StatusDir(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		dirfd = unix.AT_FDCWD
	} else {
		defer unix.Close(dirfd)
	}
	r.routingKeys()
	var edited, others []*v2alpha1.Document
	for _, d := range docs {
		if r.snap.Changed[d.File] {
			edited = append(edited, d)
		} else {
			others = append(others, d)
		}
	}
	// The status files of a few edited resources that the Cache knows
	// are looked at one by one, and the directory is listed after them,
	// for the others and the prune: the listing of a large namespace
	// costs more than a few lookups. Otherwise (a new resource, a first
	// pass) it is listed first, and a file it lacks is not looked for.
	r.listing = nil
	defer func() { r.listing = nil }() // not kept for Refresh
	listFirst := !r.cachedStatuses(edited)
	var objs []v2alpha1.Object
	for i, part := range [][]*v2alpha1.Document{edited, others} {
		if r.listing == nil && (i == 1 || listFirst) {
			r.listStatusDir()
		}
		written, err := r.writeStatusesOf(dirfd, part)
		if err != nil {
			return err
		}
		objs = append(objs, written...)
	}
	var removed []v2alpha1.Key
	if r.listing != nil {
		removed, err = r.ns.PruneListedStatus(r.listing, keep)
	} else {
		removed, err = r.ns.PruneStatus(keep)
	}
	if len(removed) > 0 {
		r.opts.Cache.forget(r.ns, removed)
	}
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		r.derivedWritten = true
	}
	// The index is for the next process: a one-pass Cache keeps it
	// current; the daemon's Cache writes it only when it had to read
	// status files (its first pass), not on every change, which would
	// rewrite a large namespace's whole index for one status file (the
	// entries of files changed since are simply not trusted).
	changed := r.derivedWritten || len(removed) > 0
	if r.indexStale.Load() || (changed && r.opts.Cache.onePass()) {
		keys := make([]v2alpha1.Key, len(objs))
		for i, o := range objs {
			keys[i] = v2alpha1.KeyOf(o)
		}
		return r.writeStatusIndex(keys)
	}
	return nil
}

// fewEdited is the most edited resources whose status files are looked at
// before the status directory is listed (see writeStatuses): a lookup
// costs about a two-hundredth of listing a thousand files.
const fewEdited = 64

// cachedStatuses reports whether docs are few and the Cache knows the
// status file of each.
func (r *run) cachedStatuses(docs []*v2alpha1.Document) bool {
	if len(docs) > fewEdited {
		return false
	}
	for _, d := range docs {
		if r.opts.Cache.status(r.statusPath(d.Key())) == nil {
			return false
		}
	}
	return true
}

// Status files are what namespaces.Namespace.WriteStatus writes (the YAML
// of v2alpha1.Marshal, mode 0600, rewritten only when the bytes change).
// A reconcile needs each one's previous conditions (their transition times)
// and must not rewrite an unchanged one. The Cache (Options.Cache, owned by
// the caller: the daemon keeps one for its lifetime) remembers every status
// file it wrote or read: its digest, the digest of the JSON it was encoded
// from, its conditions and its identity (inode, size, times). A file whose
// identity is unchanged is not read again, and an object whose JSON is the
// one last written is neither encoded nor written: an unchanged status
// costs one lstat and one JSON encoding. Without a Cache entry (the first
// reconcile of a process) the file is read once and its conditions are
// scanned from the bytes this package writes, the general decoder being
// the fallback for anything else.

// oldStatus is what a status file held before this reconcile.
type oldStatus struct {
	exists bool
	sum    [sha256.Size]byte // digest of its bytes
	jsum   [sha256.Size]byte // digest of the JSON it was encoded from (zero: unknown)
	perm   bool              // it has the mode WriteStatus gives
	conds  prevConditions
	id     fileID
}

// fileID is what tells that a file is still the one the Cache, the status
// index or the pass memo knows (inode, size, times, mode).
type fileID = namespaces.FileID

// idOfUnixStat is the fileID of an fstat.
func idOfUnixStat(st *unix.Stat_t) fileID { return namespaces.FileIDOf(st) }

// appendFileID writes id as eight tab-led integers, the layout of the
// status index and the pass memo.
func appendFileID(b *bytes.Buffer, id fileID) {
	for _, v := range []int64{int64(id.Dev), int64(id.Ino), id.Size, id.Mtime.Sec, id.Mtime.Nsec, id.Ctime.Sec, id.Ctime.Nsec, int64(id.Mode)} {
		b.WriteByte('\t')
		b.WriteString(strconv.FormatInt(v, 10))
	}
}

// parseFileID reads the eight integers appendFileID writes, one per field.
func parseFileID(f []string) (fileID, bool) {
	var n [8]int64
	if len(f) != len(n) {
		return fileID{}, false
	}
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return fileID{}, false
		}
		n[i] = v
	}
	return fileID{Dev: uint64(n[0]), Ino: uint64(n[1]), Size: n[2],
		Mtime: unix.Timespec{Sec: n[3], Nsec: n[4]}, Ctime: unix.Timespec{Sec: n[5], Nsec: n[6]}, Mode: uint32(n[7])}, true
}

// statusDocs returns the documents that get a status file, in input order
// (the RouterAccesses the Site implies last), and the keys of every
// resource whose status file is kept.
func (r *run) statusDocs() ([]*v2alpha1.Document, map[v2alpha1.Key]bool) {
	keep := map[v2alpha1.Key]bool{}
	var docs []*v2alpha1.Document
	for _, d := range r.snap.Docs {
		k := d.Key()
		if k.Kind == v2alpha1.KindSecret || v2alpha1.ValidateName(k.Name) != "" || keep[k] {
			continue
		}
		keep[k] = true
		if d.Object.GetStatus() == nil {
			continue
		}
		docs = append(docs, d)
	}
	if r.applied {
		for _, ra := range r.accesses {
			k := v2alpha1.KeyOf(ra)
			if keep[k] {
				continue
			}
			keep[k] = true
			docs = append(docs, v2alpha1.NewDocument("", ra))
		}
	}
	return docs, keep
}

// writeStatusesOf reads the previous status of docs, computes and writes
// theirs, and returns their objects.
func (r *run) writeStatusesOf(dirfd int, docs []*v2alpha1.Document) ([]v2alpha1.Object, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	r.readPrevious(dirfd, docs)
	objs := make([]v2alpha1.Object, len(docs))
	for i, d := range docs {
		r.fillStatus(d)
		objs[i] = d.Object
	}
	errs := make([]error, len(objs))
	wrote := make([]bool, len(objs))
	parallel.For(len(objs), func(i int) { wrote[i], errs[i] = r.writeStatus(dirfd, objs[i]) })
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		r.derivedWritten = r.derivedWritten || wrote[i]
	}
	return objs, nil
}

// listStatusDir lists the status directory once for the pass: a status
// file it does not hold is neither looked for nor checked before it is
// written, and the prune works from it. When the directory cannot be
// listed (it does not exist yet, say) every file is looked at by name.
func (r *run) listStatusDir() {
	r.listing = nil
	entries, err := os.ReadDir(r.ns.StatusDir()) // sorted by name
	if err != nil {
		return
	}
	r.listing = entries
	if r.listing == nil {
		r.listing = []fs.DirEntry{}
	}
}

// inListing reports whether the status directory's listing holds name
// (true when there is no listing: it may).
func (r *run) inListing(name string) bool {
	if r.listing == nil {
		return true
	}
	_, found := slices.BinarySearchFunc(r.listing, name, func(e fs.DirEntry, name string) int { return strings.Compare(e.Name(), name) })
	return found
}

// readPrevious reads the previous status of every document, on all CPUs,
// from the Cache, else the status index, else the file.
func (r *run) readPrevious(dirfd int, docs []*v2alpha1.Document) {
	for _, d := range docs {
		if !r.indexTried && r.opts.Cache.status(r.statusPath(d.Key())) == nil {
			r.index, r.indexTried = r.loadStatusIndex(), true
			if r.index == nil {
				r.indexStale.Store(true)
			}
			break
		}
	}
	olds := make([]*oldStatus, len(docs))
	parallel.For(len(docs), func(i int) { olds[i] = r.readOld(dirfd, docs[i].Key()) })
	if r.olds == nil {
		r.olds = make(map[v2alpha1.Key]*oldStatus, len(docs))
	}
	for i, d := range docs {
		r.olds[d.Key()] = olds[i]
	}
}

// previous is the status file of k before this reconcile.
func (r *run) previous(k v2alpha1.Key) *oldStatus {
	if o, ok := r.olds[k]; ok {
		return o
	}
	return &oldStatus{}
}

// readOld returns what the status file of k holds: from the Cache when
// the file is the one it knows, else read (and remembered).
func (r *run) readOld(dirfd int, k v2alpha1.Key) *oldStatus {
	path := r.statusPath(k)
	name := k.FileName()
	if dirfd == unix.AT_FDCWD {
		name = path
	}
	if !r.inListing(k.FileName()) {
		if r.index != nil {
			r.indexStale.Store(true)
		}
		return &oldStatus{}
	}
	o, fromIndex := r.opts.Cache.status(path), false
	if o == nil && r.index != nil {
		o, fromIndex = r.index[k.FileName()], true
	}
	if o != nil {
		var st unix.Stat_t
		if err := rawfs.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && idOfUnixStat(&st) == o.id {
			if fromIndex {
				r.opts.Cache.setStatus(path, o)
			}
			return o
		}
	}
	if r.index != nil {
		r.indexStale.Store(true)
	}
	if testHookReadStatus != nil {
		testHookReadStatus(path)
	}
	data, st, err := namespaces.ReadRegularFileAt(dirfd, name, path, namespaces.MaxInputFileSize)
	if err != nil {
		return &oldStatus{}
	}
	o = &oldStatus{exists: true, sum: sha256.Sum256(data), perm: os.FileMode(st.Mode).Perm() == namespaces.FilePerm, id: idOfUnixStat(st)}
	var ok bool
	if o.conds, ok = scanConditions(data); !ok {
		o.conds = decodeConditions(path, data)
	}
	r.opts.Cache.setStatus(path, o)
	return o
}

// testHookReadStatus, when set by tests, is called before a status file is
// read.
var testHookReadStatus func(path string)

// writeStatus writes obj to its status file unless the file already holds
// exactly the bytes v2alpha1.Marshal gives for it. It reports whether it
// wrote.
func (r *run) writeStatus(dirfd int, obj v2alpha1.Object) (bool, error) {
	k := v2alpha1.KeyOf(obj)
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer jsonBuffers.Put(buf)
	j, err := encodeJSON(buf, obj)
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", k, err)
	}
	jsum := sha256.Sum256(j)
	old := r.previous(k)
	if old.exists && old.perm && old.jsum == jsum {
		return false, nil
	}
	ybuf := yamlBuffers.Get().(*[]byte)
	defer yamlBuffers.Put(ybuf)
	data, err := v2alpha1.AppendJSONToYAML((*ybuf)[:0], j) // as v2alpha1.Marshal(obj), from j
	*ybuf = data
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", k, err)
	}
	sum := sha256.Sum256(data)
	path := r.statusPath(k)
	if old.exists && old.perm && old.sum == sum {
		o := *old
		o.jsum = jsum
		r.opts.Cache.setStatus(path, &o)
		return false, nil
	}
	name := k.FileName()
	if dirfd == unix.AT_FDCWD {
		name = path
	}
	write := atomicfile.WriteDerivedAt
	if old.exists || !r.inListing(k.FileName()) {
		// Seen this pass: a regular file (read), or missing (listed).
		write = atomicfile.ReplaceDerivedAt
	}
	if err := write(dirfd, r.ns.StatusDir(), k.FileName(), data, namespaces.FilePerm); err != nil {
		return false, err
	}
	var st unix.Stat_t
	if err := rawfs.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return true, fmt.Errorf("status of %s: %w", k, err)
	}
	o := &oldStatus{exists: true, sum: sum, jsum: jsum, perm: true, id: idOfUnixStat(&st)}
	for _, c := range obj.GetStatus().Conditions {
		o.conds = o.conds.set(c.Type, c.Status, c.LastTransitionTime)
	}
	r.opts.Cache.setStatus(path, o)
	return true, nil
}

// scanConditions reads the conditions of a status file in the layout
// v2alpha1.Marshal writes (a top-level "status:" holding "  conditions:",
// items "  - key: value" with keys at column 4, continuation lines of long
// values deeper). ok is false for anything else, which the general decoder
// then reads.
func scanConditions(data []byte) (prevConditions, bool) {
	text := string(data)
	i := strings.Index(text, "\nstatus:\n")
	if i < 0 {
		return nil, false
	}
	rest := text[i+len("\nstatus:\n"):]
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if line == "  conditions:" {
			return scanConditionItems(rest)
		}
		if !strings.HasPrefix(line, "  ") {
			return nil, false
		}
	}
	return nil, false
}

func scanConditionItems(rest string) (prevConditions, bool) {
	var out prevConditions
	var cur map[string]string
	flush := func() bool {
		if cur == nil {
			return true
		}
		typ, ok1 := cur["type"]
		st, ok2 := cur["status"]
		t, ok3 := cur["lastTransitionTime"]
		out = out.set(typ, st, t)
		return ok1 && ok2 && ok3
	}
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		var kv string
		switch {
		case strings.HasPrefix(line, "  - "):
			if !flush() {
				return nil, false
			}
			cur = map[string]string{}
			kv = line[4:]
		case strings.HasPrefix(line, "      "):
			continue // a long value's continuation
		case strings.HasPrefix(line, "    ") && cur != nil:
			kv = line[4:]
		default:
			return out, flush() && len(out) > 0
		}
		key, val, found := strings.Cut(kv, ": ")
		if !found || key == "" || strings.ContainsAny(key, " '\"") {
			return nil, false
		}
		if key != "type" && key != "status" && key != "lastTransitionTime" {
			continue
		}
		v, ok := simpleScalar(val)
		if !ok {
			return nil, false
		}
		cur[key] = v
	}
	return out, flush() && len(out) > 0
}

// simpleScalar is the value of a one-line plain or quoted scalar without
// escapes; ok is false for anything else.
func simpleScalar(v string) (string, bool) {
	if v == "" || strings.ContainsAny(v, "\\#") {
		return "", false
	}
	switch q := v[0]; q {
	case '"', '\'':
		if len(v) < 2 || v[len(v)-1] != q || strings.IndexByte(v[1:len(v)-1], q) >= 0 {
			return "", false
		}
		return v[1 : len(v)-1], true
	case '[', '{', '&', '*', '!', '|', '>', '%', '@', '`':
		return "", false
	}
	return v, true
}

// Cache holds what reconciles learnt of the status files they wrote or
// read (see above), and the documents decoded from input files (by path
// and content digest: an unchanged file is not parsed again), for the
// reconciles of any namespace that are given it.
// It is safe for concurrent use, and its zero value is an empty cache. It
// is emptied when it reaches cacheLimit entries, which bounds its memory.
// A nil *Cache remembers nothing: results are the same, only slower.
type Cache struct {
	mu       sync.Mutex
	statuses map[string]*oldStatus
	// inputs are the decoded input files (namespaces.LoadCached), unless
	// noInputs.
	inputs   namespaces.DecodeCache
	noInputs bool
}

const cacheLimit = 1 << 17

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{} }

// NewOnePassCache returns an empty Cache for a process that reconciles
// each namespace once (`skupperd reconcile`): it keeps what the status
// index needs but no decoded input, which would only double the memory of
// the one pass.
func NewOnePassCache() *Cache { return &Cache{noInputs: true} }

// onePass reports whether the Cache is a NewOnePassCache.
func (m *Cache) onePass() bool { return m != nil && m.noInputs }

// decoder is the cache of decoded input files (nil without a Cache).
func (m *Cache) decoder() *namespaces.DecodeCache {
	if m == nil || m.noInputs {
		return nil
	}
	return &m.inputs
}

func (m *Cache) status(path string) *oldStatus {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statuses[path]
}

func (m *Cache) setStatus(path string, o *oldStatus) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.statuses == nil {
		m.statuses = map[string]*oldStatus{}
	} else if len(m.statuses) >= cacheLimit {
		clear(m.statuses)
	}
	m.statuses[path] = o
}

// forget drops the entries of removed status files.
func (m *Cache) forget(ns namespaces.Namespace, keys []v2alpha1.Key) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.statuses, ns.StatusPath(k))
	}
}

// decodeConditions returns the conditions of the status file data by type;
// nil when it does not decode as one resource.
func decodeConditions(path string, data []byte) prevConditions {
	docs, diags := v2alpha1.Decode(path, data)
	if len(docs) != 1 || diags.HasErrors() {
		return nil
	}
	st := docs[0].Object.GetStatus()
	if st == nil {
		return nil
	}
	c := make(prevConditions, 0, len(st.Conditions))
	for _, cond := range st.Conditions {
		c = c.set(cond.Type, cond.Status, cond.LastTransitionTime)
	}
	return c
}

// fillStatus computes the status of one resource.
func (r *run) fillStatus(d *v2alpha1.Document) {
	k := d.Key()
	st := d.Object.GetStatus()
	*st = v2alpha1.ResourceStatus{}
	c := r.conditionsFor(k)
	if errs := d.Diags.Errors(); len(errs) > 0 {
		c.failWith(st, r.relative(errs[0]))
		return
	}
	if msg, bad := r.problems[k]; bad {
		c.failWith(st, msg)
		return
	}
	if !r.applied {
		if k.Kind == v2alpha1.KindAttachedConnector {
			r.attachedConnectorStatus(d, c, st)
			return
		}
		c.set(v2alpha1.ConditionConfigured, false, "NoSite", "Not configured: the namespace has no valid Site")
		c.finish(st)
		return
	}
	configured := func() {
		if note, skipped := r.notes[k]; skipped {
			c.set(v2alpha1.ConditionConfigured, false, "NotConfigured", note)
		} else {
			c.set(v2alpha1.ConditionConfigured, true, "Configured", "OK")
		}
	}
	switch o := d.Object.(type) {
	case *v2alpha1.Site:
		configured()
		r.siteRunning(c)
		o.Status.Endpoints = r.siteEndpoints()
		r.observedSite(o)
		if o.Spec.LinkAccessEnabled() {
			c.set(v2alpha1.ConditionResolved, len(o.Status.Endpoints) > 0, "Resolved", "OK")
		}
		r.siteUnbound(c)
		c.finish(st)
	case *v2alpha1.RouterAccess:
		configured()
		o.Status.Endpoints = r.accessEndpoints(o)
		c.set(v2alpha1.ConditionResolved, len(o.Status.Endpoints) > 0, "Resolved", "OK")
		c.finishUnbound(st, r.accessUnbound(o))
	case *v2alpha1.Link:
		configured()
		r.observedLink(o, c)
		c.finish(st)
	case *v2alpha1.Listener:
		configured()
		o.Status.HasMatchingConnector = r.matchesConnector(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingConnector, "Matched", matchMessage(o.Status.HasMatchingConnector, "No matching connectors"))
		c.finishUnbound(st, r.listenerUnbound(o.Name))
	case *v2alpha1.Connector:
		configured()
		o.Status.HasMatchingListener = r.matchesListener(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingListener, "Matched", matchMessage(o.Status.HasMatchingListener, "No matching listeners"))
		c.finish(st)
	case *v2alpha1.AttachedConnectorBinding:
		configured()
		o.Status.HasMatchingListener = r.matchesListener(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingListener, "Matched", matchMessage(o.Status.HasMatchingListener, "No matching listeners"))
		c.finish(st)
	case *v2alpha1.AttachedConnector:
		r.attachedConnectorStatus(d, c, st)
	case *v2alpha1.AccessGrant:
		r.grantStatus(o, c)
	case *v2alpha1.AccessToken:
		r.tokenStatus(o, c)
	}
}

// siteRunning sets the Site's Running condition from the router state.
func (r *run) siteRunning(c *conditions) {
	if r.opts.Router.Running {
		c.set(v2alpha1.ConditionRunning, true, "Running", "OK")
		return
	}
	msg := r.opts.Router.Message
	if msg == "" {
		msg = "No router process observed"
	}
	c.set(v2alpha1.ConditionRunning, false, "NotRunning", msg)
}

func matchMessage(ok bool, otherwise string) string {
	if ok {
		return "OK"
	}
	return otherwise
}

// attachedConnectorStatus reports whether the site namespace binds an
// AttachedConnector of this (workload) namespace.
func (r *run) attachedConnectorStatus(d *v2alpha1.Document, c *conditions, st *v2alpha1.ResourceStatus) {
	ac := d.Object.(*v2alpha1.AttachedConnector)
	bound := false
	siteNS := r.ns.Home.Namespace(ac.Spec.SiteNamespace)
	if snap, err := namespaces.LoadCached(siteNS, r.opts.Cache.decoder()); err == nil {
		for _, bd := range snap.Valid() {
			if b, ok := bd.Object.(*v2alpha1.AttachedConnectorBinding); ok && b.Name == ac.Name && b.Spec.ConnectorNamespace == r.ns.Name {
				bound = true
			}
		}
	}
	if bound {
		c.set(v2alpha1.ConditionConfigured, true, "Bound", fmt.Sprintf("Bound by AttachedConnectorBinding/%s in namespace %q", ac.Name, ac.Spec.SiteNamespace))
	} else {
		c.set(v2alpha1.ConditionConfigured, false, "NotBound", fmt.Sprintf("No AttachedConnectorBinding/%s in namespace %q names this namespace", ac.Name, ac.Spec.SiteNamespace))
	}
	c.finish(st)
}

// routingKeys indexes, once per reconcile (after problems and notes are
// final), the routing keys served by configured connectors (and attached
// ones) and used by configured listeners, so that matching every Listener and
// Connector is linear rather than quadratic in the number of resources.
func (r *run) routingKeys() {
	if r.connectorKeys != nil {
		return
	}
	r.connectorKeys, r.listenerKeys = map[string]bool{}, map[string]bool{}
	for _, d := range r.snap.Valid() {
		_, bad := r.problems[d.Key()]
		_, skipped := r.notes[d.Key()]
		switch o := d.Object.(type) {
		case *v2alpha1.Connector:
			if !bad && !skipped {
				r.connectorKeys[o.Spec.RoutingKey] = true
			}
		case *v2alpha1.AttachedConnectorBinding:
			if !bad && !skipped {
				r.connectorKeys[o.Spec.RoutingKey] = true
			}
		case *v2alpha1.Listener:
			if !bad {
				r.listenerKeys[o.Spec.RoutingKey] = true
			}
		}
	}
}

// localConnector reports whether a configured connector of this namespace
// (or an attached one) serves routingKey.
func (r *run) localConnector(key string) bool {
	r.routingKeys()
	return r.connectorKeys[key]
}

// localListener reports whether a configured listener of this namespace
// uses routingKey.
func (r *run) localListener(key string) bool {
	r.routingKeys()
	return r.listenerKeys[key]
}

// advertiseHost is the host remote sites are told to dial for a
// RouterAccess: its bind host, else this host's first name.
func (r *run) advertiseHost(ra *v2alpha1.RouterAccess) string {
	if h := ra.Spec.BindHost; !v2alpha1.IsWildcardHost(h) {
		return h
	}
	if len(r.creds.hosts) > 0 {
		return r.creds.hosts[0]
	}
	return ""
}

func (r *run) accessEndpoints(ra *v2alpha1.RouterAccess) []v2alpha1.Endpoint {
	if _, bad := r.problems[v2alpha1.KeyOf(ra)]; bad {
		return nil
	}
	host := r.advertiseHost(ra)
	var out []v2alpha1.Endpoint
	for _, role := range ra.Spec.Roles {
		if p := r.ports.Role(ra.Name, role.Name); p != 0 {
			out = append(out, v2alpha1.Endpoint{Name: role.Name, Host: host, Port: v2alpha1.PortString(strconv.Itoa(p)), Group: EndpointGroup})
		}
	}
	return out
}

func (r *run) siteEndpoints() []v2alpha1.Endpoint {
	var out []v2alpha1.Endpoint
	for _, ra := range r.accesses {
		out = append(out, r.accessEndpoints(ra)...)
	}
	return out
}

func (r *run) writeSummary() error {
	s := namespaces.Summary{
		Namespace: r.ns.Name, Outcome: r.res.Outcome, SiteID: r.siteID,
		InputHash: r.res.InputHash, LastReconcile: r.now.UTC().Format(time.RFC3339Nano),
		DurationMS: float64(r.res.Duration.Microseconds()) / 1000,
		Router:     "NotRunning",
	}
	if r.opts.Router.Running {
		s.Router = "Running"
	} else if r.opts.Router.Message != "" {
		s.Router = "NotRunning: " + r.opts.Router.Message
	}
	if r.site != nil {
		s.Site = r.site.Name
	}
	r.res.Diagnostics = r.res.Diagnostics.Sort()
	for _, d := range r.res.Diagnostics {
		if d.IsError() {
			s.Errors = append(s.Errors, d.Error())
		} else {
			s.Warnings = append(s.Warnings, d.Error())
		}
	}
	return r.ns.WriteSummary(s)
}

// statusPath is r.ns.StatusPath(k) without cleaning the whole path again
// (a pass asks for it several times per resource): the status directory
// is a clean path, and the file name of a valid name is one element.
func (r *run) statusPath(k v2alpha1.Key) string {
	name := k.FileName()
	if r.statusDir == "" || strings.ContainsRune(name, filepath.Separator) {
		return r.ns.StatusPath(k)
	}
	return r.statusDir + string(filepath.Separator) + name
}

// jsonBuffers hold the JSON of statuses being compared: most statuses are
// unchanged, and their JSON is only digested, so it need not be allocated
// each time.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// yamlBuffers hold the YAML of statuses being written (the bytes are
// written, hashed and dropped).
var yamlBuffers = sync.Pool{New: func() any { return new([]byte) }}

// encodeJSON returns json.Marshal(v), encoded into buf (reset first); the
// result is valid until buf is used again.
func encodeJSON(buf *bytes.Buffer, v any) ([]byte, error) {
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
