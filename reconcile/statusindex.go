package reconcile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// The status index, runtime/resources/.status-index (a dot file: loaders,
// the CLI and watchers skip it), carries what a Cache knows of
// the namespace's status files (see oldStatus) from one process to the
// next, so that `skupperd reconcile` (a new process each time, an empty
// Cache) and a restarted daemon need neither read every status file nor
// encode every status to find that nothing changed. It is derived: written
// atomically by `skupperd reconcile` whenever the status files change, and
// by the daemon when it had to read status files the index did not vouch
// for (not on every change: entries of files changed since are simply not
// trusted); never trusted beyond what an lstat confirms (an entry counts
// only while its file has the inode, size and times recorded), and
// ignored whole when it does not parse.
//
// Format: a header line, then one line per status file, tab-separated:
// file name, device, inode, size, mtime and ctime (seconds, nanoseconds),
// mode, perm ok (0/1), SHA-256 of the file, SHA-256 of the JSON it was
// encoded from, then type, status and lastTransitionTime per condition.

const statusIndexHeader = "skupperd status index 1"

func (r *run) statusIndexPath() string {
	return filepath.Join(r.ns.StatusDir(), ".status-index")
}

// loadStatusIndex reads the namespace's status index by file name; nil
// when there is none or it does not parse.
func (r *run) loadStatusIndex() map[string]*oldStatus {
	data, err := os.ReadFile(r.statusIndexPath())
	if err != nil {
		return nil
	}
	text := string(data)
	header, rest, _ := strings.Cut(text, "\n")
	if header != statusIndexHeader {
		return nil
	}
	out := map[string]*oldStatus{}
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		name, o, ok := parseIndexLine(line)
		if !ok {
			return nil
		}
		out[name] = o
	}
	return out
}

func parseIndexLine(line string) (string, *oldStatus, bool) {
	f := strings.Split(line, "\t")
	if len(f) < 12 || (len(f)-12)%3 != 0 {
		return "", nil, false
	}
	id, ok := parseFileID(f[1:9])
	if !ok {
		return "", nil, false
	}
	if p, err := strconv.ParseInt(f[9], 10, 64); err != nil || (p != 0 && p != 1) {
		return "", nil, false
	}
	o := &oldStatus{exists: true, perm: f[9] == "1", id: id}
	if hex.DecodedLen(len(f[10])) != len(o.sum) || hex.DecodedLen(len(f[11])) != len(o.jsum) {
		return "", nil, false
	}
	if _, err := hex.Decode(o.sum[:], []byte(f[10])); err != nil {
		return "", nil, false
	}
	if _, err := hex.Decode(o.jsum[:], []byte(f[11])); err != nil {
		return "", nil, false
	}
	for i := 12; i < len(f); i += 3 {
		// Cloned: substrings would keep the whole index text alive.
		o.conds = o.conds.set(strings.Clone(f[i]), strings.Clone(f[i+1]), strings.Clone(f[i+2]))
	}
	return f[0], o, true
}

// writeStatusIndex records what the Cache knows of the status files of
// keys (the namespace's, after this reconcile). Without a Cache it removes
// the index, which could otherwise outlive the files it describes.
func (r *run) writeStatusIndex(keys []v2alpha1.Key) error {
	path := r.statusIndexPath()
	if r.opts.Cache == nil {
		if err := atomicfile.RemoveDerived(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].FileName() < keys[j].FileName() })
	var b bytes.Buffer
	b.Grow(len(keys) * indexLineGuess) // one allocation, not a doubling series
	b.WriteString(statusIndexHeader + "\n")
	for _, k := range keys {
		o := r.opts.Cache.status(r.statusPath(k))
		if o == nil || !o.exists {
			continue
		}
		appendIndexLine(&b, k.FileName(), o)
	}
	if err := atomicfile.MkdirAll(r.ns.StatusDir(), namespaces.DirPerm); err != nil {
		return err
	}
	return atomicfile.WriteDerived(path, b.Bytes(), namespaces.FilePerm)
}

// indexLineGuess is about the length of an index line (a name, the file's
// identity and digest, three conditions).
const indexLineGuess = 400

func appendIndexLine(b *bytes.Buffer, name string, o *oldStatus) {
	if !indexSafe(name) {
		return
	}
	for _, c := range o.conds {
		if !indexSafe(c.typ) || !indexSafe(c.status) || !indexSafe(c.lastTransitionTime) {
			return
		}
	}
	perm := "0"
	if o.perm {
		perm = "1"
	}
	b.WriteString(name)
	appendFileID(b, o.id)
	b.WriteString("\t" + perm + "\t" + hex.EncodeToString(o.sum[:]) + "\t" + hex.EncodeToString(o.jsum[:]))
	for _, c := range o.conds {
		b.WriteString("\t" + c.typ + "\t" + c.status + "\t" + c.lastTransitionTime)
	}
	b.WriteByte('\n')
}

// indexSafe reports whether s can be a field of an index line.
func indexSafe(s string) bool { return !strings.ContainsAny(s, "\t\n") }
