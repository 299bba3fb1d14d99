// Package grants serves this host's AccessGrants: one HTTPS grant server
// (package grantserver speaks the protocol) for every namespace, its CA and
// certificate, and the answer to a redemption — a client certificate and
// Links for the site's link-access endpoints.
//
// It does not reconcile: what it serves for a namespace is what that
// namespace's last reconcile computed (the grants and their
// grantserver.LinkAccess), handed over by the daemon with SetGrants. It
// never reads a status file.
package grants

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
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/internal/hostinfo"
	"github.com/skupperd/skupperd/namespaces"
)

// DefaultAddr is where the grant server listens by default (the port
// upstream grant servers use).
const DefaultAddr = ":9090"

// Service is the grant server of a data home: one HTTPS server for every
// namespace's AccessGrants. Its CA lives in <data home>/grant-server/ca and
// is kept for as long as it is valid, because issued tokens carry it; its
// server certificate (grant-server/tls) names the advertise host and every
// address of this host, and is renewed automatically. Its methods are safe
// for concurrent use.
type Service struct {
	home      namespaces.Home
	addr      string
	advertise string
	hosts     []string
	log       *slog.Logger
	server    *grantserver.Server

	mu     sync.Mutex
	cert   *tls.Certificate
	ca     []byte
	ln     net.Listener
	port   int
	access map[string]grantserver.LinkAccess // by namespace
}

// Config configures a Service.
type Config struct {
	Home namespaces.Home
	// Addr is the listen address (default DefaultAddr).
	Addr string
	// AdvertiseHost is the host put in token URLs and link endpoints
	// (default: DefaultAdvertiseHost).
	AdvertiseHost string
	Logger        *slog.Logger
	// OnRedeemed, when set, is called with the namespace of a grant once a
	// redemption of it is counted, so that its status (redemptions, and
	// Ready once used up) is refreshed right away.
	OnRedeemed func(ns string)
}

// countingStore is the grant server's durable store that reports each
// counted redemption.
type countingStore struct {
	grantserver.FileStore
	onRedeemed func(ns string)
}

// Record implements grantserver.Store.
func (s countingStore) Record(g grantserver.Grant) (int, error) {
	n, err := s.FileStore.Record(g)
	if err == nil && s.onRedeemed != nil {
		s.onRedeemed(g.Namespace)
	}
	return n, err
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

// New prepares the grant server's credentials (see Refresh); it serves no
// grant until SetGrants, and does not listen until Listen or Serve.
func New(cfg Config) (*Service, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
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
	g := &Service{home: cfg.Home, addr: cfg.Addr, advertise: cfg.AdvertiseHost, log: cfg.Logger, access: map[string]grantserver.LinkAccess{}}
	g.hosts = append(AdvertisedHosts(cfg.AdvertiseHost), "localhost", "127.0.0.1")
	store := countingStore{FileStore: grantserver.FileStore{Home: cfg.Home}, onRedeemed: cfg.OnRedeemed}
	g.server = grantserver.New(issuer{g}, store, cfg.Logger.With("component", "grant-server"))
	g.server.SetStarting(true)
	// Its credentials are written only here and by Refresh, in the one
	// daemon of the data home: a temporary file already there was left by
	// a write that a crash interrupted.
	atomicfile.SweepTemp(filepath.Join(g.home.Root, "grant-server"), time.Now(), func(path string, err error) {
		if err != nil {
			g.log.Warn("cannot remove a temporary file left by an interrupted write", "file", path, "error", err)
		} else {
			g.log.Info("removed a temporary file left by an interrupted write", "file", path)
		}
	})
	if err := g.Refresh(time.Now()); err != nil {
		return nil, err
	}
	return g, nil
}

// Refresh keeps the grant server's CA and certificate current; call it
// periodically (Serve does, twice a day). The CA is replaced only once it
// no longer passes certs.Check; the certificate whenever certs.EnsureLeaf
// finds it not reusable (renewal due, names changed, new CA).
func (g *Service) Refresh(now time.Time) error {
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
	leaf, _, err := certs.EnsureLeaf(tlsDir, ca, req, now)
	if errors.Is(err, certs.ErrIssue) {
		return fmt.Errorf("grant server certificate: %w", err)
	}
	if err != nil {
		return err
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

// SetReady says that every namespace has handed over its grants: from
// now on an unknown grant is answered 404 "No such claim" (before, 503
// with Retry-After, so that a client redeeming right after a restart
// tries again instead of giving the token up).
func (g *Service) SetReady() { g.server.SetStarting(false) }

// Close closes the listener bound by Listen when Serve will not run.
func (g *Service) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		_ = g.ln.Close()
		g.ln, g.port = nil, 0
	}
}

// Listen binds the configured address, so that Info is known before the
// first reconcile. Serve listens itself if Listen was not called. A
// second call does nothing.
func (g *Service) Listen() error {
	g.mu.Lock()
	bound := g.ln != nil
	g.mu.Unlock()
	if bound {
		return nil
	}
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

// Serve serves until ctx ends, renewing the certificate meanwhile. ready,
// when not nil, is called with the listening address before serving.
func (g *Service) Serve(ctx context.Context, ready func(addr net.Addr)) error {
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
	go g.renew(ctx)
	return grantserver.Serve(ctx, ln, g.server, g.certificate, g.log)
}

// renew refreshes the server certificate every 12 hours, well before it
// expires, until ctx ends.
func (g *Service) renew(ctx context.Context) {
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
}

// certificate returns the current server certificate (tls.Config's
// GetCertificate).
func (g *Service) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cert == nil {
		return nil, errors.New("no certificate")
	}
	return g.cert, nil
}

// Info describes the grant server for AccessGrant status; nil until it
// listens.
func (g *Service) Info() *grantserver.Info {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.port == 0 {
		return nil
	}
	return &grantserver.Info{
		URL: "https://" + net.JoinHostPort(g.advertise, strconv.Itoa(g.port)),
		CA:  string(g.ca),
	}
}

// SetGrants replaces the grants served for namespace ns, and what issuing
// their links needs: access, as the same reconcile computed it (only the
// first is used). Without access, or with no grants, the namespace's
// access is forgotten, and a redemption of one of its grants is refused
// as for a namespace with no Site.
func (g *Service) SetGrants(ns string, grants []grantserver.Grant, access ...grantserver.LinkAccess) {
	g.mu.Lock()
	if len(grants) > 0 && len(access) > 0 {
		g.access[ns] = access[0]
	} else {
		delete(g.access, ns)
	}
	g.mu.Unlock()
	g.server.SetGrants(ns, grants)
}

// AdvertiseHost is the host in token URLs and link endpoints.
func (g *Service) AdvertiseHost() string { return g.advertise }

// linkAccess returns what the last SetGrants recorded for namespace ns.
func (g *Service) linkAccess(ns string) (grantserver.LinkAccess, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.access[ns]
	return a, ok
}

// issuer answers the grant server's redemptions from what SetGrants
// recorded.
type issuer struct{ s *Service }

func (i issuer) Issue(_ context.Context, g grantserver.Grant, name, subject string) ([]byte, error) {
	access, ok := i.s.linkAccess(g.Namespace)
	if !ok {
		return nil, &grantserver.IssueError{Status: 500, Message: "Site not yet defined for " + g.Namespace}
	}
	return IssueLink(access, g, name, subject, time.Now())
}

// Redeem redeems token for the site named subject with grantclient's
// defaults; it is what the daemon gives reconcile to redeem AccessTokens
// (a reconcile.Redeemer).
func Redeem(ctx context.Context, token *v2alpha1.AccessToken, subject string) (*grantclient.Result, error) {
	return grantclient.Redeem(ctx, token, subject, grantclient.Options{})
}
