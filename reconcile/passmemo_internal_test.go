package reconcile

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseMemoEntry checks that any line parses without panicking, and
// that an entry the memo writes reads back as itself.
func FuzzParseMemoEntry(f *testing.F) {
	f.Add("F\tnamespaces/west/input/resources/a.yaml\t26\t1967685\t123\t1796163184\t858262013\t1796163184\t858262013\t33188", "a.yaml", int64(123))
	f.Add("D\tnamespaces/west\t1\t2\t3\t4\t5\t6\t7\t8", "west", int64(0))
	f.Add("L\tnamespaces/west/internal\tports.yaml/site-id", "x", int64(-1))
	f.Add("A\tnamespaces/east/internal/ports.yaml", "", int64(1))
	f.Add("F\tx\t1\t2\t3\t4\t5\t6\t7\t8\t9", "y", int64(2))
	f.Fuzz(func(t *testing.T, line, name string, n int64) {
		parseMemoEntry(line) // must not panic

		if strings.ContainsAny(name, "\t\n") {
			return
		}
		for _, e := range []memoEntry{
			{kind: 'F', rel: "dir/" + name, id: fileID{Dev: uint64(n), Ino: uint64(n) * 3, Size: n, Mtime: unix.Timespec{Sec: n, Nsec: -n}, Ctime: unix.Timespec{Sec: 1, Nsec: n}, Mode: uint32(n)}},
			{kind: 'D', rel: name, id: fileID{Size: n}},
			{kind: 'A', rel: name},
			{kind: 'L', rel: "internal", names: name},
		} {
			var b bytes.Buffer
			e.append(&b)
			got, ok := parseMemoEntry(strings.TrimSuffix(b.String(), "\n"))
			if !ok || got != e {
				t.Fatalf("entry %+v wrote %q, read back %+v (%v)", e, b.String(), got, ok)
			}
		}
	})
}
