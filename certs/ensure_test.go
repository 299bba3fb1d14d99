package certs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEnsureLeaf(t *testing.T) {
	ca := mustCA(t, "skupper-site-ca", t0)
	req := Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}
	dir := filepath.Join(t.TempDir(), "a", "leaf")

	// Missing: issued, written with private permissions.
	first, changed, err := EnsureLeaf(dir, ca, req, t0)
	require.NoError(t, err)
	require.True(t, changed)
	ok, why := Reusable(first, ca, req, t0)
	require.True(t, ok, why)
	for name, perm := range map[string]os.FileMode{"": DirPerm, KeyFile: KeyPerm, CertFile: CertPerm, CAFile: CertPerm} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, perm, fi.Mode().Perm(), name)
	}

	// Reusable: kept as it is, nothing written.
	again, changed, err := EnsureLeaf(dir, ca, req, t0.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, first, again)

	// Renewal due, other hosts, another issuer: issued again.
	late := t0.Add(DefaultLeafValidity * 3 / 4)
	renewed, changed, err := EnsureLeaf(dir, ca, req, late)
	require.NoError(t, err)
	require.True(t, changed)
	require.NotEqual(t, first.Cert, renewed.Cert)
	other := req
	other.Hosts = []string{"example.com"}
	b, changed, err := EnsureLeaf(dir, ca, other, late)
	require.NoError(t, err)
	require.True(t, changed)
	ok, why = Reusable(b, ca, other, late)
	require.True(t, ok, why)
	ca2 := mustCA(t, "skupper-site-ca", late)
	b, _, err = EnsureLeaf(dir, ca2, other, late)
	require.NoError(t, err)
	require.Equal(t, ca2.Cert, b.CA)

	// A damaged bundle is replaced.
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), []byte("junk"), KeyPerm))
	b, changed, err = EnsureLeaf(dir, ca2, other, late)
	require.NoError(t, err)
	require.True(t, changed)
	ok, why = Reusable(b, ca2, other, late)
	require.True(t, ok, why)

	// Issuing errors match ErrIssue and keep Issue's text.
	_, _, err = EnsureLeaf(dir, ca2, Request{CommonName: "x", Hosts: []string{"bad host"}, Usage: ServerAuth}, late)
	require.ErrorIs(t, err, ErrIssue)
	_, issueErr := Issue(ca2, Request{CommonName: "x", Hosts: []string{"bad host"}, Usage: ServerAuth}, late)
	require.EqualError(t, err, issueErr.Error())

	// Writing errors do not.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, _, err = EnsureLeaf(filepath.Join(file, "leaf"), ca, req, t0)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrIssue))
}
