package v2alpha1

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHugeNamesAbbreviated: a 100,000-character name (and host) in a file
// is refused quickly, and no diagnostic repeats the whole value.
func TestHugeNamesAbbreviated(t *testing.T) {
	long := strings.Repeat("a", 100000)
	data := "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: " + long +
		"\nspec:\n  routingKey: " + long + "\n  host: " + long + "\n  port: 8080\n" +
		"---\napiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: A" + long + "\nspec:\n  routingKey: x\n  host: " + long + "-\n  port: 8080\n"
	start := time.Now()
	docs, diags := Decode("big.yaml", []byte(data))
	diags = append(diags, Validate("default", docs)...)
	require.Less(t, time.Since(start), 2*time.Second)
	require.NotEmpty(t, diags)
	var name bool
	for _, d := range diags {
		require.Less(t, len(d.Error()), 600, "%.300s", d.Error())
		name = name || strings.Contains(d.Error(), "100000 characters long")
	}
	require.True(t, name, "%v", diags)
}
