package grants_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grants"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/namespaces"
)

// siteAccess makes a site CA under a fresh issuers directory and returns
// link access with the given endpoints.
func siteAccess(t *testing.T, endpoints ...v2alpha1.Endpoint) (grantserver.LinkAccess, certs.Bundle) {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA(v2alpha1.DefaultSiteIssuer, 0, time.Now())
	require.NoError(t, err)
	_, err = certs.WriteDir(filepath.Join(dir, v2alpha1.DefaultSiteIssuer), ca)
	require.NoError(t, err)
	return grantserver.LinkAccess{Endpoints: endpoints, IssuersDir: dir}, ca
}

func endpoint(role, host, port, group string) v2alpha1.Endpoint {
	return v2alpha1.Endpoint{Name: role, Host: host, Port: v2alpha1.PortString(port), Group: group}
}

// TestIssueLink: the answer is a Secret with a client certificate signed by
// the site CA, and one Link per endpoint group, from what the reconcile
// computed and nothing else on disk.
func TestIssueLink(t *testing.T) {
	access, ca := siteAccess(t,
		endpoint(v2alpha1.RoleInterRouter, "a.example.com", "55671", "one"),
		endpoint(v2alpha1.RoleEdge, "a.example.com", "45671", "one"),
		endpoint("other", "ignored.example.com", "1", "one"),
		endpoint(v2alpha1.RoleInterRouter, "10.0.0.1", "55672", "two"),
	)
	g := grantserver.Grant{Namespace: "west", Name: "g", UID: uuid.NewString()}
	out, err := grants.IssueLink(access, g, "to-west", "east", time.Now())
	require.NoError(t, err)
	docs, diags := v2alpha1.Decode("answer.yaml", out)
	require.False(t, diags.HasErrors(), diags)
	require.Len(t, docs, 3)
	secret := docs[0].Object.(*v2alpha1.Secret)
	require.Equal(t, "to-west", secret.Name)
	var b certs.Bundle
	b.CA, _ = secret.SecretValue(v2alpha1.SecretKeyCA)
	b.Cert, _ = secret.SecretValue(v2alpha1.SecretKeyCert)
	b.Key, _ = secret.SecretValue(v2alpha1.SecretKeyKey)
	require.Equal(t, ca.Cert, b.CA)
	require.NoError(t, certs.Check(b, certs.CheckOptions{RequireCA: true, RequireCert: true, RequireKey: true}, time.Now()))
	l1, l2 := docs[1].Object.(*v2alpha1.Link), docs[2].Object.(*v2alpha1.Link)
	require.Equal(t, "to-west-1", l1.Name)
	require.Len(t, l1.Spec.Endpoints, 2)
	require.Equal(t, "to-west-2", l2.Name)
	require.Equal(t, "10.0.0.1", l2.Spec.Endpoints[0].Host)
	require.Equal(t, "to-west", l2.Spec.TLSCredentials)
}

// TestIssueLinkRefusals: what the client sees when a link cannot be issued.
func TestIssueLinkRefusals(t *testing.T) {
	g := grantserver.Grant{Namespace: "west", Name: "g", UID: uuid.NewString()}
	ep := endpoint(v2alpha1.RoleInterRouter, "a.example.com", "55671", "one")
	refusal := func(access grantserver.LinkAccess, g grantserver.Grant) string {
		_, err := grants.IssueLink(access, g, "n", "east", time.Now())
		var ie *grantserver.IssueError
		require.True(t, errors.As(err, &ie), "%v", err)
		require.Equal(t, 500, ie.Status)
		return ie.Message
	}
	access, _ := siteAccess(t, ep)
	edge := access
	edge.Edge = true
	require.Equal(t, "Edge sites cannot accept incoming links from remote sites", refusal(edge, g))
	none, _ := siteAccess(t, endpoint("normal", "a", "1", "one"))
	require.Equal(t, "No valid endpoints found for site", refusal(none, g))
	other := g
	other.Issuer = "missing-ca"
	require.Equal(t, "Could not get issuer for requested certificate", refusal(access, other))
}

// TestServiceServesWhatSetGrantsGave redeems through a real Service: it
// answers with the link access given with the grants, and a namespace
// whose access is unknown is refused as one without a Site.
func TestServiceServesWhatSetGrantsGave(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Namespace("west").EnsureInput())
	svc, err := grants.New(grants.Config{Home: home, Addr: "127.0.0.1:0", AdvertiseHost: "127.0.0.1"})
	require.NoError(t, err)
	require.Nil(t, svc.Info())
	require.NoError(t, svc.Listen())
	info := svc.Info()
	require.NotNil(t, info)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, func(net.Addr) {}) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	access, _ := siteAccess(t, endpoint(v2alpha1.RoleInterRouter, "a.example.com", "55671", "one"))
	g := grantserver.Grant{Name: "g", UID: uuid.NewString(), Code: "code", Expires: time.Now().Add(time.Hour), Allowed: 10}
	tok := &v2alpha1.AccessToken{
		TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindAccessToken},
		ObjectMeta: v2alpha1.ObjectMeta{Name: "t"},
		Spec:       v2alpha1.AccessTokenSpec{URL: info.URL + "/" + g.UID, Code: g.Code, CA: info.CA},
	}
	svc.SetGrants("west", []grantserver.Grant{g}, access)
	res, err := grants.Redeem(ctx, tok, "east")
	require.NoError(t, err)
	require.Len(t, res.Links, 1)
	require.Equal(t, "a.example.com", res.Links[0].Spec.Endpoints[0].Host)

	svc.SetGrants("west", []grantserver.Grant{g})
	_, err = grantclient.Redeem(ctx, tok, "east", grantclient.Options{})
	require.ErrorContains(t, err, "Site not yet defined for west")
}

// TestNewSweepsInterruptedWrites: a temporary file left in the grant
// server's directory by a write that a crash interrupted is removed when
// the service starts; the credentials are written whole.
func TestNewSweepsInterruptedWrites(t *testing.T) {
	home := namespaces.NewHome(t.TempDir())
	caDir := filepath.Join(home.Root, "grant-server", "ca")
	require.NoError(t, os.MkdirAll(caDir, 0o700))
	left := filepath.Join(caDir, ".ca.crt.tmp-2616402399")
	require.NoError(t, os.WriteFile(left, []byte("-----BEGIN CERT"), 0o600))
	old := time.Now().Add(-time.Minute)
	require.NoError(t, os.Chtimes(left, old, old))
	_, err := grants.New(grants.Config{Home: home, Addr: "127.0.0.1:0", AdvertiseHost: "127.0.0.1"})
	require.NoError(t, err)
	require.NoFileExists(t, left)
	require.FileExists(t, filepath.Join(caDir, "ca.crt"))
}
