package grantserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// FileStore keeps redemption counts in
// <namespace>/internal/grants/<uid>.redemptions, one small file per grant,
// replaced atomically and fsync-ed on every redemption. The Server
// serialises access per grant; one daemon runs per data home.
type FileStore struct {
	Home namespaces.Home
}

func (s FileStore) path(g Grant) string {
	return filepath.Join(s.Home.Namespace(g.Namespace).InternalDir(), "grants", g.UID+".redemptions")
}

// Count implements Store.
func (s FileStore) Count(g Grant) (int, error) {
	data, err := os.ReadFile(s.path(g))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read redemptions of grant %s/%s: %w", g.Namespace, g.Name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("redemptions file %s is corrupt", s.path(g))
	}
	return n, nil
}

// Record implements Store.
func (s FileStore) Record(g Grant) (int, error) {
	n, err := s.Count(g)
	if err != nil {
		return 0, err
	}
	n++
	if err := atomicfile.MkdirAll(filepath.Dir(s.path(g)), namespaces.DirPerm); err != nil {
		return 0, err
	}
	if err := atomicfile.WriteFile(s.path(g), []byte(strconv.Itoa(n)+"\n"), namespaces.FilePerm); err != nil {
		return 0, fmt.Errorf("record redemption of grant %s/%s: %w", g.Namespace, g.Name, err)
	}
	return n, nil
}
