// Package render turns a namespace's validated resources into the
// configuration of its skupper-router: the skrouterd.json file and the
// static links remote sites can apply.
//
// Render is a pure function: no I/O, no clock, no randomness. Identical
// input gives byte-identical output, so callers can skip writing (and
// restarting the router) when nothing changed.
//
// # Entity names
//
// skupper-router requires every entity name to be unique across all entity
// types. Names derived from user resources therefore carry a type prefix
// with a "/" (which resource names cannot contain): "link/<name>",
// "listener/<name>", "connector/<name>",
// "attached/<namespace>/<name>", "routeraccess/<name>/<role>" and
// "tls/<dir>" for the sslProfile of the credentials in runtime/certs/<dir>.
// The unprefixed names are skupperd's local listener
// ("skupper-local-normal") and the site entity, named after the Site: the
// router reports it as the SITE record's name, which every site of the
// network shows as this site's name.
package render

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/parallel"
)

// Names of skupperd's own router entities and credentials.
const (
	LocalListenerName = "skupper-local-normal"
	LocalServerCreds  = "skupper-local-server"
	LocalClientCreds  = "skupper-local-client"
	Platform          = "linux"
)

// Input is everything the router configuration is derived from. Resources
// must be valid and defaulted (v2alpha1.SetDefaults).
type Input struct {
	Namespace string
	SiteID    string
	Version   string // skupperd version, recorded in router metadata
	Site      *v2alpha1.Site
	// RouterAccesses are the namespace's RouterAccess resources, including
	// the one implied by Site.spec.linkAccess.
	RouterAccesses []*v2alpha1.RouterAccess
	Links          []*v2alpha1.Link
	Listeners      []*v2alpha1.Listener
	Connectors     []*v2alpha1.Connector
	Attached       []Attached
	Ports          Ports
	// CertsDir is the absolute runtime/certs directory sslProfiles point into.
	CertsDir string
	// MutualTLSListeners names the Listener bundles that include a ca.crt
	// for verifying clients (tlsCredentials value → true).
	MutualTLSListeners map[string]bool
	// Ordinals are the sslProfile ordinals by runtime/certs directory
	// (absent or 0: none rendered); the caller raises one when the
	// directory's credentials change, so that a running router rotates
	// to them (see reconcile/ordinals.go).
	Ordinals map[string]int64
}

// Attached is an AttachedConnectorBinding of this (site) namespace paired
// with its AttachedConnector from ConnectorNamespace.
type Attached struct {
	ConnectorNamespace string
	Binding            *v2alpha1.AttachedConnectorBinding
	Connector          *v2alpha1.AttachedConnector
}

// Ports are the router ports allocated for this namespace.
type Ports struct {
	// Local is the port of the local normal listener on 127.0.0.1.
	Local int
	// Roles maps a RouterAccess name and role to its port.
	Roles map[string]map[string]int
}

// Role returns the port of a RouterAccess role (0 when not allocated).
func (p Ports) Role(ra, role string) int { return p.Roles[ra][role] }

// Note explains why a resource is only partly or not at all in the config.
type Note struct {
	Key     v2alpha1.Key
	Message string
}

// Result is a rendered router configuration.
type Result struct {
	// Config is the skrouterd.json content.
	Config []byte
	// Skipped lists resources left out of Config, with the reason.
	Skipped []Note
}

// RouterID is the router's stable id: the site name and site id. It never
// changes across reconciles, restarts or reloads of the same site.
func RouterID(siteName, siteID string) string {
	return siteName + "-" + siteID
}

// Credential directory names under runtime/certs, by purpose.

// RouterAccessCreds is the server credential directory of a RouterAccess.
func RouterAccessCreds(ra *v2alpha1.RouterAccess) string { return ra.Spec.TLSCredentials }

// LinkCreds is the client credential directory of a Link.
func LinkCreds(l *v2alpha1.Link) string { return l.Spec.TLSCredentials + "-profile" }

// ListenerCreds is the server credential directory of a Listener.
func ListenerCreds(tls string) string { return tls }

// ConnectorCreds is the credential directory of a Connector: the whole
// bundle with a client certificate, or the CA alone.
func ConnectorCreds(tls string, useClientCert bool) string {
	if useClientCert {
		return tls
	}
	return tls + "-profile"
}

// AttachedCreds is the credential directory of an attached connector's
// bundle, copied from the connector's namespace.
func AttachedCreds(ns, tls string, useClientCert bool) string {
	return "attached-" + ns + "-" + ConnectorCreds(tls, useClientCert)
}

// entity is one entity of skrouterd.json, its attributes a map, or (the
// entities a site holds by the thousand) fields.
type entity struct {
	typ    string
	name   string
	attrs  map[string]any
	fields []field
}

type builder struct {
	in       Input
	profiles map[string]map[string]any
	entities []entity
	skipped  []Note
}

// sslProfile declares a profile over runtime/certs/<dir> and returns its
// name. withCert adds the certificate and key; withCA adds the CA file.
func (b *builder) sslProfile(dir string, withCA, withCert bool) string {
	name := SSLProfileName(dir)
	p := map[string]any{"name": name}
	base := filepath.Join(b.in.CertsDir, dir)
	if withCA {
		p["caCertFile"] = filepath.Join(base, "ca.crt")
	}
	if withCert {
		p["certFile"] = filepath.Join(base, "tls.crt")
		p["privateKeyFile"] = filepath.Join(base, "tls.key")
	}
	if n := b.in.Ordinals[dir]; n > 0 {
		p["ordinal"] = n
	}
	b.profiles[name] = p
	return name
}

// SSLProfileName is the name of the sslProfile for the credentials in
// runtime/certs/<dir>. The prefix keeps it apart from the names of other
// entities, which share one namespace in the router: a site's own
// credentials are named after the Site, and so is its site entity.
func SSLProfileName(dir string) string { return "tls/" + dir }

func (b *builder) add(typ, name string, attrs map[string]any) {
	if name != "" {
		attrs["name"] = name
	}
	b.entities = append(b.entities, entity{typ: typ, name: name, attrs: attrs})
}

// addFields is add for an entity built as fields.
func (b *builder) addFields(typ, name string, fields []field) {
	b.entities = append(b.entities, entity{typ: typ, name: name, fields: append(fields, strField("name", name))})
}

func (b *builder) skip(k v2alpha1.Key, format string, args ...any) {
	b.skipped = append(b.skipped, Note{Key: k, Message: fmt.Sprintf(format, args...)})
}

// RouterConfig renders skrouterd.json: the router entity, then skupperd's
// local listener, the RouterAccess listeners, the link connectors, the
// multicast address, the Listeners, the Connectors and attached connectors,
// the log settings and the site entity, each kind sorted by name. Resources
// that cannot be rendered are left out and listed in Result.Skipped.
func RouterConfig(in Input) (Result, error) {
	if in.Site == nil {
		return Result{}, fmt.Errorf("render: no Site")
	}
	if in.SiteID == "" {
		return Result{}, fmt.Errorf("render: no site id")
	}
	if in.Ports.Local == 0 {
		return Result{}, fmt.Errorf("render: no local router port")
	}
	b := &builder{in: in, profiles: map[string]map[string]any{},
		entities: make([]entity, 0, len(in.Listeners)+len(in.Connectors)+len(in.Attached)+len(in.Links)+16)}
	router := b.router()
	b.localListener()
	if err := b.routerAccessListeners(); err != nil {
		return Result{}, err
	}
	b.linkConnectors()
	b.add("address", "", map[string]any{"prefix": "mc", "distribution": "multicast"})
	b.tcpListeners()
	b.tcpConnectors()
	b.attachedConnectors()
	b.logsAndSite()
	cfg, err := b.marshal(router)
	if err != nil {
		return Result{}, err
	}
	return Result{Config: cfg, Skipped: b.skipped}, nil
}

// mode is the router mode of the site: "edge" or "interior".
func (b *builder) mode() string {
	if b.in.Site.Spec.Edge {
		return "edge"
	}
	return "interior"
}

// router returns the attributes of the router entity: its stable id, mode
// and metadata, and the data connection count the Site sets.
func (b *builder) router() map[string]any {
	in, site := b.in, b.in.Site
	meta, _ := json.Marshal(struct {
		ID       string `json:"id"`
		Version  string `json:"version"`
		Platform string `json:"platform"`
	}{in.SiteID, in.Version, Platform})
	router := map[string]any{
		"id":       RouterID(site.Name, in.SiteID),
		"mode":     b.mode(),
		"metadata": string(meta),
	}
	if n := site.Spec.Settings[v2alpha1.SettingRouterDataConnections]; n != "" {
		router["dataConnectionCount"] = n
	}
	return router
}

// localListener adds the listener for skupperd's own management
// connection: 127.0.0.1 only, mutual TLS.
func (b *builder) localListener() {
	b.add("listener", LocalListenerName, map[string]any{
		"role":             "normal",
		"host":             "127.0.0.1",
		"port":             strconv.Itoa(b.in.Ports.Local),
		"sslProfile":       b.sslProfile(LocalServerCreds, true, true),
		"saslMechanisms":   "EXTERNAL",
		"authenticatePeer": true,
		// The router asks its clients for a frame within half of this;
		// skupperd's observer sends a keepalive after a quarter of it
		// without another frame, so the default 16 s would cost every
		// observer a write every 4 s.
		"idleTimeoutSeconds": localIdleTimeout,
	})
}

// localIdleTimeout is the idle timeout (seconds) of the local listener:
// skupperd's observer sends a keepalive after localIdleTimeout/4 seconds
// without another frame.
const localIdleTimeout = 120

// routerAccessListeners adds one listener per role of every RouterAccess
// (none on an edge site). Every role must have a port.
func (b *builder) routerAccessListeners() error {
	if b.in.Site.Spec.Edge {
		return nil
	}
	for _, ra := range sortedBy(b.in.RouterAccesses, func(r *v2alpha1.RouterAccess) string { return r.Name }) {
		profile := b.sslProfile(RouterAccessCreds(ra), true, true)
		for _, role := range ra.Spec.Roles {
			port := b.in.Ports.Role(ra.Name, role.Name)
			if port == 0 {
				return fmt.Errorf("render: no port for RouterAccess/%s role %s", ra.Name, role.Name)
			}
			attrs := map[string]any{
				"role":             role.Name,
				"port":             strconv.Itoa(port),
				"sslProfile":       profile,
				"saslMechanisms":   "EXTERNAL",
				"authenticatePeer": true,
			}
			if h := ra.Spec.BindHost; !v2alpha1.IsWildcardHost(h) {
				attrs["host"] = h
			}
			b.add("listener", RouterAccessEntityName(ra.Name, role.Name), attrs)
		}
	}
	return nil
}

// linkConnectors adds a connector per Link to its endpoint of the role the
// site's mode dials (inter-router, or edge on an edge site); a Link without
// one is skipped.
func (b *builder) linkConnectors() {
	linkRole := v2alpha1.RoleInterRouter
	if b.in.Site.Spec.Edge {
		linkRole = v2alpha1.RoleEdge
	}
	for _, l := range sortedBy(b.in.Links, func(l *v2alpha1.Link) string { return l.Name }) {
		ep, ok := endpointFor(l, linkRole)
		if !ok {
			b.skip(v2alpha1.KeyOf(l), "the link has no %q endpoint, which a site in %s mode needs", linkRole, b.mode())
			continue
		}
		cost := l.Spec.Cost
		if cost < 1 {
			cost = 1
		}
		b.add("connector", LinkEntityName(l.Name), map[string]any{
			"role":       linkRole,
			"host":       ep.Host,
			"port":       string(ep.Port),
			"cost":       cost,
			"sslProfile": b.sslProfile(LinkCreds(l), true, true),
		})
	}
}

// tcpListeners adds a tcpListener per Listener.
func (b *builder) tcpListeners() {
	for _, l := range sortedBy(b.in.Listeners, func(l *v2alpha1.Listener) string { return l.Name }) {
		fields := make([]field, 0, 7)
		fields = append(fields,
			strField("host", l.Spec.Host),
			strField("port", strconv.Itoa(l.Spec.Port)),
			strField("address", l.Spec.RoutingKey))
		if tls := l.Spec.TLSCredentials; tls != "" {
			mutual := b.in.MutualTLSListeners[tls]
			fields = append(fields, strField("sslProfile", b.sslProfile(ListenerCreds(tls), mutual, true)))
			if mutual {
				fields = append(fields, boolField("authenticatePeer", true))
			}
		}
		if o := l.Spec.Settings[v2alpha1.SettingObserver]; o != "" {
			fields = append(fields, strField("observer", o))
		}
		b.addFields("tcpListener", ListenerEntityName(l.Name), fields)
	}
}

// tcpConnectors adds a tcpConnector per Connector with a host; one without
// (a Kubernetes selector) is skipped.
func (b *builder) tcpConnectors() {
	for _, c := range sortedBy(b.in.Connectors, func(c *v2alpha1.Connector) string { return c.Name }) {
		if c.Spec.Host == "" {
			b.skip(v2alpha1.KeyOf(c), "no host: on Linux a Connector needs host (selector is Kubernetes-only)")
			continue
		}
		fields := make([]field, 0, 6)
		fields = append(fields,
			strField("host", c.Spec.Host),
			strField("port", strconv.Itoa(c.Spec.Port)),
			strField("address", c.Spec.RoutingKey))
		if tls := c.Spec.TLSCredentials; tls != "" {
			fields = append(fields,
				strField("sslProfile", b.sslProfile(ConnectorCreds(tls, c.Spec.UseClientCert), true, c.Spec.UseClientCert)),
				boolField("verifyHostname", c.Spec.VerifyHostname))
		}
		b.addFields("tcpConnector", "connector/"+c.Name, fields)
	}
}

// attachedConnectors adds a tcpConnector per attached connector, sorted by
// its namespace and binding name; one without a host is skipped.
func (b *builder) attachedConnectors() {
	attached := append([]Attached(nil), b.in.Attached...)
	sort.Slice(attached, func(i, j int) bool {
		if attached[i].ConnectorNamespace != attached[j].ConnectorNamespace {
			return attached[i].ConnectorNamespace < attached[j].ConnectorNamespace
		}
		return attached[i].Binding.Name < attached[j].Binding.Name
	})
	for _, a := range attached {
		c := a.Connector
		if c.Spec.Host == "" {
			b.skip(v2alpha1.KeyOf(a.Binding), "AttachedConnector/%s in namespace %q has no host (selector is Kubernetes-only)", c.Name, a.ConnectorNamespace)
			continue
		}
		attrs := map[string]any{
			"host":    c.Spec.Host,
			"port":    strconv.Itoa(c.Spec.Port),
			"address": a.Binding.Spec.RoutingKey,
		}
		if tls := c.Spec.TLSCredentials; tls != "" {
			attrs["sslProfile"] = b.sslProfile(AttachedCreds(a.ConnectorNamespace, tls, c.Spec.UseClientCert), true, c.Spec.UseClientCert)
			attrs["verifyHostname"] = c.Spec.VerifyHostname
		}
		b.add("tcpConnector", "attached/"+a.ConnectorNamespace+"/"+c.Name, attrs)
	}
}

// logsAndSite adds the log entities of the routerLogging setting and the
// site entity.
func (b *builder) logsAndSite() {
	for _, l := range logEntities(b.in.Site.Spec.Settings[v2alpha1.SettingRouterLogging]) {
		b.add("log", "", l)
	}
	b.add("site", b.siteEntityName(), map[string]any{
		"namespace": b.in.Namespace,
		"platform":  Platform,
		"version":   b.in.Version,
	})
}

// siteEntityName names the site entity. The router reports it as the SITE
// record's name, which is what every other site shows as this site's name
// (remoteSiteName, network), so it is the Site's name, as on Kubernetes.
// Entity names are unique across types, though: should an sslProfile
// (named by a tlsCredentials value) or another entity already hold the
// Site's name, the site id is used instead, which nothing else can hold.
func (b *builder) siteEntityName() string {
	name := b.in.Site.Name
	if _, taken := b.profiles[name]; taken {
		return b.in.SiteID
	}
	for _, e := range b.entities {
		if e.name == name {
			return b.in.SiteID
		}
	}
	return name
}

// LinkEntityName is the name of the router connector that carries the
// Link named name; the router reports it as the LINK record's name.
func LinkEntityName(name string) string { return "link/" + name }

// ListenerEntityName is the name of the tcpListener of the Listener named
// name.
func ListenerEntityName(name string) string { return "listener/" + name }

// RouterAccessEntityName is the name of the listener of the RouterAccess
// named name for role (inter-router, edge).
func RouterAccessEntityName(name, role string) string { return "routeraccess/" + name + "/" + role }

// LinkNameOf returns the Link name carried by the connector entity named
// entity (the inverse of LinkEntityName), and false for other names.
func LinkNameOf(entity string) (string, bool) { return strings.CutPrefix(entity, "link/") }

// typeOrder is the order in which entity types appear in skrouterd.json.
var typeOrder = []string{"router", "sslProfile", "listener", "connector", "address", "tcpListener", "tcpConnector", "log", "site"}

func (b *builder) marshal(router map[string]any) ([]byte, error) {
	all := []entity{{typ: "router", attrs: router}}
	names := make([]string, 0, len(b.profiles))
	for n := range b.profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		all = append(all, entity{typ: "sslProfile", name: n, attrs: b.profiles[n]})
	}
	rank := map[string]int{}
	for i, t := range typeOrder {
		rank[t] = i
	}
	rest := append([]entity(nil), b.entities...)
	sort.SliceStable(rest, func(i, j int) bool { return rank[rest[i].typ] < rank[rest[j].typ] })
	all = append(all, rest...)

	// Each entity's JSON is independent: encoded on all CPUs (a site of
	// 1,000 pairs has over 2,000), then joined in order.
	parts := make([][]byte, len(all))
	errs := make([]error, len(all))
	parallel.For(len(all), func(i int) {
		if all[i].fields != nil {
			parts[i] = marshalFields(all[i].fields)
			return
		}
		parts[i], errs[i] = marshalEntity(all[i].attrs)
	})
	size := 4
	for i, e := range all {
		if errs[i] != nil {
			return nil, fmt.Errorf("render %s %q: %w", e.typ, e.name, errs[i])
		}
		size += len(parts[i]) + len(e.typ) + 16
	}
	out := make([]byte, 0, size)
	out = append(out, "[\n"...)
	for i, e := range all {
		out = append(out, "    ["...)
		out = strconv.AppendQuote(out, e.typ)
		out = append(out, ", "...)
		out = append(out, parts[i]...)
		out = append(out, ']')
		if i < len(all)-1 {
			out = append(out, ',')
		}
		out = append(out, '\n')
	}
	return append(out, "]\n"...), nil
}

// logEntities maps the routerLogging setting to log entities: a level for
// every module ("info" → DEFAULT "info+"), or MODULE:level pairs.
func logEntities(setting string) []map[string]any {
	if setting == "" {
		setting = "info"
	}
	if !strings.Contains(setting, ":") {
		return []map[string]any{{"module": "DEFAULT", "enable": routerLevel(setting) + "+"}}
	}
	var out []map[string]any
	for _, part := range strings.Split(setting, ",") {
		mod, lvl, _ := strings.Cut(strings.TrimSpace(part), ":")
		out = append(out, map[string]any{"module": mod, "enable": routerLevel(lvl) + "+"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["module"].(string) < out[j]["module"].(string) })
	return out
}

// routerLevel maps a routerLogging level to one skupper-router knows:
// it has no "trace" (its configuration loader reads it as debug, but an
// UPDATE through management refuses it) and no "notice" (it refuses to
// start with it).
func routerLevel(level string) string {
	switch level {
	case "trace":
		return "debug"
	case "notice":
		return "info"
	}
	return level
}

func endpointFor(l *v2alpha1.Link, role string) (v2alpha1.Endpoint, bool) {
	for _, ep := range l.Spec.Endpoints {
		if ep.Name == role {
			return ep, true
		}
	}
	return v2alpha1.Endpoint{}, false
}

func sortedBy[T any](items []T, key func(T) string) []T {
	out := append([]T(nil), items...)
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}
