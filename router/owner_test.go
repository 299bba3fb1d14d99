package router

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// TestPortOwner: a port is owned by the process whose socket listens on
// it, not by another process that merely shares the network namespace.
func TestPortOwner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	owned, listening, err := PortOwner(os.Getpid(), port)
	if err != nil || !owned || !listening {
		t.Fatalf("PortOwner(self, %d) = %v, %v, %v; want owned", port, owned, listening, err)
	}

	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatalf("cannot start another process (sleep): %v", err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	owned, listening, err = PortOwner(other.Process.Pid, port)
	if err != nil || owned || !listening {
		t.Fatalf("PortOwner(other, %d) = %v, %v, %v; want listening but not owned", port, owned, listening, err)
	}

	ln.Close()
	owned, listening, err = PortOwner(os.Getpid(), port)
	if err != nil || owned || listening {
		t.Fatalf("PortOwner(self, closed %d) = %v, %v, %v; want neither", port, owned, listening, err)
	}
}

// TestPortHolders counts the listening sockets of a port by holder: the
// process's own, the others', and all as others when no pid is known.
func TestPortHolders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if ours, others, err := PortHolders(os.Getpid(), port); err != nil || ours != 1 || others != 0 {
		t.Fatalf("PortHolders(self, %d) = %d, %d, %v; want 1 ours", port, ours, others, err)
	}
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatalf("cannot start another process (sleep): %v", err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	if ours, others, err := PortHolders(other.Process.Pid, port); err != nil || ours != 0 || others != 1 {
		t.Fatalf("PortHolders(other, %d) = %d, %d, %v; want 1 other", port, ours, others, err)
	}
	if ours, others, err := PortHolders(0, port); err != nil || ours != 0 || others != 1 {
		t.Fatalf("PortHolders(0, %d) = %d, %d, %v; want 1 other", port, ours, others, err)
	}
	ln.Close()
	if ours, others, err := PortHolders(os.Getpid(), port); err != nil || ours+others != 0 {
		t.Fatalf("PortHolders(self, closed %d) = %d, %d, %v; want none", port, ours, others, err)
	}
}
