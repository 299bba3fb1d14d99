package reconcile_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grants"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/reconcile"
)

// linkingEnv runs a real grant server on 127.0.0.1 for a data home.
type linkingEnv struct {
	home   namespaces.Home
	server *grantserver.Server
	info   *grantserver.Info
	alloc  *ports.Allocator
	now    time.Time
	issued atomic.Int32
	// ahead moves the issuing time of link certificates forward.
	ahead atomic.Int64

	mu     sync.Mutex
	access map[string]grantserver.LinkAccess // as the daemon hands it to the grants service
}

type issuerFunc func(ctx context.Context, g grantserver.Grant, name, subject string) ([]byte, error)

func (f issuerFunc) Issue(ctx context.Context, g grantserver.Grant, name, subject string) ([]byte, error) {
	return f(ctx, g, name, subject)
}

func newLinkingEnv(t testing.TB) *linkingEnv {
	t.Helper()
	e := &linkingEnv{home: namespaces.NewHome(t.TempDir()), now: time.Now(), access: map[string]grantserver.LinkAccess{}}
	e.alloc = ports.New(e.home, ports.WithProbe(func(string, int) bool { return true }))
	e.server = grantserver.New(issuerFunc(func(_ context.Context, g grantserver.Grant, name, subject string) ([]byte, error) {
		e.issued.Add(1)
		e.mu.Lock()
		access := e.access[g.Namespace]
		e.mu.Unlock()
		return grants.IssueLink(access, g, name, subject, time.Now().Add(time.Duration(e.ahead.Load())))
	}), grantserver.FileStore{Home: e.home}, nil)
	ca, err := certs.NewCA("skupper-grant-server-ca", 0, e.now)
	require.NoError(t, err)
	srv, err := certs.Issue(ca, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth}, e.now)
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(srv.Cert, srv.Key)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- grantserver.Serve(ctx, ln, e.server, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }, nil)
	}()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	e.info = &grantserver.Info{URL: "https://" + ln.Addr().String(), CA: string(ca.Cert)}
	return e
}

func (e *linkingEnv) write(t testing.TB, ns, file, content string) {
	t.Helper()
	n := e.home.Namespace(ns)
	require.NoError(t, n.EnsureInput())
	require.NoError(t, os.WriteFile(filepath.Join(n.InputResourcesDir(), file), []byte(content), 0o600))
}

func (e *linkingEnv) reconcile(t testing.TB, ns string) *reconcile.Result {
	t.Helper()
	res, err := reconcile.Run(context.Background(), e.home.Namespace(ns), reconcile.Options{
		Hosts: func() []string { return []string{"127.0.0.1"} }, Version: "test", Ports: e.alloc,
		Grants: e.info,
		Redeem: func(ctx context.Context, tok *v2alpha1.AccessToken, subject string) (*grantclient.Result, error) {
			return grantclient.Redeem(ctx, tok, subject, grantclient.Options{Timeout: 10 * time.Second})
		},
	})
	require.NoError(t, err)
	if res.Outcome == reconcile.Applied {
		e.mu.Lock()
		e.access[ns] = res.LinkAccess
		e.mu.Unlock()
		e.server.SetGrants(ns, res.Grants)
	}
	return res
}

func readStatus[T v2alpha1.Object](t *testing.T, ns namespaces.Namespace, kind, name string) T {
	t.Helper()
	obj, err := ns.ReadStatus(v2alpha1.Key{Kind: kind, Name: name})
	require.NoError(t, err)
	return obj.(T)
}

// tokenFromGrant writes what `skupper token issue` writes.
func tokenFromGrant(g *v2alpha1.AccessGrant, name string) string {
	var b strings.Builder
	b.WriteString("apiVersion: skupper.io/v2alpha1\nkind: AccessToken\nmetadata:\n  name: " + name + "\nspec:\n")
	b.WriteString("  url: " + g.Status.URL + "\n  code: " + g.Status.Code + "\n  linkCost: 3\n  ca: |\n")
	for _, l := range strings.Split(strings.TrimSpace(g.Status.CA), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// TestTokenIssueAndRedeem links east to west through west's grant server:
// the Link lands in east's input with west's link-access endpoints, its
// certificate verifies against west's site CA, east's router config holds
// the connector, and no later reconcile redeems again.
func TestTokenIssueAndRedeem(t *testing.T) {
	e := newLinkingEnv(t)
	e.write(t, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n---\napiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: grant-west\nspec:\n  redemptionsAllowed: 1\n")
	e.write(t, "east", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: east\n")
	require.Equal(t, reconcile.Applied, e.reconcile(t, "west").Outcome)
	west, east := e.home.Namespace("west"), e.home.Namespace("east")
	g := readStatus[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, "grant-west")
	require.Equal(t, v2alpha1.StatusReady, g.Status.StatusType, g.Status.Message)
	require.Len(t, g.Status.Code, 24)
	require.True(t, strings.HasPrefix(g.Status.URL, e.info.URL+"/"))
	require.NotEmpty(t, g.Status.ExpirationTime)

	e.write(t, "east", "token.yaml", tokenFromGrant(g, "token-to-west"))
	require.Equal(t, reconcile.Applied, e.reconcile(t, "east").Outcome)
	tok := readStatus[*v2alpha1.AccessToken](t, east, v2alpha1.KindAccessToken, "token-to-west")
	require.True(t, tok.Status.Redeemed, tok.Status.Message)
	require.Equal(t, v2alpha1.StatusReady, tok.Status.StatusType)

	// The Link is input now, with west's endpoints and the token's cost.
	link := readStatus[*v2alpha1.Link](t, east, v2alpha1.KindLink, "token-to-west")
	require.Equal(t, 3, link.Spec.Cost)
	westSite := readStatus[*v2alpha1.Site](t, west, v2alpha1.KindSite, "west")
	require.Equal(t, westSite.Status.Endpoints, link.Spec.Endpoints)
	_, err := os.Stat(filepath.Join(east.InputResourcesDir(), "Link-token-to-west.yaml"))
	require.NoError(t, err)
	cfg, err := os.ReadFile(east.RouterConfigPath())
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"name": "link/token-to-west"`)
	require.Contains(t, string(cfg), `"port": "`+string(westSite.Status.Endpoints[0].Port)+`"`)

	// The certificate verifies against west's site CA.
	siteCA, err := certs.ReadDir(west.RuntimeIssuerDir(reconcile.SiteCA))
	require.NoError(t, err)
	cl, err := certs.ReadDir(east.InputCertDir("token-to-west"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(siteCA.Cert)
	blk, _ := pem.Decode(cl.Cert)
	crt, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	_, err = crt.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	require.Equal(t, "east", crt.Subject.CommonName)

	// Reconciling again (a resync, a reload, a restart) redeems nothing.
	for i := 0; i < 3; i++ {
		e.reconcile(t, "east")
	}
	require.EqualValues(t, 1, e.issued.Load())
	e.reconcile(t, "west")
	g = readStatus[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, "grant-west")
	require.Equal(t, 1, g.Status.Redemptions)

	// A second site redeeming the single-use token is refused with the
	// compat message, shown verbatim, and not retried.
	e.write(t, "south", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: south\n")
	e.write(t, "south", "token.yaml", tokenFromGrant(g, "token-to-west"))
	e.reconcile(t, "south")
	south := e.home.Namespace("south")
	tok = readStatus[*v2alpha1.AccessToken](t, south, v2alpha1.KindAccessToken, "token-to-west")
	require.Equal(t, v2alpha1.StatusError, tok.Status.StatusType)
	require.Contains(t, tok.Status.Message, "Redemption refused: this token has already been used")
	require.Contains(t, tok.Status.Message, "remove it by deleting input/resources/")
	e.reconcile(t, "south")
	require.EqualValues(t, 1, e.issued.Load())

	// A wrong code → 403.
	bad := strings.Replace(tokenFromGrant(g, "guess"), g.Status.Code, "wrongcode", 1)
	e.write(t, "south", "token.yaml", bad)
	e.reconcile(t, "south")
	tok = readStatus[*v2alpha1.AccessToken](t, south, v2alpha1.KindAccessToken, "guess")
	require.Contains(t, tok.Status.Message, "this token has already been used", "redemptions are checked before the code, as upstream")
}

// TestExpiredAndEdgeGrants: an expired grant refuses with the compat
// message; an edge site refuses to serve grants at all.
func TestExpiredAndEdgeGrants(t *testing.T) {
	e := newLinkingEnv(t)
	e.write(t, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n---\napiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: quick\nspec:\n  expirationWindow: 1ms\n")
	e.write(t, "east", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: east\n")
	e.reconcile(t, "west")
	g := readStatus[*v2alpha1.AccessGrant](t, e.home.Namespace("west"), v2alpha1.KindAccessGrant, "quick")
	deadline := time.Now().Add(5 * time.Second)
	exp, err := time.Parse(time.RFC3339, g.Status.ExpirationTime)
	require.NoError(t, err)
	for time.Now().Before(exp.Add(time.Second)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // waiting for wall-clock expiry itself
	}
	e.write(t, "east", "token.yaml", tokenFromGrant(g, "late"))
	e.reconcile(t, "east")
	tok := readStatus[*v2alpha1.AccessToken](t, e.home.Namespace("east"), v2alpha1.KindAccessToken, "late")
	require.Contains(t, tok.Status.Message, "Redemption refused: this token expired at "+g.Status.ExpirationTime)

	e.write(t, "edge", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: edge\nspec:\n  edge: true\n---\napiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: g\n")
	e.reconcile(t, "edge")
	eg := readStatus[*v2alpha1.AccessGrant](t, e.home.Namespace("edge"), v2alpha1.KindAccessGrant, "g")
	require.Equal(t, v2alpha1.StatusError, eg.Status.StatusType)
	require.Equal(t, "Edge sites cannot accept incoming links from remote sites", eg.Status.Message)
}

// BenchmarkRedemptionRoundTrip measures issue → redeem → Link written on
// loopback: a new AccessGrant reconciled at west, its token written to
// east's input and east reconciled (which redeems it over HTTPS and writes
// the Link). It reports the p50 and p99 of the round trip.
func BenchmarkRedemptionRoundTrip(b *testing.B) {
	e := newLinkingEnv(b)
	e.write(b, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	e.write(b, "east", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: east\n")
	e.reconcile(b, "west")
	e.reconcile(b, "east")
	west, east := e.home.Namespace("west"), e.home.Namespace("east")
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		name := fmt.Sprintf("g%d", i)
		e.write(b, "west", name+".yaml", "apiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: "+name+"\n")
		e.reconcile(b, "west")
		obj, err := west.ReadStatus(v2alpha1.Key{Kind: v2alpha1.KindAccessGrant, Name: name})
		if err != nil {
			b.Fatal(err)
		}
		e.write(b, "east", "token-"+name+".yaml", tokenFromGrant(obj.(*v2alpha1.AccessGrant), "t"+name))
		e.reconcile(b, "east")
		if _, err := os.Stat(east.InputPath(v2alpha1.Key{Kind: v2alpha1.KindLink, Name: "t" + name})); err != nil {
			b.Fatalf("no link written: %v", err)
		}
		times = append(times, time.Since(start))
		// Back to a site with no grant, token or link, so that every
		// iteration measures the same round trip.
		b.StopTimer()
		for _, f := range []string{
			filepath.Join(west.InputResourcesDir(), name+".yaml"),
			filepath.Join(east.InputResourcesDir(), "token-"+name+".yaml"),
			east.InputPath(v2alpha1.Key{Kind: v2alpha1.KindLink, Name: "t" + name}),
		} {
			if err := os.Remove(f); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.RemoveAll(east.InputCertDir("t" + name)); err != nil {
			b.Fatal(err)
		}
		e.reconcile(b, "west")
		e.reconcile(b, "east")
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}

// newSkewedEnv is a linking environment whose grant server issues client
// certificates valid from ahead seconds in the future (upstream sets
// NotBefore to its "now"; a server clock ahead of ours does the rest).
func newSkewedEnv(t *testing.T, ahead time.Duration) *linkingEnv {
	e := newLinkingEnv(t)
	// certs.Issue backdates NotBefore by certs.ClockSkew.
	e.ahead.Store(int64(certs.ClockSkew + ahead))
	return e
}

// redeemOnce issues a grant in west and redeems it from a fresh site; it
// returns the token's and the Link's status.
func (e *linkingEnv) redeemOnce(t *testing.T, i int) (*v2alpha1.AccessToken, *v2alpha1.Link) {
	t.Helper()
	grant := fmt.Sprintf("grant-%d", i)
	e.write(t, "west", grant+".yaml", "apiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: "+grant+"\n")
	require.Equal(t, reconcile.Applied, e.reconcile(t, "west").Outcome)
	g := readStatus[*v2alpha1.AccessGrant](t, e.home.Namespace("west"), v2alpha1.KindAccessGrant, grant)
	ns := fmt.Sprintf("east%d", i)
	e.write(t, ns, "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: "+ns+"\n")
	e.write(t, ns, "token.yaml", tokenFromGrant(g, "to-west"))
	e.reconcile(t, ns)
	tok := readStatus[*v2alpha1.AccessToken](t, e.home.Namespace(ns), v2alpha1.KindAccessToken, "to-west")
	link := readStatus[*v2alpha1.Link](t, e.home.Namespace(ns), v2alpha1.KindLink, "to-west")
	return tok, link
}

// TestRedeemCertificateValidSoon: a grant server whose certificates
// become valid a few seconds after the answer (upstream: NotBefore = now)
// links every time; one valid only in an hour still keeps what the server
// sent (the grant is spent) and the Link says what is wrong.
func TestRedeemCertificateValidSoon(t *testing.T) {
	e := newSkewedEnv(t, 3*time.Second)
	e.write(t, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	for i := range 8 {
		tok, link := e.redeemOnce(t, i)
		require.True(t, tok.Status.Redeemed, tok.Status.Message)
		require.NotEqual(t, v2alpha1.StatusError, link.Status.StatusType, link.Status.Message)
		require.NotContains(t, link.Status.Message, "not valid until")
	}
	require.EqualValues(t, 8, e.issued.Load())

	late := newSkewedEnv(t, time.Hour)
	late.write(t, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	tok, link := late.redeemOnce(t, 0)
	require.True(t, tok.Status.Redeemed, tok.Status.Message)
	require.Equal(t, v2alpha1.StatusError, link.Status.StatusType)
	require.Contains(t, link.Status.Message, "tls.crt is not valid until")
	_, err := certs.ReadDir(late.home.Namespace("east0").InputCertDir("to-west"))
	require.NoError(t, err, "the credentials the server sent are kept")
}

// TestRedemptionFinishedFromKeptAnswer: when storing a redemption's answer
// fails after the server counted it (here a Link of the same name is in
// the way; a crash is the same), the answer kept in internal/tokens
// finishes the job later without a second redemption.
func TestRedemptionFinishedFromKeptAnswer(t *testing.T) {
	e := newLinkingEnv(t)
	e.write(t, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	e.write(t, "east0", "link.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: to-west\nspec:\n  endpoints:\n  - name: inter-router\n    host: 127.0.0.1\n    port: \"9\"\n  tlsCredentials: other\n")
	tok, _ := e.redeemOnce(t, 0)
	require.False(t, tok.Status.Redeemed)
	require.Contains(t, tok.Status.Message, "Redeemed, but the answer cannot be stored yet")
	east := e.home.Namespace("east0")
	rec, err := os.ReadFile(filepath.Join(east.InternalDir(), "tokens", "to-west.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(rec), "kind: Secret")
	require.NoError(t, os.Remove(filepath.Join(east.InputResourcesDir(), "link.yaml")))
	e.reconcile(t, "east0")
	tok = readStatus[*v2alpha1.AccessToken](t, east, v2alpha1.KindAccessToken, "to-west")
	require.True(t, tok.Status.Redeemed, tok.Status.Message)
	link := readStatus[*v2alpha1.Link](t, east, v2alpha1.KindLink, "to-west")
	require.Equal(t, "to-west", link.Spec.TLSCredentials)
	require.EqualValues(t, 1, e.issued.Load())
	rec, err = os.ReadFile(filepath.Join(east.InternalDir(), "tokens", "to-west.yaml"))
	require.NoError(t, err)
	require.NotContains(t, string(rec), "tls.key", "the key is dropped from the record once stored as input")
}

// TestNextChange: a reconcile reports when its status goes stale by time
// alone: the earliest grant expiration, or a certificate's validity
// changing (a user's certificate expiring, a generated one due for
// renewal), whichever comes first.
func TestNextChange(t *testing.T) {
	e := newLinkingEnv(t)
	e.write(t, "west", "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\nspec:\n  linkAccess: default\n")
	res := e.reconcile(t, "west")
	require.False(t, res.NextChange.IsZero(), "generated certificates are renewed some day")
	require.True(t, res.NextChange.After(time.Now().Add(24*time.Hour)), "no generated certificate is due within a day: %s", res.NextChange)

	e.write(t, "west", "grants.yaml", "apiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: later\nspec:\n  expirationWindow: 1h\n---\napiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: sooner\nspec:\n  expirationWindow: 30m\n")
	res = e.reconcile(t, "west")
	g := readStatus[*v2alpha1.AccessGrant](t, e.home.Namespace("west"), v2alpha1.KindAccessGrant, "sooner")
	exp, err := time.Parse(time.RFC3339, g.Status.ExpirationTime)
	require.NoError(t, err)
	require.True(t, res.NextChange.Equal(exp), "NextChange %s, want the sooner grant's expiration %s", res.NextChange, exp)

	// A Listener's own certificate, valid for 10 more minutes.
	ca, err := certs.NewCA("user-ca", time.Hour, time.Now())
	require.NoError(t, err)
	leaf, err := certs.Issue(ca, certs.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Usage: certs.ServerAuth, Validity: 10 * time.Minute}, time.Now())
	require.NoError(t, err)
	_, err = certs.WriteDir(e.home.Namespace("west").InputCertDir("short"), certs.Bundle{Cert: leaf.Cert, Key: leaf.Key})
	require.NoError(t, err)
	e.write(t, "west", "listener.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l\nspec:\n  routingKey: k\n  host: 127.0.0.1\n  port: 9090\n  tlsCredentials: short\n")
	res = e.reconcile(t, "west")
	want := certs.NextChange(time.Now(), leaf.Cert)
	require.True(t, want.Before(exp))
	require.True(t, res.NextChange.Equal(want), "NextChange %s, want the listener certificate's %s", res.NextChange, want)
}
