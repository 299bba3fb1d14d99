package grantserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/namespaces"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const uid = "87426fa9-5623-49af-a612-47d33b7a4200"

// answer is a minimal valid grant answer (Secret + Link).
func answer(t testing.TB, name string) []byte {
	t.Helper()
	ca, err := certs.NewCA("skupper-site-ca", 0, time.Now())
	require.NoError(t, err)
	cl, err := certs.Issue(ca, certs.Request{CommonName: name, Usage: certs.ClientAuth}, time.Now())
	require.NoError(t, err)
	b64 := func(b []byte) string {
		return fmt.Sprintf("%q", string(b))
	}
	return []byte(fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata:
  creationTimestamp: null
  name: %s
stringData:
  ca.crt: %s
  tls.crt: %s
  tls.key: %s
type: kubernetes.io/tls
---
apiVersion: skupper.io/v2alpha1
kind: Link
metadata:
  creationTimestamp: null
  name: %s
spec:
  endpoints:
  - group: skupper-router
    host: 127.0.0.1
    name: inter-router
    port: "55671"
  tlsCredentials: %s
status: {}
`, name, b64(ca.Cert), b64(cl.Cert), b64(cl.Key), name, name))
}

type fakeIssuer struct {
	t     testing.TB
	calls atomic.Int32
}

func (f *fakeIssuer) Issue(_ context.Context, g grantserver.Grant, name, subject string) ([]byte, error) {
	f.calls.Add(1)
	return answer(f.t, name), nil
}

// tlsServer serves h on 127.0.0.1 with a certificate for 127.0.0.1 and
// returns its URL base and the CA PEM a token would carry.
func tlsServer(t *testing.T, h http.Handler) (string, string) {
	t.Helper()
	ca, err := certs.NewCA("skupper-grant-server-ca", 0, time.Now())
	require.NoError(t, err)
	srv, err := certs.Issue(ca, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth}, time.Now())
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(srv.Cert, srv.Key)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- grantserver.Serve(ctx, ln, h, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }, nil)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "https://" + ln.Addr().String(), string(ca.Cert)
}

func newServer(t *testing.T) (*grantserver.Server, *fakeIssuer, namespaces.Home, *bytes.Buffer) {
	t.Helper()
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Namespace("west").EnsureInput())
	var logs bytes.Buffer
	iss := &fakeIssuer{t: t}
	s := grantserver.New(iss, grantserver.FileStore{Home: home}, slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)))
	return s, iss, home, &logs
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func token(url, ca, code string) *v2alpha1.AccessToken {
	return &v2alpha1.AccessToken{
		TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindAccessToken},
		ObjectMeta: v2alpha1.ObjectMeta{Name: "token-to-west"},
		Spec:       v2alpha1.AccessTokenSpec{URL: url, Code: code, CA: ca},
	}
}

func grant(allowed int, expires time.Time) grantserver.Grant {
	return grantserver.Grant{Name: "grant-west", UID: uid, Code: "secret-code-123", Expires: expires, Allowed: allowed}
}

// TestUpstreamServerConformance plays an upstream Kubernetes grant server
// and checks that our client sends exactly the upstream request: POST,
// headers name and subject, the raw code as body, no Content-Type, TLS 1.3,
// and parses its answer.
func TestUpstreamServerConformance(t *testing.T) {
	var got struct {
		method, path, name, subject, ctype, body string
		tlsVersion                               uint16
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.path, got.body = r.Method, r.URL.Path, string(b)
		got.name, got.subject, got.ctype = r.Header.Get("name"), r.Header.Get("subject"), r.Header.Get("Content-Type")
		got.tlsVersion = r.TLS.Version
		_, _ = w.Write(answer(t, "token-to-west"))
	})
	base, ca := tlsServer(t, h)
	res, err := grantclient.Redeem(context.Background(), token(base+"/"+uid, ca, "secret-code-123"), "east", grantclient.Options{})
	require.NoError(t, err)
	require.Equal(t, http.MethodPost, got.method)
	require.Equal(t, "/"+uid, got.path)
	require.Equal(t, "token-to-west", got.name)
	require.Equal(t, "east", got.subject)
	require.Empty(t, got.ctype, "upstream sends no Content-Type")
	require.Equal(t, "secret-code-123", got.body, "the raw code, no newline")
	require.Equal(t, uint16(tls.VersionTLS13), got.tlsVersion)
	require.Equal(t, "token-to-west", res.Secret.Name)
	require.Len(t, res.Links, 1)
	require.Equal(t, v2alpha1.PortString("55671"), res.Links[0].Spec.Endpoints[0].Port)
}

// TestClientRefusalsAndTransients pins the error classes.
func TestClientRefusalsAndTransients(t *testing.T) {
	status := http.StatusNotFound
	msg := "No such claim"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, msg, status) })
	base, ca := tlsServer(t, h)
	redeem := func() error {
		_, err := grantclient.Redeem(context.Background(), token(base+"/"+uid, ca, "x"), "east", grantclient.Options{Timeout: 5 * time.Second})
		return err
	}
	err := redeem()
	require.EqualError(t, err, "Received HTTP Response 404: No such claim")
	require.False(t, grantclient.Retryable(err))
	status, msg = http.StatusServiceUnavailable, "Internal error"
	require.True(t, grantclient.Retryable(redeem()))

	// Redirects are not followed.
	status, msg = http.StatusFound, "moved"
	err = redeem()
	require.ErrorContains(t, err, "Received HTTP Response 302")

	// Unreachable: transient.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = grantclient.Redeem(context.Background(), token("https://"+addr+"/"+uid, ca, "x"), "east", grantclient.Options{Timeout: 2 * time.Second})
	require.True(t, grantclient.Retryable(err), "%v", err)

	// Not https, no CA: invalid.
	_, err = grantclient.Redeem(context.Background(), token("http://"+addr+"/"+uid, ca, "x"), "east", grantclient.Options{})
	require.EqualError(t, err, "token url scheme must be https")
	_, err = grantclient.Redeem(context.Background(), token(base+"/"+uid, "", "x"), "east", grantclient.Options{})
	require.EqualError(t, err, "token does not have a CA")
}

// TestClientRefusesWrongCAAndOldTLS checks trust and protocol version.
func TestClientRefusesWrongCAAndOldTLS(t *testing.T) {
	base, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(answer(t, "x")) }))
	other, err := certs.NewCA("someone-else", 0, time.Now())
	require.NoError(t, err)
	_, err = grantclient.Redeem(context.Background(), token(base+"/"+uid, string(other.Cert), "x"), "east", grantclient.Options{Timeout: 5 * time.Second})
	require.Error(t, err)
	require.False(t, grantclient.Retryable(err), "a CA mismatch is not transient: %v", err)

	// A TLS 1.2-only server is refused by the client.
	ca, err := certs.NewCA("ca", 0, time.Now())
	require.NoError(t, err)
	srv, err := certs.Issue(ca, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth}, time.Now())
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(srv.Cert, srv.Key)
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	hs := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	_, err = grantclient.Redeem(context.Background(), token("https://"+ln.Addr().String()+"/"+uid, string(ca.Cert), "x"), "east", grantclient.Options{Timeout: 5 * time.Second})
	require.ErrorContains(t, err, "protocol version")
}

// TestServerProtocol checks each compat status code and text, in order.
func TestServerProtocol(t *testing.T) {
	s, iss, _, _ := newServer(t)
	s.SetFailureLimit(100, time.Second) // this test fails on purpose many times
	base, ca := tlsServer(t, s)
	now := time.Now()
	s.SetGrants("west", []grantserver.Grant{grant(1, now.Add(time.Hour))})
	post := func(path, code string) (int, string) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(ca))
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer c.CloseIdleConnections()
		resp, err := c.Post(base+path, "", strings.NewReader(code))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	code, body := post("/00000000-0000-0000-0000-000000000000", "x")
	require.Equal(t, 404, code)
	require.Equal(t, "No such claim", body)
	code, body = post("/"+uid, "wrong")
	require.Equal(t, 403, code)
	require.Equal(t, "Redemption of access token refused", body)
	for _, p := range []string{"/../" + uid, "/x/" + uid, "/" + uid + "/..", "/%2e%2e%2f" + uid, "/" + uid + "%2f"} {
		code, body = post(p, "secret-code-123")
		require.Equal(t, 404, code, p)
		require.Equal(t, "No such claim", body, p)
	}
	code, _ = post("/"+uid, "secret-code-123")
	require.Equal(t, 200, code)
	require.EqualValues(t, 1, iss.calls.Load())
	code, body = post("/"+uid, "secret-code-123")
	require.Equal(t, 404, code)
	require.Equal(t, "No such access granted", body)

	s.SetGrants("west", []grantserver.Grant{grant(5, now.Add(-time.Second))})
	code, body = post("/"+uid, "secret-code-123")
	require.Equal(t, 404, code)
	require.True(t, strings.HasPrefix(body, "No such claim: this token expired at "), "expired: %s", body)

	// Only POST; oversized bodies refused.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(base + "/" + uid)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 405, resp.StatusCode)
	code, body = post("/"+uid, strings.Repeat("x", grantserver.MaxBodySize+1))
	require.Equal(t, 400, code)
	require.Equal(t, "Request body not valid", body)
}

// TestServerRefusesPlainHTTPAndOldTLS: the grant server speaks TLS 1.3 only.
func TestServerRefusesPlainHTTPAndOldTLS(t *testing.T) {
	s, _, _, _ := newServer(t)
	base, _ := tlsServer(t, s)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(strings.Replace(base, "https://", "http://", 1)+"/"+uid, "", strings.NewReader("x"))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 400, resp.StatusCode, "plain HTTP must not be served: %s", b)
		require.Contains(t, string(b), "HTTPS")
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}}}
	defer old.CloseIdleConnections()
	_, err = old.Post(base+"/"+uid, "", strings.NewReader("x"))
	require.ErrorContains(t, err, "protocol version")
}

// TestServerToClient redeems with our client against our server.
func TestServerToClient(t *testing.T) {
	s, _, _, logs := newServer(t)
	base, ca := tlsServer(t, s)
	s.SetGrants("west", []grantserver.Grant{grant(1, time.Now().Add(time.Hour))})
	res, err := grantclient.Redeem(context.Background(), token(base+"/"+uid, ca, "secret-code-123"), "east", grantclient.Options{})
	require.NoError(t, err)
	require.Equal(t, "token-to-west", res.Links[0].Name)
	_, err = grantclient.Redeem(context.Background(), token(base+"/"+uid, ca, "secret-code-123"), "east", grantclient.Options{})
	require.EqualError(t, err, "Received HTTP Response 404: No such access granted")
	require.NotContains(t, logs.String(), "secret-code-123", "codes never appear in logs")
}

// TestConcurrentRedemptionsExactlyOnce: 50 parallel redemptions of a grant
// allowing 10 → exactly 10 succeed; the count survives a restart.
func TestConcurrentRedemptionsExactlyOnce(t *testing.T) {
	s, iss, home, _ := newServer(t)
	base, ca := tlsServer(t, s)
	g := grant(10, time.Now().Add(time.Hour))
	s.SetGrants("west", []grantserver.Grant{g})
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := grantclient.Redeem(context.Background(), token(base+"/"+uid, ca, "secret-code-123"), "east", grantclient.Options{Timeout: 20 * time.Second})
			if err == nil {
				ok.Add(1)
			} else if strings.Contains(err.Error(), "No such access granted") {
				refused.Add(1)
			} else {
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 10, ok.Load())
	require.EqualValues(t, 40, refused.Load())
	require.EqualValues(t, 10, iss.calls.Load())
	g.Namespace = "west"
	n, err := grantserver.FileStore{Home: home}.Count(g)
	require.NoError(t, err)
	require.Equal(t, 10, n)

	// A new server over the same store (a restarted daemon) grants no more.
	s2 := grantserver.New(&fakeIssuer{t: t}, grantserver.FileStore{Home: home}, nil)
	base2, ca2 := tlsServer(t, s2)
	s2.SetGrants("west", []grantserver.Grant{g})
	_, err = grantclient.Redeem(context.Background(), token(base2+"/"+uid, ca2, "secret-code-123"), "east", grantclient.Options{})
	require.EqualError(t, err, "Received HTTP Response 404: No such access granted")
}

// TestWrongCodesThrottled: 1,000 wrong codes from one address are
// throttled after a burst; the right code is then throttled too until the
// bucket refills.
func TestWrongCodesThrottled(t *testing.T) {
	s, _, _, logs := newServer(t)
	base, ca := tlsServer(t, s)
	s.SetGrants("west", []grantserver.Grant{grant(1, time.Now().Add(time.Hour))})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca))
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	counts := map[int]int{}
	for i := 0; i < 1000; i++ {
		resp, err := c.Post(base+"/"+uid, "", strings.NewReader(fmt.Sprintf("guess-%d", i)))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		counts[resp.StatusCode]++
	}
	require.LessOrEqual(t, counts[403], 11, "only a burst of wrong codes is even checked: %v", counts)
	require.GreaterOrEqual(t, counts[429], 989, "%v", counts)
	// The right code still gets through the throttled address (at a
	// bounded rate: see TestThrottledAddressLetsCorrectCodesThrough).
	resp, err := c.Post(base+"/"+uid, "", strings.NewReader("secret-code-123"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NotContains(t, logs.String(), "guess-")
}

func TestFileStorePermissions(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Namespace("west").EnsureInput())
	st := grantserver.FileStore{Home: home}
	g := grant(3, time.Now())
	g.Namespace = "west"
	n, err := st.Record(g)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	entries, err := os.ReadDir(home.Namespace("west").InternalDir() + "/grants")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	fi, err := entries[0].Info()
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}
