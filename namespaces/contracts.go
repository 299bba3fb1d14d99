package namespaces

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
)

// The files under a namespace's internal/ through which the CLI and the
// daemon talk. Each has one writer: the CLI writes the stop marker and the
// reload request; the daemon writes the reload acknowledgement and the
// reconcile summary.

// StoppedPath is the marker "skupper system stop" writes: while it exists
// the namespace's router is kept stopped (input and configuration stay).
func (n Namespace) StoppedPath() string { return filepath.Join(n.InternalDir(), "stopped") }

// Stopped reports whether the namespace carries the stop marker.
func (n Namespace) Stopped() bool {
	_, err := os.Stat(n.StoppedPath())
	return err == nil
}

// MarkStopped writes the stop marker with a note saying when.
func (n Namespace) MarkStopped(at time.Time) error {
	if err := atomicfile.MkdirAll(n.InternalDir(), DirPerm); err != nil {
		return err
	}
	note := fmt.Sprintf("stopped by \"skupper system stop\" at %s\n", at.UTC().Format(time.RFC3339))
	return atomicfile.WriteFile(n.StoppedPath(), []byte(note), FilePerm)
}

// Reload requests: the CLI writes internal/reload-request holding a unique
// id; the daemon reconciles the namespace, restarts its router and writes
// the same id to internal/reload-done.

// ReloadRequestPath is where the CLI asks for a reload.
func (n Namespace) ReloadRequestPath() string {
	return filepath.Join(n.InternalDir(), "reload-request")
}

// ReloadDonePath is where the daemon acknowledges a reload request.
func (n Namespace) ReloadDonePath() string { return filepath.Join(n.InternalDir(), "reload-done") }

// RequestReload asks a running daemon to reconcile the namespace and
// restart its router, returning the request id that ReloadDone reports.
func (n Namespace) RequestReload() (string, error) {
	if err := atomicfile.MkdirAll(n.InternalDir(), DirPerm); err != nil {
		return "", err
	}
	id := fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
	return id, atomicfile.WriteFile(n.ReloadRequestPath(), []byte(id+"\n"), FilePerm)
}

// ReloadDone reports whether the daemon acknowledged request id.
func (n Namespace) ReloadDone(id string) bool {
	data, err := os.ReadFile(n.ReloadDonePath())
	return err == nil && strings.TrimSpace(string(data)) == id
}

// PendingReload returns the id of a reload request not yet acknowledged,
// or "".
func (n Namespace) PendingReload() string {
	data, err := os.ReadFile(n.ReloadRequestPath())
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(data))
	if n.ReloadDone(id) {
		return ""
	}
	return id
}

// AckReload acknowledges reload request id.
func (n Namespace) AckReload(id string) error {
	return atomicfile.WriteFile(n.ReloadDonePath(), []byte(id+"\n"), FilePerm)
}

// Outcome of a reconcile.
type Outcome string

// Outcomes.
const (
	// Applied: a valid Site was applied; runtime files are current.
	Applied Outcome = "Applied"
	// NotApplied: no valid Site; the runtime config was left as it was.
	NotApplied Outcome = "NotApplied"
	// NoSiteNeeded: the namespace holds no resources that need a Site
	// (e.g. only AttachedConnectors for another namespace's site).
	NoSiteNeeded Outcome = "NoSiteNeeded"
	// Failed: the reconcile did not complete (an error, a panic or its
	// deadline); the last good runtime state stays and it is retried.
	Failed Outcome = "Failed"
)

// Summary is the namespace's reconcile record, internal/status.yaml: what
// `skupper system status` shows. It changes on every reconcile (it holds
// the time), which is why it lives outside runtime/.
type Summary struct {
	Namespace     string   `json:"namespace"`
	Outcome       Outcome  `json:"outcome"`
	Site          string   `json:"site,omitempty"`
	SiteID        string   `json:"siteId,omitempty"`
	InputHash     string   `json:"inputHash"`
	LastReconcile string   `json:"lastReconcile"`
	DurationMS    float64  `json:"durationMs"`
	Router        string   `json:"router"`
	Errors        []string `json:"errors,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
}

// SummaryPath is where the namespace's summary lives.
func (n Namespace) SummaryPath() string { return filepath.Join(n.InternalDir(), "status.yaml") }

// WriteSummary records s atomically. The summary is derived (rewritten by
// every reconcile, atomicfile.WriteDerived): it is durable once the
// filesystem is synced, which the reconcile does when anything else it
// derives changed.
func (n Namespace) WriteSummary(s Summary) error {
	data, err := v2alpha1.MarshalYAML(s)
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(n.InternalDir(), DirPerm); err != nil {
		return err
	}
	return atomicfile.WriteDerived(n.SummaryPath(), data, FilePerm)
}

// ReadSummary reads the namespace's summary; nil (and no error) when there
// is none yet.
func (n Namespace) ReadSummary() (*Summary, error) {
	data, err := os.ReadFile(n.SummaryPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read reconcile summary: %w", err)
	}
	var s Summary
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read reconcile summary %s: %w", n.SummaryPath(), err)
	}
	return &s, nil
}

// InputLockPath is the file the CLI holds an exclusive flock on while it
// validates and writes a change to the namespace's input.
func (n Namespace) InputLockPath() string { return filepath.Join(n.InternalDir(), "input.lock") }

// LockInput serialises validate-then-write of input changes in the
// namespace: it blocks until no other writer holds the namespace's input
// lock, then holds it until the returned function is called. It creates
// internal/ if needed.
func (n Namespace) LockInput() (func(), error) {
	if err := atomicfile.MkdirAll(n.InternalDir(), DirPerm); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(n.InputLockPath(), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, FilePerm)
	if err != nil {
		return nil, fmt.Errorf("open input lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", n.InputLockPath(), err)
	}
	return func() { f.Close() }, nil
}
