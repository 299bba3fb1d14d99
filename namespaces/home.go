// Package namespaces owns the on-disk layout of a skupperd data home: where
// the data home is, the directories of each namespace and their
// permissions, discovery of namespaces, loading a namespace's input into a
// snapshot with diagnostics, and the status files the CLI reads.
//
// Layout of a namespace home (<data home>/namespaces/<ns>/):
//
//	input/resources/          the user's resources (any *.yaml, *.yml, *.json)
//	input/certs/<name>/       user-supplied TLS bundles (ca.crt, tls.crt, tls.key)
//	input/issuers/<name>/     user-supplied CAs
//	runtime/router/skrouterd.json
//	runtime/issuers/<name>/   generated CAs, kept across reconciles
//	runtime/certs/<name>/     certificates the router config points to
//	runtime/resources/        <Kind>-<name>.yaml: each resource as applied, with status
//	runtime/links/            static links for remote sites
//	internal/                 daemon bookkeeping
//
// Every directory is created 0700 and every file the daemon writes is 0600:
// input may hold Secrets and tokens, runtime holds keys and grant codes.
package namespaces

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
)

// Environment variables and defaults.
const (
	// EnvDataHome overrides the data home (after the --data-home flag).
	EnvDataHome = "SKUPPER_DATA_HOME"
	// RootDataHome is the data home of root.
	RootDataHome = "/var/lib/skupper"
	// DefaultNamespace is the namespace used when none is given.
	DefaultNamespace = "default"
)

// Permissions of everything skupperd creates under a data home.
const (
	DirPerm  fs.FileMode = 0o700
	FilePerm fs.FileMode = 0o600
)

// ResolveDataHome returns the data home to use: flagValue if set, else
// $SKUPPER_DATA_HOME, else the default for the current user (see
// DefaultDataHome). The result is absolute and cleaned.
func ResolveDataHome(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = os.Getenv(EnvDataHome)
	}
	if dir == "" {
		var err error
		if dir, err = DefaultDataHome(os.Geteuid(), os.Getenv("XDG_DATA_HOME"), os.Getenv("HOME")); err != nil {
			return "", err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data home %q: %w", dir, err)
	}
	return abs, nil
}

// DefaultDataHome applies the upstream rules: /var/lib/skupper for root;
// otherwise $XDG_DATA_HOME/skupper, else $HOME/.local/share/skupper.
func DefaultDataHome(euid int, xdgDataHome, home string) (string, error) {
	switch {
	case euid == 0:
		return RootDataHome, nil
	case xdgDataHome != "":
		return filepath.Join(xdgDataHome, "skupper"), nil
	case home != "":
		return filepath.Join(home, ".local", "share", "skupper"), nil
	}
	return "", errors.New("cannot determine the data home: HOME is not set; use --data-home or SKUPPER_DATA_HOME")
}

// Home is a data home.
type Home struct {
	// Root is the data home directory.
	Root string
}

// NewHome returns the Home at root.
func NewHome(root string) Home { return Home{Root: filepath.Clean(root)} }

// NamespacesDir is <root>/namespaces.
func (h Home) NamespacesDir() string { return filepath.Join(h.Root, "namespaces") }

// Namespace returns the namespace named ns (which need not exist yet).
func (h Home) Namespace(ns string) Namespace {
	return Namespace{Name: ns, Dir: filepath.Join(h.NamespacesDir(), ns), Home: h}
}

// Ensure creates the data home and its namespaces directory.
func (h Home) Ensure() error {
	if err := atomicfile.MkdirAll(h.Root, DirPerm); err != nil {
		return err
	}
	return atomicfile.MkdirAll(h.NamespacesDir(), DirPerm)
}

// List returns the names of the namespaces present, sorted. Entries that
// are not directories or whose names are not valid namespace names are
// skipped. A missing namespaces directory yields an empty list.
func (h Home) List() ([]string, error) {
	entries, err := os.ReadDir(h.NamespacesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || v2alpha1.ValidateName(e.Name()) != "" {
			continue
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// Namespace is one namespace home.
type Namespace struct {
	Name string
	Dir  string
	Home Home
}

// Paths within a namespace home.
func (n Namespace) InputDir() string          { return filepath.Join(n.Dir, "input") }
func (n Namespace) InputResourcesDir() string { return filepath.Join(n.Dir, "input", "resources") }
func (n Namespace) InputCertsDir() string     { return filepath.Join(n.Dir, "input", "certs") }
func (n Namespace) InputIssuersDir() string   { return filepath.Join(n.Dir, "input", "issuers") }
func (n Namespace) RuntimeDir() string        { return filepath.Join(n.Dir, "runtime") }
func (n Namespace) RouterDir() string         { return filepath.Join(n.Dir, "runtime", "router") }
func (n Namespace) RouterConfigPath() string  { return filepath.Join(n.RouterDir(), "skrouterd.json") }
func (n Namespace) RuntimeIssuersDir() string { return filepath.Join(n.Dir, "runtime", "issuers") }
func (n Namespace) RuntimeCertsDir() string   { return filepath.Join(n.Dir, "runtime", "certs") }
func (n Namespace) StatusDir() string         { return filepath.Join(n.Dir, "runtime", "resources") }
func (n Namespace) LinksDir() string          { return filepath.Join(n.Dir, "runtime", "links") }
func (n Namespace) InternalDir() string       { return filepath.Join(n.Dir, "internal") }

// InputCertDir is input/certs/<name>.
func (n Namespace) InputCertDir(name string) string { return filepath.Join(n.InputCertsDir(), name) }

// InputIssuerDir is input/issuers/<name>.
func (n Namespace) InputIssuerDir(name string) string {
	return filepath.Join(n.InputIssuersDir(), name)
}

// RuntimeCertDir is runtime/certs/<name>.
func (n Namespace) RuntimeCertDir(name string) string {
	return filepath.Join(n.RuntimeCertsDir(), name)
}

// RuntimeIssuerDir is runtime/issuers/<name>.
func (n Namespace) RuntimeIssuerDir(name string) string {
	return filepath.Join(n.RuntimeIssuersDir(), name)
}

// StatusPath is runtime/resources/<Kind>-<name>.yaml.
func (n Namespace) StatusPath(k v2alpha1.Key) string {
	return filepath.Join(n.StatusDir(), k.FileName())
}

// InputPath is input/resources/<Kind>-<name>.yaml, where the CLI writes.
func (n Namespace) InputPath(k v2alpha1.Key) string {
	return filepath.Join(n.InputResourcesDir(), k.FileName())
}

// Exists reports whether the namespace directory exists.
func (n Namespace) Exists() bool {
	fi, err := os.Stat(n.Dir)
	return err == nil && fi.IsDir()
}

// EnsureInput creates the namespace's input directories.
func (n Namespace) EnsureInput() error {
	for _, d := range []string{n.Dir, n.InputDir(), n.InputResourcesDir(), n.InputCertsDir(), n.InputIssuersDir()} {
		if err := atomicfile.MkdirAll(d, DirPerm); err != nil {
			return err
		}
	}
	return nil
}

// EnsureRuntime creates the directories the daemon writes.
func (n Namespace) EnsureRuntime() error {
	for _, d := range []string{n.Dir, n.RuntimeDir(), n.RouterDir(), n.RuntimeIssuersDir(), n.RuntimeCertsDir(), n.StatusDir(), n.LinksDir(), n.InternalDir()} {
		if err := atomicfile.MkdirAll(d, DirPerm); err != nil {
			return err
		}
	}
	return nil
}
