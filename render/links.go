package render

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// StaticLinkInput describes one static link file for a remote site.
type StaticLinkInput struct {
	// Name of the Link and its Secret, e.g. "link-west".
	Name string
	// Host is the endpoint host remote routers dial.
	Host string
	// InterRouterPort and EdgePort are the router ports; 0 leaves a role out.
	InterRouterPort int
	EdgePort        int
	Cost            int
	// Client credentials (PEM) signed by the site's CA, and that CA.
	CA, Cert, Key []byte
}

// StaticLink renders a Secret and a Link in the format upstream `skupper
// link generate` produces ("---", Secret, "---", Link), which a remote site —
// ours or upstream's, Kubernetes or not — applies unchanged.
func StaticLink(in StaticLinkInput) ([]byte, error) {
	if in.InterRouterPort == 0 && in.EdgePort == 0 {
		return nil, fmt.Errorf("static link %s: no router port", in.Name)
	}
	if v2alpha1.IsWildcardHost(in.Host) {
		return nil, fmt.Errorf("static link %s: %q is not an address remote sites can dial", in.Name, in.Host)
	}
	secret := &v2alpha1.Secret{
		TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.CoreVersion, Kind: v2alpha1.KindSecret},
		ObjectMeta: v2alpha1.ObjectMeta{Name: in.Name},
		Type:       v2alpha1.SecretTypeTLS,
		Data: map[string]string{
			v2alpha1.SecretKeyCA:   base64.StdEncoding.EncodeToString(in.CA),
			v2alpha1.SecretKeyCert: base64.StdEncoding.EncodeToString(in.Cert),
			v2alpha1.SecretKeyKey:  base64.StdEncoding.EncodeToString(in.Key),
		},
	}
	cost := in.Cost
	if cost < 1 {
		cost = 1
	}
	link := &v2alpha1.Link{
		TypeMeta:   v2alpha1.TypeMeta{APIVersion: v2alpha1.GroupVersion, Kind: v2alpha1.KindLink},
		ObjectMeta: v2alpha1.ObjectMeta{Name: in.Name},
		Spec:       v2alpha1.LinkSpec{Cost: cost, TLSCredentials: in.Name},
	}
	if in.InterRouterPort > 0 {
		link.Spec.Endpoints = append(link.Spec.Endpoints, v2alpha1.Endpoint{Name: v2alpha1.RoleInterRouter, Host: in.Host, Port: v2alpha1.PortString(strconv.Itoa(in.InterRouterPort))})
	}
	if in.EdgePort > 0 {
		link.Spec.Endpoints = append(link.Spec.Endpoints, v2alpha1.Endpoint{Name: v2alpha1.RoleEdge, Host: in.Host, Port: v2alpha1.PortString(strconv.Itoa(in.EdgePort))})
	}
	s, err := v2alpha1.Marshal(secret)
	if err != nil {
		return nil, err
	}
	l, err := v2alpha1.Marshal(link)
	if err != nil {
		return nil, err
	}
	out := append([]byte("---\n"), s...)
	out = append(out, "---\n"...)
	return append(out, l...), nil
}
