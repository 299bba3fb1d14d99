package reconcile_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/reconcile"
)

// parsePEMCerts parses every block of data, which must all be certificates.
func parsePEMCerts(t testing.TB, what string, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		require.Equal(t, "CERTIFICATE", block.Type, "%s holds a %s block", what, block.Type)
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err, what)
		out = append(out, c)
	}
	require.Empty(t, bytes.TrimSpace(rest), "%s: trailing data after the PEM blocks", what)
	require.NotEmpty(t, out, "%s holds no certificate", what)
	return out
}

func parseOneCert(t testing.TB, what string, data []byte) *x509.Certificate {
	t.Helper()
	cs := parsePEMCerts(t, what, data)
	require.Len(t, cs, 1, "%s should hold exactly one certificate", what)
	return cs[0]
}

// verifyLeaf checks that the first certificate of leafPEM chains to the CA
// certificate caPEM at now.
func verifyLeaf(t testing.TB, leafPEM, caPEM []byte, now time.Time, what string) {
	t.Helper()
	leaf := parsePEMCerts(t, what, leafPEM)[0]
	pool := x509.NewCertPool()
	pool.AddCert(parseOneCert(t, what+" CA", caPEM))
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err, "%s does not verify against its CA", what)
}

// certWant is what one generated bundle directory must hold.
type certWant struct {
	ca       bool   // a CA made by reconcile (runtime/issuers)
	issuer   string // for leaves: the name of the CA that signs it
	cn       string
	usage    x509.ExtKeyUsage // for leaves: the one extended key usage
	dns      []string
	ips      []string
	validity time.Duration
}

// TestGeneratedCertificates parses every certificate a reconcile generates
// and checks issuer, chain, key usages, SANs and validity.
func TestGeneratedCertificates(t *testing.T) {
	h := newHarness(t)
	west := h.ns("west")
	h.writeInput(west, "site.yaml", docs(
		siteDoc("west", "linkAccess: default\n"),
		listenerDoc("backend", 8080, "tlsCredentials: backend-tls\n"),
		strings.Replace(listenerDoc("any", 8443, "tlsCredentials: any-tls\n"), "host: 127.0.0.1", "host: 0.0.0.0", 1),
	))
	res := h.reconcile(west)
	require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)
	require.Empty(t, res.Diagnostics)

	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	want := map[string]certWant{
		"runtime/issuers/" + reconcile.SiteCA:    {ca: true, cn: reconcile.SiteCA, validity: certs.DefaultCAValidity},
		"runtime/issuers/" + reconcile.LocalCA:   {ca: true, cn: reconcile.LocalCA, validity: certs.DefaultCAValidity},
		"runtime/issuers/" + reconcile.ServiceCA: {ca: true, cn: reconcile.ServiceCA, validity: certs.DefaultCAValidity},
		"runtime/certs/skupper-local-server": {issuer: reconcile.LocalCA, cn: "127.0.0.1", usage: server,
			dns: []string{"127.0.0.1", "localhost"}, ips: []string{"127.0.0.1"}, validity: certs.DefaultLeafValidity},
		"runtime/certs/skupper-local-client": {issuer: reconcile.LocalCA, cn: "skupperd", usage: client, validity: certs.DefaultLeafValidity},
		// Link access: every name and address of the host; IPs are DNS SANs too.
		"runtime/certs/west": {issuer: reconcile.SiteCA, cn: "west", usage: server,
			dns: []string{"127.0.0.1", "host.example.com"}, ips: []string{"127.0.0.1"}, validity: certs.DefaultLeafValidity},
		"runtime/certs/backend-tls": {issuer: reconcile.ServiceCA, cn: "127.0.0.1", usage: server,
			dns: []string{"127.0.0.1"}, ips: []string{"127.0.0.1"}, validity: certs.DefaultLeafValidity},
		// A wildcard Listener: localhost and every host name.
		"runtime/certs/any-tls": {issuer: reconcile.ServiceCA, cn: "0.0.0.0", usage: server,
			dns: []string{"127.0.0.1", "host.example.com", "localhost"}, ips: []string{"127.0.0.1"}, validity: certs.DefaultLeafValidity},
		// The client certificate handed out in static links lives as long as a CA.
		"internal/link-clients/west": {issuer: reconcile.SiteCA, cn: "link-west", usage: client, validity: certs.DefaultCAValidity},
	}

	// Every bundle directory reconcile made, and nothing else.
	var dirs []string
	for _, parent := range []string{"runtime/issuers", "runtime/certs", "internal/link-clients"} {
		entries, err := os.ReadDir(filepath.Join(west.Dir, parent))
		require.NoError(t, err)
		for _, e := range entries {
			require.True(t, e.IsDir(), "%s/%s is not a bundle directory", parent, e.Name())
			dirs = append(dirs, parent+"/"+e.Name())
		}
	}
	var wantDirs []string
	for d := range want {
		wantDirs = append(wantDirs, d)
	}
	sort.Strings(dirs)
	sort.Strings(wantDirs)
	require.Equal(t, wantDirs, dirs)

	bundles := map[string]certs.Bundle{}
	for _, d := range dirs {
		b, err := certs.ReadDir(filepath.Join(west.Dir, d))
		require.NoError(t, err)
		require.NotEmpty(t, b.CA, d)
		require.NotEmpty(t, b.Cert, d)
		require.NotEmpty(t, b.Key, d)
		bundles[d] = b
		fi, err := os.Stat(filepath.Join(west.Dir, d, certs.KeyFile))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "%s/tls.key", d)
		fi, err = os.Stat(filepath.Join(west.Dir, d))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
		_, err = tls.X509KeyPair(b.Cert, b.Key)
		require.NoError(t, err, "%s: tls.key does not match tls.crt", d)
	}

	cas := map[string]*x509.Certificate{}
	for d, w := range want {
		if !w.ca {
			continue
		}
		b := bundles[d]
		c := parseOneCert(t, d+"/tls.crt", b.Cert)
		assert.Equal(t, b.Cert, b.CA, "%s: a CA's ca.crt is its own certificate", d)
		assert.Equal(t, w.cn, c.Subject.CommonName, d)
		assert.Equal(t, "CN="+w.cn, c.Subject.String(), d)
		assert.True(t, c.BasicConstraintsValid && c.IsCA, "%s is a CA", d)
		assert.True(t, c.MaxPathLenZero && c.MaxPathLen == 0, "%s signs leaves only", d)
		assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature, c.KeyUsage, d)
		assert.Empty(t, c.ExtKeyUsage, d)
		assert.Empty(t, c.UnknownExtKeyUsage, d)
		assert.Empty(t, c.DNSNames, d)
		assert.Empty(t, c.IPAddresses, d)
		require.NoError(t, c.CheckSignatureFrom(c), "%s is self-signed", d)
		assertValidity(t, d, c, h.now, w.validity)
		cas[w.cn] = c
	}
	require.Len(t, cas, 3)

	for d, w := range want {
		if w.ca {
			continue
		}
		b := bundles[d]
		leaf := parseOneCert(t, d+"/tls.crt", b.Cert)
		// ca.crt is exactly the issuer's certificate.
		assert.Equal(t, bundles["runtime/issuers/"+w.issuer].Cert, b.CA, "%s/ca.crt", d)
		assert.Equal(t, w.cn, leaf.Subject.CommonName, d)
		assert.Equal(t, "CN="+w.issuer, leaf.Issuer.String(), d)
		assert.True(t, leaf.BasicConstraintsValid && !leaf.IsCA, "%s is CA:FALSE", d)
		assert.Equal(t, x509.KeyUsageDigitalSignature, leaf.KeyUsage, d)
		assert.Equal(t, []x509.ExtKeyUsage{w.usage}, leaf.ExtKeyUsage, "%s: exactly one extended key usage", d)
		assert.Empty(t, leaf.UnknownExtKeyUsage, d)
		assert.Equal(t, w.dns, nilIfEmpty(leaf.DNSNames), "%s DNS SANs", d)
		var ips []string
		for _, ip := range leaf.IPAddresses {
			ips = append(ips, ip.String())
		}
		assert.Equal(t, w.ips, ips, "%s IP SANs", d)
		assert.Empty(t, leaf.URIs, d)
		assert.Empty(t, leaf.EmailAddresses, d)
		assertValidity(t, d, leaf, h.now, w.validity)

		// It chains to its own CA for its usage, not for the other one, and
		// to no other CA.
		for cn, ca := range cas {
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: h.now, KeyUsages: []x509.ExtKeyUsage{w.usage}})
			if cn != w.issuer {
				assert.Error(t, err, "%s verifies against %s", d, cn)
				continue
			}
			require.NoError(t, err, "%s against %s", d, cn)
			other := server
			if w.usage == server {
				other = client
			}
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: h.now, KeyUsages: []x509.ExtKeyUsage{other}})
			assert.Error(t, err, "%s must not be usable for %v", d, other)
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: leaf.NotAfter.Add(time.Second), KeyUsages: []x509.ExtKeyUsage{w.usage}})
			assert.Error(t, err, "%s is not valid after NotAfter", d)
		}
		for _, name := range w.dns {
			assert.NoError(t, leaf.VerifyHostname(name), "%s for %s", d, name)
		}
	}

	// The static links carry the link client certificate and the site CA,
	// one file per host name and address.
	var linkFiles []string
	entries, err := os.ReadDir(west.LinksDir())
	require.NoError(t, err)
	for _, e := range entries {
		linkFiles = append(linkFiles, e.Name())
		path := filepath.Join(west.LinksDir(), e.Name())
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), e.Name())
		sec, link := decodeStaticLink(t, path)
		ca, _ := sec.SecretValue(v2alpha1.SecretKeyCA)
		crt, _ := sec.SecretValue(v2alpha1.SecretKeyCert)
		key, _ := sec.SecretValue(v2alpha1.SecretKeyKey)
		parseOneCert(t, e.Name()+" ca.crt", ca)
		parseOneCert(t, e.Name()+" tls.crt", crt)
		assert.Equal(t, bundles["runtime/issuers/"+reconcile.SiteCA].Cert, ca, e.Name())
		assert.Equal(t, bundles["internal/link-clients/west"].Cert, crt, e.Name())
		assert.Equal(t, bundles["internal/link-clients/west"].Key, key, e.Name())
		host := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "link-west-"), ".yaml")
		for _, ep := range link.Spec.Endpoints {
			assert.Equal(t, host, ep.Host, e.Name())
		}
		// The server certificate covers the host the link dials.
		assert.NoError(t, parseOneCert(t, "west", bundles["runtime/certs/west"].Cert).VerifyHostname(host))
	}
	assert.Equal(t, []string{"link-west-127.0.0.1.yaml", "link-west-host.example.com.yaml"}, linkFiles)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// assertValidity checks the window certs documents: from now-5m to
// now+validity, in whole seconds.
func assertValidity(t testing.TB, what string, c *x509.Certificate, now time.Time, validity time.Duration) {
	t.Helper()
	assert.True(t, c.NotBefore.Equal(now.Add(-5*time.Minute)), "%s NotBefore %v", what, c.NotBefore)
	assert.True(t, c.NotAfter.Equal(now.Add(validity)), "%s NotAfter %v, want %v", what, c.NotAfter, now.Add(validity))
}

// decodeStaticLink decodes a static link file: a Secret and a Link.
func decodeStaticLink(t testing.TB, path string) (*v2alpha1.Secret, *v2alpha1.Link) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	ds, diags := v2alpha1.Decode(path, data)
	require.Empty(t, diags, "%s does not decode cleanly", path)
	require.Len(t, ds, 2, path)
	var sec *v2alpha1.Secret
	var link *v2alpha1.Link
	for _, d := range ds {
		switch o := d.Object.(type) {
		case *v2alpha1.Secret:
			sec = o
		case *v2alpha1.Link:
			link = o
		}
	}
	require.NotNil(t, sec, "%s holds no Secret", path)
	require.NotNil(t, link, "%s holds no Link", path)
	require.Equal(t, sec.Name, link.Spec.TLSCredentials, path)
	return sec, link
}

// ---- TLS handshakes

// tlsTimeout bounds every network operation of a handshake test.
const tlsTimeout = 10 * time.Second

type tlsOutcome struct {
	state tls.ConnectionState
	err   error
}

func certPoolOf(t testing.TB, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(pemData), "no certificate in CA PEM")
	return p
}

// tlsExchange runs one TLS 1.3 connection on 127.0.0.1 between a server
// presenting server (and requiring a client certificate from server.CA) and
// a client presenting client and trusting client.CA, with both clocks at
// now. The server writes "ok" after its handshake; the client reads it, as
// with TLS 1.3 the client's handshake completes before the server has judged
// the client certificate.
func tlsExchange(t testing.TB, server, client certs.Bundle, serverName string, now time.Time) (srv, cli tlsOutcome) {
	t.Helper()
	serverKP, err := tls.X509KeyPair(server.Cert, server.Key)
	require.NoError(t, err)
	clientKP, err := tls.X509KeyPair(client.Cert, client.Key)
	require.NoError(t, err)
	clock := func() time.Time { return now }

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	serverCfg := &tls.Config{
		Certificates: []tls.Certificate{serverKP},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    certPoolOf(t, server.CA),
		MinVersion:   tls.VersionTLS13,
		Time:         clock,
	}
	deadline := time.Now().Add(tlsTimeout)
	done := make(chan tlsOutcome, 1)
	go func() {
		_ = ln.(*net.TCPListener).SetDeadline(deadline)
		raw, err := ln.Accept()
		if err != nil {
			done <- tlsOutcome{err: err}
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Server(raw, serverCfg)
		if err := conn.Handshake(); err != nil {
			done <- tlsOutcome{err: err}
			return
		}
		_, err = conn.Write([]byte("ok"))
		st := conn.ConnectionState()
		_ = conn.Close()
		done <- tlsOutcome{state: st, err: err}
	}()

	cli = func() tlsOutcome {
		d := net.Dialer{Timeout: tlsTimeout}
		raw, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return tlsOutcome{err: err}
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Client(raw, &tls.Config{
			// Always present the certificate, as the router (OpenSSL)
			// does, even when its issuer is not among the server's CAs.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &clientKP, nil },
			RootCAs:              certPoolOf(t, client.CA),
			ServerName:           serverName,
			MinVersion:           tls.VersionTLS13,
			Time:                 clock,
		})
		if err := conn.Handshake(); err != nil {
			return tlsOutcome{err: err}
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(conn, buf); err != nil {
			return tlsOutcome{err: err}
		}
		if string(buf) != "ok" {
			return tlsOutcome{err: fmt.Errorf("server said %q", buf)}
		}
		return tlsOutcome{state: conn.ConnectionState()}
	}()
	select {
	case srv = <-done:
	case <-time.After(2 * tlsTimeout):
		t.Fatal("TLS server did not finish")
	}
	return srv, cli
}

// handshake runs tlsExchange and checks that it succeeded with TLS 1.3 and
// that each side verified the other's chain.
func handshake(t testing.TB, server, client certs.Bundle, serverName string, now time.Time) (srvState, cliState tls.ConnectionState) {
	t.Helper()
	srv, cli := tlsExchange(t, server, client, serverName, now)
	require.NoError(t, srv.err, "server side")
	require.NoError(t, cli.err, "client side")
	assert.Equal(t, uint16(tls.VersionTLS13), cli.state.Version)
	serverLeaf := parsePEMCerts(t, "server", server.Cert)[0]
	clientLeaf := parsePEMCerts(t, "client", client.Cert)[0]
	require.NotEmpty(t, srv.state.VerifiedChains, "server verified the client")
	require.NotEmpty(t, cli.state.VerifiedChains, "client verified the server")
	assert.True(t, srv.state.VerifiedChains[0][0].Equal(clientLeaf))
	assert.True(t, cli.state.VerifiedChains[0][0].Equal(serverLeaf))
	srvRoot := srv.state.VerifiedChains[0][len(srv.state.VerifiedChains[0])-1]
	cliRoot := cli.state.VerifiedChains[0][len(cli.state.VerifiedChains[0])-1]
	assert.True(t, srvRoot.Equal(parsePEMCerts(t, "server CA", server.CA)[0]), "server verified the client against its ca.crt")
	assert.True(t, cliRoot.Equal(parsePEMCerts(t, "client CA", client.CA)[0]), "client verified the server against its ca.crt")
	return srv.state, cli.state
}

// TestLinkAccessHandshake links a client holding a static link's
// credentials to a server holding the link-access certificate, over
// 127.0.0.1, as two routers would; a client certificate from a foreign CA
// is refused.
func TestLinkAccessHandshake(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t)
	west := h.ns("west")
	h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	res := h.reconcile(west)
	require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)

	server, err := certs.ReadDir(west.RuntimeCertDir("west"))
	require.NoError(t, err)
	sec, link := decodeStaticLink(t, filepath.Join(west.LinksDir(), "link-west-127.0.0.1.yaml"))
	require.Equal(t, "127.0.0.1", link.Spec.Endpoints[0].Host)
	var linkClient certs.Bundle
	var ok bool
	linkClient.CA, ok = sec.SecretValue(v2alpha1.SecretKeyCA)
	require.True(t, ok)
	linkClient.Cert, ok = sec.SecretValue(v2alpha1.SecretKeyCert)
	require.True(t, ok)
	linkClient.Key, ok = sec.SecretValue(v2alpha1.SecretKeyKey)
	require.True(t, ok)

	t.Run("link client", func(t *testing.T) {
		srv, cli := handshake(t, server, linkClient, "127.0.0.1", h.now)
		assert.Equal(t, "link-west", srv.PeerCertificates[0].Subject.CommonName)
		assert.Equal(t, "west", cli.PeerCertificates[0].Subject.CommonName)
		for _, st := range []tls.ConnectionState{srv, cli} {
			chain := st.VerifiedChains[0]
			assert.Equal(t, reconcile.SiteCA, chain[len(chain)-1].Subject.CommonName)
		}
	})

	t.Run("foreign client", func(t *testing.T) {
		foreignCA, err := certs.NewCA("foreign-ca", 0, h.now)
		require.NoError(t, err)
		foreign, err := certs.Issue(foreignCA, certs.Request{CommonName: "link-west", Usage: certs.ClientAuth}, h.now)
		require.NoError(t, err)
		// It trusts west's CA (it wants in); only its own certificate is foreign.
		foreign.CA = linkClient.CA
		srv, cli := tlsExchange(t, server, foreign, "127.0.0.1", h.now)
		require.Error(t, srv.err, "the server must refuse a foreign client")
		assert.Contains(t, srv.err.Error(), "certificate signed by unknown authority")
		require.Error(t, cli.err, "the client must see the refusal")
	})

	t.Run("wrong server name", func(t *testing.T) {
		_, cli := tlsExchange(t, server, linkClient, "elsewhere.example.com", h.now)
		require.Error(t, cli.err)
		assert.Contains(t, cli.err.Error(), "elsewhere.example.com")
	})
}

// ---- bad bundles

func secretDoc(name string, ca, crt, key []byte) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\ntype: kubernetes.io/tls\ndata:\n  ca.crt: %s\n  tls.crt: %s\n  tls.key: %s\n",
		name, base64.StdEncoding.EncodeToString(ca), base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))
}

// TestBadBundles gives one resource of an otherwise healthy namespace a
// broken TLS bundle: that resource reports the problem and stays out of the
// router config; everything else applies.
func TestBadBundles(t *testing.T) {
	now := reconcileNow
	mustCA := func(cn string, at time.Time) certs.Bundle {
		b, err := certs.NewCA(cn, 0, at)
		require.NoError(t, err)
		return b
	}
	mustIssue := func(ca certs.Bundle, req certs.Request, at time.Time) certs.Bundle {
		b, err := certs.Issue(ca, req, at)
		require.NoError(t, err)
		return b
	}
	userCA := mustCA("user-ca", now)
	clientCert := mustIssue(userCA, certs.Request{CommonName: "client", Usage: certs.ClientAuth}, now)
	otherClient := mustIssue(userCA, certs.Request{CommonName: "other", Usage: certs.ClientAuth}, now)
	serverCert := mustIssue(userCA, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth}, now)
	oldCA := mustCA("old-ca", now.Add(-72*time.Hour))
	expiredClient := mustIssue(oldCA, certs.Request{CommonName: "client", Usage: certs.ClientAuth, Validity: time.Hour}, now.Add(-48*time.Hour))
	expiredServer := mustIssue(oldCA, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth, Validity: time.Hour}, now.Add(-48*time.Hour))
	hello := []byte("hello\n")

	const (
		clientConnector = "tlsCredentials: db-tls\nuseClientCert: true\n"
		caConnector     = "tlsCredentials: db-tls\n"
		bundleListener  = "tlsCredentials: db-tls\n"
	)
	remoteLink := "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: remote\nspec:\n  tlsCredentials: remote-creds\n  endpoints:\n  - name: inter-router\n    host: 192.0.2.10\n    port: \"55671\"\n"

	for _, tc := range []struct {
		name   string
		doc    string
		files  map[string][]byte // input/certs/db-tls; nil: no bundle
		kind   string
		entity [2]string // router entity type and name that must be absent
		want   []string  // substrings of the status message
	}{
		{
			name:   "connector client cert with mismatched key",
			doc:    connectorDoc("db", 5432, clientConnector),
			files:  map[string][]byte{"ca.crt": userCA.Cert, "tls.crt": clientCert.Cert, "tls.key": otherClient.Key},
			kind:   v2alpha1.KindConnector,
			entity: [2]string{"tcpConnector", "connector/db"},
			want:   []string{"input/certs/db-tls", "tls.key does not match tls.crt"},
		},
		{
			name:   "connector expired client cert",
			doc:    connectorDoc("db", 5432, clientConnector),
			files:  map[string][]byte{"ca.crt": oldCA.Cert, "tls.crt": expiredClient.Cert, "tls.key": expiredClient.Key},
			kind:   v2alpha1.KindConnector,
			entity: [2]string{"tcpConnector", "connector/db"},
			want:   []string{"input/certs/db-tls", "tls.crt expired on " + now.Add(-47*time.Hour).Format(time.RFC3339)},
		},
		{
			name:   "connector non-PEM ca.crt",
			doc:    connectorDoc("db", 5432, caConnector),
			files:  map[string][]byte{"ca.crt": hello},
			kind:   v2alpha1.KindConnector,
			entity: [2]string{"tcpConnector", "connector/db"},
			want:   []string{"input/certs/db-tls", "ca.crt is not PEM"},
		},
		{
			name:   "connector client cert without tls.key",
			doc:    connectorDoc("db", 5432, clientConnector),
			files:  map[string][]byte{"ca.crt": userCA.Cert, "tls.crt": clientCert.Cert},
			kind:   v2alpha1.KindConnector,
			entity: [2]string{"tcpConnector", "connector/db"},
			want:   []string{"input/certs/db-tls", "tls.key is missing"},
		},
		{
			name:   "connector bundle missing",
			doc:    connectorDoc("db", 5432, caConnector),
			kind:   v2alpha1.KindConnector,
			entity: [2]string{"tcpConnector", "connector/db"},
			// From the loader, with the position of the field.
			want: []string{"input/resources/broken.yaml:", "spec.tlsCredentials", `bundle "db-tls" not found`, "input/certs/db-tls/"},
		},
		{
			name:   "listener mismatched key",
			doc:    listenerDoc("db", 5432, bundleListener),
			files:  map[string][]byte{"tls.crt": serverCert.Cert, "tls.key": otherClient.Key},
			kind:   v2alpha1.KindListener,
			entity: [2]string{"tcpListener", "listener/db"},
			want:   []string{"input/certs/db-tls", "tls.key does not match tls.crt"},
		},
		{
			name:   "listener expired cert",
			doc:    listenerDoc("db", 5432, bundleListener),
			files:  map[string][]byte{"ca.crt": oldCA.Cert, "tls.crt": expiredServer.Cert, "tls.key": expiredServer.Key},
			kind:   v2alpha1.KindListener,
			entity: [2]string{"tcpListener", "listener/db"},
			want:   []string{"input/certs/db-tls", "tls.crt expired on"},
		},
		{
			name:   "listener non-PEM tls.crt",
			doc:    listenerDoc("db", 5432, bundleListener),
			files:  map[string][]byte{"tls.crt": hello, "tls.key": serverCert.Key},
			kind:   v2alpha1.KindListener,
			entity: [2]string{"tcpListener", "listener/db"},
			want:   []string{"input/certs/db-tls", "tls.crt is not PEM"},
		},
		{
			name:   "listener without tls.key",
			doc:    listenerDoc("db", 5432, bundleListener),
			files:  map[string][]byte{"tls.crt": serverCert.Cert},
			kind:   v2alpha1.KindListener,
			entity: [2]string{"tcpListener", "listener/db"},
			want:   []string{"input/certs/db-tls", "tls.key is missing"},
		},
		{
			name:   "link secret with mismatched key",
			doc:    docs(remoteLink, secretDoc("remote-creds", userCA.Cert, clientCert.Cert, otherClient.Key)),
			kind:   v2alpha1.KindLink,
			entity: [2]string{"connector", "link/remote"},
			want:   []string{"Secret/remote-creds", "tls.key does not match tls.crt"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			west := h.ns("west")
			h.writeInput(west, "site.yaml", docs(siteDoc("west", "linkAccess: default\n"), listenerDoc("good", 8080, "")))
			h.writeInput(west, "broken.yaml", tc.doc)
			if tc.files != nil {
				h.writeBundleFiles(west, "db-tls", tc.files)
			}
			name := map[string]string{v2alpha1.KindLink: "remote"}[tc.kind]
			if name == "" {
				name = "db"
			}

			res := h.reconcile(west)
			require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)

			st := h.statusOf(west, tc.kind, name)
			assert.Equal(t, v2alpha1.StatusError, st.StatusType, "%s/%s status", tc.kind, name)
			for _, w := range tc.want {
				assert.Contains(t, st.Message, w)
			}
			found := false
			for _, d := range res.Diagnostics {
				if d.Kind == tc.kind && d.Name == name && d.IsError() && d.File != "" {
					found = true
				}
			}
			assert.True(t, found, "no located error diagnostic for %s/%s in %v", tc.kind, name, res.Diagnostics)

			ents := readRouterConfig(t, west)
			_, present := entity(ents, tc.entity[0], tc.entity[1])
			assert.False(t, present, "%s %q must not be configured", tc.entity[0], tc.entity[1])
			for _, e := range ents {
				if e.Type == "sslProfile" {
					assert.NotContains(t, e.Attrs["name"], "db-tls", "no sslProfile for the broken bundle")
					assert.NotContains(t, e.Attrs["name"], "remote", "no sslProfile for the broken bundle")
				}
			}
			_, err := os.Stat(west.RuntimeCertDir("db-tls"))
			assert.True(t, os.IsNotExist(err), "runtime/certs/db-tls must not exist")

			// The rest of the namespace is untouched by the broken bundle.
			mustEntity(t, ents, "tcpListener", "listener/good")
			mustEntity(t, ents, "listener", "routeraccess/west/inter-router")
			assert.NotEqual(t, v2alpha1.StatusError, h.statusOf(west, v2alpha1.KindListener, "good").StatusType)
			assert.NotEqual(t, v2alpha1.StatusError, h.statusOf(west, v2alpha1.KindSite, "west").StatusType)
			assert.NotEqual(t, v2alpha1.StatusError, h.statusOf(west, v2alpha1.KindRouterAccess, "west").StatusType)
		})
	}
}

// TestCredentialNameClash gives resources tlsCredentials names whose
// runtime/certs directories coincide with another resource's. The first
// owner keeps its credentials, the later one reports the clash, and a second
// reconcile writes nothing.
func TestCredentialNameClash(t *testing.T) {
	now := reconcileNow
	userCA, err := certs.NewCA("user-ca", 0, now)
	require.NoError(t, err)
	remote, err := certs.Issue(userCA, certs.Request{CommonName: "client", Usage: certs.ClientAuth}, now)
	require.NoError(t, err)
	link := "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: db\nspec:\n  endpoints:\n  - name: inter-router\n    host: 192.0.2.10\n    port: \"55671\"\n"

	for _, tc := range []struct {
		name   string
		doc    string
		bundle bool // input/certs/db with userCA and remote
		kind   string
		res    string
		dir    string // the contested runtime/certs directory
		owner  string // who keeps it
	}{
		{
			name: "listener named like the link access credentials",
			doc:  listenerDoc("backend", 8080, "tlsCredentials: west\n"),
			kind: v2alpha1.KindListener, res: "backend", dir: "west", owner: "RouterAccess/west",
		},
		{
			name: "listener named like skupperd's own credentials",
			doc:  listenerDoc("backend", 8080, "tlsCredentials: skupper-local-server\n"),
			kind: v2alpha1.KindListener, res: "backend", dir: "skupper-local-server", owner: "skupperd",
		},
		{
			name:   "connector CA profile named like a link profile",
			doc:    docs(link, secretDoc("db", userCA.Cert, remote.Cert, remote.Key), connectorDoc("db", 5432, "tlsCredentials: db\n")),
			bundle: true,
			kind:   v2alpha1.KindConnector, res: "db", dir: "db-profile", owner: "Link/db",
		},
		{
			name: "two wildcard and loopback listeners sharing a generated certificate",
			doc: docs(listenerDoc("a", 8080, "tlsCredentials: shared\n"),
				strings.Replace(listenerDoc("b", 8081, "tlsCredentials: shared\n"), "host: 127.0.0.1", "host: 0.0.0.0", 1)),
			kind: v2alpha1.KindListener, res: "b", dir: "shared", owner: "Listener/a",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			west := h.ns("west")
			h.writeInput(west, "site.yaml", siteDoc("west", "linkAccess: default\n"))
			h.writeInput(west, "clash.yaml", tc.doc)
			if tc.bundle {
				h.writeBundleFiles(west, "db", map[string][]byte{"ca.crt": userCA.Cert, "tls.crt": remote.Cert, "tls.key": remote.Key})
			}
			res := h.reconcile(west)
			require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)
			before, err := certs.ReadDir(west.RuntimeCertDir(tc.dir))
			require.NoError(t, err)

			st := h.statusOf(west, tc.kind, tc.res)
			assert.Equal(t, v2alpha1.StatusError, st.StatusType, st.Message)
			assert.Contains(t, st.Message, tc.owner)
			assert.Contains(t, st.Message, tc.dir)

			// The link access certificate is still the site CA's.
			server, err := certs.ReadDir(west.RuntimeCertDir("west"))
			require.NoError(t, err)
			siteCA, err := certs.ReadDir(west.RuntimeIssuerDir(reconcile.SiteCA))
			require.NoError(t, err)
			verifyLeaf(t, server.Cert, siteCA.Cert, h.now, "runtime/certs/west")
			assert.Equal(t, "west", parseOneCert(t, "west", server.Cert).Subject.CommonName)

			// Nothing flips back and forth.
			ageNamespace(t, west)
			snap := nsTree(t, west)
			res = h.reconcile(west)
			assert.False(t, res.CertsChanged)
			assert.False(t, res.ConfigChanged)
			assert.Empty(t, changedFiles(snap, nsTree(t, west)))
			after, err := certs.ReadDir(west.RuntimeCertDir(tc.dir))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(before.CA, after.CA) && bytes.Equal(before.Cert, after.Cert) && bytes.Equal(before.Key, after.Key),
				"runtime/certs/%s changed on the second reconcile", tc.dir)
		})
	}
}
