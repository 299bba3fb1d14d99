package namespaces

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLockCheckDetectsReplacedDataHome(t *testing.T) {
	h := NewHome(filepath.Join(t.TempDir(), "home"))
	l, err := h.TakeLock()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("fresh lock: %v", err)
	}
	if _, err := h.TakeLock(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second lock: %v, want ErrAlreadyRunning", err)
	}
	// The data home is deleted and re-created: a second daemon can lock it,
	// and the first must notice.
	if err := os.RemoveAll(h.Root); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); !errors.Is(err, ErrLockLost) {
		t.Fatalf("after removal: %v, want ErrLockLost", err)
	}
	// While the first lives, the path stays locked: a second daemon waits
	// for the first to notice and stop, so that never two run at once.
	if _, err := h.TakeLock(); !errors.Is(err, ErrPathInUse) {
		t.Fatalf("lock of the re-created data home while the first lives: %v, want ErrPathInUse", err)
	}
	if err := l.Check(); !errors.Is(err, ErrLockLost) {
		t.Fatalf("after re-creation: %v, want ErrLockLost", err)
	}
	l.Release()
	l2, err := h.TakeLock()
	if err != nil {
		t.Fatalf("lock of the re-created data home: %v", err)
	}
	defer l2.Release()
	if err := l2.Check(); err != nil {
		t.Fatalf("new lock: %v", err)
	}
}
