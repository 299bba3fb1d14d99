package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/render"
)

// Names of the CAs skupperd generates per namespace.
const (
	SiteCA    = v2alpha1.DefaultSiteIssuer // signs link-access server and link client certificates
	LocalCA   = "skupper-local-ca"         // signs skupperd's own mTLS connection to its router
	ServiceCA = "skupper-service-ca"       // signs generated Listener server certificates
)

// credentials ensures issuers and certificates for one reconcile. It
// records which runtime/certs directories the router config uses, so that
// stale ones can be removed, and problems per resource.
type credentials struct {
	ns      namespaces.Namespace
	snap    *namespaces.Snapshot
	now     time.Time
	hosts   []string
	issuers map[string]certs.Bundle
	used    map[string]dirClaim // runtime/certs dirs in use
	changed bool                // any runtime certificate written
	// problems maps a resource to the credential problem that keeps it
	// out of the config.
	problems map[v2alpha1.Key]string
	mutual   map[string]bool // Listener bundles with a client CA
	// next is the earliest time after now at which a certificate seen
	// becomes valid, is due for renewal or expires (certs.NextChange).
	next time.Time
	// digests identify what each runtime/certs dir in use holds, for the
	// sslProfile ordinals (see ordinals.go).
	digests map[string]string
}

// check checks b as certs.Check does at now, and notes when the verdict
// can change by time alone.
func (c *credentials) check(b certs.Bundle, opts certs.CheckOptions) error {
	c.watch(b.CA, b.Cert)
	return certs.Check(b, opts, c.now)
}

// watch notes when the certificates in pems change by time alone.
func (c *credentials) watch(pems ...[]byte) {
	if t := certs.NextChange(c.now, pems...); !t.IsZero() && (c.next.IsZero() || t.Before(c.next)) {
		c.next = t
	}
}

// bundleDigest identifies a bundle's content.
func bundleDigest(b certs.Bundle) string {
	h := sha256.New()
	for _, part := range [][]byte{b.CA, b.Cert, b.Key} {
		fmt.Fprintf(h, "%d\x00", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newCredentials(ns namespaces.Namespace, snap *namespaces.Snapshot, now time.Time, hosts []string) *credentials {
	return &credentials{
		ns: ns, snap: snap, now: now, hosts: hosts,
		issuers:  map[string]certs.Bundle{},
		used:     map[string]dirClaim{},
		problems: map[v2alpha1.Key]string{},
		mutual:   map[string]bool{},
		digests:  map[string]string{},
	}
}

// issuer returns CA name: the user's bundle from input/issuers/<name> when
// present (checked), else the generated one in runtime/issuers/<name>,
// created on first use and kept across reconciles.
func (c *credentials) issuer(name string) (certs.Bundle, error) {
	if b, ok := c.issuers[name]; ok {
		return b, nil
	}
	if ub := c.snap.Issuers[name]; ub != nil {
		b := certs.Bundle{CA: ub.CA, Cert: ub.Cert, Key: ub.Key}
		if len(b.CA) == 0 {
			b.CA = b.Cert
		}
		if err := c.check(b, certs.CheckOptions{RequireKey: true, RequireCert: true, IsCA: true}); err != nil {
			return certs.Bundle{}, fmt.Errorf("issuer bundle input/issuers/%s: %v", name, err)
		}
		c.issuers[name] = b
		return b, nil
	}
	dir := c.ns.RuntimeIssuerDir(name)
	b, err := certs.ReadDir(dir)
	// A generated CA is kept for as long as it is valid: replacing it
	// would invalidate every link and token already issued under it, so it
	// is replaced only once it no longer passes the check (expired or
	// damaged). Leaves are renewed long before that.
	if err == nil && c.check(b, certs.CheckOptions{RequireKey: true, IsCA: true}) == nil {
		c.issuers[name] = b
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return certs.Bundle{}, fmt.Errorf("issuer %s: %w", name, err)
	}
	b, err = certs.NewCA(name, certs.DefaultCAValidity, c.now)
	if err != nil {
		return certs.Bundle{}, fmt.Errorf("issuer %s: %w", name, err)
	}
	if _, err := certs.WriteDir(dir, b); err != nil {
		return certs.Bundle{}, err
	}
	c.changed = true
	c.issuers[name] = b
	return b, nil
}

// dirClaim records who asked for a runtime/certs directory in this
// reconcile and what it must hold.
type dirClaim struct {
	owner   string // e.g. "RouterAccess/west", for messages
	content string // identifies the credentials: issuer and request, or bundle digest
}

// claim reserves runtime/certs/<dir> for owner's credentials. Directory
// names come from tlsCredentials values and resource names, so two
// resources can map to the same directory (a Listener with tlsCredentials
// equal to the site name, a Link and a CA-only Connector of the same name).
// Sharing is fine when both want the same credentials; otherwise the first
// claimant (skupperd's own, then RouterAccesses, then resources in file
// order) keeps the directory and the later one gets an error, instead of the
// two overwriting each other on every reconcile. done reports that the
// directory was already claimed for the same content (nothing left to do).
func (c *credentials) claim(dir, owner, content string) (done bool, err error) {
	if prev, ok := c.used[dir]; ok {
		if prev.content == content {
			return true, nil
		}
		return false, fmt.Errorf("credentials %q (runtime/certs/%s) are already used by %s for other certificates; give this resource its own tlsCredentials name", dir, dir, prev.owner)
	}
	c.used[dir] = dirClaim{owner: owner, content: content}
	return false, nil
}

// leaf keeps runtime/certs/<dir> holding a certificate for req signed by
// issuer, reusing the existing one while it is valid and matches.
func (c *credentials) leaf(owner, dir, issuer string, req certs.Request) error {
	ca, err := c.issuer(issuer)
	if err != nil {
		return err
	}
	hosts := append([]string(nil), req.Hosts...)
	sort.Strings(hosts)
	if done, err := c.claim(dir, owner, fmt.Sprintf("issue\x00%s\x00%s\x00%q\x00%d", issuer, req.CommonName, hosts, req.Usage)); done || err != nil {
		return err
	}
	b, changed, err := certs.EnsureLeaf(c.ns.RuntimeCertDir(dir), ca, req, c.now)
	c.changed = c.changed || changed
	c.watch(b.Cert) // renewed when due
	if errors.Is(err, certs.ErrIssue) {
		return fmt.Errorf("certificate %s: %w", dir, err)
	}
	if err == nil {
		c.digests[dir] = bundleDigest(b)
	}
	return err
}

// copyBundle installs b into runtime/certs/<dir> (only the parts given).
func (c *credentials) copyBundle(owner, dir string, b certs.Bundle) error {
	digest := bundleDigest(b)
	if done, err := c.claim(dir, owner, "copy\x00"+digest); done || err != nil {
		return err
	}
	changed, err := certs.WriteDir(c.ns.RuntimeCertDir(dir), b)
	c.changed = c.changed || changed
	if err == nil {
		c.digests[dir] = digest
	}
	return err
}

func userBundle(b *namespaces.Bundle) certs.Bundle {
	return certs.Bundle{CA: b.CA, Cert: b.Cert, Key: b.Key}
}

// local ensures skupperd's own router credentials.
func (c *credentials) local() error {
	if err := c.leaf("skupperd", render.LocalServerCreds, LocalCA, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}, Usage: certs.ServerAuth}); err != nil {
		return err
	}
	return c.leaf("skupperd", render.LocalClientCreds, LocalCA, certs.Request{CommonName: "skupperd", Usage: certs.ClientAuth})
}

// routerAccess ensures a RouterAccess server certificate: the user's bundle
// from input/certs/<tls> when present, else one signed by its issuer for
// the host's names and addresses, bindHost and subjectAlternativeNames.
func (c *credentials) routerAccess(ra *v2alpha1.RouterAccess) error {
	dir, owner := render.RouterAccessCreds(ra), "RouterAccess/"+ra.Name
	if ub := c.snap.Certs[ra.Spec.TLSCredentials]; ub != nil {
		b := userBundle(ub)
		if err := c.check(b, certs.CheckOptions{RequireKey: true, RequireCert: true, RequireCA: true}); err != nil {
			return fmt.Errorf("bundle input/certs/%s: %v", ra.Spec.TLSCredentials, err)
		}
		return c.copyBundle(owner, dir, b)
	}
	return c.leaf(owner, dir, ra.Spec.Issuer, certs.Request{CommonName: ra.Name, Hosts: accessHosts(ra, c.hosts), Usage: certs.ServerAuth})
}

// accessHosts are the names a RouterAccess certificate covers.
func accessHosts(ra *v2alpha1.RouterAccess, hosts []string) []string {
	set := map[string]bool{}
	for _, h := range hosts {
		set[h] = true
	}
	if h := ra.Spec.BindHost; !v2alpha1.IsWildcardHost(h) {
		set[h] = true
	}
	for _, h := range ra.Spec.SubjectAlternativeNames {
		set[h] = true
	}
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// link installs a Link's client credentials from its Secret (in
// input/resources) or its bundle in input/certs.
func (c *credentials) link(l *v2alpha1.Link) error {
	name := l.Spec.TLSCredentials
	var b certs.Bundle
	var from string
	if ub := c.snap.Certs[name]; ub != nil {
		b, from = userBundle(ub), "bundle input/certs/"+name
	} else if sec := c.secret(name); sec != nil {
		b.CA, _ = sec.SecretValue(v2alpha1.SecretKeyCA)
		b.Cert, _ = sec.SecretValue(v2alpha1.SecretKeyCert)
		b.Key, _ = sec.SecretValue(v2alpha1.SecretKeyKey)
		from = "Secret/" + name
	} else {
		return fmt.Errorf("link credentials %q not found", name)
	}
	if err := c.check(b, certs.CheckOptions{RequireKey: true, RequireCert: true, RequireCA: true, ClockSkew: certs.ClockSkew}); err != nil {
		return fmt.Errorf("%s: %v", from, err)
	}
	return c.copyBundle("Link/"+l.Name, render.LinkCreds(l), b)
}

func (c *credentials) secret(name string) *v2alpha1.Secret {
	for _, d := range c.snap.Docs {
		if s, ok := d.Object.(*v2alpha1.Secret); ok && d.Valid() && s.Name == name {
			return s
		}
	}
	return nil
}

// listener installs a Listener's server credentials: the user's bundle
// (tls.crt and tls.key; a ca.crt turns on client verification) or a
// certificate from the service CA for the listener host.
func (c *credentials) listener(l *v2alpha1.Listener) error {
	tls := l.Spec.TLSCredentials
	dir, owner := render.ListenerCreds(tls), "Listener/"+l.Name
	if ub := c.snap.Certs[tls]; ub != nil {
		b := userBundle(ub)
		if err := c.check(b, certs.CheckOptions{RequireKey: true, RequireCert: true}); err != nil {
			return fmt.Errorf("bundle input/certs/%s: %v", tls, err)
		}
		if err := c.copyBundle(owner, dir, b); err != nil {
			return err
		}
		c.mutual[tls] = len(b.CA) > 0
		return nil
	}
	hosts := []string{l.Spec.Host}
	if v2alpha1.IsWildcardHost(l.Spec.Host) {
		hosts = append([]string{"localhost", "127.0.0.1"}, c.hosts...)
	}
	return c.leaf(owner, dir, ServiceCA, certs.Request{CommonName: l.Spec.Host, Hosts: hosts, Usage: certs.ServerAuth})
}

// connector installs a Connector's bundle: the CA of the user's server, and
// with useClientCert the client certificate and key. owner names the
// connector in messages.
func (c *credentials) connector(owner, tls string, useClientCert bool, bundle *namespaces.Bundle, dir string) error {
	if bundle == nil {
		return fmt.Errorf("bundle %q not found in input/certs", tls)
	}
	b := userBundle(bundle)
	opts := certs.CheckOptions{RequireCA: true}
	if useClientCert {
		opts.RequireCert, opts.RequireKey = true, true
	} else {
		b.Cert, b.Key = nil, nil
	}
	if err := c.check(b, opts); err != nil {
		return fmt.Errorf("bundle input/certs/%s: %v", tls, err)
	}
	return c.copyBundle(owner, dir, b)
}

// prune removes runtime/certs directories no longer referenced.
func (c *credentials) prune() error {
	entries, err := os.ReadDir(c.ns.RuntimeCertsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune certificates: %w", err)
	}
	for _, e := range entries {
		if _, used := c.used[e.Name()]; !e.IsDir() || used {
			continue
		}
		if err := os.RemoveAll(filepath.Join(c.ns.RuntimeCertsDir(), e.Name())); err != nil {
			return fmt.Errorf("prune certificates: %w", err)
		}
		c.changed = true
	}
	return nil
}
