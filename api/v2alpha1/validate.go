package v2alpha1

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPort is the largest TCP port.
const MaxPort = 65535

// ValidateName checks a resource or namespace name: a lowercase RFC 1123
// label (what upstream Skupper accepts on Linux). It returns "" when valid,
// else a message.
func ValidateName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > 63:
		return fmt.Sprintf("%q is %d characters long; at most 63 are allowed", Abbreviate(name), len(name))
	case !isName(name):
		return fmt.Sprintf("%q is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit (RFC 1123 label, e.g. \"my-name\")", Abbreviate(name))
	}
	return ""
}

// AbbreviateLimit is the length beyond which Abbreviate shortens a value
// (longer than any valid name, host or usual path).
const AbbreviateLimit = 256

// Abbreviate shortens a value quoted in a message (a name, a host) to its
// first 64 bytes and an ellipsis when it is longer than AbbreviateLimit, so
// that a huge value does not flood the message.
func Abbreviate(s string) string {
	if len(s) <= AbbreviateLimit {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ValidateRoutingKey checks a routing key; "" when valid, else a message.
func ValidateRoutingKey(key string) string {
	switch {
	case key == "":
		return "routingKey is required"
	case len(key) > 253:
		return fmt.Sprintf("routing key is %d characters long; at most 253 are allowed", len(key))
	case !isRoutingKey(key):
		return fmt.Sprintf("%q is not a valid routing key: use letters, digits, '.', '-', '_' and ':', starting and ending with a letter or digit", Abbreviate(key))
	}
	return ""
}

// ValidateHost checks a host: an IPv4 or IPv6 address or a DNS name.
// "" when valid, else a message.
func ValidateHost(host string) string {
	if host == "" {
		return "host is required"
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return fmt.Sprintf("%q: write IPv6 addresses without brackets", Abbreviate(host))
	}
	bad := fmt.Sprintf("%q is not a valid host: expected an IPv4 address, an IPv6 address or a DNS name", Abbreviate(host))
	if len(host) > 253 {
		return bad
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if len(label) > 63 || !isDNSLabel(label) {
			return bad
		}
	}
	// An all-numeric dotted name that did not parse as an IP is a mistyped IP.
	if strings.Trim(host, "0123456789.") == "" {
		return bad
	}
	return ""
}

// ValidatePort checks a port number; "" when valid, else a message.
func ValidatePort(port int) string {
	if port < 1 || port > MaxPort {
		return fmt.Sprintf("port %d is out of range; expected 1-%d", port, MaxPort)
	}
	return ""
}

// ValidatePathElement checks a value that names a directory such as
// input/certs/<value>: one path element, no traversal. "" when valid.
func ValidatePathElement(v string) string {
	switch {
	case v == "":
		return "must not be empty"
	case strings.ContainsRune(v, 0):
		return "must not contain a NUL byte"
	case strings.ContainsAny(v, `/\`):
		return fmt.Sprintf("%q must be a single directory name (no '/')", Abbreviate(v))
	case v == "." || v == "..":
		return fmt.Sprintf("%q must be a directory name, not %q", v, v)
	case strings.HasPrefix(v, "."):
		return fmt.Sprintf("%q must not start with '.' (hidden directories are ignored)", Abbreviate(v))
	case len(v) > 253:
		return "is longer than 253 characters"
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("%q must not contain control characters", Abbreviate(v))
		}
	}
	return ""
}

// IsWildcardHost reports whether host means "all interfaces".
func IsWildcardHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::" || host == "[::]"
}

// Validate checks the documents of one namespace — every file of its input
// — and attaches diagnostics to the documents they concern. It returns every
// diagnostic (including those already attached by Decode and namespace-level
// ones that concern no single document), sorted by file and line.
//
// A document with an error diagnostic is invalid and must not be applied; the
// others may be. Validation never stops at the first problem.
func Validate(namespace string, docs []*Document) Diagnostics {
	var nsDiags Diagnostics
	CheckDocuments(namespace, docs)
	validateDuplicates(docs)
	site := validateSites(docs)
	if site != nil && site.Object.(*Site).Spec.Edge {
		for _, d := range docs {
			if d.Key().Kind == KindRouterAccess {
				d.addError("", "edge sites cannot accept links, so they cannot have a RouterAccess; remove it or set edge: false on Site/%s", site.GetName())
			}
		}
	}
	validateBindings(docs)
	all := nsDiags
	for _, d := range docs {
		all = append(all, d.Diags...)
	}
	return all.Sort()
}

// CheckSitePresent returns a namespace-level diagnostic when a namespace's
// complete input holds resources that need a Site but no Site. (A namespace
// holding only AttachedConnectors or Secrets needs none.) Validate does not
// apply this rule because it also checks loose files.
func CheckSitePresent(namespace string, docs []*Document) Diagnostics {
	for _, d := range docs {
		if d.Key().Kind == KindSite {
			return nil
		}
	}
	if !needsSite(docs) {
		return nil
	}
	return Diagnostics{{Message: fmt.Sprintf("namespace %q has no Site, so its resources cannot apply; create one (e.g. skupper site create my-site -n %s)", namespace, namespace)}}
}

func needsSite(docs []*Document) bool {
	for _, d := range docs {
		switch d.Key().Kind {
		case KindSecret, KindAttachedConnector, KindSite:
		default:
			return true
		}
	}
	return false
}

// CheckDocuments runs the checks of Validate that look at one document
// alone (names, fields, values; not duplicates, the Site or bindings) on
// each of docs not checked for namespace yet, attaching what they find.
// Validate runs it; a cache of decoded documents runs it once on the
// documents it keeps, so that their clones are not checked again.
func CheckDocuments(namespace string, docs []*Document) {
	for _, d := range docs {
		if d.checkedFor == namespace && namespace != "" {
			continue
		}
		validateDocument(namespace, d)
		d.checkedFor = namespace
	}
}

func validateDocument(namespace string, d *Document) {
	m := d.Object.GetObjectMeta()
	if msg := ValidateName(m.Name); msg != "" && m.Name != "" {
		d.addError("metadata.name", "%s", msg)
	}
	if m.Namespace != "" && m.Namespace != namespace {
		d.addError("metadata.namespace", "namespace %q does not match the namespace directory %q; leave it empty or set it to %q", m.Namespace, namespace, namespace)
	}
	switch o := d.Object.(type) {
	case *Site:
		validateSite(d, o)
	case *Link:
		validateLink(d, o)
	case *Listener:
		validateListener(d, o)
	case *Connector:
		validateConnector(d, o)
	case *RouterAccess:
		validateRouterAccess(d, o)
	case *AccessGrant:
		validateAccessGrant(d, o)
	case *AccessToken:
		validateAccessToken(d, o)
	case *AttachedConnector:
		validateAttachedConnector(namespace, d, o)
	case *AttachedConnectorBinding:
		validateBinding(namespace, d, o)
	case *Secret:
		validateSecret(d, o)
	}
}

// ReservedCredentialPrefix starts the names of the credentials skupperd
// makes for itself (skupper-local-ca, skupper-local-server, ...).
const ReservedCredentialPrefix = "skupper-local"

func checkPathElement(d *Document, field, v string, optional bool) {
	if v == "" && optional {
		return
	}
	if msg := ValidatePathElement(v); msg != "" {
		d.addError(field, "%s: %s (it names a directory under input/certs/ or input/issuers/)", field[strings.LastIndex(field, ".")+1:], msg)
		return
	}
	if strings.HasSuffix(field, "tlsCredentials") && strings.HasPrefix(v, ReservedCredentialPrefix) {
		d.addError(field, "tlsCredentials %q: names starting with %q are reserved for skupperd's own credentials", v, ReservedCredentialPrefix)
	}
}

func checkHost(d *Document, field, host string) {
	if msg := ValidateHost(host); msg != "" {
		d.addError(field, "%s", msg)
	}
}

func checkPort(d *Document, field string, port int) {
	if port == 0 {
		d.addError(field, "port is missing or 0; expected 1-%d", MaxPort)
		return
	}
	if msg := ValidatePort(port); msg != "" {
		d.addError(field, "%s", msg)
	}
}

func checkRoutingKey(d *Document, field, key string) {
	if msg := ValidateRoutingKey(key); msg != "" {
		d.addError(field, "%s", msg)
	}
}

func kubernetesOnly(d *Document, field string, set bool) {
	if set {
		d.addWarning(field, "%s is only supported on Kubernetes; it is ignored on Linux", field[strings.LastIndex(field, ".")+1:])
	}
}

// knownSettings lists the documented settings of each kind and a checker for
// each value ("" when valid).
var knownSettings = map[string]map[string]func(string) string{
	KindSite: {
		SettingRouterDataConnections: func(v string) string {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
				return fmt.Sprintf("%q: expected a whole number of data connections from 1 to 1000", v)
			}
			return ""
		},
		SettingRouterLogging: validateRouterLogging,
	},
	KindListener: {SettingObserver: validateObserver},
}

var observers = []string{"auto", "none", "http1", "http2"}

func validateObserver(v string) string {
	for _, o := range observers {
		if v == o {
			return ""
		}
	}
	return fmt.Sprintf("%q: expected one of %s", v, strings.Join(observers, ", "))
}

// RouterLogLevels are the accepted values of the routerLogging setting (a
// level, or a comma-separated list of MODULE:level).
var RouterLogLevels = []string{"trace", "debug", "info", "notice", "warning", "error", "critical"}

// RouterLogModules are the router log modules that routerLogging may name.
var RouterLogModules = []string{"ROUTER", "ROUTER_CORE", "ROUTER_HELLO", "ROUTER_LS", "ROUTER_MA", "MESSAGE", "SERVER", "AGENT", "CONTAINER", "ERROR", "POLICY", "HTTP", "CONN_MGR", "PYTHON", "PROTOCOL", "TCP_ADAPTOR", "HTTP_ADAPTOR", "FLOW_LOG", "ADDRESS_WATCH", "HTTP1_OBSERVER", "HTTP2_OBSERVER", "HTTP2_DECODER", "DEFAULT"}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func validateRouterLogging(v string) string {
	if contains(RouterLogLevels, v) {
		return ""
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		mod, lvl, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !contains(RouterLogModules, mod) || !contains(RouterLogLevels, lvl) {
			return fmt.Sprintf("%q: expected a level (%s) or a comma-separated list of MODULE:level", v, strings.Join(RouterLogLevels, ", "))
		}
		if seen[mod] {
			// The router refuses a configuration that names a module twice.
			return fmt.Sprintf("%q: module %s is given more than once", v, mod)
		}
		seen[mod] = true
	}
	return ""
}

func validateSettings(d *Document, settings map[string]string) {
	known := knownSettings[d.Key().Kind]
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := "spec.settings." + k
		check, ok := known[k]
		if !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			hint := "this kind has no documented settings"
			if len(names) > 0 {
				hint = "known settings: " + strings.Join(names, ", ")
			}
			d.addWarning(field, "unknown setting %q is ignored (%s)", k, hint)
			continue
		}
		if msg := check(settings[k]); msg != "" {
			d.addError(field, "%s", msg)
		}
	}
}

// uidRE matches the UUIDs Kubernetes uses as object uids.
var uidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func validateSite(d *Document, s *Site) {
	if s.UID != "" && !uidRE.MatchString(s.UID) {
		d.addError("metadata.uid", "uid %q must be a UUID (it becomes the site id); remove it to let skupperd generate one", s.UID)
	}
	switch s.Spec.LinkAccess {
	case "", LinkAccessNone, LinkAccessDefault:
	case LinkAccessRoute, LinkAccessLoadBalancer:
		d.addWarning("spec.linkAccess", "linkAccess %q is Kubernetes-only; on Linux it is treated as \"default\"", s.Spec.LinkAccess)
	default:
		d.addError("spec.linkAccess", "invalid linkAccess %q: expected \"none\" or \"default\"", s.Spec.LinkAccess)
	}
	if s.Spec.Edge && s.Spec.HA {
		d.addError("spec.ha", "edge sites cannot have HA enabled; remove ha or set edge: false")
	} else {
		kubernetesOnly(d, "spec.ha", s.Spec.HA)
	}
	if s.Spec.Edge && s.Spec.LinkAccessEnabled() {
		d.addError("spec.linkAccess", "edge sites cannot accept links; set linkAccess to \"none\" or set edge: false")
	}
	kubernetesOnly(d, "spec.serviceAccount", s.Spec.ServiceAccount != "")
	checkPathElement(d, "spec.defaultIssuer", s.Spec.DefaultIssuer, true)
	validateSettings(d, s.Spec.Settings)
}

func validateLink(d *Document, l *Link) {
	if len(l.Spec.Endpoints) == 0 {
		d.addError("spec.endpoints", "endpoints are required: at least one {name, host, port} of the remote site")
	}
	usable := false
	for i, ep := range l.Spec.Endpoints {
		f := fmt.Sprintf("spec.endpoints[%d]", i)
		if ep.Host == "" {
			d.addError(f+".host", "endpoint host is required")
		} else if IsWildcardHost(ep.Host) {
			d.addError(f+".host", "endpoint host %q is a wildcard address; give the remote site's address", ep.Host)
		} else {
			checkHost(d, f+".host", ep.Host)
		}
		if ep.Port == "" {
			d.addError(f+".port", "endpoint port is required")
		} else if p, err := strconv.Atoi(string(ep.Port)); err != nil {
			d.addError(f+".port", "endpoint port %q is not a number", string(ep.Port))
		} else if msg := ValidatePort(p); msg != "" {
			d.addError(f+".port", "%s", msg)
		}
		if ep.Name == RoleInterRouter || ep.Name == RoleEdge {
			usable = true
		}
	}
	if len(l.Spec.Endpoints) > 0 && !usable {
		d.addError("spec.endpoints", "no endpoint is named \"inter-router\" or \"edge\", so the link cannot be used")
	}
	if l.Spec.Cost < 0 {
		d.addError("spec.cost", "cost %d is negative; expected 1 or more", l.Spec.Cost)
	}
	checkPathElement(d, "spec.tlsCredentials", l.Spec.TLSCredentials, true)
	validateSettings(d, l.Spec.Settings)
}

func validateListener(d *Document, l *Listener) {
	checkRoutingKey(d, "spec.routingKey", l.Spec.RoutingKey)
	checkHost(d, "spec.host", l.Spec.Host)
	checkPort(d, "spec.port", l.Spec.Port)
	if l.Spec.Type != "" && l.Spec.Type != "tcp" {
		d.addError("spec.type", "listener type %q is not supported; expected \"tcp\"", l.Spec.Type)
	}
	kubernetesOnly(d, "spec.exposePodsByName", l.Spec.ExposePodsByName)
	checkPathElement(d, "spec.tlsCredentials", l.Spec.TLSCredentials, true)
	validateSettings(d, l.Spec.Settings)
}

func validateConnector(d *Document, c *Connector) {
	checkRoutingKey(d, "spec.routingKey", c.Spec.RoutingKey)
	if c.Spec.Host == "" && c.Spec.Selector != "" {
		d.addWarning("spec.selector", "selector is Kubernetes-only; on Linux a Connector needs host, so this one is not configured until host is set")
	} else {
		checkHost(d, "spec.host", c.Spec.Host)
		kubernetesOnly(d, "spec.selector", c.Spec.Selector != "")
	}
	checkPort(d, "spec.port", c.Spec.Port)
	if c.Spec.Type != "" && c.Spec.Type != "tcp" {
		d.addError("spec.type", "connector type %q is not supported; expected \"tcp\"", c.Spec.Type)
	}
	kubernetesOnly(d, "spec.includeNotReadyPods", c.Spec.IncludeNotReadyPods)
	kubernetesOnly(d, "spec.exposePodsByName", c.Spec.ExposePodsByName)
	checkPathElement(d, "spec.tlsCredentials", c.Spec.TLSCredentials, true)
	if c.Spec.UseClientCert && c.Spec.TLSCredentials == "" {
		d.addError("spec.useClientCert", "useClientCert needs tlsCredentials naming a bundle with tls.crt and tls.key")
	}
	if c.Spec.VerifyHostname && c.Spec.TLSCredentials == "" {
		d.addWarning("spec.verifyHostname", "verifyHostname has no effect without tlsCredentials")
	}
	validateSettings(d, c.Spec.Settings)
}

func validateRouterAccess(d *Document, r *RouterAccess) {
	if len(r.Spec.Roles) == 0 {
		d.addError("spec.roles", "roles are required: at least one of {name: inter-router} or {name: edge}")
	}
	seen := map[string]int{}
	for i, role := range r.Spec.Roles {
		f := fmt.Sprintf("spec.roles[%d]", i)
		switch role.Name {
		case RoleInterRouter, RoleEdge:
		case "":
			d.addError(f+".name", "role name is required: \"inter-router\" or \"edge\"")
		default:
			d.addError(f+".name", "invalid role %q: expected \"inter-router\" or \"edge\"", role.Name)
		}
		if j, dup := seen[role.Name]; dup && role.Name != "" {
			d.addError(f+".name", "role %q is listed twice (also roles[%d])", role.Name, j)
		}
		seen[role.Name] = i
		if role.Port != 0 {
			if msg := ValidatePort(role.Port); msg != "" {
				d.addError(f+".port", "%s", msg)
			}
		}
	}
	checkPathElement(d, "spec.tlsCredentials", r.Spec.TLSCredentials, true)
	checkPathElement(d, "spec.issuer", r.Spec.Issuer, true)
	if r.Spec.BindHost != "" && !IsWildcardHost(r.Spec.BindHost) {
		checkHost(d, "spec.bindHost", r.Spec.BindHost)
	}
	for i, san := range r.Spec.SubjectAlternativeNames {
		f := fmt.Sprintf("spec.subjectAlternativeNames[%d]", i)
		if IsWildcardHost(san) {
			d.addError(f, "%q is a wildcard address and cannot be a certificate name", san)
			continue
		}
		checkHost(d, f, san)
	}
	kubernetesOnly(d, "spec.accessType", r.Spec.AccessType != "")
	validateSettings(d, r.Spec.Settings)
}

func validateAccessGrant(d *Document, g *AccessGrant) {
	if g.Spec.RedemptionsAllowed < 0 {
		d.addError("spec.redemptionsAllowed", "redemptionsAllowed %d is negative; expected 1 or more", g.Spec.RedemptionsAllowed)
	}
	if w := g.Spec.ExpirationWindow; w != "" {
		if dur, err := time.ParseDuration(w); err != nil {
			d.addError("spec.expirationWindow", "invalid duration %q: expected a Go duration such as 15m, 1h or 90s", w)
		} else if dur <= 0 {
			d.addError("spec.expirationWindow", "expirationWindow %q must be positive", w)
		}
	}
	checkPathElement(d, "spec.issuer", g.Spec.Issuer, true)
	validateSettings(d, g.Spec.Settings)
}

func validateAccessToken(d *Document, t *AccessToken) {
	if t.Spec.URL == "" {
		d.addError("spec.url", "url is required: the grant server's https URL")
	} else if u, err := url.Parse(t.Spec.URL); err != nil {
		d.addError("spec.url", "url %q does not parse: %v", t.Spec.URL, err)
	} else if u.Scheme != "https" {
		d.addError("spec.url", "url scheme must be https, got %q", u.Scheme)
	} else if u.Host == "" || u.Hostname() == "" {
		d.addError("spec.url", "url %q has no host", t.Spec.URL)
	}
	if t.Spec.Code == "" {
		d.addError("spec.code", "code is required: the grant's secret code")
	}
	if t.Spec.CA == "" {
		d.addError("spec.ca", "ca is required: the grant server's CA certificate in PEM")
	} else if msg := checkPEMCertificates(t.Spec.CA); msg != "" {
		d.addError("spec.ca", "%s", msg)
	}
	if t.Spec.LinkCost < 0 {
		d.addError("spec.linkCost", "linkCost %d is negative; expected 1 or more", t.Spec.LinkCost)
	}
	validateSettings(d, t.Spec.Settings)
}

// checkPEMCertificates checks that s is one or more PEM CERTIFICATE blocks
// that parse. "" when valid.
func checkPEMCertificates(s string) string {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Sprintf("expected PEM CERTIFICATE blocks, found %q", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Sprintf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return "not a PEM certificate (expected -----BEGIN CERTIFICATE-----)"
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return "unexpected text after the PEM certificates"
	}
	return ""
}

func validateAttachedConnector(namespace string, d *Document, a *AttachedConnector) {
	switch {
	case a.Spec.SiteNamespace == "":
		d.addError("spec.siteNamespace", "siteNamespace is required: the namespace whose site this connector attaches to")
	case a.Spec.SiteNamespace == namespace:
		d.addError("spec.siteNamespace", "siteNamespace %q is this namespace; use a Connector instead", a.Spec.SiteNamespace)
	default:
		if msg := ValidateName(a.Spec.SiteNamespace); msg != "" {
			d.addError("spec.siteNamespace", "%s", msg)
		}
	}
	if a.Spec.Host == "" && a.Spec.Selector != "" {
		d.addWarning("spec.selector", "selector is Kubernetes-only; on Linux an AttachedConnector needs host, so this one is not configured until host is set")
	} else {
		checkHost(d, "spec.host", a.Spec.Host)
		kubernetesOnly(d, "spec.selector", a.Spec.Selector != "")
	}
	checkPort(d, "spec.port", a.Spec.Port)
	kubernetesOnly(d, "spec.includeNotReadyPods", a.Spec.IncludeNotReadyPods)
	checkPathElement(d, "spec.tlsCredentials", a.Spec.TLSCredentials, true)
	if a.Spec.UseClientCert && a.Spec.TLSCredentials == "" {
		d.addError("spec.useClientCert", "useClientCert needs tlsCredentials naming a bundle with tls.crt and tls.key")
	}
	validateSettings(d, a.Spec.Settings)
}

func validateBinding(namespace string, d *Document, b *AttachedConnectorBinding) {
	switch {
	case b.Spec.ConnectorNamespace == "":
		d.addError("spec.connectorNamespace", "connectorNamespace is required: the namespace holding the AttachedConnector of the same name")
	case b.Spec.ConnectorNamespace == namespace:
		d.addError("spec.connectorNamespace", "connectorNamespace %q is this namespace; use a Connector instead", b.Spec.ConnectorNamespace)
	default:
		if msg := ValidateName(b.Spec.ConnectorNamespace); msg != "" {
			d.addError("spec.connectorNamespace", "%s", msg)
		}
	}
	checkRoutingKey(d, "spec.routingKey", b.Spec.RoutingKey)
	kubernetesOnly(d, "spec.exposePodsByName", b.Spec.ExposePodsByName)
	validateSettings(d, b.Spec.Settings)
}

func validateSecret(d *Document, s *Secret) {
	switch s.Type {
	case SecretTypeTLS, "Opaque", "":
	default:
		d.addError("type", "secret type %q is not supported; expected %q", s.Type, SecretTypeTLS)
	}
	keys := map[string]bool{}
	for k, v := range s.Data {
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			d.addError("data."+k, "value is not valid base64 (use stringData for plain text)")
		}
		keys[k] = true
	}
	for k := range s.StringData {
		keys[k] = true
	}
	var missing []string
	for _, k := range []string{SecretKeyCA, SecretKeyCert, SecretKeyKey} {
		if !keys[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		field := "data"
		if len(s.Data) == 0 && len(s.StringData) > 0 {
			field = "stringData"
		}
		d.addError(field, "TLS secret must hold %s, %s and %s; missing %s", SecretKeyCA, SecretKeyCert, SecretKeyKey, strings.Join(missing, ", "))
	}
}

// SecretValue returns the decoded value of key in a Secret (stringData wins).
func (s *Secret) SecretValue(key string) ([]byte, bool) {
	if v, ok := s.StringData[key]; ok {
		return []byte(v), true
	}
	if v, ok := s.Data[key]; ok {
		b, err := base64.StdEncoding.DecodeString(v)
		return b, err == nil
	}
	return nil, false
}

func where(d *Document) string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// validateDuplicates flags every Kind/name defined more than once; none of
// the copies applies, since it is ambiguous which one is meant.
func validateDuplicates(docs []*Document) {
	first := make(map[Key]*Document, len(docs))
	var byKey map[Key][]*Document // the keys defined more than once
	for _, d := range docs {
		if d.GetName() == "" {
			continue
		}
		k := d.Key()
		f, seen := first[k]
		if !seen {
			first[k] = d
			continue
		}
		if byKey == nil {
			byKey = map[Key][]*Document{}
		}
		if byKey[k] == nil {
			byKey[k] = []*Document{f}
		}
		byKey[k] = append(byKey[k], d)
	}
	for k, ds := range byKey {
		for _, d := range ds {
			var others []string
			for _, o := range ds {
				if o != d {
					others = append(others, where(o))
				}
			}
			d.addError("metadata.name", "%s is defined more than once (also at %s); define each resource once", k, strings.Join(others, ", "))
		}
	}
}

// validateSites enforces one Site per namespace and returns it (nil when
// there is none or it is ambiguous). When exactly one of several Site
// documents is valid on its own, it is the Site and the others are errors
// of their own: an invalid extra Site must not block the namespace.
func validateSites(docs []*Document) *Document {
	var sites, valid []*Document
	for _, d := range docs {
		if d.Key().Kind == KindSite {
			sites = append(sites, d)
			if d.Valid() {
				valid = append(valid, d)
			}
		}
	}
	if len(sites) == 1 {
		return sites[0]
	}
	if len(valid) == 1 {
		site := valid[0]
		for _, d := range sites {
			if d != site {
				d.addError("", "a namespace holds exactly one Site; Site/%s at %s applies, this one does not", site.GetName(), where(site))
			}
		}
		return site
	}
	for _, d := range sites {
		var others []string
		for _, o := range sites {
			if o != d {
				others = append(others, fmt.Sprintf("Site/%s at %s", o.GetName(), where(o)))
			}
		}
		d.addError("", "a namespace holds exactly one Site; also found %s", strings.Join(others, ", "))
	}
	return nil
}

// binding is a socket some resource of this namespace asks to bind.
type binding struct {
	doc   *Document
	field string
	host  string
	port  int
	what  string
}

// BindingsClash reports whether two host:port bindings on the same port
// conflict: equal hosts, or either host a wildcard address.
func BindingsClash(hostA, hostB string) bool {
	if IsWildcardHost(hostA) || IsWildcardHost(hostB) {
		return true
	}
	a, errA := netip.ParseAddr(hostA)
	b, errB := netip.ParseAddr(hostB)
	if errA == nil && errB == nil {
		return a.Unmap() == b.Unmap()
	}
	return strings.EqualFold(strings.TrimSuffix(hostA, "."), strings.TrimSuffix(hostB, "."))
}

// validateBindings flags Listeners and RouterAccess roles that would bind
// the same port on clashing hosts. The first in file order keeps the port;
// each later one is an error naming the earlier.
func validateBindings(docs []*Document) {
	var bs []binding
	for _, d := range docs {
		if !d.Valid() {
			continue
		}
		switch o := d.Object.(type) {
		case *Listener:
			bs = append(bs, binding{d, "spec.port", o.Spec.Host, o.Spec.Port, "Listener/" + o.Name})
		case *RouterAccess:
			for i, r := range o.Spec.Roles {
				if r.Port != 0 {
					bs = append(bs, binding{d, fmt.Sprintf("spec.roles[%d].port", i), o.Spec.BindHost, r.Port, "RouterAccess/" + o.Name})
				}
			}
		}
	}
	sort.SliceStable(bs, func(i, j int) bool {
		if bs[i].doc.File != bs[j].doc.File {
			return bs[i].doc.File < bs[j].doc.File
		}
		return bs[i].doc.Line < bs[j].doc.Line
	})
	byPort := map[int][]binding{}
	for _, b := range bs {
		for _, a := range byPort[b.port] {
			if a.doc == b.doc || !BindingsClash(a.host, b.host) {
				continue
			}
			b.doc.addError(b.field, "port %d on host %q clashes with %s (host %q, port %d) at %s; choose another port or host", b.port, displayHost(b.host), a.what, displayHost(a.host), a.port, where(a.doc))
			break
		}
		byPort[b.port] = append(byPort[b.port], b)
	}
}

func displayHost(h string) string {
	if h == "" {
		return "0.0.0.0"
	}
	return h
}

// ValidateAttachments checks the pairing of AttachedConnectorBindings in the
// site namespace siteNS with the AttachedConnectors of other namespaces
// (connectors maps a namespace to its documents). A binding and a connector
// pair when they have the same name, the binding's connectorNamespace is the
// connector's namespace and the connector's siteNamespace is siteNS. A
// half-declared pair (one side missing) is not an error — the attachment is
// simply pending — but two sides that name each other inconsistently are.
// Diagnostics are attached to the binding documents of siteNS.
func ValidateAttachments(siteNS string, bindings []*Document, connectors map[string][]*Document) Diagnostics {
	var out Diagnostics
	for _, bd := range bindings {
		b, ok := bd.Object.(*AttachedConnectorBinding)
		if !ok || !bd.Valid() {
			continue
		}
		for _, cd := range connectors[b.Spec.ConnectorNamespace] {
			c, ok := cd.Object.(*AttachedConnector)
			if !ok || c.Name != b.Name || !cd.Valid() {
				continue
			}
			if c.Spec.SiteNamespace != siteNS {
				bd.addError("spec.connectorNamespace", "AttachedConnector/%s in namespace %q attaches to namespace %q, not to %q (at %s); make siteNamespace and connectorNamespace name each other", c.Name, b.Spec.ConnectorNamespace, c.Spec.SiteNamespace, siteNS, where(cd))
				out = append(out, bd.Diags[len(bd.Diags)-1])
			}
		}
	}
	return out
}

// FindAttachment returns the AttachedConnector that pairs with binding b in
// site namespace siteNS, or nil.
func FindAttachment(siteNS string, b *AttachedConnectorBinding, connectors map[string][]*Document) *AttachedConnector {
	for _, cd := range connectors[b.Spec.ConnectorNamespace] {
		if c, ok := cd.Object.(*AttachedConnector); ok && cd.Valid() && c.Name == b.Name && c.Spec.SiteNamespace == siteNS {
			return c
		}
	}
	return nil
}
