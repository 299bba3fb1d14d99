package ports

import (
	"errors"
	"net"
	"strconv"
	"syscall"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// Probe reports whether port is free for binding on host ("" or a wildcard
// address = all interfaces). It must not keep anything open.
type Probe func(host string, port int) bool

// ListenProbe is the probe Allocators use unless told otherwise. A port is
// free when both hold:
//   - a TCP listener on host:port (the address the router will bind, e.g.
//     127.0.0.1 for its local port) does not fail with "address in use".
//     Other failures there (the address is not on this machine, the name
//     does not resolve) are the router's to report, not a reason to skip
//     the port;
//   - a TCP listener on all interfaces (":port", dual-stack where IPv6 is
//     available) can be opened, so nothing listens on the port on any
//     address, IPv4 or IPv6.
//
// Upstream only tried ":port", whatever the address the router binds.
// Listeners are closed at once; nothing is held.
func ListenProbe(host string, port int) bool {
	return listenProbe("")(host, port)
}

// listenProbe builds ListenProbe with wildcard as the address probed for
// "all interfaces" (tests pass 127.0.0.1 so they never bind beyond
// loopback).
func listenProbe(wildcard string) Probe {
	return func(host string, port int) bool {
		if !canListen(wildcard, port) {
			return false
		}
		if v2alpha1.IsWildcardHost(host) || host == wildcard {
			return true
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return !errors.Is(err, syscall.EADDRINUSE)
		}
		_ = l.Close()
		return true
	}
}

func canListen(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
