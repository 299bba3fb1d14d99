package grantserver

import "github.com/skupperd/skupperd/api/v2alpha1"

// Info describes a running grant server, as AccessGrant status reports it.
type Info struct {
	// URL is the base of grant URLs, e.g. "https://host.example.com:9090".
	URL string
	// CA is the PEM certificate clients must trust (the grant server's CA).
	CA string
}

// LinkAccess is what answering a redemption of a namespace's grants needs
// about the site, as the namespace's last reconcile computed it: the
// reconcile reports it with the grants it serves, so that issuing a link
// reads no status file and always agrees with the grants being served.
type LinkAccess struct {
	// Edge is true for an edge site, which accepts no links.
	Edge bool
	// Endpoints are the site's link-access endpoints, as its status reports
	// them; links are issued for the inter-router and edge ones.
	Endpoints []v2alpha1.Endpoint
	// IssuersDir is the directory of the namespace's generated CAs, one
	// bundle directory per issuer name (runtime/issuers). A grant's link
	// certificate is signed by the CA named by its Issuer, else by
	// v2alpha1.DefaultSiteIssuer.
	IssuersDir string
}
