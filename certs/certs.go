// Package certs creates, checks, stores and describes the TLS credentials
// that skupper-router (skrouterd) uses for mutual-TLS links between sites and
// for its local and service endpoints.
//
// A credential is a [Bundle]: the PEM contents of a directory holding ca.crt,
// tls.crt and tls.key, the layout upstream Skupper and the router use. [NewCA]
// makes a self-signed issuer, [Issue] signs a leaf for a [Request], [Check]
// validates a bundle the way the router will need it (user-supplied bundles
// included), [Reusable] and [RenewalDue] decide whether an existing leaf can be
// kept, [ReadDir] and [WriteDir] move bundles to and from disk, [EnsureLeaf]
// is the one read → check → issue → write step for generated leaves, and
// [Summarize] describes certificates for diagnostics. The package knows
// nothing about routers, namespaces or paths beyond the directory it is given,
// and it never prints.
//
// # Key algorithm
//
// Every key this package generates is ECDSA on NIST P-256, signed with
// ECDSA-SHA256, and every private key it writes is PKCS#8 ("PRIVATE KEY") PEM:
//
//   - Generating a P-256 key takes tens of microseconds; an RSA-2048 key (what
//     upstream Skupper generates) takes tens to hundreds of milliseconds with a
//     long random tail. A site starting cold makes several CAs and leaves, so
//     RSA would make the first reconcile visibly slow and its duration erratic.
//   - P-256 gives about 128-bit security against RSA-2048's 112, with smaller
//     certificates and cheaper handshakes, and it passes OpenSSL's default and
//     RHEL "DEFAULT" security levels.
//   - skupper-router does its TLS with OpenSSL, which has supported P-256
//     certificates and keys for well over a decade; so do Go, Java and Python
//     clients and upstream Skupper sites at the other end of a link.
//   - PKCS#8 is the algorithm-neutral key format: OpenSSL's
//     PEM_read_bio_PrivateKey, Go's x509.ParsePKCS8PrivateKey and Java all read
//     it, whereas the "EC PRIVATE KEY" (SEC 1) form is OpenSSL-specific.
//
// Users supply their own bundles, so reading and checking accept more: RSA
// keys as PKCS#1 ("RSA PRIVATE KEY") or PKCS#8, ECDSA keys as SEC 1 ("EC
// PRIVATE KEY") or PKCS#8, and Ed25519 keys as PKCS#8.
//
// # Differences from upstream Skupper
//
// Upstream gives every certificate, CAs included, both serverAuth and
// clientAuth, duplicates every IP as a DNS name, regenerates leaves on every
// render and never rotates. Here a leaf carries exactly the extended key
// usages its [Request] asks for, CAs carry none, issued certificates are
// deterministic given their inputs (so unchanged inputs can keep an existing
// leaf, see [Reusable]) and leaves are renewed once less than a third of
// their lifetime remains. IP hosts are still written both as IP SANs and as
// DNS SANs: that is not a defect but a necessity, because the router's TLS
// library matches the peer name it was configured with only against DNS-type
// SANs and the subject CN, never against IP SANs, while Go and most other
// clients match IP literals only against IP SANs.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Names of the files of a bundle directory.
const (
	CAFile   = "ca.crt"  // trusted CA certificate(s)
	CertFile = "tls.crt" // the certificate, optionally followed by intermediates
	KeyFile  = "tls.key" // the private key of the first certificate in tls.crt
)

// Bundle is the PEM material of one credential, as stored in a directory with
// files ca.crt, tls.crt, tls.key.
type Bundle struct {
	CA   []byte // PEM: trusted CA certificate(s) (for a CA bundle: the CA's own certificate)
	Cert []byte // PEM: the certificate (leaf, or the CA cert itself for a CA)
	Key  []byte // PEM: private key; empty for a CA-only trust bundle
}

// Usage is a set of TLS roles a leaf certificate may play. Each bit maps to
// exactly one extended key usage in the issued certificate.
type Usage int

const (
	// ServerAuth lets the certificate authenticate a TLS server
	// (extended key usage serverAuth).
	ServerAuth Usage = 1 << iota
	// ClientAuth lets the certificate authenticate a TLS client
	// (extended key usage clientAuth).
	ClientAuth
)

const allUsages = ServerAuth | ClientAuth

// String returns "serverAuth", "clientAuth", "serverAuth+clientAuth", "none",
// or the number for unknown bits.
func (u Usage) String() string {
	if u&^allUsages != 0 {
		return fmt.Sprintf("Usage(%d)", int(u))
	}
	var parts []string
	if u&ServerAuth != 0 {
		parts = append(parts, "serverAuth")
	}
	if u&ClientAuth != 0 {
		parts = append(parts, "clientAuth")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// extKeyUsages returns the extended key usages u stands for, in a fixed order.
func (u Usage) extKeyUsages() []x509.ExtKeyUsage {
	var ekus []x509.ExtKeyUsage
	if u&ServerAuth != 0 {
		ekus = append(ekus, x509.ExtKeyUsageServerAuth)
	}
	if u&ClientAuth != 0 {
		ekus = append(ekus, x509.ExtKeyUsageClientAuth)
	}
	return ekus
}

// Request describes a leaf certificate to issue.
type Request struct {
	// CommonName is the subject CN; it must not be empty.
	CommonName string
	// Hosts are DNS names and IP literals. Each IP goes into the IP SANs AND,
	// in its canonical text form, into the DNS SANs (the router matches peer
	// names only against DNS SANs and the CN); DNS names go into the DNS SANs,
	// lower-cased. Order does not matter and duplicates are dropped: the DNS
	// SANs and the IP SANs are each written sorted. A DNS name is letters,
	// digits, '-' and '_' in dot-separated labels, optionally with "*" as the
	// whole first label. IPv4-mapped IPv6 addresses are written as IPv4;
	// addresses with a zone are rejected.
	Hosts []string
	// Usage is ServerAuth, ClientAuth or both; it must not be empty. CAs are
	// made by NewCA only.
	Usage Usage
	// Validity is the lifetime from issuance; 0 means DefaultLeafValidity.
	Validity time.Duration
}

const (
	// DefaultCAValidity is the lifetime of a CA made by NewCA with validity 0.
	DefaultCAValidity = 5 * 365 * 24 * time.Hour
	// DefaultLeafValidity is the lifetime of a leaf issued with Validity 0.
	// Leaves are renewed automatically when less than a third of their
	// lifetime is left (see Reusable and RenewalDue).
	DefaultLeafValidity = 365 * 24 * time.Hour
)

// ClockSkew is how far before "now" every certificate's NotBefore is set, so
// that peers whose clocks lag a little accept a freshly issued certificate;
// it is also the tolerance CheckOptions.ClockSkew gives certificates issued
// by others (upstream grant servers set NotBefore to their "now").
const ClockSkew = 5 * time.Minute

// validityWindow returns NotBefore and NotAfter for a certificate issued at
// now with the given lifetime, in UTC and truncated to whole seconds (the
// precision of X.509 times), so that equal inputs give equal certificates.
func validityWindow(now time.Time, validity time.Duration) (notBefore, notAfter time.Time) {
	now = now.UTC()
	return now.Add(-ClockSkew).Truncate(time.Second), now.Add(validity).Truncate(time.Second)
}

// NewCA makes a self-signed CA valid from now-5m to now+validity (validity 0
// means DefaultCAValidity). The certificate's subject is only commonName; it is
// a CA with path length 0 (it signs leaves only), KeyUsage
// CertSign|CRLSign|DigitalSignature and no extended key usage. The key is a
// fresh ECDSA P-256 key. The returned bundle has CA == Cert (the same bytes,
// not the same slice) and Key set.
func NewCA(commonName string, validity time.Duration, now time.Time) (Bundle, error) {
	if commonName == "" {
		return Bundle{}, errors.New("create CA: common name is empty")
	}
	if validity < 0 {
		return Bundle{}, fmt.Errorf("create CA %q: negative validity %v", commonName, validity)
	}
	if validity == 0 {
		validity = DefaultCAValidity
	}
	key, err := newKey()
	if err != nil {
		return Bundle{}, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return Bundle{}, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	notBefore, notAfter := validityWindow(now, validity)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return Bundle{}, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Bundle{}, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	certPEM := encodeCert(der)
	return Bundle{CA: slices.Clone(certPEM), Cert: certPEM, Key: keyPEM}, nil
}

// Issue signs a leaf certificate for req with the CA bundle ca, whose Cert
// (its first certificate) and Key are the issuer; ca must pass Check as a CA
// bundle with a key at now. The leaf is valid from now-5m to now+req.Validity,
// its subject is only req.CommonName, its SANs are derived from req.Hosts as
// described at Request.Hosts, its KeyUsage is DigitalSignature (plus
// KeyEncipherment only for an RSA key, which this package never generates),
// its extended key usages are exactly req.Usage, and it is marked CA:FALSE.
// The key is a fresh ECDSA P-256 key. The returned bundle's CA is ca.Cert.
// The leaf's NotAfter is not capped at the CA's: replacing a CA before it
// expires is the caller's decision (RenewalDue applies to CA certificates
// too), and a CA's replacement makes Reusable reject the leaves it signed.
//
// Two calls with the same ca, req and now produce certificates that differ
// only in key, serial number and signature.
func Issue(ca Bundle, req Request, now time.Time) (Bundle, error) {
	fail := func(err error) (Bundle, error) {
		return Bundle{}, fmt.Errorf("issue certificate %q: %w", req.CommonName, err)
	}
	if req.CommonName == "" {
		return Bundle{}, errors.New("issue certificate: common name is empty")
	}
	if req.Usage == 0 || req.Usage&^allUsages != 0 {
		return fail(fmt.Errorf("invalid usage %v: want ServerAuth, ClientAuth or both", req.Usage))
	}
	if req.Validity < 0 {
		return fail(fmt.Errorf("negative validity %v", req.Validity))
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	dnsNames, ips, err := normalizeHosts(req.Hosts)
	if err != nil {
		return fail(err)
	}
	if err := Check(ca, CheckOptions{RequireCert: true, RequireKey: true, IsCA: true}, now); err != nil {
		return fail(fmt.Errorf("issuer: %w", err))
	}
	issuer, err := parseCerts(CertFile, ca.Cert)
	if err != nil {
		return fail(fmt.Errorf("issuer: %w", err))
	}
	issuerKey, err := parseKey(ca.Key)
	if err != nil {
		return fail(fmt.Errorf("issuer: %w", err))
	}
	key, err := newKey()
	if err != nil {
		return fail(err)
	}
	serial, err := newSerial()
	if err != nil {
		return fail(err)
	}
	notBefore, notAfter := validityWindow(now, validity)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              leafKeyUsage(key.Public()),
		ExtKeyUsage:           req.Usage.extKeyUsages(),
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              dnsNames,
		IPAddresses:           ipSlices(ips),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer[0], key.Public(), issuerKey)
	if err != nil {
		return fail(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return fail(err)
	}
	return Bundle{CA: slices.Clone(ca.Cert), Cert: encodeCert(der), Key: keyPEM}, nil
}

// leafKeyUsage is DigitalSignature, plus KeyEncipherment for RSA keys (RSA
// key transport in TLS 1.2); other key types cannot encipher.
func leafKeyUsage(pub crypto.PublicKey) x509.KeyUsage {
	if _, ok := pub.(*rsa.PublicKey); ok {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

// normalizeHosts splits hosts into the sorted, de-duplicated DNS SANs and IP
// SANs a certificate for them carries (see Request.Hosts).
func normalizeHosts(hosts []string) ([]string, []netip.Addr, error) {
	var dnsNames []string
	var ips []netip.Addr
	for _, h := range hosts {
		if addr, err := netip.ParseAddr(h); err == nil {
			if addr.Zone() != "" {
				return nil, nil, fmt.Errorf("host %q: an IP address with a zone cannot be put in a certificate", h)
			}
			addr = addr.Unmap()
			ips = append(ips, addr)
			dnsNames = append(dnsNames, addr.String())
			continue
		}
		if err := checkDNSName(h); err != nil {
			return nil, nil, fmt.Errorf("host %q: %w", h, err)
		}
		dnsNames = append(dnsNames, strings.ToLower(h))
	}
	slices.Sort(dnsNames)
	dnsNames = slices.Compact(dnsNames)
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	return dnsNames, ips, nil
}

// checkDNSName accepts host names as they appear in certificates: labels of
// ASCII letters, digits, '-' and '_' (not starting or ending with '-'),
// separated by single dots, at most 253 characters, and "*" as a whole first
// label of a name with at least two more labels.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("empty host name")
	}
	if len(name) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for i, label := range labels {
		if label == "" {
			return errors.New("not a valid host name or IP address (empty label)")
		}
		if label == "*" {
			if i != 0 || len(labels) < 3 {
				return errors.New("a wildcard must be the whole first label of a name with at least three labels")
			}
			continue
		}
		if len(label) > 63 {
			return errors.New("host name label longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("host name label starts or ends with '-'")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("not a valid host name or IP address (character %q)", r)
			}
		}
	}
	return nil
}

func ipSlices(addrs []netip.Addr) []net.IP {
	if len(addrs) == 0 {
		return nil
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = net.IP(a.AsSlice())
	}
	return ips
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// serialLimit is 2^128: serials are random 128-bit positive integers.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// pemBlocks decodes every PEM block of data, named file in messages. Text
// between blocks is allowed, as OpenSSL allows it ("Bag Attributes" and the
// like); data without any block, and a truncated or malformed block (which
// encoding/pem would silently skip but OpenSSL refuses), are errors.
func pemBlocks(file string, data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks = append(blocks, block)
	}
	if len(blocks) == 0 && !bytes.Contains(data, pemBegin) {
		return nil, fmt.Errorf("%s is not PEM", file)
	}
	if n := bytes.Count(data, pemBegin); n != len(blocks) {
		return nil, fmt.Errorf("%s contains a truncated or malformed PEM block", file)
	}
	return blocks, nil
}

var pemBegin = []byte("-----BEGIN ")

// parseCerts parses data, named file in messages, as PEM certificates: at
// least one, and nothing but certificates (see pemBlocks for the syntax).
func parseCerts(file string, data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(file, data)
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for _, block := range blocks {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s contains a %q PEM block where only certificates are allowed", file, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d cannot be parsed: %w", file, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// parseKey decodes the single private key in data (tls.key). It accepts
// PKCS#8 ("PRIVATE KEY": RSA, ECDSA, Ed25519), PKCS#1 ("RSA PRIVATE KEY") and
// SEC 1 ("EC PRIVATE KEY", optionally preceded by "EC PARAMETERS", as
// `openssl ecparam -genkey` writes it). Encrypted keys are rejected: the
// router is given no passphrase.
func parseKey(data []byte) (crypto.Signer, error) {
	blocks, err := pemBlocks(KeyFile, data)
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	for _, block := range blocks {
		if block.Type == "EC PARAMETERS" {
			continue
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, fmt.Errorf("%s is encrypted; the router needs an unencrypted key", KeyFile)
		}
		var k any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			return nil, fmt.Errorf("%s contains a %q PEM block where only a private key is allowed", KeyFile, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s cannot be parsed: %w", KeyFile, err)
		}
		if key != nil {
			return nil, fmt.Errorf("%s contains more than one private key", KeyFile)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			key = k
		case *ecdsa.PrivateKey:
			key = k
		case ed25519.PrivateKey:
			key = k
		default:
			return nil, fmt.Errorf("%s holds an unsupported key type %T", KeyFile, k)
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%s contains no private key", KeyFile)
	}
	return key, nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// sameCerts reports whether two PEM texts hold the same certificates in the
// same order, ignoring PEM formatting and text between blocks.
func sameCerts(a, b []byte) bool {
	ca, err := parseCerts(CAFile, a)
	if err != nil {
		return false
	}
	cb, err := parseCerts(CAFile, b)
	if err != nil || len(ca) != len(cb) {
		return false
	}
	for i := range ca {
		if !bytes.Equal(ca[i].Raw, cb[i].Raw) {
			return false
		}
	}
	return true
}
