package reconcile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// Certificates rotate through sslProfile ordinals
// (shared/reference/router-runtime.md §3.5): when the credentials in a
// runtime/certs directory change (a renewal, a new bundle in input), the
// ordinal of its sslProfile goes up by one, so that the hot apply's
// UPDATE of the profile carries a new ordinal. A connector (a Link) then
// opens a second connection group with the new credentials while the old
// group keeps carrying its flows and stops reconnecting; listeners serve
// the new certificate to new connections. skupperd never raises
// oldestValidOrdinal: that closes the old group at once, cutting its
// flows, so old connections are left to end on their own.
//
// The ordinals live in internal/tls-ordinals.yaml, with a digest of what
// each directory held when its ordinal was set, so that a change is
// counted once, even across a crash between writing the certificate and
// the configuration.

// OrdinalsFile is the name of the ordinals file under internal/.
const OrdinalsFile = "tls-ordinals.yaml"

type ordinalEntry struct {
	Ordinal int64  `json:"ordinal"`
	Digest  string `json:"digest"`
}

type ordinalTable struct {
	Profiles map[string]ordinalEntry `json:"profiles,omitempty"`
}

// ordinalsPath is the namespace's ordinals file.
func ordinalsPath(ns namespaces.Namespace) string {
	return filepath.Join(ns.InternalDir(), OrdinalsFile)
}

// tlsOrdinals returns the sslProfile ordinal of each runtime/certs
// directory in use (by directory), bumping those whose content changed
// since their ordinal was set, and keeps the ordinals file.
func (r *run) tlsOrdinals() (map[string]int64, error) {
	path := ordinalsPath(r.ns)
	var old ordinalTable
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(data, &old); err != nil {
			// Damaged: start over (ordinals only need to grow from the
			// router's point of view when content changes).
			old = ordinalTable{}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	next := ordinalTable{Profiles: map[string]ordinalEntry{}}
	out := map[string]int64{}
	for dir, digest := range r.creds.digests {
		e, ok := old.Profiles[dir]
		switch {
		case !ok:
			e = ordinalEntry{Digest: digest}
		case e.Digest != digest:
			e = ordinalEntry{Ordinal: e.Ordinal + 1, Digest: digest}
		}
		next.Profiles[dir] = e
		out[dir] = e.Ordinal
	}
	data, err = yaml.Marshal(next)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.MkdirAll(r.ns.InternalDir(), namespaces.DirPerm); err != nil {
		return nil, err
	}
	if _, err := atomicfile.WriteFileIfChanged(path, data, namespaces.FilePerm); err != nil {
		return nil, err
	}
	return out, nil
}
