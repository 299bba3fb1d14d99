// Package amqpconn owns the one AMQP 1.0 connection skupperd keeps to a
// running router: over the namespace's skupper-local-normal listener on
// 127.0.0.1, with mutual TLS (TLS 1.3) and SASL EXTERNAL, using the site's
// own skupper-local-client bundle. The management client (router/mgmt) and
// the vanflow subscriber (router/vanflow) open their own sessions on it.
//
// A Client dials lazily and redials after the connection is lost (the
// router restarted), waiting a capped exponential backoff between failed
// attempts. It starts no goroutine of its own beyond those of the AMQP
// connection, which Close ends.
package amqpconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/go-amqp"
)

// ServerName is the name the router's local server certificate is
// checked against. skupperd issues that certificate for 127.0.0.1 (as an IP
// SAN and a DNS SAN), and Go's crypto/tls matches IP SANs when ServerName
// is an IP literal.
const ServerName = "127.0.0.1"

// ErrClosed is returned by Conn after Close.
var ErrClosed = errors.New("amqpconn: client closed")

// Defaults for Config fields left zero.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	DefaultQuietAfter  = 2 * time.Second
)

// Config says how to reach one router.
type Config struct {
	// Addr is host:port of the router's listener, e.g. "127.0.0.1:5671".
	Addr string
	// TLS, when set, secures the connection and authenticates with SASL
	// EXTERNAL (the client certificate). When nil the connection is plain
	// and uses SASL ANONYMOUS (tests, or a plain listener).
	TLS *tls.Config
	// ContainerID is the AMQP container id; the router shows it as the
	// connection's container. Empty means "skupperd".
	ContainerID string
	// DialTimeout bounds one connection attempt (TCP, TLS, SASL, open),
	// in addition to the caller's context. Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed attempts:
	// it starts at MinBackoff and doubles per consecutive failure up to
	// MaxBackoff. Zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// QuietTick, when positive, batches what the connection receives
	// while it is quiet (it has written nothing for QuietAfter): instead
	// of on every message, it is read at ticks of this period, shared by
	// every connection of the process, so that an idle daemon wakes once
	// per tick for all its routers rather than once per heartbeat of each.
	// An unsolicited message then arrives up to QuietTick late; answers
	// to what the connection sent, its end, and large reads do not wait.
	// The ticks also send the keepalives the router's idle-time-out asks
	// for, in place of go-amqp's timer per connection. Zero reads every
	// message at once (and leaves keepalives to go-amqp).
	QuietTick time.Duration
	// QuietAfter is how long after its last write a batched connection
	// turns quiet. Zero means DefaultQuietAfter.
	QuietAfter time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// TLSConfig loads a client bundle directory (ca.crt, tls.crt, tls.key, as
// written by the certs package) into a TLS 1.3-only client configuration
// that trusts ca.crt only and checks the server against ServerName.
func TLSConfig(bundleDir string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(filepath.Join(bundleDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("amqpconn: client bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("amqpconn: client bundle: no certificate in %s", filepath.Join(bundleDir, "ca.crt"))
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(bundleDir, "tls.crt"), filepath.Join(bundleDir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("amqpconn: client bundle %s: %w", bundleDir, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   ServerName,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// LocalConfig is the Config for a namespace's router: its local normal
// listener on 127.0.0.1:port, authenticated with the client bundle in
// bundleDir (runtime/certs/skupper-local-client).
func LocalConfig(port int, bundleDir string) (Config, error) {
	if port <= 0 || port > 65535 {
		return Config{}, fmt.Errorf("amqpconn: invalid local port %d", port)
	}
	tc, err := TLSConfig(bundleDir)
	if err != nil {
		return Config{}, err
	}
	return Config{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLS: tc}, nil
}

// Client holds at most one live connection to a router. It is safe for
// concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger

	// dialing serialises dialling so that concurrent callers share one
	// attempt; it is held (a token in the channel) while waiting for the
	// backoff. A channel rather than a mutex: a caller waiting for
	// another's dial gives up when its context ends.
	dialing chan struct{}
	// hurry cuts short a backoff being waited out (ConnNow).
	hurry chan struct{}

	mu       sync.Mutex
	conn     *amqp.Conn
	closed   bool
	failures int       // consecutive failed attempts
	lastFail time.Time // time of the last failed attempt
	dials    int       // successful dials, for tests and logs
}

// New returns a Client for cfg. It does not dial: the first Conn does.
func New(cfg Config) *Client {
	if cfg.ContainerID == "" {
		cfg.ContainerID = "skupperd"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.QuietAfter <= 0 {
		cfg.QuietAfter = DefaultQuietAfter
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: log.With("router", cfg.Addr), dialing: make(chan struct{}, 1), hurry: make(chan struct{}, 1)}
}

// Addr is the address the client dials.
func (c *Client) Addr() string { return c.cfg.Addr }

// Dials is how many connections the client has established so far.
func (c *Client) Dials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

// Connected reports whether the client holds an open connection now,
// without dialling: callers that must not wait out a redial backoff (a
// router that is down or does not speak AMQP) check it first.
func (c *Client) Connected() bool {
	conn, err := c.live()
	return conn != nil && err == nil
}

// live returns the current connection if it is still open.
func (c *Client) live() (*amqp.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.conn != nil {
		select {
		case <-c.conn.Done():
			c.log.Debug("router connection lost", "err", c.conn.Err())
			c.conn = nil
		default:
			return c.conn, nil
		}
	}
	return nil, nil
}

// backoff is the wait owed before the next attempt, given the failures
// so far.
func (c *Client) backoff() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == 0 {
		return 0
	}
	d := c.cfg.MinBackoff
	for i := 1; i < c.failures && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return max(0, time.Until(c.lastFail.Add(d)))
}

// Conn returns the live connection, dialling a new one if there is none.
// After a failed attempt the next one waits a backoff (capped at
// MaxBackoff). Concurrent callers share one attempt: the others wait for
// it and take its connection. Every wait and the attempt are bounded by
// ctx. It returns ErrClosed after Close.
func (c *Client) Conn(ctx context.Context) (*amqp.Conn, error) { return c.connect(ctx, false) }

// ConnNow is Conn for a caller that knows the router is up (its
// supervisor reports it running, e.g. just restarted after a crash): it
// does not wait out the backoff that earlier failures owe, and cuts short
// the wait of a caller already waiting one, so that the dial is made now.
func (c *Client) ConnNow(ctx context.Context) (*amqp.Conn, error) { return c.connect(ctx, true) }

func (c *Client) connect(ctx context.Context, now bool) (*amqp.Conn, error) {
	if conn, err := c.live(); conn != nil || err != nil {
		return conn, err
	}
	if now {
		select {
		case c.hurry <- struct{}{}:
		default:
		}
	}
	select {
	case c.dialing <- struct{}{}:
	case <-ctx.Done():
		if now {
			// Take back a hurry no waiting caller took, so that it does
			// not cut short a later caller's backoff.
			select {
			case <-c.hurry:
			default:
			}
		}
		return nil, fmt.Errorf("amqpconn: waiting for a dial of %s: %w", c.cfg.Addr, ctx.Err())
	}
	defer func() { <-c.dialing }()
	// Someone else may have dialled while we waited our turn.
	if conn, err := c.live(); conn != nil || err != nil {
		return conn, err
	}
	if now {
		select {
		case <-c.hurry: // ours, unless a waiting caller took it
		default:
		}
	} else if d := c.backoff(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.hurry:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("amqpconn: waiting to redial %s: %w", c.cfg.Addr, ctx.Err())
		}
	}
	conn, err := c.dial(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failures++
		c.lastFail = time.Now()
		return nil, err
	}
	if c.closed { // Close ran while we dialled
		_ = conn.Close()
		return nil, ErrClosed
	}
	c.failures = 0
	c.dials++
	c.conn = conn
	c.log.Debug("router connection established", "dials", c.dials)
	return conn, nil
}

func (c *Client) dial(ctx context.Context) (*amqp.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	opts := &amqp.ConnOptions{
		ContainerID: c.cfg.ContainerID,
		SASLType:    amqp.SASLTypeAnonymous(),
		// The router sends idle-timeout frames; 30 s of silence means it
		// hung, and the connection is dropped so that it can be redialled.
		IdleTimeout: 30 * time.Second,
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("amqpconn: dial %s: %w", c.cfg.Addr, err)
	}
	if c.cfg.QuietTick > 0 {
		if raw, err = newPollConn(raw, c.cfg.QuietTick, c.cfg.QuietAfter); err != nil {
			return nil, fmt.Errorf("amqpconn: dial %s: %w", c.cfg.Addr, err)
		}
	} else {
		raw = newRawConn(raw)
	}
	nc := raw
	if c.cfg.TLS != nil {
		tc := tls.Client(raw, c.cfg.TLS.Clone())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("amqpconn: dial %s: TLS: %w", c.cfg.Addr, err)
		}
		nc = tc
		opts.SASLType = amqp.SASLTypeExternal("")
	}
	guard := newGuardConn(nc, c.malformed)
	switch rc := raw.(type) {
	case *rawConn:
		guard.noAnswer = &rc.noAnswer
	case *pollConn:
		guard.noAnswer = &rc.noAnswer
		guard.takeKeepalives = func(peerIdle time.Duration) {
			rc.takeKeepalives(peerIdle, func() { sendKeepalive(guard) })
		}
	}
	// go-amqp owns the guarded connection (and closes it on failure).
	conn, err := amqp.NewConn(ctx, guard, opts)
	if err != nil {
		return nil, fmt.Errorf("amqpconn: dial %s: %w", c.cfg.Addr, err)
	}
	return conn, nil
}

// keepaliveWriteTimeout bounds the write of a keepalive, as go-amqp's
// default write timeout bounds its own.
const keepaliveWriteTimeout = 30 * time.Second

// sendKeepalive writes an empty frame to c. The deadline go-amqp left on
// the connection is that of its last write, long past when a keepalive is
// due, so the keepalive sets its own first (go-amqp sets a fresh one
// before each of its writes too): a write that times out would leave the
// TLS stream broken.
func sendKeepalive(c net.Conn) {
	if err := c.SetWriteDeadline(time.Now().Add(keepaliveWriteTimeout)); err != nil {
		return
	}
	_, _ = c.Write(emptyFrame)
}

// malformed logs a message from the router that the guard refused (its
// connection ends with the error).
func (c *Client) malformed(err error) {
	c.log.Error("the router delivered a message that cannot be decoded safely; dropping the connection and dialling again", "error", err)
}

// Reset drops conn if it is still the current connection, so that the
// next Conn dials afresh. Callers use it when the connection is unusable
// although not closed (e.g. a session cannot be opened on it).
func (c *Client) Reset(conn *amqp.Conn) {
	c.mu.Lock()
	if conn == nil || c.conn != conn {
		c.mu.Unlock()
		return
	}
	c.conn = nil
	c.mu.Unlock()
	_ = conn.Close()
}

// Close closes the connection, if any; later Conn calls return ErrClosed.
// It waits for the connection's goroutines to end. Sessions and links
// opened by users of the connection end with it.
func (c *Client) Close() error {
	c.mu.Lock()
	conn := c.conn
	c.conn = nil
	c.closed = true
	c.mu.Unlock()
	if conn == nil {
		return nil
	}
	if err := conn.Close(); err != nil {
		var ce *amqp.ConnError
		if errors.As(err, &ce) && ce.RemoteErr == nil {
			return nil // shutdown noise, not actionable
		}
		return err
	}
	return nil
}

// IsConnLost reports whether err means that the connection, a session or
// a link is gone (as opposed to a timeout or a refused request): the
// caller should rebuild its links, on a new connection if needed.
func IsConnLost(err error) bool {
	var ce *amqp.ConnError
	var se *amqp.SessionError
	var le *amqp.LinkError
	return errors.Is(err, ErrClosed) || errors.As(err, &ce) || errors.As(err, &se) || errors.As(err, &le)
}
