package reconcile

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// EndpointGroup is the endpoint group of the link-access endpoints a Site
// reports (as on Kubernetes).
const EndpointGroup = "skupper-router"

// conditions builds a resource's conditions, keeping each condition's
// lastTransitionTime from the previous status while its status is the same,
// so that an unchanged resource's status file is not rewritten.
type conditions struct {
	prev map[string]v2alpha1.Condition
	now  string
	list []v2alpha1.Condition
}

func (r *run) conditionsFor(k v2alpha1.Key) *conditions {
	c := &conditions{prev: map[string]v2alpha1.Condition{}, now: r.now.UTC().Format(time.RFC3339)}
	if old, err := r.ns.ReadStatus(k); err == nil {
		if st := old.GetStatus(); st != nil {
			for _, cond := range st.Conditions {
				c.prev[cond.Type] = cond
			}
		}
	}
	return c
}

func (c *conditions) set(typ string, ok bool, reason, msg string) {
	status := "False"
	if ok {
		status = "True"
	}
	t := c.now
	if p, found := c.prev[typ]; found && p.Status == status {
		t = p.LastTransitionTime
	}
	c.list = append(c.list, v2alpha1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: t})
}

// finish adds the Ready condition (all others true) and fills in the
// aggregate status: Ready/"OK", or Pending with the first unmet
// condition's message.
func (c *conditions) finish(st *v2alpha1.ResourceStatus) {
	pending := ""
	for _, cond := range c.list {
		if cond.Status != "True" {
			pending = cond.Message
			break
		}
	}
	if pending == "" {
		c.set(v2alpha1.ConditionReady, true, "Ready", "OK")
		st.StatusType, st.Message = v2alpha1.StatusReady, "OK"
	} else {
		c.set(v2alpha1.ConditionReady, false, "Pending", pending)
		st.StatusType, st.Message = v2alpha1.StatusPending, pending
	}
	st.Conditions = c.list
}

// failWith marks a resource as Error with message msg.
func (c *conditions) failWith(st *v2alpha1.ResourceStatus, msg string) {
	c.set(v2alpha1.ConditionConfigured, false, "Error", msg)
	c.set(v2alpha1.ConditionReady, false, "Error", msg)
	st.StatusType, st.Message, st.Conditions = v2alpha1.StatusError, msg, c.list
}

// relative renders a diagnostic for a status message, with the file path
// relative to the namespace home.
func (r *run) relative(d v2alpha1.Diagnostic) string {
	if rel, err := filepath.Rel(r.ns.Dir, d.File); err == nil && d.File != "" {
		d.File = rel
	}
	d.Kind, d.Name = "", ""
	return d.Error()
}

// writeStatuses writes runtime/resources/<Kind>-<name>.yaml for every
// resource of the input (and the RouterAccess implied by linkAccess), and
// removes the files of resources that are gone. Secrets get no status file:
// it would copy their keys.
func (r *run) writeStatuses() error {
	keep := map[v2alpha1.Key]bool{}
	for _, d := range r.snap.Docs {
		k := d.Key()
		if k.Kind == v2alpha1.KindSecret || v2alpha1.ValidateName(k.Name) != "" || keep[k] {
			continue
		}
		keep[k] = true
		if d.Object.GetStatus() == nil {
			continue
		}
		r.fillStatus(d)
		if _, err := r.ns.WriteStatus(d.Object); err != nil {
			return err
		}
	}
	if r.applied {
		for _, ra := range r.accesses {
			k := v2alpha1.KeyOf(ra)
			if keep[k] {
				continue
			}
			keep[k] = true
			r.fillStatus(v2alpha1.NewDocument("", ra))
			if _, err := r.ns.WriteStatus(ra); err != nil {
				return err
			}
		}
	}
	_, err := r.ns.PruneStatus(keep)
	return err
}

// fillStatus computes the status of one resource.
func (r *run) fillStatus(d *v2alpha1.Document) {
	k := d.Key()
	st := d.Object.GetStatus()
	*st = v2alpha1.ResourceStatus{}
	c := r.conditionsFor(k)
	if errs := d.Diags.Errors(); len(errs) > 0 {
		c.failWith(st, r.relative(errs[0]))
		return
	}
	if msg, bad := r.problems[k]; bad {
		c.failWith(st, msg)
		return
	}
	if !r.applied {
		if k.Kind == v2alpha1.KindAttachedConnector {
			r.attachedConnectorStatus(d, c, st)
			return
		}
		c.set(v2alpha1.ConditionConfigured, false, "NoSite", "Not configured: the namespace has no valid Site")
		c.finish(st)
		return
	}
	configured := func() {
		if note, skipped := r.notes[k]; skipped {
			c.set(v2alpha1.ConditionConfigured, false, "NotConfigured", note)
		} else {
			c.set(v2alpha1.ConditionConfigured, true, "Configured", "OK")
		}
	}
	switch o := d.Object.(type) {
	case *v2alpha1.Site:
		configured()
		if r.opts.Router.Running {
			c.set(v2alpha1.ConditionRunning, true, "Running", "OK")
		} else {
			msg := r.opts.Router.Message
			if msg == "" {
				msg = "No router process observed"
			}
			c.set(v2alpha1.ConditionRunning, false, "NotRunning", msg)
		}
		o.Status.Endpoints = r.siteEndpoints()
		if o.Spec.LinkAccessEnabled() {
			c.set(v2alpha1.ConditionResolved, len(o.Status.Endpoints) > 0, "Resolved", "OK")
		}
		c.finish(st)
	case *v2alpha1.RouterAccess:
		configured()
		o.Status.Endpoints = r.accessEndpoints(o)
		c.set(v2alpha1.ConditionResolved, len(o.Status.Endpoints) > 0, "Resolved", "OK")
		c.finish(st)
	case *v2alpha1.Link:
		configured()
		c.set(v2alpha1.ConditionOperational, false, "NotOperational", "Not Operational")
		c.finish(st)
	case *v2alpha1.Listener:
		configured()
		o.Status.HasMatchingConnector = r.localConnector(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingConnector, "Matched", matchMessage(o.Status.HasMatchingConnector, "No matching connectors"))
		c.finish(st)
	case *v2alpha1.Connector:
		configured()
		o.Status.HasMatchingListener = r.localListener(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingListener, "Matched", matchMessage(o.Status.HasMatchingListener, "No matching listeners"))
		c.finish(st)
	case *v2alpha1.AttachedConnectorBinding:
		configured()
		o.Status.HasMatchingListener = r.localListener(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingListener, "Matched", matchMessage(o.Status.HasMatchingListener, "No matching listeners"))
		c.finish(st)
	case *v2alpha1.AttachedConnector:
		r.attachedConnectorStatus(d, c, st)
	case *v2alpha1.AccessGrant:
		c.set(v2alpha1.ConditionProcessed, false, "NotSupported", "AccessGrants are not served by this version of skupperd yet")
		c.finish(st)
	case *v2alpha1.AccessToken:
		c.set(v2alpha1.ConditionRedeemed, false, "NotSupported", "AccessTokens are not redeemed by this version of skupperd yet")
		c.finish(st)
	}
}

func matchMessage(ok bool, otherwise string) string {
	if ok {
		return "OK"
	}
	return otherwise
}

// attachedConnectorStatus reports whether the site namespace binds an
// AttachedConnector of this (workload) namespace.
func (r *run) attachedConnectorStatus(d *v2alpha1.Document, c *conditions, st *v2alpha1.ResourceStatus) {
	ac := d.Object.(*v2alpha1.AttachedConnector)
	bound := false
	siteNS := r.ns.Home.Namespace(ac.Spec.SiteNamespace)
	if snap, err := namespaces.Load(siteNS); err == nil {
		for _, bd := range snap.Valid() {
			if b, ok := bd.Object.(*v2alpha1.AttachedConnectorBinding); ok && b.Name == ac.Name && b.Spec.ConnectorNamespace == r.ns.Name {
				bound = true
			}
		}
	}
	if bound {
		c.set(v2alpha1.ConditionConfigured, true, "Bound", fmt.Sprintf("Bound by AttachedConnectorBinding/%s in namespace %q", ac.Name, ac.Spec.SiteNamespace))
	} else {
		c.set(v2alpha1.ConditionConfigured, false, "NotBound", fmt.Sprintf("No AttachedConnectorBinding/%s in namespace %q names this namespace", ac.Name, ac.Spec.SiteNamespace))
	}
	c.finish(st)
}

// localConnector reports whether a configured connector of this namespace
// (or an attached one) serves routingKey.
func (r *run) localConnector(key string) bool {
	for _, d := range r.snap.Valid() {
		if _, bad := r.problems[d.Key()]; bad {
			continue
		}
		if _, skipped := r.notes[d.Key()]; skipped {
			continue
		}
		switch o := d.Object.(type) {
		case *v2alpha1.Connector:
			if o.Spec.RoutingKey == key {
				return true
			}
		case *v2alpha1.AttachedConnectorBinding:
			if o.Spec.RoutingKey == key {
				return true
			}
		}
	}
	return false
}

// localListener reports whether a configured listener of this namespace
// uses routingKey.
func (r *run) localListener(key string) bool {
	for _, d := range r.snap.Valid() {
		if l, ok := d.Object.(*v2alpha1.Listener); ok && l.Spec.RoutingKey == key {
			if _, bad := r.problems[d.Key()]; !bad {
				return true
			}
		}
	}
	return false
}

// advertiseHost is the host remote sites are told to dial for a
// RouterAccess: its bind host, else this host's first name.
func (r *run) advertiseHost(ra *v2alpha1.RouterAccess) string {
	if h := ra.Spec.BindHost; !v2alpha1.IsWildcardHost(h) {
		return h
	}
	if len(r.creds.hosts) > 0 {
		return r.creds.hosts[0]
	}
	return ""
}

func (r *run) accessEndpoints(ra *v2alpha1.RouterAccess) []v2alpha1.Endpoint {
	if _, bad := r.problems[v2alpha1.KeyOf(ra)]; bad {
		return nil
	}
	host := r.advertiseHost(ra)
	var out []v2alpha1.Endpoint
	for _, role := range ra.Spec.Roles {
		if p := r.ports.Role(ra.Name, role.Name); p != 0 {
			out = append(out, v2alpha1.Endpoint{Name: role.Name, Host: host, Port: v2alpha1.PortString(strconv.Itoa(p)), Group: EndpointGroup})
		}
	}
	return out
}

func (r *run) siteEndpoints() []v2alpha1.Endpoint {
	var out []v2alpha1.Endpoint
	for _, ra := range r.accesses {
		out = append(out, r.accessEndpoints(ra)...)
	}
	return out
}

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

// SummaryPath is where a namespace's summary lives.
func SummaryPath(ns namespaces.Namespace) string {
	return filepath.Join(ns.InternalDir(), "status.yaml")
}

func (r *run) writeSummary() error {
	s := Summary{
		Namespace: r.ns.Name, Outcome: r.res.Outcome, SiteID: r.siteID,
		InputHash: r.res.InputHash, LastReconcile: r.now.UTC().Format(time.RFC3339Nano),
		DurationMS: float64(r.res.Duration.Microseconds()) / 1000,
		Router:     "NotRunning",
	}
	if r.opts.Router.Running {
		s.Router = "Running"
	} else if r.opts.Router.Message != "" {
		s.Router = "NotRunning: " + r.opts.Router.Message
	}
	if r.site != nil {
		s.Site = r.site.Name
	}
	r.res.Diagnostics = r.res.Diagnostics.Sort()
	for _, d := range r.res.Diagnostics {
		if d.IsError() {
			s.Errors = append(s.Errors, d.Error())
		} else {
			s.Warnings = append(s.Warnings, d.Error())
		}
	}
	data, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(r.ns.InternalDir(), namespaces.DirPerm); err != nil {
		return err
	}
	return atomicfile.WriteFile(SummaryPath(r.ns), data, namespaces.FilePerm)
}
