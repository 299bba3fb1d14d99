package atomicfile

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// umask caches the process's file mode creation mask. It is read once,
// from /proc/self/status (reading it with umask(2) would change it for a
// moment under other goroutines); skupperd never changes its umask, which
// systemd or the shell set before it starts.
var umask struct {
	sync.Mutex
	read bool
	mask int // -1: unknown
}

// processUmask returns the process's umask, or -1 when it is unknown (the
// writer then sets every file's mode explicitly).
func processUmask() int {
	umask.Lock()
	defer umask.Unlock()
	if !umask.read {
		umask.mask, umask.read = readUmask(), true
	}
	return umask.mask
}

// forgetUmask makes the next write read the umask again (for tests that
// change it).
func forgetUmask() {
	umask.Lock()
	umask.read = false
	umask.Unlock()
}

func readUmask() int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("Umask:")); ok {
			m, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32)
			if err != nil || m > 0o777 {
				return -1
			}
			return int(m)
		}
	}
	return -1
}
