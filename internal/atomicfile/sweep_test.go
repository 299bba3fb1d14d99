package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepTemp(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	old := before.Add(-time.Minute)
	files := map[string]bool{ // path → removed
		filepath.Join(root, ".x.yaml.tmp-1"):   true,
		filepath.Join(sub, ".tls.key.tmp-99"):  true,
		filepath.Join(sub, "tls.key"):          false, // not a temporary file
		filepath.Join(sub, ".hidden"):          false,
		filepath.Join(sub, ".y.tmp-12a"):       false,
		filepath.Join(root, ".new.yaml.tmp-2"): false, // written since before: a write in progress
	}
	for p := range files {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) != ".new.yaml.tmp-2" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		} else if err := os.Chtimes(p, before.Add(time.Minute), before.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var reported []string
	SweepTemp(root, before, func(path string, err error) {
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		reported = append(reported, path)
	})
	for p, removed := range files {
		_, err := os.Stat(p)
		if removed != os.IsNotExist(err) {
			t.Errorf("%s: removed %v, want %v", p, os.IsNotExist(err), removed)
		}
	}
	if len(reported) != 2 {
		t.Errorf("reported %v, want the 2 removed files", reported)
	}
	SweepTemp(filepath.Join(root, "missing"), before, nil) // a missing root is no error
}
