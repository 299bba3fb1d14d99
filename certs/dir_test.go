package certs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

func mtime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.ModTime()
}

func TestWriteReadDir(t *testing.T) {
	ca := mustCA(t, "skupper-site-ca", t0)
	leaf := mustIssue(t, ca, Request{CommonName: "s", Hosts: []string{"localhost"}, Usage: ServerAuth}, t0)
	dir := filepath.Join(t.TempDir(), "runtime", "certs", "skupper-router")
	files := []string{CAFile, CertFile, KeyFile}

	changed, err := WriteDir(dir, leaf)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, fs.FileMode(0o700), fileMode(t, dir))
	assert.Equal(t, fs.FileMode(0o600), fileMode(t, filepath.Join(dir, KeyFile)))
	assert.Equal(t, fs.FileMode(0o644), fileMode(t, filepath.Join(dir, CertFile)))
	assert.Equal(t, fs.FileMode(0o644), fileMode(t, filepath.Join(dir, CAFile)))

	got, err := ReadDir(dir)
	require.NoError(t, err)
	assert.Equal(t, leaf, got)

	// Same bundle again: nothing is rewritten, mtimes stay.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, f := range files {
		require.NoError(t, os.Chtimes(filepath.Join(dir, f), old, old))
	}
	changed, err = WriteDir(dir, leaf)
	require.NoError(t, err)
	assert.False(t, changed)
	for _, f := range files {
		assert.True(t, old.Equal(mtime(t, filepath.Join(dir, f))), "%s mtime changed", f)
	}

	// A renewed leaf under the same CA rewrites tls.crt and tls.key only.
	renewed := mustIssue(t, ca, Request{CommonName: "s", Hosts: []string{"localhost"}, Usage: ServerAuth}, t0.Add(time.Hour))
	changed, err = WriteDir(dir, renewed)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.True(t, old.Equal(mtime(t, filepath.Join(dir, CAFile))), "ca.crt untouched")
	assert.False(t, old.Equal(mtime(t, filepath.Join(dir, CertFile))))
	assert.False(t, old.Equal(mtime(t, filepath.Join(dir, KeyFile))))
	got, err = ReadDir(dir)
	require.NoError(t, err)
	assert.Equal(t, renewed, got)

	// A wrong mode alone is repaired.
	require.NoError(t, os.Chmod(filepath.Join(dir, KeyFile), 0o644))
	changed, err = WriteDir(dir, renewed)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, fs.FileMode(0o600), fileMode(t, filepath.Join(dir, KeyFile)))

	// An empty Key removes tls.key; a trust-only bundle round-trips.
	trust := Bundle{CA: ca.Cert, Cert: ca.Cert}
	changed, err = WriteDir(dir, trust)
	require.NoError(t, err)
	assert.True(t, changed)
	_, err = os.Stat(filepath.Join(dir, KeyFile))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	got, err = ReadDir(dir)
	require.NoError(t, err)
	assert.Equal(t, trust, got)
	changed, err = WriteDir(dir, trust)
	require.NoError(t, err)
	assert.False(t, changed, "removing an absent file is no change")

	// Leftover temporary files: none.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), "."), "leftover %s", e.Name())
	}
}

func TestWriteDirTightensDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "loose")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	ca := mustCA(t, "ca", t0)
	changed, err := WriteDir(dir, ca)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, fs.FileMode(0o700), fileMode(t, dir))
}

func TestWriteDirErrors(t *testing.T) {
	_, err := WriteDir("", Bundle{})
	assert.ErrorContains(t, err, "empty directory name")

	// A directory where tls.crt should be is never replaced.
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, CertFile), 0o700))
	_, err = WriteDir(dir, mustCA(t, "ca", t0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write credentials")

	// The parent is a file.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = WriteDir(filepath.Join(file, "sub"), Bundle{})
	require.Error(t, err)
}

func TestReadDir(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		_, err := ReadDir(filepath.Join(t.TempDir(), "absent"))
		require.Error(t, err)
		assert.True(t, errors.Is(err, fs.ErrNotExist), "error %v must wrap fs.ErrNotExist", err)
	})
	t.Run("empty directory", func(t *testing.T) {
		b, err := ReadDir(t.TempDir())
		require.NoError(t, err)
		assert.Equal(t, Bundle{}, b)
	})
	t.Run("partial bundle", func(t *testing.T) {
		dir := t.TempDir()
		ca := mustCA(t, "ca", t0)
		require.NoError(t, os.WriteFile(filepath.Join(dir, CAFile), ca.Cert, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), nil, 0o600))
		b, err := ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, Bundle{CA: ca.Cert}, b, "an empty file reads as missing")
	})
	t.Run("symlinked file", func(t *testing.T) {
		dir, elsewhere := t.TempDir(), t.TempDir()
		ca := mustCA(t, "ca", t0)
		target := filepath.Join(elsewhere, "real.crt")
		require.NoError(t, os.WriteFile(target, ca.Cert, 0o644))
		require.NoError(t, os.Symlink(target, filepath.Join(dir, CAFile)))
		b, err := ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, ca.Cert, b.CA)
	})
	t.Run("not a directory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := ReadDir(file)
		assert.ErrorContains(t, err, "is not a directory")
	})
	t.Run("file too large", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), make([]byte, MaxFileSize+1), 0o644))
		_, err := ReadDir(dir)
		assert.ErrorContains(t, err, "larger than 1 MiB")
	})
	t.Run("exactly 1 MiB is fine", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), make([]byte, MaxFileSize), 0o644))
		b, err := ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, b.Cert, MaxFileSize)
	})
	t.Run("directory as file", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, KeyFile), 0o700))
		_, err := ReadDir(dir)
		assert.ErrorContains(t, err, "is not a regular file")
	})
}
