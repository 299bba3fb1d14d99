package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/namespaces"
)

// TestHugeNameRefusedQuickly: a 100,000-character name is refused at
// once, with a message that quotes only the start of it.
func TestHugeNameRefusedQuickly(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	name := strings.Repeat("a", 100000)
	for _, args := range [][]string{
		{"listener", "create", name, "8080"},
		{"connector", "create", name, "8080"},
		{"site", "create", name},
		{"listener", "status", name},
		{"listener", "delete", name},
	} {
		start := time.Now()
		r := c.run(args...)
		require.NotEqual(t, 0, r.code, "%s", args[:2])
		require.Less(t, time.Since(start), 2*time.Second, "%s", args[:2])
		require.Less(t, len(r.stdout)+len(r.stderr), 1000, "%s: %s%s", args[:2], r.stdout, r.stderr[:min(len(r.stderr), 400)])
		require.Contains(t, r.stdout+r.stderr, "100000 characters long", "%s", args[:2])
	}
}

// runWithin runs the CLI and fails the test if it has not finished within
// timeout (a hang); unblock is called then, to let the run end.
func (c *cli) runWithin(timeout time.Duration, unblock func(), args ...string) result {
	c.t.Helper()
	done := make(chan result, 1)
	go func() { done <- c.run(args...) }()
	select {
	case r := <-done:
		return r
	case <-time.After(timeout):
		unblock()
		<-done
		c.t.Fatalf("skupper %s hung", strings.Join(args, " "))
		return result{}
	}
}

// TestCLIInputFIFO: a FIFO in input/resources is a diagnostic, not a hang.
func TestCLIInputFIFO(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	fifo := filepath.Join(c.ns("default").InputResourcesDir(), "pipe.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	unblock := func() {
		// Opening the write end releases a reader blocked in open.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
	r := c.runWithin(10*time.Second, unblock, "listener", "create", "db", "5432")
	require.Equal(t, 0, r.code, "%s%s", r.stdout, r.stderr)
	r = c.runWithin(10*time.Second, unblock, "listener", "status")
	require.Equal(t, 0, r.code, "%s%s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "db")
	r = c.runWithin(10*time.Second, unblock, "system", "validate")
	require.Contains(t, r.stdout+r.stderr, "pipe.yaml")
	require.Contains(t, r.stdout+r.stderr, "not a regular file")
}

// TestCLIInputUnreadableAndHugeFiles: one unreadable file, or one over
// 4 MiB, is a diagnostic for that file; every command still works.
func TestCLIInputUnreadableAndHugeFiles(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		make       func(t *testing.T, path string)
	}{
		{"symlink loop", "cannot", func(t *testing.T, path string) {
			require.NoError(t, os.Symlink(filepath.Base(path), path))
		}},
		{"over 4 MiB", "limited to", func(t *testing.T, path string) {
			data := append([]byte("# "), bytes.Repeat([]byte("x"), namespaces.MaxInputFileSize)...)
			require.NoError(t, os.WriteFile(path, data, 0o600))
		}},
		{"unreadable", "cannot read", func(t *testing.T, path string) {
			if os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			require.NoError(t, os.WriteFile(path, []byte("kind: Site\n"), 0o000))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			c.ok("site", "create", "west")
			tc.make(t, filepath.Join(c.ns("default").InputResourcesDir(), "bad.yaml"))
			c.ok("listener", "create", "db", "5432")
			r := c.ok("listener", "status")
			require.Contains(t, r.stdout, "db")
			c.ok("connector", "create", "db", "5432", "--host", "127.0.0.1")
			c.ok("listener", "delete", "db")
			r = c.run("system", "validate")
			require.Contains(t, r.stdout+r.stderr, "bad.yaml")
			require.Contains(t, r.stdout+r.stderr, tc.want)
		})
	}
}

// TestConcurrentCreatesSamePort: N "listener create" with the same port at
// the same moment: exactly one succeeds, the others are refused (exit 2),
// and the input stays valid. Repeated over several ports.
func TestConcurrentCreatesSamePort(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	const n, rounds = 8, 10
	for round := range rounds {
		port := fmt.Sprint(20000 + round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		codes := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i] = c.run("listener", "create", fmt.Sprintf("l%d-%d", round, i), port).code
			}()
		}
		close(start)
		wg.Wait()
		count := map[int]int{}
		for _, code := range codes {
			count[code]++
		}
		require.Equal(t, map[int]int{0: 1, 2: n - 1}, count, "round %d", round)
		snap, err := namespaces.Load(c.ns("default"))
		require.NoError(t, err)
		require.False(t, snap.Diagnostics.HasErrors(), "round %d: %v", round, snap.Diagnostics)
	}
}
