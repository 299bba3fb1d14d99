package fsstamp

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skupperd/skupperd/internal/rawfs"
)

// stampOf stamps dir the way the daemon stamps a namespace: a tree, the
// children of one directory and two paths.
func stampOf(t *testing.T, dir string) string {
	t.Helper()
	fd, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseDir(fd)
	s := New()
	s.Tree(fd, "input", 2)
	s.Children(fd, "runtime/certs")
	s.Path(fd, "runtime/router.json")
	s.Path(fd, "internal/reload-request")
	return s.Sum()
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every change the daemon relies on changes the digest; looking again
// without a change does not. With raw calls on and off.
func TestStampSeesChanges(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(map[bool]string{false: "ordinary", true: "raw"}[raw], func(t *testing.T) {
			base := t.TempDir()
			if raw {
				if fsType, ok := rawfs.EnableFor(base); !ok {
					// Try tmpfs before giving up on the raw calls.
					shm, err := os.MkdirTemp("/dev/shm", "fsstamp-test-")
					if err != nil {
						t.Skipf("the temp dir is on %s, not a local filesystem, and there is no /dev/shm", fsType)
					}
					t.Cleanup(func() { os.RemoveAll(shm) })
					if _, ok := rawfs.EnableFor(shm); !ok {
						t.Skipf("neither the temp dir (%s) nor /dev/shm is a local filesystem", fsType)
					}
					base = shm
				}
				t.Cleanup(rawfs.Disable)
			}
			later := time.Now().Add(time.Hour)
			changes := []struct {
				name   string
				change func(dir string)
			}{
				{"a resource edited in place, same size", func(dir string) {
					write(t, filepath.Join(dir, "input/resources/site.yaml"), "kind: Sitf\n")
				}},
				{"a resource's mtime", func(dir string) {
					_ = os.Chtimes(filepath.Join(dir, "input/resources/site.yaml"), later, later)
				}},
				{"a resource's mode", func(dir string) { _ = os.Chmod(filepath.Join(dir, "input/resources/site.yaml"), 0o600) }},
				{"a resource added", func(dir string) { write(t, filepath.Join(dir, "input/resources/more.yaml"), "x") }},
				{"a resource removed", func(dir string) { _ = os.Remove(filepath.Join(dir, "input/resources/site.yaml")) }},
				{"a file two levels down", func(dir string) { write(t, filepath.Join(dir, "input/certs/c1/tls.crt"), "CERT2") }},
				{"a certificate directory's file replaced", func(dir string) {
					write(t, filepath.Join(dir, "runtime/certs/ca/new"), "x")
					_ = os.Rename(filepath.Join(dir, "runtime/certs/ca/new"), filepath.Join(dir, "runtime/certs/ca/tls.crt"))
				}},
				{"a certificate directory removed", func(dir string) { _ = os.RemoveAll(filepath.Join(dir, "runtime/certs/ca")) }},
				{"the router config replaced", func(dir string) { write(t, filepath.Join(dir, "runtime/router.json"), "{\"b\":2}") }},
				{"a reload requested", func(dir string) { write(t, filepath.Join(dir, "internal/reload-request"), "1") }},
			}
			for i, c := range changes {
				dir := filepath.Join(base, "ns", string(rune('a'+i)))
				write(t, filepath.Join(dir, "input/resources/site.yaml"), "kind: Site\n")
				write(t, filepath.Join(dir, "input/certs/c1/tls.crt"), "CERT")
				write(t, filepath.Join(dir, "runtime/certs/ca/tls.crt"), "CA")
				write(t, filepath.Join(dir, "runtime/router.json"), "{\"a\":1}")
				if err := os.MkdirAll(filepath.Join(dir, "internal"), 0o755); err != nil {
					t.Fatal(err)
				}
				before := stampOf(t, dir)
				if again := stampOf(t, dir); again != before {
					t.Fatalf("%s: the digest changed without a change", c.name)
				}
				c.change(dir)
				if after := stampOf(t, dir); after == before {
					t.Errorf("%s: the digest did not change", c.name)
				}
			}
		})
	}
}

// A directory that does not exist is stamped as missing, and differs from
// an empty one.
func TestStampMissing(t *testing.T) {
	dir := t.TempDir()
	missing := stampOf(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "input"), 0o755); err != nil {
		t.Fatal(err)
	}
	if stampOf(t, dir) == missing {
		t.Fatal("an empty input directory stamps like a missing one")
	}
	if _, err := OpenDir(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("OpenDir of a missing directory succeeded")
	}
}
