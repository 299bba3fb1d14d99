package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/internal/hostinfo"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/reconcile"
)

// DefaultGrantServerAddr is where the grant server listens by default (the
// port upstream grant servers use).
const DefaultGrantServerAddr = ":9090"

// GrantService is the daemon's grant server: one HTTPS server for every
// namespace's AccessGrants. Its CA lives in <data home>/grant-server/ca and
// is kept for as long as it is valid, because issued tokens carry it; its
// server certificate (grant-server/tls) names the advertise host and every
// address of this host, and is renewed automatically.
type GrantService struct {
	home      namespaces.Home
	addr      string
	advertise string
	hosts     []string
	log       *slog.Logger
	server    *grantserver.Server

	mu   sync.Mutex
	cert *tls.Certificate
	ca   []byte
	ln   net.Listener
	port int
}

// GrantServiceConfig configures a GrantService.
type GrantServiceConfig struct {
	Home namespaces.Home
	// Addr is the listen address (default ":9090").
	Addr string
	// AdvertiseHost is the host put in token URLs and link endpoints
	// (default: DefaultAdvertiseHost).
	AdvertiseHost string
	Logger        *slog.Logger
}

// DefaultAdvertiseHost returns the host's fully qualified name when it has
// one, else its first non-loopback address, else its short name.
func DefaultAdvertiseHost() string {
	name, _ := os.Hostname()
	if strings.Contains(name, ".") {
		return name
	}
	for _, h := range hostinfo.Hosts() {
		if _, err := netip.ParseAddr(h); err == nil {
			return h
		}
	}
	if name != "" {
		return name
	}
	return "127.0.0.1"
}

// AdvertisedHosts returns how remote sites reach this host: the advertise
// host first, then every other name and address.
func AdvertisedHosts(advertise string) []string {
	out := []string{advertise}
	for _, h := range hostinfo.Hosts() {
		if h != advertise {
			out = append(out, h)
		}
	}
	return out
}

// NewGrantService prepares the grant server's credentials. Serve listens.
func NewGrantService(cfg GrantServiceConfig) (*GrantService, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultGrantServerAddr
	}
	if cfg.AdvertiseHost == "" {
		cfg.AdvertiseHost = DefaultAdvertiseHost()
	}
	if msg := v2alpha1.ValidateHost(cfg.AdvertiseHost); msg != "" || v2alpha1.IsWildcardHost(cfg.AdvertiseHost) {
		return nil, fmt.Errorf("invalid advertise host %q: a name or address remote sites can reach is needed", cfg.AdvertiseHost)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &GrantService{home: cfg.Home, addr: cfg.Addr, advertise: cfg.AdvertiseHost, log: cfg.Logger}
	g.hosts = append(AdvertisedHosts(cfg.AdvertiseHost), "localhost", "127.0.0.1")
	g.server = grantserver.New(issuer{home: cfg.Home}, grantserver.FileStore{Home: cfg.Home}, cfg.Logger.With("component", "grant-server"))
	if err := g.Refresh(time.Now()); err != nil {
		return nil, err
	}
	return g, nil
}

// Refresh keeps the grant server's CA and certificate current; call it
// periodically (the daemon does on every resync).
func (g *GrantService) Refresh(now time.Time) error {
	dir := filepath.Join(g.home.Root, "grant-server")
	caDir, tlsDir := filepath.Join(dir, "ca"), filepath.Join(dir, "tls")
	ca, err := certs.ReadDir(caDir)
	if err != nil || certs.Check(ca, certs.CheckOptions{RequireKey: true, IsCA: true}, now) != nil {
		if ca, err = certs.NewCA("skupper-grant-server-ca", certs.DefaultCAValidity, now); err != nil {
			return fmt.Errorf("grant server CA: %w", err)
		}
		if _, err := certs.WriteDir(caDir, ca); err != nil {
			return err
		}
	}
	req := certs.Request{CommonName: g.advertise, Hosts: g.hosts, Usage: certs.ServerAuth}
	leaf, err := certs.ReadDir(tlsDir)
	if ok, _ := certs.Reusable(leaf, ca, req, now); err != nil || !ok {
		if leaf, err = certs.Issue(ca, req, now); err != nil {
			return fmt.Errorf("grant server certificate: %w", err)
		}
		if _, err := certs.WriteDir(tlsDir, leaf); err != nil {
			return err
		}
	}
	pair, err := tls.X509KeyPair(leaf.Cert, leaf.Key)
	if err != nil {
		return fmt.Errorf("grant server certificate: %w", err)
	}
	g.mu.Lock()
	g.cert, g.ca = &pair, ca.Cert
	g.mu.Unlock()
	return nil
}

// Listen binds the configured address, so that Info is known before the
// first reconcile. Serve listens itself if Listen was not called.
func (g *GrantService) Listen() error {
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		return fmt.Errorf("grant server: listen on %s: %w", g.addr, err)
	}
	g.mu.Lock()
	g.ln = ln
	g.port = ln.Addr().(*net.TCPAddr).Port
	g.mu.Unlock()
	return nil
}

// Serve serves until ctx ends.
func (g *GrantService) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	g.mu.Lock()
	ln := g.ln
	g.mu.Unlock()
	if ln == nil {
		if err := g.Listen(); err != nil {
			return err
		}
		g.mu.Lock()
		ln = g.ln
		g.mu.Unlock()
	}
	g.log.Info("grant server listening", "addr", ln.Addr().String(), "url", g.Info().URL)
	if ready != nil {
		ready(ln.Addr())
	}
	// Renew the server certificate well before it expires.
	go func() {
		t := time.NewTicker(12 * time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := g.Refresh(now); err != nil {
					g.log.Error("renew the grant server certificate", "error", err)
				}
			}
		}
	}()
	return grantserver.Serve(ctx, ln, g.server, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cert == nil {
			return nil, errors.New("no certificate")
		}
		return g.cert, nil
	}, g.log)
}

// Info describes the grant server for AccessGrant status; nil until it
// listens.
func (g *GrantService) Info() *reconcile.GrantServer {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.port == 0 {
		return nil
	}
	return &reconcile.GrantServer{
		URL: "https://" + net.JoinHostPort(g.advertise, strconv.Itoa(g.port)),
		CA:  string(g.ca),
	}
}

// SetGrants replaces the grants served for namespace ns.
func (g *GrantService) SetGrants(ns string, grants []grantserver.Grant) {
	g.server.SetGrants(ns, grants)
}

// AdvertiseHost is the host in token URLs and link endpoints.
func (g *GrantService) AdvertiseHost() string { return g.advertise }

// issuer answers redemptions from the namespace's runtime state.
type issuer struct{ home namespaces.Home }

func (i issuer) Issue(_ context.Context, g grantserver.Grant, name, subject string) ([]byte, error) {
	return reconcile.IssueLink(i.home.Namespace(g.Namespace), g, name, subject, time.Now())
}

// Redeem is the daemon's reconcile.Redeemer: grantclient with its defaults.
func Redeem(ctx context.Context, token *v2alpha1.AccessToken, subject string) (*grantclient.Result, error) {
	return grantclient.Redeem(ctx, token, subject, grantclient.Options{})
}
