package reconcile

import (
	"fmt"
	"strings"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/router/vanflow"
)

// Observed status: what the namespace's router reports of the network
// (package vanflow) fills the fields of the status contract that only a
// router can tell: the Site's network and sitesInNetwork, a Link's
// Operational condition and remote site, and listener/connector matching
// across every site. Without an observation (Options.Network nil: no
// router, or it has not reported yet) those fields stay unset and the
// conditions say why; matching then counts this site's own resources
// only.

// notObserved explains an unobserved Link.
const notObserved = "Not Operational: the router has not reported this link yet"

// observedSite fills a Site's network fields.
func (r *run) observedSite(o *v2alpha1.Site) {
	o.Status.Network, o.Status.SitesInNetwork = nil, 0
	n := r.opts.Network
	if n == nil {
		return
	}
	o.Status.SitesInNetwork = n.SitesInNetwork()
	for _, s := range n.Sites {
		rec := v2alpha1.SiteRecord{ID: s.ID, Name: s.Name, Namespace: s.Namespace, Platform: s.Platform, Version: s.Version}
		for _, l := range s.Links {
			rec.Links = append(rec.Links, v2alpha1.LinkRecord{
				Name: linkNameOf(l.Name), RemoteSiteID: l.RemoteSiteID, RemoteSiteName: l.RemoteSiteName, Operational: l.Operational,
			})
		}
		o.Status.Network = append(o.Status.Network, rec)
	}
}

// linkNameOf turns the router's name of a link connector ("link/<name>")
// into the Link's name; other names (a remote site's own naming) are kept.
func linkNameOf(entity string) string {
	if name, ok := render.LinkNameOf(entity); ok {
		return name
	}
	return entity
}

// observedLink sets a Link's Operational condition and remote site.
func (r *run) observedLink(o *v2alpha1.Link, c *conditions) {
	o.Status.RemoteSiteID, o.Status.RemoteSiteName = "", ""
	n := r.opts.Network
	if n == nil {
		msg := "Not Operational"
		switch {
		case router.IsNotAnswering(r.opts.Router):
			msg = "Not Operational: the router is not answering"
		case !r.opts.Router.Running:
			msg = "Not Operational: no router is running"
		}
		c.set(v2alpha1.ConditionOperational, false, "NotOperational", msg)
		return
	}
	l, ok := n.Link(r.siteID, render.LinkEntityName(o.Name))
	switch {
	case !ok:
		c.set(v2alpha1.ConditionOperational, false, "NotOperational", notObserved)
	case !l.Operational:
		c.set(v2alpha1.ConditionOperational, false, "NotOperational", fmt.Sprintf("Not Operational: the link to site %q is down", l.RemoteSiteName))
	default:
		o.Status.RemoteSiteID, o.Status.RemoteSiteName = l.RemoteSiteID, l.RemoteSiteName
		c.set(v2alpha1.ConditionOperational, true, "Operational", "OK")
	}
}

// matchesConnector reports whether a connector anywhere in the network
// (or, unobserved, of this site) serves key.
func (r *run) matchesConnector(key string) bool {
	if r.localConnector(key) {
		return true
	}
	return r.opts.Network != nil && r.opts.Network.HasMatchingConnector(key)
}

// matchesListener reports whether a listener anywhere in the network (or,
// unobserved, of this site) uses key.
func (r *run) matchesListener(key string) bool {
	if r.localListener(key) {
		return true
	}
	return r.opts.Network != nil && r.opts.Network.HasMatchingListener(key)
}

// Refresh rewrites the namespace's status files for a new observation of
// its router (state, network and the listeners that cannot listen, as
// Options.Router, Network and Unbound) without loading input, touching
// certificates or rendering: the resources are those the reconcile that
// produced res applied. Only files whose bytes change are written, so an
// unchanged observation writes nothing. It must not run concurrently with a
// reconcile of the same namespace.
func Refresh(res *Result, state router.State, network *vanflow.NetworkStatus, unbound map[string]string) error {
	r := res.run
	if r == nil {
		return fmt.Errorf("refresh status: no reconcile to refresh")
	}
	r.opts.Router, r.opts.Network, r.opts.Unbound = state, network, unbound
	r.now = r.opts.Now()
	r.olds = nil // the files as the last write left them
	if err := r.writeStatuses(); err != nil {
		return fmt.Errorf("refresh status of namespace %q: %w", r.ns.Name, err)
	}
	if err := r.syncDerived(); err != nil {
		return fmt.Errorf("refresh status of namespace %q: %w", r.ns.Name, err)
	}
	return nil
}

// finishUnbound finishes a status as finish does, or as Error with msg
// when msg says why the resource's router listener cannot listen.
func (c *conditions) finishUnbound(st *v2alpha1.ResourceStatus, msg string) {
	if msg != "" {
		c.failOperational(st, msg)
		return
	}
	c.finish(st)
}

// failOperational marks a configured resource whose router listener
// cannot listen (Options.Unbound) as Error with msg.
func (c *conditions) failOperational(st *v2alpha1.ResourceStatus, msg string) {
	c.set(v2alpha1.ConditionOperational, false, v2alpha1.ReasonPortInUse, msg)
	c.set(v2alpha1.ConditionReady, false, "Error", msg)
	st.StatusType, st.Message, st.Conditions = v2alpha1.StatusError, msg, c.list
}

// listenerUnbound says why the tcpListener of Listener name cannot
// listen ("" when it can, or nothing was observed).
func (r *run) listenerUnbound(name string) string {
	return r.opts.Unbound[render.ListenerEntityName(name)]
}

// accessUnbound says why listeners of ra cannot listen, role by role
// ("" when they can, or nothing was observed).
func (r *run) accessUnbound(ra *v2alpha1.RouterAccess) string {
	var msgs []string
	for _, role := range ra.Spec.Roles {
		if m := r.opts.Unbound[render.RouterAccessEntityName(ra.Name, role.Name)]; m != "" {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "; ")
}

// siteUnbound sets the Site's Operational condition (False) when a
// RouterAccess of the site cannot listen: remote sites cannot link to it
// on that port.
func (r *run) siteUnbound(c *conditions) {
	var msgs []string
	for _, ra := range r.accesses {
		if _, bad := r.problems[v2alpha1.KeyOf(ra)]; bad {
			continue
		}
		if m := r.accessUnbound(ra); m != "" {
			msgs = append(msgs, fmt.Sprintf("link access (RouterAccess %s): %s", ra.Name, m))
		}
	}
	if len(msgs) > 0 {
		c.set(v2alpha1.ConditionOperational, false, v2alpha1.ReasonPortInUse, strings.Join(msgs, "; "))
	}
}
