// Package hostinfo tells how this host can be reached: its name and its
// non-loopback interface addresses. Link-access certificates carry them as
// names, and static links offer them as endpoints.
package hostinfo

import (
	"net"
	"net/netip"
	"os"
	"sort"
)

// Hosts returns the host name followed by every non-loopback, non-link-local
// unicast interface address, sorted and de-duplicated. Errors reading
// interfaces yield just the host name.
func Hosts() []string {
	var out []string
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h)
	}
	addrs, _ := net.InterfaceAddrs()
	var ips []string
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		ips = append(ips, ip.Unmap().String())
	}
	sort.Strings(ips)
	for i, ip := range ips {
		if i == 0 || ip != ips[i-1] {
			out = append(out, ip)
		}
	}
	return out
}
