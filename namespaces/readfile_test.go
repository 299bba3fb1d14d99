package namespaces

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/skupperd/skupperd/internal/atomicfile"
)

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, content := range []string{"", "x", "apiVersion: v\n", string(make([]byte, 10000))} {
		p := write("f", content)
		data, st, err := ReadRegularFile(p, 20000)
		if err != nil || string(data) != content || st.Size != int64(len(content)) {
			t.Errorf("ReadRegularFile(%d bytes) = %d bytes, %v", len(content), len(data), err)
		}
	}
	big := write("big", "0123456789")
	var tl *TooLargeError
	if _, _, err := ReadRegularFile(big, 9); !errors.As(err, &tl) || tl.Size != 10 || tl.Grew {
		t.Errorf("ReadRegularFile(over the limit) = %v, want a *TooLargeError", err)
	}
	if data, _, err := ReadRegularFile(big, 10); err != nil || string(data) != "0123456789" {
		t.Errorf("ReadRegularFile(at the limit) = %q, %v", data, err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(big, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadRegularFile(link, 100); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("ReadRegularFile(symlink) = %v, want ELOOP", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadRegularFile(fifo, 100); !errors.Is(err, atomicfile.ErrNotRegular) {
		t.Errorf("ReadRegularFile(FIFO) = %v, want ErrNotRegular", err)
	}
	if _, _, err := ReadRegularFile(dir, 100); !errors.Is(err, atomicfile.ErrNotRegular) {
		t.Errorf("ReadRegularFile(directory) = %v, want ErrNotRegular", err)
	}
	if _, _, err := ReadRegularFile(filepath.Join(dir, "missing"), 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadRegularFile(missing) = %v, want ErrNotExist", err)
	}
}
