package certs

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReusable(t *testing.T) {
	ca := mustCA(t, "skupper-site-ca", t0)
	req := Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}
	leaf := mustIssue(t, ca, req, t0)
	otherCA := mustCA(t, "skupper-site-ca", t0) // same name, different key
	life := DefaultLeafValidity + 5*time.Minute // NotBefore is 5 minutes back
	notBefore := t0.Add(-5 * time.Minute)
	with := func(f func(*Request)) Request {
		r := req
		r.Hosts = append([]string(nil), req.Hosts...)
		f(&r)
		return r
	}

	for _, tc := range []struct {
		name   string
		b      Bundle
		ca     Bundle
		req    Request
		now    time.Time
		want   bool
		reason string
	}{
		{"fresh", leaf, ca, req, t0, true, ""},
		{"hosts reordered and duplicated", leaf, ca, with(func(r *Request) { r.Hosts = []string{"LOCALHOST", "127.0.0.1", "localhost"} }), t0, true, ""},
		{"validity changed is kept", leaf, ca, with(func(r *Request) { r.Validity = time.Hour }), t0, true, ""},
		{"just before two thirds", leaf, ca, req, notBefore.Add(life * 2 / 3).Add(-time.Minute), true, ""},
		{"beyond two thirds", leaf, ca, req, notBefore.Add(life * 4 / 5), false, "renewal due: 20% of lifetime left"},
		{"expired", leaf, ca, req, t0.Add(DefaultLeafValidity + time.Second), false, "tls.crt expired on"},
		{"host added", leaf, ca, with(func(r *Request) { r.Hosts = append(r.Hosts, "router.example") }), t0, false, "SANs changed"},
		{"host removed", leaf, ca, with(func(r *Request) { r.Hosts = r.Hosts[:1] }), t0, false, "SANs changed"},
		{"IP host now a name", leaf, ca, with(func(r *Request) { r.Hosts = []string{"localhost"} }), t0, false, "SANs changed"},
		{"CN changed", leaf, ca, with(func(r *Request) { r.CommonName = "other" }), t0, false, "common name changed"},
		{"usage changed", leaf, ca, with(func(r *Request) { r.Usage = ServerAuth | ClientAuth }), t0, false, "extended key usage changed from serverAuth to serverAuth+clientAuth"},
		{"other CA", leaf, otherCA, req, t0, false, "ca.crt differs from the issuer's certificate"},
		{"other CA's cert stored as ca.crt", Bundle{CA: otherCA.Cert, Cert: leaf.Cert, Key: leaf.Key}, otherCA, req, t0, false, "tls.crt is not signed by ca.crt"},
		{"key lost", Bundle{CA: leaf.CA, Cert: leaf.Cert}, ca, req, t0, false, "tls.key is missing"},
		{"key from another leaf", Bundle{CA: leaf.CA, Cert: leaf.Cert, Key: ca.Key}, ca, req, t0, false, "tls.key does not match tls.crt"},
		{"a CA is no leaf", ca, ca, req, t0, false, "tls.crt is a CA certificate"},
		{"invalid request", leaf, ca, with(func(r *Request) { r.Hosts = []string{"bad host"} }), t0, false, "invalid request"},
		{"invalid usage", leaf, ca, with(func(r *Request) { r.Usage = 0 }), t0, false, "invalid request"},
		{"broken issuer", leaf, Bundle{}, req, t0, false, "issuer: tls.crt is not PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Reusable(tc.b, tc.ca, tc.req, tc.now)
			assert.Equal(t, tc.want, ok, "reason: %s", reason)
			if tc.reason == "" {
				assert.Empty(t, reason)
			} else {
				assert.Contains(t, reason, tc.reason)
			}
		})
	}
}

// TestReusableUpstreamLeaf: a leaf as upstream Skupper makes it (both EKUs on
// a server certificate) is replaced when a single usage is requested.
func TestReusableUpstreamLeaf(t *testing.T) {
	ca := mustCA(t, "skupper-site-ca", t0)
	caCert := firstCert(t, ca.Cert)
	caKey, err := parseKey(ca.Key)
	require.NoError(t, err)
	key := testECKey(t)
	tmpl := handLeafTemplate("skupper-router", t0, "localhost")
	_, certPEM := handCert(t, tmpl, caCert, key.Public(), caKey)
	b := Bundle{CA: ca.Cert, Cert: certPEM, Key: pemPKCS8(t, key)}

	ok, reason := Reusable(b, ca, Request{CommonName: "skupper-router", Hosts: []string{"localhost"}, Usage: ServerAuth}, t0)
	assert.False(t, ok)
	assert.Equal(t, "extended key usage changed from serverAuth+clientAuth to serverAuth", reason)

	tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageCodeSigning)
	_, certPEM = handCert(t, tmpl, caCert, key.Public(), caKey)
	b.Cert = certPEM
	ok, reason = Reusable(b, ca, Request{CommonName: "skupper-router", Hosts: []string{"localhost"}, Usage: ServerAuth | ClientAuth}, t0)
	assert.False(t, ok)
	assert.Contains(t, reason, "extended key usage changed")
}

func TestRenewalDue(t *testing.T) {
	ca := mustCA(t, "ca", t0)
	leaf := mustIssue(t, ca, Request{CommonName: "x", Usage: ClientAuth, Validity: 3*time.Hour - 5*time.Minute}, t0)
	// Lifetime is exactly 3h: NotBefore = t0-5m, NotAfter = t0+2h55m.
	notBefore := t0.Add(-5 * time.Minute)

	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"before NotBefore", notBefore.Add(-time.Hour), false},
		{"at NotBefore", notBefore, false},
		{"at issue", t0, false},
		{"just before two thirds", notBefore.Add(2*time.Hour - time.Second), false},
		{"exactly two thirds", notBefore.Add(2 * time.Hour), true},
		{"after two thirds", notBefore.Add(2*time.Hour + time.Second), true},
		{"at NotAfter", notBefore.Add(3 * time.Hour), true},
		{"expired", notBefore.Add(4 * time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, err := RenewalDue(leaf.Cert, tc.now)
			require.NoError(t, err)
			assert.Equal(t, tc.want, due)
			ok, _ := Reusable(leaf, ca, Request{CommonName: "x", Usage: ClientAuth}, tc.now)
			if due {
				assert.False(t, ok, "due implies not reusable")
			}
		})
	}

	_, err := RenewalDue([]byte("nope"), t0)
	assert.ErrorContains(t, err, "is not PEM")
	_, err = RenewalDue(leaf.Key, t0)
	assert.ErrorContains(t, err, `"PRIVATE KEY" PEM block`)
}
