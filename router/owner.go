package router

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// PortOwner tells who listens on a TCP port: owned is true when one of
// the listening sockets bound to port belongs to process pid; listening
// is true when any socket listens on port in pid's network namespace.
// It reads /proc/<pid>/net/tcp{,6} for the listening sockets' inodes and
// matches them against /proc/<pid>/fd, so that another process holding
// the router's port never makes a router that failed to bind it look
// running.
func PortOwner(pid, port int) (owned, listening bool, err error) {
	ours, others, err := PortHolders(pid, port)
	return ours > 0, ours+others > 0, err
}

// PortHolders counts the sockets that listen on TCP port (on any
// address, IPv4 and IPv6) in the network namespace of process pid: ours
// are those pid holds, others those of any other process. A pid of 0
// (not known) reads the caller's network namespace and counts every
// socket as others. When pid's descriptors cannot be read, err says so
// and every socket is counted as others.
func PortHolders(pid, port int) (ours, others int, err error) {
	proc := "self"
	if pid > 0 {
		proc = strconv.Itoa(pid)
	}
	inodes := map[string]bool{}
	for _, f := range []string{"tcp", "tcp6"} {
		path := filepath.Join(procRoot, proc, "net", f)
		if err := listeningInodes(path, port, inodes); err != nil && !os.IsNotExist(err) {
			return 0, 0, err
		}
	}
	if len(inodes) == 0 || pid <= 0 {
		return 0, len(inodes), nil
	}
	fdDir := filepath.Join(procRoot, proc, "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, len(inodes), fmt.Errorf("read the descriptors of pid %d: %w", pid, err)
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			delete(inodes, strings.TrimSuffix(ino, "]"))
			ours++
		}
	}
	return ours, len(inodes), nil
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// listeningInodes adds to inodes the inodes of the sockets of a
// /proc/net/tcp{,6} table that listen on port.
func listeningInodes(path string, port int, inodes map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListen {
			continue
		}
		i := strings.LastIndexByte(fields[1], ':')
		if i < 0 {
			continue
		}
		p, err := strconv.ParseUint(fields[1][i+1:], 16, 16)
		if err == nil && int(p) == port {
			inodes[fields[9]] = true
		}
	}
	return sc.Err()
}
