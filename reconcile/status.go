package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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
	prev map[string]prevCondition
	now  string
	list []v2alpha1.Condition
}

// prevCondition is what a condition of the previous status contributes.
type prevCondition struct {
	status, lastTransitionTime string
}

func (r *run) conditionsFor(k v2alpha1.Key) *conditions {
	return &conditions{prev: r.previous(k).conds, now: r.now.UTC().Format(time.RFC3339)}
}

func (c *conditions) set(typ string, ok bool, reason, msg string) {
	status := "False"
	if ok {
		status = "True"
	}
	t := c.now
	if p, found := c.prev[typ]; found && p.status == status {
		t = p.lastTransitionTime
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
		if err := r.writeStatus(d.Object); err != nil {
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
			if err := r.writeStatus(ra); err != nil {
				return err
			}
		}
	}
	_, err := r.ns.PruneStatus(keep)
	return err
}

// Status files are what namespaces.Namespace.WriteStatus writes (the YAML
// of v2alpha1.Marshal, mode 0600, rewritten only when the bytes change), but
// reading the previous status (strict YAML decoding) and marshalling the new
// one (JSON, then YAML) dominate a reconcile of a large namespace whose
// resources did not change. Both are pure functions of their input, so they
// are memoized by content in the caller's Cache (Options.Cache), across the
// reconciles of every namespace given the same Cache: the previous
// conditions by a digest of the old file, and the digest of the YAML by a
// digest of the object's JSON. An unchanged status then costs one read, one
// JSON encoding and two digests, and no write.

// oldStatus is what a status file held before this reconcile.
type oldStatus struct {
	exists bool
	sum    [sha256.Size]byte // digest of its bytes
	perm   bool              // it has the mode WriteStatus gives
	conds  map[string]prevCondition
}

// previous reads (once per reconcile) the status file of k.
func (r *run) previous(k v2alpha1.Key) *oldStatus {
	if o, ok := r.olds[k]; ok {
		return o
	}
	o := &oldStatus{}
	if r.olds == nil {
		r.olds = map[v2alpha1.Key]*oldStatus{}
	}
	r.olds[k] = o
	path := r.ns.StatusPath(k)
	data, mode, err := readStatusFile(path)
	if err != nil {
		return o
	}
	o.exists, o.sum, o.perm = true, sha256.Sum256(data), mode.Perm() == namespaces.FilePerm
	o.conds = r.opts.Cache.conditions(path, o.sum, data)
	return o
}

// readStatusFile reads a regular file and returns its mode. It does not
// follow a symlink (the atomic writer refuses to replace one anyway) and does
// not block on a FIFO.
func readStatusFile(path string) ([]byte, os.FileMode, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: %w", path, atomicfile.ErrNotRegular)
	}
	if fi.Size() > namespaces.MaxInputFileSize {
		return nil, 0, fmt.Errorf("%s is larger than %d bytes", path, namespaces.MaxInputFileSize)
	}
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+bytes.MinRead))
	_, err = buf.ReadFrom(f)
	return buf.Bytes(), fi.Mode(), err
}

// writeStatus writes obj to its status file unless the file already holds
// exactly the bytes v2alpha1.Marshal gives for it.
func (r *run) writeStatus(obj v2alpha1.Object) error {
	if !r.statusDirReady {
		// As WriteStatus: create runtime/resources, or tighten it.
		if err := atomicfile.MkdirAll(r.ns.StatusDir(), namespaces.DirPerm); err != nil {
			return err
		}
		r.statusDirReady = true
	}
	k := v2alpha1.KeyOf(obj)
	j, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	jsum := sha256.Sum256(j)
	if old := r.previous(k); old.exists && old.perm {
		if ysum, ok := r.opts.Cache.yamlDigest(jsum); ok && ysum == old.sum {
			return nil
		}
	}
	data, err := yaml.JSONToYAML(j)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	r.opts.Cache.setYAMLDigest(jsum, sha256.Sum256(data))
	_, err = atomicfile.WriteFileIfChanged(r.ns.StatusPath(k), data, namespaces.FilePerm)
	return err
}

// Cache holds memoized results of status reading and writing (see above),
// shared by the reconciles that are given it, of any namespace. It is safe
// for concurrent use, and its zero value is an empty cache. Each of its maps
// is emptied when it reaches memoLimit entries, which bounds its memory
// (under 10 MiB). A nil *Cache memoizes nothing: results are the same, only
// slower.
type Cache struct {
	mu    sync.Mutex
	conds map[[sha256.Size]byte]map[string]prevCondition
	yaml  map[[sha256.Size]byte][sha256.Size]byte
}

const memoLimit = 1 << 14

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{} }

// conditions returns the conditions of the status file data (digest sum),
// by type; nil when it does not decode as one resource.
func (m *Cache) conditions(path string, sum [sha256.Size]byte, data []byte) map[string]prevCondition {
	if m != nil {
		m.mu.Lock()
		c, ok := m.conds[sum]
		m.mu.Unlock()
		if ok {
			return c
		}
	}
	c := decodeConditions(path, data)
	if m != nil {
		m.mu.Lock()
		if m.conds == nil {
			m.conds = map[[sha256.Size]byte]map[string]prevCondition{}
		} else if len(m.conds) >= memoLimit {
			clear(m.conds)
		}
		m.conds[sum] = c
		m.mu.Unlock()
	}
	return c
}

// decodeConditions returns the conditions of the status file data by type;
// nil when it does not decode as one resource.
func decodeConditions(path string, data []byte) map[string]prevCondition {
	docs, diags := v2alpha1.Decode(path, data)
	if len(docs) != 1 || diags.HasErrors() {
		return nil
	}
	st := docs[0].Object.GetStatus()
	if st == nil {
		return nil
	}
	c := make(map[string]prevCondition, len(st.Conditions))
	for _, cond := range st.Conditions {
		c[cond.Type] = prevCondition{status: cond.Status, lastTransitionTime: cond.LastTransitionTime}
	}
	return c
}

// yamlDigest returns the digest of the YAML of the JSON whose digest is
// jsonSum, if known.
func (m *Cache) yamlDigest(jsonSum [sha256.Size]byte) ([sha256.Size]byte, bool) {
	if m == nil {
		return [sha256.Size]byte{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.yaml[jsonSum]
	return s, ok
}

// setYAMLDigest records the digest of the YAML of the JSON whose digest is
// jsonSum.
func (m *Cache) setYAMLDigest(jsonSum, yamlSum [sha256.Size]byte) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.yaml == nil {
		m.yaml = map[[sha256.Size]byte][sha256.Size]byte{}
	} else if len(m.yaml) >= memoLimit {
		clear(m.yaml)
	}
	m.yaml[jsonSum] = yamlSum
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
		r.siteRunning(c)
		o.Status.Endpoints = r.siteEndpoints()
		r.observedSite(o)
		if o.Spec.LinkAccessEnabled() {
			c.set(v2alpha1.ConditionResolved, len(o.Status.Endpoints) > 0, "Resolved", "OK")
		}
		r.siteUnbound(c)
		c.finish(st)
	case *v2alpha1.RouterAccess:
		configured()
		o.Status.Endpoints = r.accessEndpoints(o)
		c.set(v2alpha1.ConditionResolved, len(o.Status.Endpoints) > 0, "Resolved", "OK")
		c.finishUnbound(st, r.accessUnbound(o))
	case *v2alpha1.Link:
		configured()
		r.observedLink(o, c)
		c.finish(st)
	case *v2alpha1.Listener:
		configured()
		o.Status.HasMatchingConnector = r.matchesConnector(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingConnector, "Matched", matchMessage(o.Status.HasMatchingConnector, "No matching connectors"))
		c.finishUnbound(st, r.listenerUnbound(o.Name))
	case *v2alpha1.Connector:
		configured()
		o.Status.HasMatchingListener = r.matchesListener(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingListener, "Matched", matchMessage(o.Status.HasMatchingListener, "No matching listeners"))
		c.finish(st)
	case *v2alpha1.AttachedConnectorBinding:
		configured()
		o.Status.HasMatchingListener = r.matchesListener(o.Spec.RoutingKey)
		c.set(v2alpha1.ConditionMatched, o.Status.HasMatchingListener, "Matched", matchMessage(o.Status.HasMatchingListener, "No matching listeners"))
		c.finish(st)
	case *v2alpha1.AttachedConnector:
		r.attachedConnectorStatus(d, c, st)
	case *v2alpha1.AccessGrant:
		r.grantStatus(o, c)
	case *v2alpha1.AccessToken:
		r.tokenStatus(o, c)
	}
}

// siteRunning sets the Site's Running condition from the router state.
func (r *run) siteRunning(c *conditions) {
	if r.opts.Router.Running {
		c.set(v2alpha1.ConditionRunning, true, "Running", "OK")
		return
	}
	msg := r.opts.Router.Message
	if msg == "" {
		msg = "No router process observed"
	}
	c.set(v2alpha1.ConditionRunning, false, "NotRunning", msg)
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

// routingKeys indexes, once per reconcile (after problems and notes are
// final), the routing keys served by configured connectors (and attached
// ones) and used by configured listeners, so that matching every Listener and
// Connector is linear rather than quadratic in the number of resources.
func (r *run) routingKeys() {
	if r.connectorKeys != nil {
		return
	}
	r.connectorKeys, r.listenerKeys = map[string]bool{}, map[string]bool{}
	for _, d := range r.snap.Valid() {
		_, bad := r.problems[d.Key()]
		_, skipped := r.notes[d.Key()]
		switch o := d.Object.(type) {
		case *v2alpha1.Connector:
			if !bad && !skipped {
				r.connectorKeys[o.Spec.RoutingKey] = true
			}
		case *v2alpha1.AttachedConnectorBinding:
			if !bad && !skipped {
				r.connectorKeys[o.Spec.RoutingKey] = true
			}
		case *v2alpha1.Listener:
			if !bad {
				r.listenerKeys[o.Spec.RoutingKey] = true
			}
		}
	}
}

// localConnector reports whether a configured connector of this namespace
// (or an attached one) serves routingKey.
func (r *run) localConnector(key string) bool {
	r.routingKeys()
	return r.connectorKeys[key]
}

// localListener reports whether a configured listener of this namespace
// uses routingKey.
func (r *run) localListener(key string) bool {
	r.routingKeys()
	return r.listenerKeys[key]
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

func (r *run) writeSummary() error {
	s := namespaces.Summary{
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
	return r.ns.WriteSummary(s)
}
