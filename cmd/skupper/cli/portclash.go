package cli

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
)

// binding is a listener's port and bind host.
type binding struct {
	port int
	host string
}

// portClashes checks the Listeners a change writes whose binding is new
// against what validating one namespace cannot see: the Listeners of the
// data home's other namespaces, the router ports skupperd allocated (its
// ports tables), and the ports other processes listen on. Each clash is an
// error on the listener's spec.port, which refuses the change.
func (a *app) portClashes(s *inputState, after []*v2alpha1.Document, c *change) v2alpha1.Diagnostics {
	old := map[string]binding{}
	for _, d := range s.ofKind(v2alpha1.KindListener) {
		l := d.Object.(*v2alpha1.Listener)
		old[l.Name] = binding{l.Spec.Port, l.Spec.Host}
	}
	var out v2alpha1.Diagnostics
	var env *clashEnv
	for _, d := range after {
		l, ok := d.Object.(*v2alpha1.Listener)
		if !ok || !c.touched[d.Key()] || !d.Valid() || l.Spec.Port == 0 {
			continue
		}
		b := binding{l.Spec.Port, l.Spec.Host}
		if prev, ok := old[l.Name]; ok && prev == b {
			continue // unchanged: not this change's clash
		}
		if env == nil {
			env = a.clashEnvironment(s.ns)
		}
		if msg := env.clash(s.ns.Name, b); msg != "" {
			diag := v2alpha1.Diagnostic{File: d.File, Line: d.Line, Kind: v2alpha1.KindListener, Name: l.Name, Field: "spec.port", Message: msg}
			if _, written := c.writes[d.File]; written {
				diag.File, diag.Line = "", 0 // the user wrote a command, not that file
			}
			out = append(out, diag)
		}
	}
	return out
}

// clashEnv is what a new listener binding must not clash with.
type clashEnv struct {
	// listeners of the other namespaces, by namespace.
	listeners map[string][]*v2alpha1.Listener
	// reserved are the ports tables of every namespace.
	reserved map[string][]ports.Entry
	// sockets are the listening TCP sockets of this host's network
	// namespace (nil when /proc cannot tell).
	sockets []netip.AddrPort
}

// clashEnvironment reads the other namespaces' listeners, the ports
// tables and the listening sockets.
func (a *app) clashEnvironment(ns namespaces.Namespace) *clashEnv {
	env := &clashEnv{listeners: map[string][]*v2alpha1.Listener{}}
	if names, err := ns.Home.List(); err == nil {
		for _, n := range names {
			if n == ns.Name {
				continue
			}
			other, err := readInput(ns.Home.Namespace(n))
			if err != nil {
				continue
			}
			for _, d := range other.ofKind(v2alpha1.KindListener) {
				if d.Valid() {
					env.listeners[n] = append(env.listeners[n], d.Object.(*v2alpha1.Listener))
				}
			}
		}
	}
	env.reserved, _ = ports.New(ns.Home).Reserved()
	env.sockets = listeningSockets(a.procRoot)
	return env
}

// clash describes what b clashes with ("" when nothing).
func (e *clashEnv) clash(ns string, b binding) string {
	for n, ls := range e.listeners {
		for _, l := range ls {
			if l.Spec.Port == b.port && v2alpha1.BindingsClash(l.Spec.Host, b.host) {
				return fmt.Sprintf("port %d is already used by Listener/%s in namespace %q (host %s); choose another port", b.port, l.Name, n, hostText(l.Spec.Host))
			}
		}
	}
	held := false
	for n, entries := range e.reserved {
		for _, en := range entries {
			if en.Port != b.port {
				continue
			}
			held = true
			mine := n == ns && en.Role == ""
			if !mine && v2alpha1.BindingsClash(en.Host, b.host) {
				what := en.What
				if what == "" {
					what = en.Key
				}
				if en.Role != "" {
					return fmt.Sprintf("port %d is the %s of namespace %q, allocated by skupperd; choose another port", b.port, what, n)
				}
				return fmt.Sprintf("port %d is already used by %s in namespace %q; choose another port", b.port, what, n)
			}
		}
	}
	if held {
		// Reserved by this namespace's own listener: its router may hold it.
		return ""
	}
	for _, s := range e.sockets {
		if int(s.Port()) == b.port && socketClash(s.Addr(), b.host) {
			return fmt.Sprintf("port %d is already in use on this host by another process (listening on %s); choose another port", b.port, s)
		}
	}
	return ""
}

// hostText renders a bind host ("" is every interface).
func hostText(h string) string {
	if h == "" {
		return "all interfaces"
	}
	return h
}

// socketClash reports whether a socket listening on addr takes the port
// from a listener binding host. A host name is taken to clash with any
// address (it is not resolved here).
func socketClash(addr netip.Addr, host string) bool {
	if addr.IsUnspecified() || v2alpha1.IsWildcardHost(host) {
		return true
	}
	h, err := netip.ParseAddr(host)
	if err != nil {
		return true
	}
	return h.Unmap() == addr.Unmap()
}

// listeningSockets returns the addresses of the listening TCP sockets in
// <procRoot>/net/tcp and tcp6.
func listeningSockets(procRoot string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, f := range []string{"tcp", "tcp6"} {
		file, err := os.Open(filepath.Join(procRoot, "net", f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			if ap, ok := parseProcAddr(fields[1]); ok {
				out = append(out, ap)
			}
		}
		file.Close()
	}
	return out
}

// parseProcAddr parses a /proc/net/tcp{,6} address, "0100007F:1F90": the
// address as 32-bit words in host (little-endian) order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, ok := netip.AddrFromSlice(raw)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}
