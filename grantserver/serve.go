package grantserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Connection limits: remote clients must not exhaust the daemon's file
// descriptors (which it needs for its own files, watches and routers).
const (
	// MaxConnsCap caps concurrent connections; MaxConns lowers it to a
	// quarter of the descriptor limit.
	MaxConnsCap = 256
	// HandshakeTimeout bounds the TLS handshake and the request headers
	// (an idle connection that sends nothing is closed then), IdleTimeout
	// a kept-alive connection between requests.
	HandshakeTimeout = 5 * time.Second
	IdleTimeout      = 15 * time.Second
)

// MaxConns is the number of concurrent connections the grant server
// accepts: a quarter of the process's descriptor limit, at most
// MaxConnsCap, at least 4. Further connections wait in the kernel's
// accept queue, holding no descriptor of the daemon.
func MaxConns() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return MaxConnsCap
	}
	return int(max(4, min(MaxConnsCap, lim.Cur/4)))
}

// Serve serves handler over TLS 1.3 on ln until ctx ends, then shuts down
// gracefully (bounded). getCert supplies the server certificate for each
// handshake, so a renewed certificate is used without a restart. Connection
// errors (failed handshakes, plain HTTP) are logged at debug level. At
// most MaxConns connections are served at once, each under deadlines.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln = limitListener(ln, MaxConns())
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: HandshakeTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: getCert},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("grant server: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	}
}

// limitListener accepts at most n connections at once.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
