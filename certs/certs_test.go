package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewCA(t *testing.T) {
	for _, tc := range []struct {
		name         string
		validity     time.Duration
		wantValidity time.Duration
	}{
		{"default validity", 0, DefaultCAValidity},
		{"explicit validity", 90 * 24 * time.Hour, 90 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(123456789 * time.Nanosecond) // sub-second part is dropped
			ca, err := NewCA("skupper-site-ca", tc.validity, now)
			require.NoError(t, err)
			assert.Equal(t, ca.CA, ca.Cert, "a CA bundle trusts itself")

			c := firstCert(t, ca.Cert)
			assert.True(t, c.IsCA)
			assert.True(t, c.BasicConstraintsValid)
			assert.Equal(t, 0, c.MaxPathLen)
			assert.True(t, c.MaxPathLenZero)
			assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature, c.KeyUsage)
			assert.Empty(t, c.ExtKeyUsage, "a CA has no extended key usage")
			assert.Empty(t, c.UnknownExtKeyUsage)
			assert.Empty(t, c.DNSNames)
			assert.Empty(t, c.IPAddresses)
			assert.Equal(t, "CN=skupper-site-ca", c.Subject.String(), "subject is CN only")
			assert.Len(t, c.Subject.Names, 1)
			assert.Equal(t, c.RawSubject, c.RawIssuer)
			require.NoError(t, c.CheckSignatureFrom(c), "self-signed")
			assert.Equal(t, x509.ECDSAWithSHA256, c.SignatureAlgorithm)
			pub, ok := c.PublicKey.(*ecdsa.PublicKey)
			require.True(t, ok, "ECDSA key, got %T", c.PublicKey)
			assert.Equal(t, elliptic.P256(), pub.Curve)

			assert.Equal(t, t0.Add(-5*time.Minute), c.NotBefore)
			assert.Equal(t, t0.Add(tc.wantValidity), c.NotAfter)

			assert.Equal(t, 1, c.SerialNumber.Sign(), "serial is positive")
			assert.LessOrEqual(t, c.SerialNumber.BitLen(), 128)

			block, rest := pem.Decode(ca.Key)
			require.NotNil(t, block)
			assert.Equal(t, "PRIVATE KEY", block.Type, "PKCS#8")
			assert.Empty(t, bytes.TrimSpace(rest))
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			require.NoError(t, err)
			assert.True(t, pub.Equal(key.(*ecdsa.PrivateKey).Public()))

			// It verifies as a root of its own.
			_, err = c.Verify(x509.VerifyOptions{Roots: certPool(t, ca.CA), CurrentTime: t0})
			require.NoError(t, err)
			require.NoError(t, Check(ca, CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true, IsCA: true}, t0))
		})
	}
}

func TestNewCAUniqueSerialAndKey(t *testing.T) {
	a, b := mustCA(t, "x", t0), mustCA(t, "x", t0)
	ca, cb := firstCert(t, a.Cert), firstCert(t, b.Cert)
	assert.NotEqual(t, 0, ca.SerialNumber.Cmp(cb.SerialNumber))
	assert.NotEqual(t, a.Key, b.Key)
}

func TestNewCAInvalid(t *testing.T) {
	_, err := NewCA("", 0, t0)
	assert.ErrorContains(t, err, "common name is empty")
	_, err = NewCA("ca", -time.Hour, t0)
	assert.ErrorContains(t, err, "negative validity")
}

func TestIssue(t *testing.T) {
	ca := mustCA(t, "skupper-site-ca", t0)
	caCert := firstCert(t, ca.Cert)
	hosts := []string{"localhost", "10.0.0.2", "Example.COM", "10.0.0.2", "::1", "localhost", "a.example.com", "192.168.1.1", "::ffff:172.16.0.1"}
	wantDNS := []string{"10.0.0.2", "172.16.0.1", "192.168.1.1", "::1", "a.example.com", "example.com", "localhost"}
	wantIPs := []net.IP{net.ParseIP("10.0.0.2"), net.ParseIP("172.16.0.1"), net.ParseIP("192.168.1.1"), net.ParseIP("::1")}

	for _, tc := range []struct {
		name     string
		usage    Usage
		wantEKU  []x509.ExtKeyUsage
		verifies []x509.ExtKeyUsage // each must verify on its own
		fails    []x509.ExtKeyUsage // each must fail on its own
	}{
		{"server", ServerAuth, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{"client", ClientAuth, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{"both", ServerAuth | ClientAuth, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustIssue(t, ca, Request{CommonName: "my-router-access", Hosts: hosts, Usage: tc.usage}, t0)
			assert.Equal(t, ca.Cert, b.CA)
			c := firstCert(t, b.Cert)

			for _, eku := range tc.verifies {
				_, err := c.Verify(x509.VerifyOptions{Roots: certPool(t, b.CA), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{eku}})
				assert.NoError(t, err, "verify for %v", eku)
			}
			for _, eku := range tc.fails {
				_, err := c.Verify(x509.VerifyOptions{Roots: certPool(t, b.CA), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{eku}})
				assert.Error(t, err, "verify for %v must fail", eku)
			}
			// Names verify too: both an IP and a DNS name.
			for _, name := range []string{"10.0.0.2", "::1", "example.com", "localhost"} {
				_, err := c.Verify(x509.VerifyOptions{Roots: certPool(t, b.CA), CurrentTime: t0, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
				assert.NoError(t, err, "verify name %s", name)
			}

			assert.Equal(t, tc.wantEKU, c.ExtKeyUsage)
			assert.Empty(t, c.UnknownExtKeyUsage)
			assert.True(t, c.BasicConstraintsValid, "basicConstraints present")
			assert.False(t, c.IsCA, "CA:FALSE")
			assert.Equal(t, x509.KeyUsageDigitalSignature, c.KeyUsage, "ECDSA leaf: no keyEncipherment")
			assert.Equal(t, "CN=my-router-access", c.Subject.String())
			assert.Equal(t, caCert.RawSubject, c.RawIssuer)
			assert.Equal(t, caCert.SubjectKeyId, c.AuthorityKeyId)
			require.NoError(t, c.CheckSignatureFrom(caCert))

			assert.Equal(t, wantDNS, c.DNSNames, "IPs also as DNS SANs; lower-cased, de-duplicated, sorted")
			require.Len(t, c.IPAddresses, len(wantIPs))
			for i := range wantIPs {
				assert.True(t, wantIPs[i].Equal(c.IPAddresses[i]), "IP SAN %d: %v want %v", i, c.IPAddresses[i], wantIPs[i])
			}
			assert.NotContains(t, c.DNSNames, "Example.COM")

			assert.Equal(t, t0.Add(-5*time.Minute), c.NotBefore)
			assert.Equal(t, t0.Add(DefaultLeafValidity), c.NotAfter)

			block, _ := pem.Decode(b.Key)
			require.NotNil(t, block)
			assert.Equal(t, "PRIVATE KEY", block.Type)
			require.NoError(t, Check(b, CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}, t0))
		})
	}
}

func TestIssueDNSOnlyHost(t *testing.T) {
	ca := mustCA(t, "ca", t0)
	b := mustIssue(t, ca, Request{CommonName: "c", Hosts: []string{"router.example.com"}, Usage: ServerAuth, Validity: time.Hour}, t0)
	c := firstCert(t, b.Cert)
	assert.Equal(t, []string{"router.example.com"}, c.DNSNames)
	assert.Empty(t, c.IPAddresses, "a DNS host is not an IP SAN")
	assert.Equal(t, t0.Add(time.Hour), c.NotAfter)

	nohosts := mustIssue(t, ca, Request{CommonName: "client-x", Usage: ClientAuth}, t0)
	c = firstCert(t, nohosts.Cert)
	assert.Empty(t, c.DNSNames)
	assert.Empty(t, c.IPAddresses)
}

// TestIssueDeterministic: the same inputs give certificates that differ only
// in key, serial and signature; host order and duplicates do not matter.
func TestIssueDeterministic(t *testing.T) {
	ca := mustCA(t, "ca", t0)
	a := firstCert(t, mustIssue(t, ca, Request{CommonName: "s", Hosts: []string{"b.example", "10.1.1.1", "a.example", "::2"}, Usage: ServerAuth | ClientAuth}, t0).Cert)
	b := firstCert(t, mustIssue(t, ca, Request{CommonName: "s", Hosts: []string{"::2", "a.example", "10.1.1.1", "b.example", "a.example"}, Usage: ClientAuth | ServerAuth}, t0.Add(300*time.Millisecond)).Cert)

	assert.Equal(t, a.RawSubject, b.RawSubject)
	assert.Equal(t, a.RawIssuer, b.RawIssuer)
	assert.Equal(t, a.NotBefore, b.NotBefore)
	assert.Equal(t, a.NotAfter, b.NotAfter)
	assert.Equal(t, a.SignatureAlgorithm, b.SignatureAlgorithm)
	assert.NotEqual(t, 0, a.SerialNumber.Cmp(b.SerialNumber))
	require.Equal(t, len(a.Extensions), len(b.Extensions))
	for i := range a.Extensions {
		assert.Equal(t, a.Extensions[i].Id, b.Extensions[i].Id, "extension %d", i)
		assert.Equal(t, a.Extensions[i].Critical, b.Extensions[i].Critical, "extension %d", i)
		if !a.Extensions[i].Id.Equal(oidSubjectKeyID) { // derived from the key
			assert.Equal(t, a.Extensions[i].Value, b.Extensions[i].Value, "extension %v", a.Extensions[i].Id)
		}
	}
}

var oidSubjectKeyID = asn1.ObjectIdentifier{2, 5, 29, 14}

func TestIssueInvalid(t *testing.T) {
	ca := mustCA(t, "ca", t0)
	leaf := mustIssue(t, ca, Request{CommonName: "leaf", Usage: ServerAuth}, t0)
	good := Request{CommonName: "x", Hosts: []string{"localhost"}, Usage: ServerAuth}
	with := func(f func(*Request)) Request { r := good; f(&r); return r }

	for _, tc := range []struct {
		name string
		ca   Bundle
		req  Request
		want string
	}{
		{"empty CN", ca, with(func(r *Request) { r.CommonName = "" }), "common name is empty"},
		{"no usage", ca, with(func(r *Request) { r.Usage = 0 }), "invalid usage"},
		{"unknown usage bit", ca, with(func(r *Request) { r.Usage = 4 }), "invalid usage"},
		{"negative validity", ca, with(func(r *Request) { r.Validity = -time.Second }), "negative validity"},
		{"empty host", ca, with(func(r *Request) { r.Hosts = []string{""} }), `host ""`},
		{"space in host", ca, with(func(r *Request) { r.Hosts = []string{"bad host"} }), `host "bad host"`},
		{"empty label", ca, with(func(r *Request) { r.Hosts = []string{"a..b"} }), "empty label"},
		{"bracketed IPv6", ca, with(func(r *Request) { r.Hosts = []string{"[::1]"} }), `host "[::1]"`},
		{"zone", ca, with(func(r *Request) { r.Hosts = []string{"fe80::1%eth0"} }), "zone"},
		{"misplaced wildcard", ca, with(func(r *Request) { r.Hosts = []string{"a.*.example"} }), "wildcard"},
		{"issuer is a leaf", leaf, good, "issuer: tls.crt is not a CA certificate"},
		{"issuer without key", Bundle{CA: ca.CA, Cert: ca.Cert}, good, "issuer: tls.key is missing"},
		{"issuer with wrong key", Bundle{CA: ca.CA, Cert: ca.Cert, Key: leaf.Key}, good, "issuer: tls.key does not match tls.crt"},
		{"issuer expired", mustCA(t, "old", t0.Add(-6*365*24*time.Hour)), good, "issuer: tls.crt expired on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Issue(tc.ca, tc.req, t0)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	wild := mustIssue(t, ca, with(func(r *Request) { r.Hosts = []string{"*.skupper.example", "under_score.example"} }), t0)
	assert.Equal(t, []string{"*.skupper.example", "under_score.example"}, firstCert(t, wild.Cert).DNSNames)
}

// TestIssueWithUserRSAIssuer: a user-supplied RSA CA in input/issuers signs
// our ECDSA leaves.
func TestIssueWithUserRSAIssuer(t *testing.T) {
	key := testRSAKey(t)
	caCert, caPEM := handCert(t, handCATemplate("user-ca", t0), nil, key.Public(), key)
	ca := Bundle{CA: caPEM, Cert: caPEM, Key: pemPKCS1(key)}
	b := mustIssue(t, ca, Request{CommonName: "s", Hosts: []string{"127.0.0.1"}, Usage: ServerAuth}, t0)
	c := firstCert(t, b.Cert)
	require.NoError(t, c.CheckSignatureFrom(caCert))
	assert.Equal(t, x509.SHA256WithRSA, c.SignatureAlgorithm)
	assert.Equal(t, x509.KeyUsageDigitalSignature, c.KeyUsage)
	require.NoError(t, Check(b, CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}, t0))
}

func TestLeafKeyUsage(t *testing.T) {
	assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, leafKeyUsage(testRSAKey(t).Public()))
	assert.Equal(t, x509.KeyUsageDigitalSignature, leafKeyUsage(testECKey(t).Public()))
}

func TestUsageString(t *testing.T) {
	assert.Equal(t, "serverAuth", ServerAuth.String())
	assert.Equal(t, "clientAuth", ClientAuth.String())
	assert.Equal(t, "serverAuth+clientAuth", (ServerAuth | ClientAuth).String())
	assert.Equal(t, "none", Usage(0).String())
	assert.Equal(t, "Usage(8)", Usage(8).String())
}
