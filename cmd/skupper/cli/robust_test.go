package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
