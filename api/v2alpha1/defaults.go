package v2alpha1

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Default names used when a resource leaves them unset.
const (
	DefaultSiteIssuer = "skupper-site-ca"
	DefaultLinkCost   = 1
)

// SetDefaults fills in the documented defaults of obj in place. site is the
// namespace's Site (may be nil); it supplies defaultIssuer where a kind's
// own issuer is unset. Defaults are applied after validation, so status files
// show the resource as applied.
func SetDefaults(obj Object, site *Site) {
	siteIssuer := DefaultSiteIssuer
	if site != nil && site.Spec.DefaultIssuer != "" {
		siteIssuer = site.Spec.DefaultIssuer
	}
	switch o := obj.(type) {
	case *Site:
		if o.Spec.LinkAccess == LinkAccessRoute || o.Spec.LinkAccess == LinkAccessLoadBalancer {
			o.Spec.LinkAccess = LinkAccessDefault
		}
	case *Link:
		if o.Spec.Cost == 0 {
			o.Spec.Cost = DefaultLinkCost
		}
		if o.Spec.TLSCredentials == "" {
			o.Spec.TLSCredentials = o.Name
		}
	case *RouterAccess:
		if o.Spec.TLSCredentials == "" {
			o.Spec.TLSCredentials = o.Name
		}
		if o.Spec.Issuer == "" {
			o.Spec.Issuer = siteIssuer
		}
	case *AccessGrant:
		if o.Spec.RedemptionsAllowed == 0 {
			o.Spec.RedemptionsAllowed = DefaultRedemptionsAllowed
		}
		if o.Spec.ExpirationWindow == "" {
			o.Spec.ExpirationWindow = DefaultExpirationWindow
		}
		if o.Spec.Issuer == "" {
			o.Spec.Issuer = siteIssuer
		}
	case *AccessToken:
		if o.Spec.LinkCost == 0 {
			o.Spec.LinkCost = DefaultLinkCost
		}
	case *Secret:
		if o.Type == "" {
			o.Type = SecretTypeTLS
		}
	}
}

// Marshal renders an object as YAML (field order: apiVersion, kind,
// metadata, spec, status — the JSON tags' names in sorted order, which is
// also the conventional order).
func Marshal(obj Object) ([]byte, error) {
	b, err := MarshalYAML(obj)
	if err != nil {
		k := KeyOf(obj)
		return nil, fmt.Errorf("encode %s: %w", k, err)
	}
	return b, nil
}

// DeepCopy returns an independent copy of obj.
func DeepCopy(obj Object) Object {
	b, err := yaml.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("v2alpha1: cannot encode %T: %v", obj, err))
	}
	out, _ := New(obj.GetTypeMeta().Kind)
	if err := yaml.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("v2alpha1: cannot decode %T: %v", obj, err))
	}
	return out
}
