package certs

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	all := CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}
	asCA := CheckOptions{RequireCert: true, RequireKey: true, IsCA: true}

	ca := mustCA(t, "skupper-site-ca", t0)
	caCert := firstCert(t, ca.Cert)
	caKey, err := parseKey(ca.Key)
	require.NoError(t, err)
	leaf := mustIssue(t, ca, Request{CommonName: "s", Hosts: []string{"127.0.0.1"}, Usage: ServerAuth}, t0)
	sibling := mustIssue(t, ca, Request{CommonName: "c", Usage: ClientAuth}, t0)
	otherCA := mustCA(t, "other-ca", t0)

	past := t0.Add(-48 * time.Hour)
	expired := mustIssue(t, mustCA(t, "ca", past), Request{CommonName: "old", Usage: ServerAuth, Validity: time.Minute}, past)
	future := t0.Add(24 * time.Hour)
	notYet := mustIssue(t, mustCA(t, "ca", future), Request{CommonName: "new", Usage: ServerAuth}, future)

	shortCA, err := NewCA("short-ca", time.Hour, t0.Add(-2*time.Hour))
	require.NoError(t, err)
	underExpiredCA := mustIssue(t, shortCA, Request{CommonName: "x", Usage: ClientAuth, Validity: 10 * time.Hour}, t0.Add(-2*time.Hour))

	// User bundles made with crypto/x509 directly: an ECDSA user CA with RSA,
	// ECDSA (SEC 1) and Ed25519 leaves.
	userCAKey := testECKey(t)
	userCACert, userCAPEM := handCert(t, handCATemplate("user-ca", t0), nil, userCAKey.Public(), userCAKey)

	// A hand-made intermediate CA under the user CA (no path length limit),
	// and a leaf under it.
	interKey := testECKey(t)
	interTmpl := handCATemplate("intermediate", t0)
	interTmpl.MaxPathLenZero = true
	interCert, interPEM := handCert(t, interTmpl, userCACert, interKey.Public(), userCAKey)
	leafKey := testECKey(t)
	_, chainLeafPEM := handCert(t, handLeafTemplate("chained", t0, "chained.example"), interCert, leafKey.Public(), interKey)

	// The same under our own CA, whose path length 0 forbids intermediates.
	badInterCert, badInterPEM := handCert(t, interTmpl, caCert, interKey.Public(), caKey)
	_, badChainLeafPEM := handCert(t, handLeafTemplate("chained", t0, "chained.example"), badInterCert, leafKey.Public(), interKey)
	rsaKey := testRSAKey(t)
	_, rsaLeafPEM := handCert(t, handLeafTemplate("rsa-leaf", t0, "rsa.example"), userCACert, rsaKey.Public(), userCAKey)
	ecKey := testECKey(t)
	_, ecLeafPEM := handCert(t, handLeafTemplate("ec-leaf", t0), userCACert, ecKey.Public(), userCAKey)
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, edLeafPEM := handCert(t, handLeafTemplate("ed-leaf", t0), userCACert, edPub, userCAKey)

	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, weakLeafPEM := handCert(t, handLeafTemplate("weak", t0), userCACert, weakKey.Public(), userCAKey)

	// CAs OpenSSL would refuse although Go's verifier accepts them.
	noSignTmpl := handCATemplate("no-certsign", t0)
	noSignTmpl.KeyUsage = x509.KeyUsageDigitalSignature
	noSignCert, noSignPEM := handCert(t, noSignTmpl, nil, userCAKey.Public(), userCAKey)
	_, underNoSignPEM := handCert(t, handLeafTemplate("l", t0), noSignCert, ecKey.Public(), userCAKey)
	notCATmpl := handLeafTemplate("not-a-ca", t0)
	notCACert, notCAPEM := handCert(t, notCATmpl, nil, userCAKey.Public(), userCAKey)
	_, underNotCAPEM := handCert(t, handLeafTemplate("l", t0), notCACert, ecKey.Public(), userCAKey)

	encrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1, 2, 3}})
	xk, err := ecdh.X25519().GenerateKey(rand.Reader)
	require.NoError(t, err)
	xder, err := x509.MarshalPKCS8PrivateKey(xk)
	require.NoError(t, err)
	x25519Key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: xder})
	junkCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})

	for _, tc := range []struct {
		name    string
		b       Bundle
		opts    CheckOptions
		now     time.Time // zero: t0
		wantErr string    // "" means it must pass
	}{
		{name: "good leaf", b: leaf, opts: all},
		{name: "good CA bundle", b: ca, opts: asCA},
		{name: "CA without ca.crt is self-signed", b: Bundle{Cert: ca.Cert, Key: ca.Key}, opts: asCA},
		{name: "trust-only bundle", b: Bundle{CA: ca.Cert}, opts: CheckOptions{RequireCA: true}},
		{name: "leaf without CA when not required", b: Bundle{Cert: leaf.Cert, Key: leaf.Key}, opts: CheckOptions{RequireCert: true, RequireKey: true}},
		{name: "ca.crt with two CAs (rotation)", b: Bundle{CA: concat(otherCA.Cert, ca.Cert), Cert: leaf.Cert, Key: leaf.Key}, opts: all},
		{name: "chain through intermediate in tls.crt", b: Bundle{CA: userCAPEM, Cert: concat(chainLeafPEM, interPEM), Key: pemPKCS8(t, leafKey)}, opts: all},
		{name: "intermediate CA bundle", b: Bundle{CA: userCAPEM, Cert: interPEM, Key: pemPKCS8(t, interKey)}, opts: asCA},
		{name: "RSA user bundle PKCS#1", b: Bundle{CA: userCAPEM, Cert: rsaLeafPEM, Key: pemPKCS1(rsaKey)}, opts: all},
		{name: "RSA user bundle PKCS#8", b: Bundle{CA: userCAPEM, Cert: rsaLeafPEM, Key: pemPKCS8(t, rsaKey)}, opts: all},
		{name: "ECDSA user bundle SEC 1 with EC PARAMETERS", b: Bundle{CA: userCAPEM, Cert: ecLeafPEM, Key: concat(ecParams, pemSEC1(t, ecKey))}, opts: all},
		{name: "Ed25519 user bundle", b: Bundle{CA: userCAPEM, Cert: edLeafPEM, Key: pemPKCS8(t, edKey)}, opts: all},
		{name: "text around PEM blocks", b: Bundle{CA: concat([]byte("Bag Attributes\n  friendlyName: ca\n"), ca.Cert, []byte("\n\n")), Cert: leaf.Cert, Key: leaf.Key}, opts: all},

		{name: "mismatched key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: sibling.Key}, opts: all, wantErr: "tls.key does not match tls.crt"},
		{name: "expired", b: expired, opts: all, wantErr: "tls.crt expired on " + past.Add(time.Minute).Format(time.RFC3339)},
		{name: "not yet valid", b: notYet, opts: all, wantErr: "tls.crt is not valid until " + future.Add(-5*time.Minute).Format(time.RFC3339)},
		{name: "valid at NotAfter", b: expired, opts: all, now: past.Add(time.Minute)},
		{name: "non-PEM ca.crt", b: Bundle{CA: []byte("not a certificate"), Cert: leaf.Cert, Key: leaf.Key}, opts: all, wantErr: "ca.crt is not PEM"},
		{name: "non-PEM tls.crt", b: Bundle{CA: ca.Cert, Cert: []byte{0x30, 0x82, 0x01}, Key: leaf.Key}, opts: all, wantErr: "tls.crt is not PEM"},
		{name: "non-PEM tls.key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: []byte("secret")}, opts: all, wantErr: "tls.key is not PEM"},
		{name: "missing tls.key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert}, opts: all, wantErr: "tls.key is missing"},
		{name: "missing tls.crt", b: Bundle{CA: ca.Cert, Key: leaf.Key}, opts: all, wantErr: "tls.crt is missing"},
		{name: "missing ca.crt", b: Bundle{Cert: leaf.Cert, Key: leaf.Key}, opts: all, wantErr: "ca.crt is missing"},
		{name: "IsCA implies a certificate", b: Bundle{CA: ca.Cert}, opts: CheckOptions{IsCA: true}, wantErr: "tls.crt is missing"},
		{name: "not signed by the CA", b: Bundle{CA: otherCA.Cert, Cert: leaf.Cert, Key: leaf.Key}, opts: all, wantErr: "tls.crt is not signed by ca.crt"},
		{name: "intermediate missing from tls.crt", b: Bundle{CA: userCAPEM, Cert: chainLeafPEM, Key: pemPKCS8(t, leafKey)}, opts: all, wantErr: "tls.crt is not signed by ca.crt"},
		{name: "intermediate beyond path length", b: Bundle{CA: ca.Cert, Cert: concat(badChainLeafPEM, badInterPEM), Key: pemPKCS8(t, leafKey)}, opts: all, wantErr: "path length constraint"},
		{name: "intermediate CA bundle beyond path length", b: Bundle{CA: ca.Cert, Cert: badInterPEM, Key: pemPKCS8(t, interKey)}, opts: asCA, wantErr: "ca.crt forbids further intermediate CAs (path length 0)"},
		{name: "intermediate from the wrong root", b: Bundle{CA: otherCA.Cert, Cert: concat(chainLeafPEM, interPEM), Key: pemPKCS8(t, leafKey)}, opts: all, wantErr: "tls.crt does not chain to ca.crt"},
		{name: "CA expired", b: underExpiredCA, opts: all, wantErr: "ca.crt expired on " + t0.Add(-time.Hour).Format(time.RFC3339)},
		{name: "trust-only expired", b: Bundle{CA: shortCA.Cert}, opts: CheckOptions{RequireCA: true}, wantErr: "ca.crt expired on"},
		{name: "leaf as CA", b: leaf, opts: asCA, wantErr: "tls.crt is not a CA certificate"},
		{name: "CA without keyCertSign", b: Bundle{Cert: noSignPEM, Key: pemPKCS8(t, userCAKey)}, opts: asCA, wantErr: "without the keyCertSign key usage"},
		{name: "issuer without keyCertSign", b: Bundle{CA: noSignPEM, Cert: underNoSignPEM, Key: pemPKCS8(t, ecKey)}, opts: all, wantErr: "ca.crt is a CA certificate without the keyCertSign key usage"},
		{name: "intermediate CA bundle without ca.crt", b: Bundle{Cert: interPEM, Key: pemPKCS8(t, interKey)}, opts: asCA, wantErr: "tls.crt is not self-signed"},
		{name: "issuer not a CA", b: Bundle{CA: notCAPEM, Cert: underNotCAPEM, Key: pemPKCS8(t, ecKey)}, opts: all, wantErr: "ca.crt is not a CA certificate"},
		{name: "weak RSA key", b: Bundle{CA: userCAPEM, Cert: weakLeafPEM, Key: pemPKCS1(weakKey)}, opts: all, wantErr: "1024-bit RSA key"},
		{name: "unparsable certificate", b: Bundle{CA: ca.Cert, Cert: junkCert, Key: leaf.Key}, opts: all, wantErr: "tls.crt: certificate 1 cannot be parsed"},
		{name: "key in tls.crt", b: Bundle{CA: ca.Cert, Cert: concat(leaf.Cert, leaf.Key), Key: leaf.Key}, opts: all, wantErr: `tls.crt contains a "PRIVATE KEY" PEM block`},
		{name: "certificate in tls.key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: concat(leaf.Key, leaf.Cert)}, opts: all, wantErr: `tls.key contains a "CERTIFICATE" PEM block`},
		{name: "truncated second CA", b: Bundle{CA: concat(ca.Cert, ca.Cert[:len(ca.Cert)/2]), Cert: leaf.Cert, Key: leaf.Key}, opts: all, wantErr: "ca.crt contains a truncated or malformed PEM block"},
		{name: "malformed block between good ones", b: Bundle{CA: concat(otherCA.Cert, []byte("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"), ca.Cert), Cert: leaf.Cert, Key: leaf.Key}, opts: all, wantErr: "ca.crt contains a truncated or malformed PEM block"},
		{name: "only EC PARAMETERS", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: ecParams}, opts: all, wantErr: "tls.key contains no private key"},
		{name: "X25519 key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: x25519Key}, opts: all, wantErr: "unsupported key type"},
		{name: "two keys", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: concat(leaf.Key, leaf.Key)}, opts: all, wantErr: "more than one private key"},
		{name: "encrypted key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: encrypted}, opts: all, wantErr: "tls.key is encrypted"},
		{name: "unparsable key", b: Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})}, opts: all, wantErr: "tls.key cannot be parsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			err := Check(tc.b, tc.opts, now)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestCheckMessages pins the exact wording of the commonest messages, which
// users see in status files.
func TestCheckMessages(t *testing.T) {
	ca := mustCA(t, "ca", t0)
	leaf := mustIssue(t, ca, Request{CommonName: "s", Usage: ServerAuth, Validity: time.Hour}, t0)
	other := mustIssue(t, ca, Request{CommonName: "o", Usage: ServerAuth}, t0)
	all := CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}

	assert.EqualError(t, Check(Bundle{CA: ca.Cert, Cert: leaf.Cert, Key: other.Key}, all, t0), "tls.key does not match tls.crt")
	assert.EqualError(t, Check(leaf, all, t0.Add(2*time.Hour)), "tls.crt expired on 2026-03-01T13:00:00Z")
	assert.EqualError(t, Check(Bundle{CA: []byte("x"), Cert: leaf.Cert, Key: leaf.Key}, all, t0), "ca.crt is not PEM")
	assert.EqualError(t, Check(Bundle{CA: mustCA(t, "x", t0).Cert, Cert: leaf.Cert, Key: leaf.Key}, all, t0), "tls.crt is not signed by ca.crt")
}

func TestSummarize(t *testing.T) {
	ca := mustCA(t, "skupper-site-ca", t0)
	leaf := mustIssue(t, ca, Request{CommonName: "skupper-router", Hosts: []string{"10.0.0.1", "router.example"}, Usage: ServerAuth | ClientAuth}, t0)

	got, err := Summarize(concat(leaf.Cert, leaf.Key, ca.Cert))
	require.NoError(t, err)
	require.Len(t, got, 2, "the key block is skipped")
	lc, cc := firstCert(t, leaf.Cert), firstCert(t, ca.Cert)
	assert.Equal(t, Summary{
		Subject:     "CN=skupper-router",
		Issuer:      "CN=skupper-site-ca",
		DNSNames:    []string{"10.0.0.1", "router.example"},
		IPs:         []string{"10.0.0.1"},
		NotBefore:   t0.Add(-5 * time.Minute),
		NotAfter:    t0.Add(DefaultLeafValidity),
		IsCA:        false,
		ExtKeyUsage: []string{"serverAuth", "clientAuth"},
		SerialHex:   lc.SerialNumber.Text(16),
	}, got[0])
	assert.Equal(t, Summary{
		Subject:   "CN=skupper-site-ca",
		Issuer:    "CN=skupper-site-ca",
		NotBefore: t0.Add(-5 * time.Minute),
		NotAfter:  t0.Add(DefaultCAValidity),
		IsCA:      true,
		SerialHex: cc.SerialNumber.Text(16),
	}, got[1])

	_, err = Summarize(leaf.Key)
	assert.ErrorContains(t, err, "no certificate")
	_, err = Summarize([]byte("junk"))
	assert.ErrorContains(t, err, "no certificate")
	_, err = Summarize(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	assert.ErrorContains(t, err, "summarize certificate 1")

	// Unknown and other known EKUs are named.
	key := testECKey(t)
	tmpl := handLeafTemplate("odd", t0)
	tmpl.Subject = pkix.Name{CommonName: "odd"}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	tmpl.UnknownExtKeyUsage = nil
	_, oddPEM := handCert(t, tmpl, nil, key.Public(), key)
	got, err = Summarize(oddPEM)
	require.NoError(t, err)
	assert.Equal(t, []string{"codeSigning"}, got[0].ExtKeyUsage)
}

// TestNextChange: the earliest of a certificate becoming valid, due for
// renewal and expired, over every certificate given.
func TestNextChange(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA("ca", 300*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Issue(ca, Request{CommonName: "l", Usage: ServerAuth, Validity: 30 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf: NotBefore now-5m, NotAfter now+30h; renewal due with a
	// third of its lifetime left.
	notBefore, notAfter := now.Add(-ClockSkew), now.Add(30*time.Hour)
	renew := notAfter.Add(-notAfter.Sub(notBefore) / 3)
	if got := NextChange(now, ca.Cert, leaf.Cert); !got.Equal(renew) {
		t.Fatalf("NextChange = %s, want the leaf's renewal at %s", got, renew)
	}
	if got := NextChange(renew, leaf.Cert); !got.Equal(notAfter.Add(time.Second)) {
		t.Fatalf("after the renewal time: %s, want just after NotAfter %s", got, notAfter)
	}
	if got := NextChange(now.Add(-time.Hour), leaf.Cert); !got.Equal(notBefore) {
		t.Fatalf("before NotBefore: %s, want %s", got, notBefore)
	}
	if got := NextChange(notAfter.Add(time.Hour), leaf.Cert); !got.IsZero() {
		t.Fatalf("expired: %s, want zero", got)
	}
	if got := NextChange(now, nil, []byte("not PEM")); !got.IsZero() {
		t.Fatalf("no certificate: %s, want zero", got)
	}
}
