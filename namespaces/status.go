package namespaces

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
)

// WriteStatus writes obj (the resource as applied, with its status) to
// runtime/resources/<Kind>-<name>.yaml. The file is rewritten only when its
// bytes change, so readers and watchers see no churn. It reports whether it
// wrote. A status file is derived (atomicfile.WriteDerived): it is durable
// once the filesystem is synced.
func (n Namespace) WriteStatus(obj v2alpha1.Object) (bool, error) {
	data, err := v2alpha1.Marshal(obj)
	if err != nil {
		return false, err
	}
	if err := atomicfile.MkdirAll(n.StatusDir(), DirPerm); err != nil {
		return false, err
	}
	return atomicfile.WriteDerivedIfChanged(n.StatusPath(v2alpha1.KeyOf(obj)), data, FilePerm)
}

// ReadStatus reads runtime/resources/<Kind>-<name>.yaml. A missing file
// returns an error wrapping fs.ErrNotExist.
func (n Namespace) ReadStatus(k v2alpha1.Key) (v2alpha1.Object, error) {
	path := n.StatusPath(k)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read status of %s: %w", k, err)
	}
	docs, diags := v2alpha1.Decode(path, data)
	if len(docs) != 1 || diags.HasErrors() {
		return nil, fmt.Errorf("read status of %s: %w", k, errOr(diags.Err(), "file holds no single resource"))
	}
	return docs[0].Object, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// ListStatus returns the keys of all status files present, sorted by file
// name. Files that do not follow <Kind>-<name>.yaml are skipped.
func (n Namespace) ListStatus() ([]v2alpha1.Key, error) {
	entries, err := os.ReadDir(n.StatusDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list status files: %w", err)
	}
	var out []v2alpha1.Key
	for _, e := range entries {
		if k, ok := ParseStatusFileName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, k)
		}
	}
	return out, nil
}

// ParseStatusFileName parses "<Kind>-<name>.yaml" for a known kind.
func ParseStatusFileName(file string) (v2alpha1.Key, bool) {
	base, ok := strings.CutSuffix(file, ".yaml")
	if !ok || IgnoredName(file) {
		return v2alpha1.Key{}, false
	}
	kind, name, ok := strings.Cut(base, "-")
	if !ok || v2alpha1.APIVersionOf(kind) == "" || v2alpha1.ValidateName(name) != "" {
		return v2alpha1.Key{}, false
	}
	return v2alpha1.Key{Kind: kind, Name: name}, true
}

// PruneStatus deletes the status files of resources not in keep. It returns
// the keys it removed. The removals are durable once the filesystem is
// synced (status files are derived).
func (n Namespace) PruneStatus(keep map[v2alpha1.Key]bool) ([]v2alpha1.Key, error) {
	present, err := n.ListStatus()
	if err != nil {
		return nil, err
	}
	return n.pruneStatus(present, keep)
}

// PruneListedStatus is PruneStatus over a listing of the status directory
// the caller made (os.ReadDir of StatusDir), saving a second listing:
// status files created since are left for the next prune.
func (n Namespace) PruneListedStatus(listing []fs.DirEntry, keep map[v2alpha1.Key]bool) ([]v2alpha1.Key, error) {
	var present []v2alpha1.Key
	for _, e := range listing {
		if k, ok := ParseStatusFileName(e.Name()); ok && e.Type().IsRegular() {
			present = append(present, k)
		}
	}
	return n.pruneStatus(present, keep)
}

func (n Namespace) pruneStatus(present []v2alpha1.Key, keep map[v2alpha1.Key]bool) ([]v2alpha1.Key, error) {
	var removed []v2alpha1.Key
	for _, k := range present {
		if keep[k] {
			continue
		}
		if err := atomicfile.RemoveDerived(filepath.Join(n.StatusDir(), k.FileName())); err != nil {
			return removed, err
		}
		removed = append(removed, k)
	}
	return removed, nil
}
