package grants

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantserver"
)

// IssueLink answers a redemption of grant g of a site whose link access
// is access: a fresh client certificate for subject, signed by the grant's
// issuer (g.Issuer, else v2alpha1.DefaultSiteIssuer) read from
// access.IssuersDir, and one Link named name (name-1, name-2... when there
// are several) per endpoint group of the site's inter-router and edge
// endpoints. The answer is the YAML stream upstream grant servers answer
// with: the Secret, then the Links, each document after a "---" line.
//
// The only file it reads is the issuer's bundle. Refusals the redeeming
// client must see are *grantserver.IssueError.
func IssueLink(access grantserver.LinkAccess, g grantserver.Grant, name, subject string, now time.Time) ([]byte, error) {
	if access.Edge {
		return nil, &grantserver.IssueError{Status: 500, Message: "Edge sites cannot accept incoming links from remote sites"}
	}
	groups := groupEndpoints(access.Endpoints)
	if len(groups.order) == 0 {
		return nil, &grantserver.IssueError{Status: 500, Message: "No valid endpoints found for site"}
	}
	issuer := g.Issuer
	if issuer == "" {
		issuer = v2alpha1.DefaultSiteIssuer
	}
	ca, err := certs.ReadDir(filepath.Join(access.IssuersDir, issuer))
	if err != nil {
		return nil, &grantserver.IssueError{Status: 500, Message: "Could not get issuer for requested certificate"}
	}
	client, err := certs.Issue(ca, certs.Request{CommonName: subject, Hosts: groups.hosts, Usage: certs.ClientAuth, Validity: certs.DefaultCAValidity}, now)
	if err != nil {
		return nil, fmt.Errorf("issue link certificate: %w", err)
	}
	return linkStream(name, ca.Cert, client, groups)
}

// endpointGroups are a site's link endpoints by group, in the order the
// groups first appear, and the sorted set of their hosts.
type endpointGroups struct {
	order  []string
	groups map[string][]v2alpha1.Endpoint
	hosts  []string
}

// groupEndpoints groups the inter-router and edge endpoints; others are
// not for links.
func groupEndpoints(endpoints []v2alpha1.Endpoint) endpointGroups {
	eg := endpointGroups{groups: map[string][]v2alpha1.Endpoint{}}
	hosts := map[string]bool{}
	for _, ep := range endpoints {
		if ep.Name != v2alpha1.RoleInterRouter && ep.Name != v2alpha1.RoleEdge {
			continue
		}
		if _, ok := eg.groups[ep.Group]; !ok {
			eg.order = append(eg.order, ep.Group)
		}
		eg.groups[ep.Group] = append(eg.groups[ep.Group], ep)
		hosts[ep.Host] = true
	}
	for h := range hosts {
		eg.hosts = append(eg.hosts, h)
	}
	sort.Strings(eg.hosts)
	return eg
}

// linkStream renders the answer: the kubernetes.io/tls Secret name holding
// caCert and client, then one Link per endpoint group using it.
func linkStream(name string, caCert []byte, client certs.Bundle, eg endpointGroups) ([]byte, error) {
	secret := &v2alpha1.Secret{
		TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.CoreVersion, Kind: v2alpha1.KindSecret},
		ObjectMeta: v2alpha1.ObjectMeta{Name: name},
		Type:       v2alpha1.SecretTypeTLS,
		// data (base64), not stringData: upstream clients read Data.
		Data: map[string]string{
			v2alpha1.SecretKeyCA:   base64.StdEncoding.EncodeToString(caCert),
			v2alpha1.SecretKeyCert: base64.StdEncoding.EncodeToString(client.Cert),
			v2alpha1.SecretKeyKey:  base64.StdEncoding.EncodeToString(client.Key),
		},
	}
	out, err := v2alpha1.Marshal(secret)
	if err != nil {
		return nil, err
	}
	out = append([]byte("---\n"), out...)
	for i, group := range eg.order {
		linkName := name
		if len(eg.order) > 1 {
			linkName = fmt.Sprintf("%s-%d", name, i+1)
		}
		link := &v2alpha1.Link{
			TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindLink},
			ObjectMeta: v2alpha1.ObjectMeta{Name: linkName},
			Spec:       v2alpha1.LinkSpec{Endpoints: eg.groups[group], TLSCredentials: name},
		}
		data, err := v2alpha1.Marshal(link)
		if err != nil {
			return nil, err
		}
		out = append(out, "---\n"...)
		out = append(out, data...)
	}
	return out, nil
}
