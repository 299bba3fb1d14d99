package ports

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// TableFile is the name of a namespace's ports table in its internal/ dir.
const TableFile = "ports.yaml"

// tableHeader starts every table file; the reader ignores it.
const tableHeader = "# Ports reserved by this namespace, managed by skupperd. Deleting this file releases them.\n"

// Entry is one reservation in a namespace's ports table.
type Entry struct {
	// Key is the Claim.Key that made the reservation.
	Key string `json:"key"`
	// Role is set for ports the allocator chose (RoleNormal,
	// RoleInterRouter, RoleEdge) and empty for fixed ports.
	Role string `json:"role,omitempty"`
	// Port is the reserved TCP port.
	Port int `json:"port"`
	// Host is the bind host ("" = all interfaces).
	Host string `json:"host,omitempty"`
	// What names the user of the port, for messages.
	What string `json:"what,omitempty"`
}

// table is the file format of <ns>/internal/ports.yaml.
type table struct {
	Ports []Entry `json:"ports"`
}

// TablePath is <ns>/internal/ports.yaml.
func TablePath(n namespaces.Namespace) string {
	return filepath.Join(n.InternalDir(), TableFile)
}

// tableMemo remembers decoded tables by content: a daemon reads every
// namespace's table on every reconcile, and decoding is the costly part.
type tableMemo struct {
	mu      sync.Mutex
	entries map[string]memoEntry // by path
}

type memoEntry struct {
	sum     [sha256.Size]byte
	entries []Entry
}

// read is readTable through the memo.
func (m *tableMemo) read(n namespaces.Namespace) ([]Entry, error) {
	path := TablePath(n)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ports table of namespace %q: %w", n.Name, err)
	}
	sum := sha256.Sum256(data)
	m.mu.Lock()
	if e, ok := m.entries[path]; ok && e.sum == sum {
		m.mu.Unlock()
		return append([]Entry(nil), e.entries...), nil
	}
	m.mu.Unlock()
	entries, err := parseTable(n, path, data)
	if err != nil {
		return nil, err
	}
	m.remember(path, sum, entries)
	return entries, nil
}

// remember records that the table file at path, whose bytes have the
// digest sum, holds entries (sorted). A nil memo remembers nothing.
func (m *tableMemo) remember(path string, sum [sha256.Size]byte, entries []Entry) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[string]memoEntry{}
	}
	m.entries[path] = memoEntry{sum: sum, entries: append([]Entry(nil), entries...)}
}

// parseTable decodes and checks a table's content.
func parseTable(n namespaces.Namespace, path string, data []byte) ([]Entry, error) {
	var t table
	if entries, ok := scanTable(data); ok {
		t.Ports = entries
	} else if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, &CorruptTableError{Path: path, Namespace: n.Name, Err: err}
	}
	seen := map[string]bool{}
	for i, e := range t.Ports {
		var problem string
		switch {
		case e.Key == "":
			problem = "key is empty"
		case seen[e.Key]:
			problem = fmt.Sprintf("key %q appears twice", e.Key)
		case e.Port < 1 || e.Port > v2alpha1.MaxPort:
			problem = fmt.Sprintf("port %d is not in 1-%d", e.Port, v2alpha1.MaxPort)
		case e.Role != "" && !knownRole(e.Role):
			problem = fmt.Sprintf("unknown role %q", e.Role)
		}
		if problem != "" {
			return nil, &CorruptTableError{Path: path, Namespace: n.Name, Err: fmt.Errorf("ports[%d]: %s", i, problem)}
		}
		seen[e.Key] = true
	}
	sortEntries(t.Ports)
	return t.Ports, nil
}

// scanTable reads a table in the layout writeTable gives it (the header,
// "ports:", then entries of "key: value" lines with one-line values), a
// hundred times faster than the YAML decoder; ok is false for anything
// else, which the decoder then reads.
func scanTable(data []byte) ([]Entry, bool) {
	rest, ok := strings.CutPrefix(string(data), tableHeader+"ports:\n")
	if !ok {
		return nil, false
	}
	var out []Entry
	var cur *Entry
	seen := map[string]bool{}
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		var kv string
		switch {
		case strings.HasPrefix(line, "- "):
			out = append(out, Entry{})
			cur, kv = &out[len(out)-1], line[2:]
			clear(seen)
		case strings.HasPrefix(line, "  ") && cur != nil:
			kv = line[2:]
		default:
			return nil, false
		}
		key, val, found := strings.Cut(kv, ": ")
		if !found || seen[key] || !plainTableValue(val) {
			return nil, false
		}
		seen[key] = true
		switch key {
		case "key":
			cur.Key = val
		case "role":
			cur.Role = val
		case "host":
			cur.Host = val
		case "what":
			cur.What = val
		case "port":
			p, err := strconv.Atoi(val)
			if err != nil || strconv.Itoa(p) != val {
				return nil, false
			}
			cur.Port = p
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}

// formatTable writes a table file (the header, then the YAML that
// v2alpha1.MarshalYAML gives the table) without the JSON round trip, when
// every value is one that YAML writes as itself (formatValue); ok is false
// otherwise, and the caller encodes it.
func formatTable(entries []Entry) ([]byte, bool) {
	out := make([]byte, 0, len(tableHeader)+8+len(entries)*96)
	out = append(out, tableHeader+"ports:\n"...)
	if len(entries) == 0 {
		return nil, false
	}
	for _, e := range entries {
		lead := "- "
		field := func(key, val string) bool {
			if val == "" && key != "key" {
				return true // omitempty
			}
			if !formatValue(val) {
				return false
			}
			out = append(out, lead...)
			out = append(out, key...)
			out = append(out, ": "...)
			out = append(out, val...)
			out = append(out, '\n')
			lead = "  "
			return true
		}
		// The keys in the encoder's (alphabetical) order.
		if e.Port < 1 || !field("host", e.Host) || !field("key", e.Key) {
			return nil, false
		}
		out = append(out, "  port: "...)
		out = strconv.AppendInt(out, int64(e.Port), 10)
		out = append(out, '\n')
		if !field("role", e.Role) || !field("what", e.What) {
			return nil, false
		}
	}
	return out, true
}

// formatValue reports whether the YAML encoder writes the string v as
// itself: a plain scalar (plainTableValue) that cannot read as anything but
// a string, because it starts with a letter or is a dotted IPv4 address,
// short enough that no line is folded.
func formatValue(v string) bool {
	if !plainTableValue(v) || len(v) > 60 {
		return false
	}
	if c := v[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return true
	}
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// plainTableValue reports whether v is a plain YAML scalar that reads as
// itself: identifier-like characters and inner spaces only (anything else
// is quoted, and goes to the decoder).
func plainTableValue(v string) bool {
	if v == "" || v[0] == '-' || v[0] == '.' || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '-' || c == '_' || c == ' ') {
			return false
		}
	}
	switch v {
	case "true", "false", "null", "True", "False", "TRUE", "FALSE", "Null", "NULL", "y", "Y", "n", "N", "yes", "no", "Yes", "No", "YES", "NO", "on", "off", "On", "Off", "ON", "OFF":
		return false
	}
	return true
}

// writeTable replaces a namespace's table with entries (durably: fsync'd
// with its directory), unless it already holds those bytes; an empty table
// removes the file. tableUnchanged tells when it need not be called.
func writeTable(n namespaces.Namespace, entries []Entry, memo *tableMemo) error {
	path := TablePath(n)
	if testHookWriteTable != nil {
		if err := testHookWriteTable(n); err != nil {
			return fmt.Errorf("write ports table of namespace %q: %w", n.Name, err)
		}
	}
	if len(entries) == 0 {
		if err := atomicfile.Remove(path); err != nil {
			return fmt.Errorf("release ports of namespace %q: %w", n.Name, err)
		}
		return nil
	}
	sorted := append([]Entry(nil), entries...)
	sortEntries(sorted)
	data, ok := formatTable(sorted)
	if !ok {
		body, err := v2alpha1.MarshalYAML(table{Ports: sorted})
		if err != nil {
			return fmt.Errorf("encode ports table of namespace %q: %w", n.Name, err)
		}
		data = append([]byte(tableHeader), body...)
	}
	if err := atomicfile.MkdirAll(n.InternalDir(), namespaces.DirPerm); err != nil {
		return fmt.Errorf("write ports table of namespace %q: %w", n.Name, err)
	}
	if _, err := atomicfile.WriteFileIfChanged(path, data, namespaces.FilePerm); err != nil {
		return fmt.Errorf("write ports table of namespace %q: %w", n.Name, err)
	}
	// The next read of these bytes needs no parse.
	memo.remember(path, sha256.Sum256(data), sorted)
	return nil
}

// testHookWriteTable, when set by tests, runs before a table is written;
// an error it returns is the write's.
var testHookWriteTable func(n namespaces.Namespace) error

// tableUnchanged reports whether the table of n, which held previous,
// needs no write for entries: the same non-empty entries, in a regular
// file with the right mode.
func tableUnchanged(n namespaces.Namespace, entries, previous []Entry) bool {
	if len(entries) == 0 || !equalEntries(entries, previous) {
		return false
	}
	fi, err := os.Lstat(TablePath(n))
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == namespaces.FilePerm
}

// readAll reads the table of every namespace of the data home. Namespaces
// without a table are absent from the result. Every unreadable table is
// reported (joined); the readable ones are still returned.
func readAll(home namespaces.Home, memo *tableMemo) (map[string][]Entry, error) {
	names, err := home.List()
	if err != nil {
		return nil, fmt.Errorf("read ports tables: %w", err)
	}
	out := map[string][]Entry{}
	var errs []error
	for _, ns := range names {
		entries, err := memo.read(home.Namespace(ns))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(entries) > 0 {
			out[ns] = entries
		}
	}
	return out, errors.Join(errs...)
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Key < es[j].Key })
}

// equalEntries reports whether two tables hold the same entries.
func equalEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	byKey := func(x, y Entry) int { return strings.Compare(x.Key, y.Key) }
	if slices.IsSortedFunc(a, byKey) && slices.IsSortedFunc(b, byKey) {
		return slices.Equal(a, b) // as the allocator and the reader give them
	}
	x, y := append([]Entry(nil), a...), append([]Entry(nil), b...)
	sortEntries(x)
	sortEntries(y)
	return slices.Equal(x, y)
}
