package certs

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// minRSABits is the smallest RSA modulus accepted in a checked chain.
// OpenSSL at security level 2 (the default of OpenSSL 3.2 and later, of
// Debian and Ubuntu builds, and of RHEL's DEFAULT crypto policy) refuses
// smaller keys, so a bundle with one would load but fail every handshake.
const minRSABits = 2048

// CheckOptions says what Check requires of a bundle.
type CheckOptions struct {
	// RequireKey: tls.key must be present. A present key is always parsed
	// and must match tls.crt whatever this says.
	RequireKey bool
	// RequireCert: tls.crt must be present.
	RequireCert bool
	// RequireCA: ca.crt must be present. A present ca.crt is always parsed,
	// and tls.crt must chain to it, whatever this says.
	RequireCA bool
	// IsCA: the bundle is an issuer. It implies RequireCert; tls.crt must be
	// a CA certificate allowed to sign certificates (basicConstraints CA:TRUE,
	// and keyCertSign if it has a key usage extension), and it must chain to
	// ca.crt, whose path length constraints must leave room for the leaves
	// it will sign, or, when ca.crt is empty, be self-signed.
	IsCA bool
	// ClockSkew accepts a tls.crt whose NotBefore is at most this far after
	// now (a peer whose clock runs ahead, or one that sets NotBefore to the
	// moment of issue): such a bundle is checked as at its NotBefore.
	ClockSkew time.Duration
}

// Check verifies a bundle as the router would need it, at time now:
//
//   - every PEM block parses: ca.crt and tls.crt hold only certificates,
//     tls.key exactly one unencrypted private key (see the package comment
//     for the accepted formats);
//   - each file required by opts is present (non-empty);
//   - a present key matches the public key of tls.crt's first certificate;
//   - tls.crt's first certificate is valid at now (NotBefore <= now <=
//     NotAfter) and has no RSA key shorter than 2048 bits;
//   - when ca.crt is present, tls.crt's first certificate chains to one of
//     its certificates, through any further certificates in tls.crt taken as
//     intermediates, with every certificate of the chain valid at now and
//     within its issuers' path length constraints; the issuers in the chain
//     must be CA certificates allowed to sign (keyCertSign), as OpenSSL
//     requires, and have no RSA key shorter than 2048 bits; the extended key
//     usages are not checked here;
//   - with opts.IsCA, see CheckOptions.IsCA;
//   - a bundle with only ca.crt (a trust bundle) needs at least one of its
//     certificates valid at now.
//
// The error's message is a short sentence naming the file at fault, meant for
// users, e.g. "tls.key does not match tls.crt", "tls.crt expired on
// 2025-01-02T03:04:05Z", "ca.crt is not PEM", "tls.crt is not signed by
// ca.crt". Callers add the bundle's name or directory.
func Check(b Bundle, opts CheckOptions, now time.Time) error {
	var roots, chain []*x509.Certificate
	var key crypto.Signer
	var err error
	if len(b.CA) > 0 {
		if roots, err = parseCerts(CAFile, b.CA); err != nil {
			return err
		}
	} else if opts.RequireCA {
		return fmt.Errorf("%s is missing", CAFile)
	}
	if len(b.Cert) > 0 {
		if chain, err = parseCerts(CertFile, b.Cert); err != nil {
			return err
		}
	} else if opts.RequireCert || opts.IsCA {
		return fmt.Errorf("%s is missing", CertFile)
	}
	if len(b.Key) > 0 {
		if key, err = parseKey(b.Key); err != nil {
			return err
		}
	} else if opts.RequireKey {
		return fmt.Errorf("%s is missing", KeyFile)
	}

	if len(chain) == 0 {
		return checkTrust(roots, now)
	}
	leaf := chain[0]
	if opts.ClockSkew > 0 && now.Before(leaf.NotBefore) && !leaf.NotBefore.After(now.Add(opts.ClockSkew)) {
		now = leaf.NotBefore
	}
	if key != nil && !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return fmt.Errorf("%s does not match %s", KeyFile, CertFile)
	}
	if err := checkKeyStrength(CertFile, leaf); err != nil {
		return err
	}
	if err := checkTime(CertFile, leaf, now); err != nil {
		return err
	}
	if opts.IsCA {
		if err := checkMaySign(CertFile, leaf); err != nil {
			return err
		}
	}
	if len(roots) == 0 {
		if opts.IsCA && leaf.CheckSignatureFrom(leaf) != nil {
			return fmt.Errorf("%s is not self-signed and there is no %s to verify it against", CertFile, CAFile)
		}
		return nil
	}
	return verifyChain(chain, roots, now, opts.IsCA)
}

// checkTrust accepts an empty trust list, or one with at least one
// certificate valid at now.
func checkTrust(roots []*x509.Certificate, now time.Time) error {
	var first error
	for _, r := range roots {
		err := checkTime(CAFile, r, now)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func checkTime(name string, c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%s is not valid until %s", name, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%s expired on %s", name, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func checkKeyStrength(name string, c *x509.Certificate) error {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return fmt.Errorf("%s has a %d-bit RSA key; at least %d bits are required", name, k.N.BitLen(), minRSABits)
	}
	return nil
}

func isCA(c *x509.Certificate) bool {
	return c.BasicConstraintsValid && c.IsCA
}

// checkMaySign requires c to be a CA certificate allowed to sign certificates.
func checkMaySign(name string, c *x509.Certificate) error {
	if !isCA(c) {
		return fmt.Errorf("%s is not a CA certificate", name)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%s is a CA certificate without the keyCertSign key usage", name)
	}
	return nil
}

// verifyChain verifies chain[0] against roots with chain[1:] as intermediates.
func verifyChain(chain, roots []*x509.Certificate, now time.Time, asCA bool) error {
	leaf, inters := chain[0], chain[1:]
	rootPool := x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	interPool := x509.NewCertPool()
	for _, c := range inters {
		interPool.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: interPool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return explainChainFailure(leaf, inters, roots, now, err)
	}
	var first error
	for _, ch := range chains {
		err := checkIssuers(ch, roots, asCA)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// checkIssuers applies to the issuers of a verified chain the rules OpenSSL
// enforces and Go's verifier does not: a root in ca.crt must be a CA too (a
// self-signed version 1 certificate, which has no extensions, counts as one,
// as in OpenSSL), and no key may be too weak. For a CA bundle (asCA) it also
// requires the path length constraints above tls.crt to leave room for the
// leaves tls.crt will sign: chain[i] has i certificates below it that will be
// intermediates then.
func checkIssuers(chain, roots []*x509.Certificate, asCA bool) error {
	for i, c := range chain {
		if i == 0 {
			continue
		}
		name := "an intermediate certificate in " + CertFile
		if slices.ContainsFunc(roots, c.Equal) {
			name = CAFile
		}
		if c.Version >= 3 {
			if err := checkMaySign(name, c); err != nil {
				return err
			}
		}
		if err := checkKeyStrength(name, c); err != nil {
			return err
		}
		if asCA && c.BasicConstraintsValid && c.MaxPathLen >= 0 && c.MaxPathLen < i {
			return fmt.Errorf("%s forbids further intermediate CAs (path length %d), so certificates signed by %s would not verify", name, c.MaxPathLen, CertFile)
		}
	}
	return nil
}

// explainChainFailure turns a failed verification into a sentence naming the
// culprit: no issuer in ca.crt, or an issuer that is expired, not a CA or not
// allowed to sign. It walks from leaf up through inters to roots by
// signatures, and falls back to Go's error.
func explainChainFailure(leaf *x509.Certificate, inters, roots []*x509.Certificate, now time.Time, verr error) error {
	cur, curIsLeaf := leaf, true
	for range len(inters) + 1 {
		if signer := findSigner(cur, roots); signer != nil {
			if err := checkTime(CAFile, signer, now); err != nil {
				return err
			}
			if signer.Version >= 3 {
				if err := checkMaySign(CAFile, signer); err != nil {
					return err
				}
			}
			break
		}
		signer := findSigner(cur, inters)
		if signer == nil || signer.Equal(cur) {
			if curIsLeaf {
				return fmt.Errorf("%s is not signed by %s", CertFile, CAFile)
			}
			return fmt.Errorf("%s does not chain to %s: its intermediate certificates do not lead to it", CertFile, CAFile)
		}
		name := "an intermediate certificate in " + CertFile
		if err := checkTime(name, signer, now); err != nil {
			return err
		}
		if err := checkMaySign(name, signer); err != nil {
			return err
		}
		cur, curIsLeaf = signer, false
	}
	return fmt.Errorf("%s does not verify against %s: %w", CertFile, CAFile, verr)
}

// findSigner returns the first certificate in candidates whose key signed c.
func findSigner(c *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, p := range candidates {
		if p.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return p
		}
	}
	return nil
}

// Reusable reports whether an existing leaf bundle b can keep serving req
// under the issuer ca at now, so that it need not be re-issued. It can when
//
//   - b.CA holds the same certificates as ca.Cert (what Issue would store);
//   - Check passes for b with cert, key and CA required;
//   - tls.crt is signed by ca's certificate and is not a CA;
//   - its subject is exactly CN=req.CommonName;
//   - its DNS and IP SANs equal those Issue would produce for req.Hosts
//     (compared as sets) and it has no other SANs;
//   - its extended key usages are exactly req.Usage;
//   - more than a third of its lifetime (NotBefore to NotAfter) remains.
//
// The key algorithm and req.Validity are not compared: a leaf made with other
// settings is kept until renewal is due. When it is not reusable, the string
// says why, for logs, e.g. "renewal due: 20% of lifetime left" or "SANs
// changed"; when it is, the string is empty.
func Reusable(b Bundle, ca Bundle, req Request, now time.Time) (bool, string) {
	issuer, err := parseCerts(CertFile, ca.Cert)
	if err != nil {
		return false, "issuer: " + err.Error()
	}
	dnsNames, ips, err := normalizeHosts(req.Hosts)
	if err != nil {
		return false, "invalid request: " + err.Error()
	}
	if req.Usage == 0 || req.Usage&^allUsages != 0 {
		return false, fmt.Sprintf("invalid request: usage %v", req.Usage)
	}
	if !sameCerts(b.CA, ca.Cert) {
		return false, fmt.Sprintf("%s differs from the issuer's certificate", CAFile)
	}
	if err := Check(b, CheckOptions{RequireCert: true, RequireKey: true, RequireCA: true}, now); err != nil {
		return false, err.Error()
	}
	chain, err := parseCerts(CertFile, b.Cert)
	if err != nil { // cannot happen after Check
		return false, err.Error()
	}
	leaf := chain[0]
	if leaf.CheckSignatureFrom(issuer[0]) != nil {
		return false, fmt.Sprintf("%s is not signed by the issuer", CertFile)
	}
	if isCA(leaf) {
		return false, fmt.Sprintf("%s is a CA certificate", CertFile)
	}
	if leaf.Subject.CommonName != req.CommonName || len(leaf.Subject.Names) != 1 {
		return false, "common name changed"
	}
	if !slices.Equal(certDNSNames(leaf), dnsNames) || !slices.Equal(certIPs(leaf), ips) ||
		len(leaf.URIs) > 0 || len(leaf.EmailAddresses) > 0 {
		return false, "SANs changed"
	}
	if have := certUsage(leaf); have != req.Usage {
		return false, fmt.Sprintf("extended key usage changed from %v to %v", have, req.Usage)
	}
	if due, pct := renewalDue(leaf, now); due {
		return false, fmt.Sprintf("renewal due: %d%% of lifetime left", pct)
	}
	return true, ""
}

// certDNSNames returns c's DNS SANs lower-cased, sorted, de-duplicated.
func certDNSNames(c *x509.Certificate) []string {
	names := make([]string, 0, len(c.DNSNames))
	for _, n := range c.DNSNames {
		names = append(names, toLowerASCII(n))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// certIPs returns c's IP SANs unmapped, sorted, de-duplicated; an
// unparsable entry becomes the invalid Addr, which never matches a request.
func certIPs(c *x509.Certificate) []netip.Addr {
	ips := make([]netip.Addr, 0, len(c.IPAddresses))
	for _, ip := range c.IPAddresses {
		a, _ := netip.AddrFromSlice(ip)
		ips = append(ips, a.Unmap())
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return slices.Compact(ips)
}

// certUsage maps c's extended key usages to a Usage; any usage other than
// serverAuth and clientAuth yields -1, which never equals a valid Usage.
func certUsage(c *x509.Certificate) Usage {
	if len(c.UnknownExtKeyUsage) > 0 {
		return -1
	}
	var u Usage
	for _, eku := range c.ExtKeyUsage {
		switch eku {
		case x509.ExtKeyUsageServerAuth:
			u |= ServerAuth
		case x509.ExtKeyUsageClientAuth:
			u |= ClientAuth
		default:
			return -1
		}
	}
	return u
}

// RenewalDue reports whether less than a third of the lifetime (NotBefore to
// NotAfter) of the first certificate in certPEM remains at now; exactly a
// third counts as due, so RenewalDue and Reusable never both say "keep". An
// expired or not-well-formed (NotAfter <= NotBefore) certificate is due. The
// error is for PEM that holds no parsable certificate.
func RenewalDue(certPEM []byte, now time.Time) (bool, error) {
	certs, err := parseCerts(CertFile, certPEM)
	if err != nil {
		return false, err
	}
	due, _ := renewalDue(certs[0], now)
	return due, nil
}

// NextChange returns the earliest time after now at which what Check,
// Reusable and RenewalDue say of the certificates in pems can change by
// the passage of time alone: one becomes valid (NotBefore), is due for
// renewal (a third of its lifetime left) or expires (just after
// NotAfter). It is zero when no such time is after now; data that holds
// no parsable certificate contributes nothing.
func NextChange(now time.Time, pems ...[]byte) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, data := range pems {
		if len(data) == 0 {
			continue
		}
		certs, err := parseCerts(CertFile, data)
		if err != nil {
			continue
		}
		for _, c := range certs {
			consider(c.NotBefore)
			if life := c.NotAfter.Unix() - c.NotBefore.Unix(); life > 0 {
				// renewalDue turns true once 3*left <= life.
				consider(time.Unix(c.NotAfter.Unix()-life/3, 0))
			}
			consider(c.NotAfter.Add(time.Second))
		}
	}
	return next
}

// renewalDue also returns the percentage of lifetime left, rounded down.
// It computes in whole seconds, the precision of certificate times, which
// cannot overflow for any representable certificate.
func renewalDue(c *x509.Certificate, now time.Time) (bool, int64) {
	life := c.NotAfter.Unix() - c.NotBefore.Unix()
	left := c.NotAfter.Unix() - now.Unix()
	if life <= 0 || left <= 0 {
		return true, 0
	}
	if left > life {
		left = life // not yet valid: the whole lifetime is ahead
	}
	return 3*left <= life, left * 100 / life
}
