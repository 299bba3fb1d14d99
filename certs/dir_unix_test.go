//go:build unix

package certs

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadDirFIFO: a FIFO in place of a bundle file is refused without
// blocking on open.
func TestReadDirFIFO(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, CAFile), 0o600))
	_, err := ReadDir(dir)
	assert.ErrorContains(t, err, "is not a regular file")
}
