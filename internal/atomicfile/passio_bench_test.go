package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skupperd/skupperd/internal/rawfs"
)

// BenchmarkPassIO measures the file I/O floor of a cold 1,000-pair
// reconcile on this machine, and nothing else: read 2,001 small input
// files and atomically replace 2,001 status files (ReplaceDerivedAt), on
// as many workers as the pass uses, with ordinary and with raw system
// calls. The pass cannot be faster than this (issue 14), and the gap
// between the two modes is what internal/rawfs saves.
//
//	go test -run '^$' -bench PassIO -count 5 ./internal/atomicfile/
//
// It runs on tmpfs (/dev/shm) when there is one, as the process
// benchmark of cmd/skupperd does.
func BenchmarkPassIO(b *testing.B) {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	root, err := os.MkdirTemp(base, "skupperd-passio-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	for _, d := range []string{in, out} {
		if err := os.Mkdir(d, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	const files = 2001
	names := make([]string, files)
	for i := range names {
		names[i] = fmt.Sprintf("Listener-l%d.yaml", i)
		body := fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l%d\nspec:\n  routingKey: k%d\n  host: 127.0.0.1\n  port: %d\n", i, i, 1024+i)
		if err := os.WriteFile(filepath.Join(in, names[i]), []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	status := []byte("status:\n  conditions:\n  - lastTransitionTime: \"2026-12-02T07:39:46Z\"\n    message: OK\n    reason: Ready\n    status: \"True\"\n    type: Ready\n  message: OK\n  status: Ready\n")
	for _, mode := range []string{"ordinary", "raw"} {
		b.Run("calls="+mode, func(b *testing.B) {
			if mode == "raw" {
				if fsType, ok := rawfs.EnableFor(root); !ok {
					b.Skipf("%s is on %s: no raw calls there", root, fsType)
				}
				b.Cleanup(rawfs.Disable)
			}
			inFD, err := unix.Open(in, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(inFD)
			outFD, err := unix.Open(out, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(outFD)
			for b.Loop() {
				var next atomic.Int64
				var failed atomic.Value
				var wg sync.WaitGroup
				for range runtime.GOMAXPROCS(0) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, 4096)
						for {
							i := int(next.Add(1)) - 1
							if i >= files {
								return
							}
							if err := readAt(inFD, names[i], buf); err != nil {
								failed.Store(err)
								return
							}
							data := append(buf[:0:0], status...)
							if err := ReplaceDerivedAt(outFD, out, names[i], data, 0o600); err != nil {
								failed.Store(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readAt reads the small file name of the directory open as dirfd as the
// loader does: open, fstat, read, close.
func readAt(dirfd int, name string, buf []byte) error {
	fd, err := rawfs.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer rawfs.Close(fd)
	var st unix.Stat_t
	if err := rawfs.Fstat(fd, &st); err != nil {
		return err
	}
	_, err = rawfs.Read(fd, buf)
	return err
}
