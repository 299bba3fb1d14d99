package certs

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// handshakeTimeout bounds every network operation of the TLS tests.
const handshakeTimeout = 10 * time.Second

type serverResult struct {
	state tls.ConnectionState
	err   error
}

// serveOnce accepts one connection on ln, completes a TLS handshake with cfg,
// writes "ok" on success and closes the connection.
func serveOnce(ln net.Listener, cfg *tls.Config) <-chan serverResult {
	out := make(chan serverResult, 1)
	go func() {
		deadline := time.Now().Add(handshakeTimeout)
		_ = ln.(*net.TCPListener).SetDeadline(deadline)
		raw, err := ln.Accept()
		if err != nil {
			out <- serverResult{err: err}
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(deadline)
		conn := tls.Server(raw, cfg)
		if err := conn.Handshake(); err != nil {
			out <- serverResult{err: err}
			return
		}
		_, err = conn.Write([]byte("ok"))
		out <- serverResult{state: conn.ConnectionState(), err: err}
		_ = conn.Close()
	}()
	return out
}

// dialOnce connects to addr, completes the handshake and reads the server's
// "ok": with TLS 1.3 the client's Handshake returns before the server has
// checked the client certificate, so only the read proves the server accepted.
func dialOnce(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := net.Dialer{Timeout: handshakeTimeout}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return tls.ConnectionState{}, err
	}
	if string(buf) != "ok" {
		return tls.ConnectionState{}, io.ErrUnexpectedEOF
	}
	return conn.ConnectionState(), nil
}

func keyPair(t *testing.T, b Bundle) tls.Certificate {
	t.Helper()
	kp, err := tls.X509KeyPair(b.Cert, b.Key)
	require.NoError(t, err)
	return kp
}

// TestMutualTLSHandshake runs real handshakes over 127.0.0.1 with the
// certificates this package issues, as two routers linking would: the server
// requires a client certificate from its CA, the client verifies the server
// by its IP address.
func TestMutualTLSHandshake(t *testing.T) {
	defer goleak.VerifyNone(t)

	now := time.Now() // crypto/tls checks validity against the real clock
	siteCA := mustCA(t, "skupper-site-ca", now)
	serverB := mustIssue(t, siteCA, Request{CommonName: "skupper-inter-router", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}, now)
	clientB := mustIssue(t, siteCA, Request{CommonName: "client-skupper-inter-router", Usage: ClientAuth}, now)
	serverOnlyB := mustIssue(t, siteCA, Request{CommonName: "server-only", Hosts: []string{"127.0.0.1"}, Usage: ServerAuth}, now)
	foreignCA := mustCA(t, "foreign-ca", now)
	foreignB := mustIssue(t, foreignCA, Request{CommonName: "client-foreign", Usage: ClientAuth}, now)

	for _, tc := range []struct {
		name       string
		client     Bundle
		serverName string
		wantOK     bool
		serverErr  string // substring of the server's error, when it is the one refusing
		clientErr  string // substring of the client's error, when it is the one refusing
	}{
		{"site client", clientB, "127.0.0.1", true, "", ""},
		{"site client by DNS name", clientB, "localhost", true, "", ""},
		{"foreign client", foreignB, "127.0.0.1", false, "signed by unknown authority", ""},
		{"server-only EKU as client", serverOnlyB, "127.0.0.1", false, "incompatible key usage", ""},
		{"wrong server name", clientB, "router.example.com", false, "", "not router.example.com"},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tc.name+"/"+tls.VersionName(version), func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				defer ln.Close()

				serverCfg := &tls.Config{
					Certificates: []tls.Certificate{keyPair(t, serverB)},
					ClientAuth:   tls.RequireAndVerifyClientCert,
					ClientCAs:    certPool(t, serverB.CA),
					MinVersion:   tls.VersionTLS12,
				}
				res := serveOnce(ln, serverCfg)

				clientKP := keyPair(t, tc.client)
				clientCfg := &tls.Config{
					// Always present the certificate, as the router (OpenSSL)
					// does: Go's client would otherwise withhold one whose
					// issuer is not among the server's acceptable CAs, and the
					// foreign case would not test the server's verification.
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						return &clientKP, nil
					},
					RootCAs:    certPool(t, tc.client.CA),
					ServerName: tc.serverName,
					MinVersion: version,
					MaxVersion: version,
				}
				if tc.name == "foreign client" {
					// The foreign client trusts the site CA (it wants to
					// connect); only its own certificate is foreign.
					clientCfg.RootCAs = certPool(t, siteCA.Cert)
				}
				clientState, clientErr := dialOnce(ln.Addr().String(), clientCfg)
				var sr serverResult
				select {
				case sr = <-res:
				case <-time.After(2 * handshakeTimeout):
					t.Fatal("server did not finish")
				}

				if !tc.wantOK {
					require.Error(t, clientErr, "client must fail")
					require.Error(t, sr.err, "server must fail")
					if tc.serverErr != "" {
						assert.Contains(t, sr.err.Error(), tc.serverErr)
					}
					if tc.clientErr != "" {
						assert.Contains(t, clientErr.Error(), tc.clientErr)
					}
					return
				}
				require.NoError(t, clientErr)
				require.NoError(t, sr.err)
				assert.Equal(t, version, clientState.Version)

				// Mutual verification: each side verified the other's chain.
				require.NotEmpty(t, sr.state.PeerCertificates)
				assert.Equal(t, "client-skupper-inter-router", sr.state.PeerCertificates[0].Subject.CommonName)
				require.NotEmpty(t, sr.state.VerifiedChains)
				assert.Equal(t, "skupper-site-ca", sr.state.VerifiedChains[0][len(sr.state.VerifiedChains[0])-1].Subject.CommonName)

				require.NotEmpty(t, clientState.PeerCertificates)
				assert.Equal(t, "skupper-inter-router", clientState.PeerCertificates[0].Subject.CommonName)
				require.NotEmpty(t, clientState.VerifiedChains)
				assert.Equal(t, "skupper-site-ca", clientState.VerifiedChains[0][len(clientState.VerifiedChains[0])-1].Subject.CommonName)
			})
		}
	}
}
