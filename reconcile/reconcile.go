// Package reconcile performs one level-triggered reconcile of one
// namespace: it loads and validates the input, allocates ports, ensures
// issuers and certificates, renders the router configuration and static
// links, and writes everything plus a status file per resource.
//
// A reconcile is idempotent: run twice on the same input, the second run
// writes nothing (every runtime file keeps its bytes and mtime). When the
// namespace has no valid Site the runtime configuration is left exactly as
// it was (keep-last-good) and the status files say why.
//
// `skupperd reconcile` runs it once per namespace; the daemon runs it from
// its per-namespace workers.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/hostinfo"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/router/vanflow"
)

// Options configure a reconcile. Zero values select the defaults.
type Options struct {
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// Hosts returns the names and addresses remote sites can reach this
	// host by (default hostinfo.Hosts).
	Hosts func() []string
	// Version is recorded in the router metadata.
	Version string
	// Ports allocates router ports across the data home (default: a new
	// allocator over the namespace's data home).
	Ports *ports.Allocator
	// Router is the observed router state, reflected in the Site status.
	Router router.State
	// Network is what the router reports of the network (nil: not
	// observed), reflected in Site, Link, Listener and Connector status.
	Network *vanflow.NetworkStatus
	// Unbound maps the router's listener entities that cannot listen
	// (render.ListenerEntityName, render.RouterAccessEntityName) to why,
	// e.g. "port 47010 is held by another process; ...", as observed of
	// the running router; their Listener or RouterAccess reports Error
	// with that message and the Site names a RouterAccess's. nil: none.
	Unbound map[string]string
	// Redeem redeems AccessTokens; nil leaves them pending.
	Redeem Redeemer
	// Grants describes the running grant server; nil: grants are not
	// served and their status says so.
	Grants *grantserver.Info
	// Cache memoizes status decoding and encoding across reconciles; the
	// caller owns it and may share it between namespaces and goroutines.
	// nil: nothing is memoized (the results are the same, only slower).
	Cache *Cache
	// InputChanges, when set, is called once per pass, as the pass loads
	// the namespace's input, by a caller that watches input/resources
	// (the daemon): it returns the names changed there since the
	// previous pass with the same Cache began, or nil when it cannot tell
	// (see namespaces.LoadWatched).
	InputChanges func() *namespaces.InputChanges
	// Memo skips the pass when the namespace is as the last pass with
	// Memo left it, and records each pass for the next (the pass memo,
	// passmemo.go): for one-shot processes. It applies only when nothing
	// is observed (Network, Unbound), and no grant server (Grants) or
	// redeemer (Redeem) is given.
	Memo bool
	// BeginPass, when set, is called as a pass begins, once the pass memo
	// (Memo) found the namespace changed and before the input is loaded:
	// a one-shot process prepares its heap for the pass there, at no cost
	// to a pass the memo skips.
	BeginPass func()
}

// Outcome of a reconcile (the summary's vocabulary, owned by namespaces).
type Outcome = namespaces.Outcome

// Outcomes.
const (
	Applied      = namespaces.Applied
	NotApplied   = namespaces.NotApplied
	NoSiteNeeded = namespaces.NoSiteNeeded
)

// Result reports what a reconcile did.
type Result struct {
	Namespace string
	Outcome   Outcome
	SiteID    string
	// ConfigChanged is true when skrouterd.json was (re)written.
	ConfigChanged bool
	// CertsChanged is true when a certificate the router uses changed.
	CertsChanged bool
	// Diagnostics holds every input problem plus those found while
	// applying (credentials, ports), sorted.
	Diagnostics v2alpha1.Diagnostics
	InputHash   string
	Duration    time.Duration
	// SiteDeclared is true when the input holds a Site document, valid or
	// not. NotApplied with SiteDeclared false means the Site was removed.
	SiteDeclared bool
	// LocalPort is the router's local normal port (Applied only).
	LocalPort int
	// ConfigPath is the router configuration file (Applied only).
	ConfigPath string
	// AttachesTo lists the site namespaces that this namespace's
	// AttachedConnectors name: they must be reconciled when it changes.
	AttachesTo []string
	// Grants are the AccessGrants the grant server must serve for this
	// namespace (Applied only).
	Grants []grantserver.Grant
	// LinkAccess is what answering a redemption of Grants needs: the
	// site's endpoints as its status reports them and where its issuers
	// are (Applied only). The grant server is given it with Grants.
	LinkAccess grantserver.LinkAccess
	// RetryRedemption is true when a token redemption failed transiently
	// and should be retried later.
	RetryRedemption bool
	// Unchanged is true when the pass was skipped because the namespace
	// was as the last pass left it (Options.Memo); the result is that
	// pass's.
	Unchanged bool
	// NextChange is the earliest time after this reconcile at which the
	// status it wrote goes stale by the passage of time alone (an
	// AccessGrant expires, a certificate expires or is due for renewal);
	// zero when none. The caller reconciles the namespace again then.
	NextChange time.Time

	// run is the state of the reconcile, kept for Refresh.
	run *run
}

// Run reconciles one namespace once. The error is for failures that stop
// the reconcile itself (I/O errors writing runtime files); problems in the
// input are reported in the result's diagnostics and status files.
func Run(ctx context.Context, ns namespaces.Namespace, opts Options) (*Result, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hosts == nil {
		opts.Hosts = hostinfo.Hosts
	}
	if opts.Ports == nil {
		opts.Ports = ports.New(ns.Home)
	}
	start, wallStart := opts.Now(), time.Now()
	if memoEligible(opts) {
		if mr := checkPassMemo(ns, opts, start); mr != nil {
			return memoHit(ns, opts, mr, start)
		}
	}
	if opts.BeginPass != nil {
		opts.BeginPass()
	}
	var changes *namespaces.InputChanges
	if opts.InputChanges != nil {
		changes = opts.InputChanges()
	}
	snap, err := namespaces.LoadWatched(ns, opts.Cache.decoder(), changes)
	if err != nil {
		return nil, err
	}
	if testHookLoaded != nil {
		testHookLoaded(ns, snap)
	}
	r := &run{
		ctx: ctx, ns: ns, snap: snap, opts: opts, now: start,
		res:      &Result{Namespace: ns.Name, InputHash: snap.InputHash},
		problems: map[v2alpha1.Key]string{},
		notes:    map[v2alpha1.Key]string{},
		tokens:   map[string]tokenState{},
		grants:   map[string]grantState{},
	}
	err = r.do()
	if perr := r.portsDurable(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile namespace %q: %w", ns.Name, err)
	}
	r.res.Duration = opts.Now().Sub(start)
	r.res.run = r
	if err := r.writeSummary(); err != nil {
		return nil, fmt.Errorf("reconcile namespace %q: %w", ns.Name, err)
	}
	if err := r.syncDerived(); err != nil {
		return nil, fmt.Errorf("reconcile namespace %q: %w", ns.Name, err)
	}
	if memoEligible(opts) {
		if err := r.writePassMemo(wallStart); err != nil {
			return nil, fmt.Errorf("reconcile namespace %q: %w", ns.Name, err)
		}
	}
	return r.res, nil
}

// memoHit is Run's result when the pass memo holds: the recorded result,
// and a new summary saying when this run looked.
func memoHit(ns namespaces.Namespace, opts Options, mr *memoResult, start time.Time) (*Result, error) {
	res := &Result{Namespace: ns.Name, Outcome: mr.Outcome, SiteID: mr.SiteID, InputHash: mr.InputHash,
		SiteDeclared: mr.SiteDeclared, LocalPort: mr.LocalPort, ConfigPath: mr.ConfigPath, AttachesTo: mr.AttachesTo, Unchanged: true}
	if mr.NextChange != 0 {
		res.NextChange = time.Unix(0, mr.NextChange)
	}
	for _, d := range mr.Diagnostics {
		if d.Warning {
			d.Severity = v2alpha1.SeverityWarning
		}
		res.Diagnostics = append(res.Diagnostics, d.Diagnostic)
	}
	r := &run{ns: ns, opts: opts, now: start, res: res, siteID: mr.SiteID}
	if mr.Site != "" {
		r.site = &v2alpha1.Site{ObjectMeta: v2alpha1.ObjectMeta{Name: mr.Site}}
	}
	res.Duration = opts.Now().Sub(start)
	if err := r.writeSummary(); err != nil {
		return nil, fmt.Errorf("reconcile namespace %q: %w", ns.Name, err)
	}
	return res, nil
}

// testHookLoaded, when set by tests, runs when a pass has loaded its input.
var testHookLoaded func(ns namespaces.Namespace, snap *namespaces.Snapshot)

// syncDerived makes the derived files this reconcile wrote (status files,
// the router config, the summary) durable with one syncfs(2) of the
// namespace's filesystem, instead of an fsync per file; a reconcile that
// changed none of them (the summary aside) does not sync. Input, keys,
// certificates and bookkeeping are fsync'd as they are written. See
// docs/architecture.md, "Durability".
func (r *run) syncDerived() error {
	if !r.derivedWritten {
		return nil
	}
	r.derivedWritten = false
	return atomicfile.SyncFS(r.ns.Dir)
}

// run is the state of one reconcile.
type run struct {
	ctx  context.Context
	ns   namespaces.Namespace
	snap *namespaces.Snapshot
	opts Options
	now  time.Time
	res  *Result

	site     *v2alpha1.Site
	siteID   string
	accesses []*v2alpha1.RouterAccess
	ports    render.Ports
	creds    *credentials
	// problems keeps a valid resource out of the config (credentials,
	// port conflicts); notes explain partial application.
	problems map[v2alpha1.Key]string
	notes    map[v2alpha1.Key]string
	tokens   map[string]tokenState
	grants   map[string]grantState
	applied  bool
	// connectorKeys and listenerKeys index routing keys for status (see
	// routingKeys).
	connectorKeys, listenerKeys map[string]bool
	// olds are the status files as they were before this reconcile.
	olds map[v2alpha1.Key]*oldStatus
	// listing is the status directory as the pass found it, sorted by
	// name (nil: not listed).
	listing []fs.DirEntry
	// statusDir is r.ns.StatusDir(), set before status files are read
	// or written (see statusPath).
	statusDir string
	// index is the status index (statusindex.go) when the Cache lacked
	// a status file; indexStale is set when it lacked one too.
	index      map[string]*oldStatus
	indexTried bool // the index was looked for this write of statuses
	indexStale atomic.Bool
	// derivedWritten is true once a derived file (a status file, the
	// router config) was written or removed: the reconcile ends with one
	// sync of the filesystem (see syncDerived).
	derivedWritten bool
	// portsTable is the write of the ports table the pass started
	// (nil: none, or waited for; see portsDurable).
	portsTable *ports.Pending
}

func (r *run) diag(k v2alpha1.Key, field, msg string) {
	d := v2alpha1.Diagnostic{Kind: k.Kind, Name: k.Name, Field: field, Message: msg}
	for _, doc := range r.snap.Docs {
		if doc.Key() == k {
			d.File, d.Line = doc.File, doc.LineOf(field)
			break
		}
	}
	r.res.Diagnostics = append(r.res.Diagnostics, d)
}

// changeAt records t as a time at which this reconcile's result goes
// stale (see Result.NextChange); times not after now are ignored.
func (r *run) changeAt(t time.Time) {
	if t.After(r.now) && (r.res.NextChange.IsZero() || t.Before(r.res.NextChange)) {
		r.res.NextChange = t
	}
}

func (r *run) fail(k v2alpha1.Key, field, msg string) {
	if _, done := r.problems[k]; !done {
		r.problems[k] = msg
		r.diag(k, field, msg)
	}
}

func (r *run) usable(d *v2alpha1.Document) bool {
	_, bad := r.problems[d.Key()]
	return d.Valid() && !bad
}

func (r *run) do() error {
	r.res.Diagnostics = append(r.res.Diagnostics, r.snap.Diagnostics...)
	seen := map[string]bool{}
	for _, d := range r.snap.Docs {
		switch o := d.Object.(type) {
		case *v2alpha1.Site:
			r.res.SiteDeclared = true
		case *v2alpha1.AttachedConnector:
			if ns := o.Spec.SiteNamespace; ns != "" && ns != r.ns.Name && !seen[ns] {
				seen[ns] = true
				r.res.AttachesTo = append(r.res.AttachesTo, ns)
			}
		}
	}
	sort.Strings(r.res.AttachesTo)
	r.site = r.snap.Site()
	if r.site != nil {
		wrote, err := r.redeemTokens()
		if err != nil {
			return err
		}
		if wrote {
			// The redemption added Links and credentials to the input:
			// apply them in this same pass.
			snap, err := namespaces.LoadCached(r.ns, r.opts.Cache.decoder())
			if err != nil {
				return err
			}
			r.snap, r.res.InputHash = snap, snap.InputHash
			r.res.Diagnostics = append(v2alpha1.Diagnostics(nil), snap.Diagnostics...)
			r.site = snap.Site()
		}
	}
	if r.site == nil {
		r.res.Outcome = NotApplied
		if !needsSite(r.snap) {
			r.res.Outcome = NoSiteNeeded
		}
		return r.writeStatuses()
	}
	if err := r.ns.EnsureRuntime(); err != nil {
		return err
	}
	for _, d := range r.snap.Valid() {
		v2alpha1.SetDefaults(d.Object, r.site)
	}
	var err error
	if r.siteID, err = r.loadSiteID(); err != nil {
		return err
	}
	r.res.SiteID = r.siteID
	r.accesses = r.routerAccesses()
	if err := r.allocatePorts(); err != nil {
		return err
	}
	if err := r.ensureCredentials(); err != nil {
		return err
	}
	r.changeAt(r.creds.next)
	if err := r.renderConfig(); err != nil {
		return err
	}
	if err := r.writeStaticLinks(); err != nil {
		return err
	}
	if err := r.processGrants(); err != nil {
		return err
	}
	if err := r.creds.prune(); err != nil {
		return err
	}
	r.res.CertsChanged = r.creds.changed
	r.res.LinkAccess = r.linkAccess()
	r.res.LocalPort = r.ports.Local
	r.res.ConfigPath = r.ns.RouterConfigPath()
	r.res.Outcome = Applied
	r.applied = true
	return r.writeStatuses()
}

func needsSite(s *namespaces.Snapshot) bool {
	for _, d := range s.Docs {
		switch d.Key().Kind {
		case v2alpha1.KindAttachedConnector, v2alpha1.KindSecret:
		default:
			return true
		}
	}
	return false
}

// loadSiteID returns the Site's metadata.uid when set, else the id
// persisted in internal/site-id, generating and persisting one on first use.
func (r *run) loadSiteID() (string, error) {
	if uid := r.site.UID; uid != "" {
		return uid, nil
	}
	path := filepath.Join(r.ns.InternalDir(), "site-id")
	data, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(data)); uuid.Validate(id) == nil {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read site id: %w", err)
	}
	id := uuid.NewString()
	if err := atomicfile.WriteFile(path, []byte(id+"\n"), namespaces.FilePerm); err != nil {
		return "", err
	}
	return id, nil
}

// portsDurable waits until the ports table of the last assignment is
// written and durable. The ports are used in memory meanwhile (to issue
// credentials, to render), and nothing that names them is written before.
func (r *run) portsDurable() error {
	p := r.portsTable
	if p == nil {
		return nil
	}
	r.portsTable = nil
	if err := p.Wait(); err != nil {
		return fmt.Errorf("allocate ports: %w", err)
	}
	return nil
}

// routerAccesses returns the valid RouterAccesses plus the one implied by
// Site.spec.linkAccess (named after the site, unless one of that name
// exists). Edge sites have none.
func (r *run) routerAccesses() []*v2alpha1.RouterAccess {
	if r.site.Spec.Edge {
		return nil
	}
	var out []*v2alpha1.RouterAccess
	names := map[string]bool{}
	for _, d := range r.snap.Valid() {
		if ra, ok := d.Object.(*v2alpha1.RouterAccess); ok {
			out = append(out, ra)
			names[ra.Name] = true
		}
	}
	if r.site.Spec.LinkAccessEnabled() && !names[r.site.Name] {
		ra := &v2alpha1.RouterAccess{
			TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindRouterAccess},
			ObjectMeta: v2alpha1.ObjectMeta{Name: r.site.Name},
			Spec: v2alpha1.RouterAccessSpec{Roles: []v2alpha1.RouterAccessRole{
				{Name: v2alpha1.RoleInterRouter}, {Name: v2alpha1.RoleEdge},
			}},
		}
		v2alpha1.SetDefaults(ra, r.site)
		out = append(out, ra)
	}
	return out
}

// allocatePorts claims the local port, every RouterAccess role port and
// every Listener port across the data home. A resource whose fixed port
// clashes with another namespace is kept out of the config, and the
// remaining claims are assigned again.
func (r *run) allocatePorts() error {
	type owner struct {
		key   v2alpha1.Key
		field string
	}
	for attempt := 0; attempt < 3; attempt++ {
		claims := []ports.Claim{{Key: "router/normal", Role: ports.RoleNormal, Host: "127.0.0.1", What: "router local port"}}
		owners := map[string]owner{}
		for _, ra := range r.accesses {
			k := v2alpha1.KeyOf(ra)
			if _, bad := r.problems[k]; bad {
				continue
			}
			for i, role := range ra.Spec.Roles {
				key := "routeraccess/" + ra.Name + "/" + role.Name
				claim := ports.Claim{Key: key, Role: role.Name, Host: ra.Spec.BindHost, What: fmt.Sprintf("RouterAccess/%s role %s", ra.Name, role.Name)}
				if role.Port != 0 {
					// An explicit port is a fixed claim; only unset ports are allocated.
					claim.Role, claim.Port = "", role.Port
				}
				claims = append(claims, claim)
				owners[key] = owner{k, fmt.Sprintf("spec.roles[%d].port", i)}
			}
		}
		for _, d := range r.snap.Valid() {
			if l, ok := d.Object.(*v2alpha1.Listener); ok && r.usable(d) {
				key := "listener/" + l.Name
				claims = append(claims, ports.Claim{Key: key, Port: l.Spec.Port, Host: l.Spec.Host, What: "Listener/" + l.Name})
				owners[key] = owner{d.Key(), "spec.port"}
			}
		}
		got, pending, err := r.opts.Ports.AssignAsync(r.ctx, r.ns.Name, claims)
		if pending != nil {
			r.portsTable = pending
		}
		if err == nil {
			r.ports = render.Ports{Local: got["router/normal"], Roles: map[string]map[string]int{}}
			for _, ra := range r.accesses {
				for _, role := range ra.Spec.Roles {
					if p := got["routeraccess/"+ra.Name+"/"+role.Name]; p != 0 {
						if r.ports.Roles[ra.Name] == nil {
							r.ports.Roles[ra.Name] = map[string]int{}
						}
						r.ports.Roles[ra.Name][role.Name] = p
					}
				}
			}
			return nil
		}
		var conflicts []*ports.ConflictError
		for _, e := range unwrapAll(err) {
			var ce *ports.ConflictError
			if errors.As(e, &ce) {
				conflicts = append(conflicts, ce)
			}
		}
		if len(conflicts) == 0 {
			return fmt.Errorf("allocate ports: %w", err)
		}
		if err := r.portsDurable(); err != nil {
			return err
		}
		for _, ce := range conflicts {
			o, ok := owners[ce.Claim.Key]
			if !ok {
				return fmt.Errorf("allocate ports: %w", err)
			}
			r.fail(o.key, o.field, ce.Error())
		}
	}
	return errors.New("allocate ports: conflicts remain after excluding the resources involved")
}

// unwrapAll flattens joined errors.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

func (r *run) ensureCredentials() error {
	r.creds = newCredentials(r.ns, r.snap, r.now, r.opts.Hosts())
	if err := r.creds.local(); err != nil {
		return err
	}
	// The site CA is made even without link access: grants and static
	// links are signed by it, and keeping it stable keeps issued links valid.
	if _, err := r.creds.issuer(r.siteIssuer()); err != nil {
		r.fail(v2alpha1.KeyOf(r.site), "spec.defaultIssuer", err.Error())
	}
	for _, ra := range r.accesses {
		if err := r.creds.routerAccess(ra); err != nil {
			r.fail(v2alpha1.KeyOf(ra), "spec.tlsCredentials", err.Error())
		}
	}
	for _, d := range r.snap.Valid() {
		if !r.usable(d) {
			continue
		}
		var err error
		field := "spec.tlsCredentials"
		switch o := d.Object.(type) {
		case *v2alpha1.Link:
			err = r.creds.link(o)
		case *v2alpha1.Listener:
			if o.Spec.TLSCredentials != "" {
				err = r.creds.listener(o)
			}
		case *v2alpha1.Connector:
			if tls := o.Spec.TLSCredentials; tls != "" && o.Spec.Host != "" {
				err = r.creds.connector("Connector/"+o.Name, tls, o.Spec.UseClientCert, r.snap.Certs[tls], render.ConnectorCreds(tls, o.Spec.UseClientCert))
			}
		case *v2alpha1.AttachedConnectorBinding:
			if a := r.attachment(o); a != nil && a.Connector.Spec.TLSCredentials != "" && a.Connector.Spec.Host != "" {
				err = r.attachedCredentials(a)
			}
		}
		if err != nil {
			r.fail(d.Key(), field, err.Error())
		}
	}
	return nil
}

func (r *run) siteIssuer() string {
	if r.site.Spec.DefaultIssuer != "" {
		return r.site.Spec.DefaultIssuer
	}
	return SiteCA
}

// attachment pairs a binding with its AttachedConnector.
func (r *run) attachment(b *v2alpha1.AttachedConnectorBinding) *render.Attached {
	c := v2alpha1.FindAttachment(r.ns.Name, b, r.snap.Attached)
	if c == nil {
		return nil
	}
	return &render.Attached{ConnectorNamespace: b.Spec.ConnectorNamespace, Binding: b, Connector: c}
}

// attachedCredentials installs an attached connector's bundle, read from
// its own namespace's input/certs.
func (r *run) attachedCredentials(a *render.Attached) error {
	cns := r.ns.Home.Namespace(a.ConnectorNamespace)
	tls := a.Connector.Spec.TLSCredentials
	b, err := certs.ReadDir(cns.InputCertDir(tls))
	if err != nil {
		return fmt.Errorf("bundle %q of AttachedConnector/%s in namespace %q: %v", tls, a.Connector.Name, a.ConnectorNamespace, err)
	}
	nb := &namespaces.Bundle{Name: tls, CA: b.CA, Cert: b.Cert, Key: b.Key}
	owner := fmt.Sprintf("AttachedConnector/%s of namespace %q", a.Connector.Name, a.ConnectorNamespace)
	return r.creds.connector(owner, tls, a.Connector.Spec.UseClientCert, nb, render.AttachedCreds(a.ConnectorNamespace, tls, a.Connector.Spec.UseClientCert))
}

func (r *run) renderConfig() error {
	ordinals, err := r.tlsOrdinals()
	if err != nil {
		return err
	}
	in := render.Input{
		Ordinals:           ordinals,
		Namespace:          r.ns.Name,
		SiteID:             r.siteID,
		Version:            r.opts.Version,
		Site:               r.site,
		Ports:              r.ports,
		CertsDir:           r.ns.RuntimeCertsDir(),
		MutualTLSListeners: r.creds.mutual,
	}
	for _, ra := range r.accesses {
		if _, bad := r.problems[v2alpha1.KeyOf(ra)]; !bad {
			in.RouterAccesses = append(in.RouterAccesses, ra)
		}
	}
	for _, d := range r.snap.Valid() {
		if !r.usable(d) {
			continue
		}
		switch o := d.Object.(type) {
		case *v2alpha1.Link:
			in.Links = append(in.Links, o)
		case *v2alpha1.Listener:
			in.Listeners = append(in.Listeners, o)
		case *v2alpha1.Connector:
			in.Connectors = append(in.Connectors, o)
		case *v2alpha1.AttachedConnectorBinding:
			if a := r.attachment(o); a != nil {
				in.Attached = append(in.Attached, *a)
			} else {
				r.notes[d.Key()] = fmt.Sprintf("No AttachedConnector named %q in namespace %q attaches to this namespace", o.Name, o.Spec.ConnectorNamespace)
			}
		}
	}
	res, err := render.RouterConfig(in)
	if err != nil {
		return err
	}
	for _, n := range res.Skipped {
		r.notes[n.Key] = n.Message
	}
	if err := r.portsDurable(); err != nil {
		return err
	}
	changed, err := atomicfile.WriteDerivedIfChanged(r.ns.RouterConfigPath(), res.Config, namespaces.FilePerm)
	if err != nil {
		return err
	}
	r.res.ConfigChanged = changed
	r.derivedWritten = r.derivedWritten || changed
	return nil
}

// writeStaticLinks keeps runtime/links/link-<ra>-<host>.yaml, one per
// RouterAccess and reachable host, each a Link and Secret a remote site can
// apply. Their client certificate is issued once per RouterAccess by its
// issuer and kept in internal/link-clients/<ra>.
func (r *run) writeStaticLinks() error {
	want := map[string]bool{}
	for _, ra := range r.accesses {
		if _, bad := r.problems[v2alpha1.KeyOf(ra)]; bad {
			continue
		}
		ir, edge := r.ports.Role(ra.Name, v2alpha1.RoleInterRouter), r.ports.Role(ra.Name, v2alpha1.RoleEdge)
		if ir == 0 && edge == 0 {
			continue
		}
		client, err := r.linkClient(ra)
		if err != nil {
			r.fail(v2alpha1.KeyOf(ra), "spec.issuer", err.Error())
			continue
		}
		for _, host := range linkHosts(ra, r.creds.hosts) {
			name := "link-" + ra.Name
			data, err := render.StaticLink(render.StaticLinkInput{
				Name: name, Host: host, InterRouterPort: ir, EdgePort: edge, Cost: 1,
				CA: client.CA, Cert: client.Cert, Key: client.Key,
			})
			if err != nil {
				return err
			}
			file := name + "-" + host + ".yaml"
			want[file] = true
			if _, err := atomicfile.WriteFileIfChanged(filepath.Join(r.ns.LinksDir(), file), data, namespaces.FilePerm); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(r.ns.LinksDir())
	if err != nil {
		return fmt.Errorf("list static links: %w", err)
	}
	for _, e := range entries {
		if !want[e.Name()] && !e.IsDir() {
			if err := atomicfile.Remove(filepath.Join(r.ns.LinksDir(), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkClient returns the client certificate handed out in static links of
// a RouterAccess, issuing it on first use and when renewal is due. It is a
// link certificate for a remote site, so it lives as long as a CA.
func (r *run) linkClient(ra *v2alpha1.RouterAccess) (certs.Bundle, error) {
	ca, err := r.creds.issuer(ra.Spec.Issuer)
	if err != nil {
		return certs.Bundle{}, err
	}
	dir := filepath.Join(r.ns.InternalDir(), "link-clients", ra.Name)
	req := certs.Request{CommonName: "link-" + ra.Name, Usage: certs.ClientAuth, Validity: certs.DefaultCAValidity}
	if err := atomicfile.MkdirAll(filepath.Dir(dir), namespaces.DirPerm); err != nil {
		return certs.Bundle{}, err
	}
	b, _, err := certs.EnsureLeaf(dir, ca, req, r.now)
	return b, err
}

// linkHosts are the endpoint hosts offered in static links: the bind host
// when the RouterAccess binds one address, else every reachable name and
// address of this host plus the subjectAlternativeNames. Wildcard
// addresses are never offered.
func linkHosts(ra *v2alpha1.RouterAccess, hosts []string) []string {
	if h := ra.Spec.BindHost; !v2alpha1.IsWildcardHost(h) {
		return []string{h}
	}
	set := map[string]bool{}
	for _, h := range append(append([]string(nil), hosts...), ra.Spec.SubjectAlternativeNames...) {
		if !v2alpha1.IsWildcardHost(h) {
			set[h] = true
		}
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
