package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotateAndTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "skupperd.log")
	l, err := Open(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := fmt.Fprintf(l, "line %02d\n", i); err != nil { // 8 bytes each
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 100 {
			t.Errorf("%s has %d bytes, over the cap", p, fi.Size())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
	}
	got, err := Tail(path, 60)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if lines[len(lines)-1] != "line 29" {
		t.Errorf("tail ends with %q, want the last line", lines[len(lines)-1])
	}
	for _, ln := range lines {
		if !strings.HasPrefix(ln, "line ") || len(ln) != 7 {
			t.Errorf("tail holds a partial line %q:\n%s", ln, got)
		}
	}
	// Spanning both files, in order.
	got, err = Tail(path, 150)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] <= lines[i-1] {
			t.Errorf("lines out of order: %q then %q", lines[i-1], lines[i])
		}
	}
	if got, err := Tail(filepath.Join(t.TempDir(), "missing.log"), 10); err != nil || len(got) != 0 {
		t.Errorf("Tail of a missing log = %q, %v", got, err)
	}
}
