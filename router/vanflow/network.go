package vanflow

import (
	"sort"
	"strings"
)

// NetworkStatus is what the records say about the network, derived as
// upstream Skupper does (router-runtime §7.2–7.3).
type NetworkStatus struct {
	// Sites has one entry per SITE record, sorted by ID; its length is
	// Site.status.sitesInNetwork (the own site included).
	Sites []SiteStatus
	// Addresses has one entry per routing key used by any LISTENER or
	// CONNECTOR record in the network, sorted by name.
	Addresses []AddressStatus
}

// SiteStatus is one site and the links its routers dial.
type SiteStatus struct {
	ID, Name, Namespace, Platform, Version string
	// Routers are the IDs of the ROUTER records whose parent is this site.
	Routers []string
	// Links are the site's outgoing links whose peer is a known
	// ROUTER_ACCESS, sorted by name. A link whose peer is unknown (not yet
	// seen, or its site forgotten) is absent, as upstream does.
	Links []LinkStatus
}

// LinkStatus is one outgoing link of a site (a LINK record).
type LinkStatus struct {
	// Name is the LINK name: the router connector's name, which is the
	// Skupper Link's name.
	Name string
	// RemoteSiteID and RemoteSiteName identify the site owning the
	// ROUTER_ACCESS the link reached.
	RemoteSiteID, RemoteSiteName string
	// Operational is true when the LINK's operStatus is "up".
	Operational bool
}

// AddressStatus is one routing key, network-wide.
type AddressStatus struct {
	Name string
	// Protocol is from a CONNECTOR of the key (first by ID), else "".
	Protocol string
	// ListenerCount and ConnectorCount count LISTENER and CONNECTOR
	// records with this key anywhere in the network, own ones included.
	ListenerCount, ConnectorCount int
	// Listeners are the names of those LISTENERs and Connectors the
	// destHosts of those CONNECTORs (as upstream's SiteRecord services).
	Listeners, Connectors []string
}

// SitesInNetwork is the number of sites known (own site included).
func (n NetworkStatus) SitesInNetwork() int { return len(n.Sites) }

// Site returns the site with the given ID.
func (n NetworkStatus) Site(id string) (SiteStatus, bool) {
	for _, s := range n.Sites {
		if s.ID == id {
			return s, true
		}
	}
	return SiteStatus{}, false
}

// Link returns the link named name of the site siteID.
func (n NetworkStatus) Link(siteID, name string) (LinkStatus, bool) {
	s, ok := n.Site(siteID)
	if !ok {
		return LinkStatus{}, false
	}
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return LinkStatus{}, false
}

// Address returns the routing key named key.
func (n NetworkStatus) Address(key string) (AddressStatus, bool) {
	for _, a := range n.Addresses {
		if a.Name == key {
			return a, true
		}
	}
	return AddressStatus{}, false
}

// HasMatchingConnector is Listener.status.hasMatchingConnector: some
// CONNECTOR anywhere serves key.
func (n NetworkStatus) HasMatchingConnector(key string) bool {
	a, ok := n.Address(key)
	return ok && a.ConnectorCount > 0
}

// HasMatchingListener is Connector.status.hasMatchingListener: some
// LISTENER anywhere uses key.
func (n NetworkStatus) HasMatchingListener(key string) bool {
	a, ok := n.Address(key)
	return ok && a.ListenerCount > 0
}

// Network derives the network status from a snapshot. It is a pure
// function: equal snapshots give equal results.
//
// Rules (upstream network.ExtractSiteRecords and flow.StatusSync):
// routers belong to the site named by their parent; ROUTER_ACCESS and LINK
// records belong to the router named by theirs; a LINK is listed under its
// router's site only if it has a name and a peer, and the peer is the ID
// of a ROUTER_ACCESS of a router of a known site, which gives the remote
// site; operational means operStatus "up" (case-insensitive). Addresses
// count every LISTENER and CONNECTOR with a routing key.
func Network(s Snapshot) NetworkStatus {
	return NetworkStatus{Sites: siteStatuses(s), Addresses: addressStatuses(s)}
}

// siteStatuses lists the sites with their routers and resolved links.
func siteStatuses(s Snapshot) []SiteStatus {
	sites := map[string]*SiteStatus{}
	var order []string
	for _, site := range s.Sites {
		if _, dup := sites[site.ID]; dup {
			continue
		}
		sites[site.ID] = &SiteStatus{ID: site.ID, Name: site.Name, Namespace: site.Namespace, Platform: site.Platform, Version: site.Version}
		order = append(order, site.ID)
	}
	routerSite := map[string]string{}
	for _, r := range s.Routers {
		if site, ok := sites[r.Parent]; ok {
			routerSite[r.ID] = r.Parent
			site.Routers = append(site.Routers, r.ID)
		}
	}
	accessSite := map[string]string{}
	for _, ra := range s.RouterAccess {
		if siteID, ok := routerSite[ra.Parent]; ok {
			accessSite[ra.ID] = siteID
		}
	}
	for _, l := range s.Links {
		siteID, ok := routerSite[l.Parent]
		if !ok || l.Name == "" || l.Peer == "" {
			continue
		}
		remote, ok := accessSite[l.Peer]
		if !ok {
			continue
		}
		site := sites[siteID]
		site.Links = append(site.Links, LinkStatus{
			Name:           l.Name,
			RemoteSiteID:   remote,
			RemoteSiteName: sites[remote].Name,
			Operational:    strings.EqualFold(l.OperStatus, "up"),
		})
	}
	var out []SiteStatus
	sort.Strings(order)
	for _, id := range order {
		site := sites[id]
		sort.Strings(site.Routers)
		sort.SliceStable(site.Links, func(i, j int) bool { return site.Links[i].Name < site.Links[j].Name })
		out = append(out, *site)
	}
	return out
}

// addressStatuses counts listeners and connectors per routing key.
func addressStatuses(s Snapshot) []AddressStatus {
	addrs := map[string]*AddressStatus{}
	get := func(key string) *AddressStatus {
		a := addrs[key]
		if a == nil {
			a = &AddressStatus{Name: key}
			addrs[key] = a
		}
		return a
	}
	for _, l := range s.Listeners {
		if l.Address == "" {
			continue
		}
		a := get(l.Address)
		a.ListenerCount++
		if l.Name != "" {
			a.Listeners = append(a.Listeners, l.Name)
		}
	}
	for _, c := range s.Connectors {
		if c.Address == "" {
			continue
		}
		a := get(c.Address)
		a.ConnectorCount++
		if a.Protocol == "" {
			a.Protocol = c.Protocol
		}
		if c.DestHost != "" {
			a.Connectors = append(a.Connectors, c.DestHost)
		}
	}
	keys := make([]string, 0, len(addrs))
	for k := range addrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []AddressStatus
	for _, k := range keys {
		a := addrs[k]
		sort.Strings(a.Listeners)
		sort.Strings(a.Connectors)
		out = append(out, *a)
	}
	return out
}
