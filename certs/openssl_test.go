package certs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file check the certificates against OpenSSL, the TLS
// library of skupper-router, through the openssl command. They are skipped
// where it is not installed.

const opensslTimeout = 20 * time.Second

func opensslOrSkip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl command not installed")
	}
	return p
}

// writeFiles writes name → content into a new temporary directory.
func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	return dir
}

// ipSANOnlyCert is a server certificate for 127.0.0.1 made the way Go
// programs usually do it: the IP only as an IP SAN.
func ipSANOnlyCert(t *testing.T, ca Bundle) Bundle {
	t.Helper()
	caKey, err := parseKey(ca.Key)
	require.NoError(t, err)
	key := testECKey(t)
	tmpl := handLeafTemplate("ip-only", t0)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	_, certPEM := handCert(t, tmpl, firstCert(t, ca.Cert), key.Public(), caKey)
	return Bundle{CA: ca.Cert, Cert: certPEM, Key: pemPKCS8(t, key)}
}

func TestOpenSSLVerify(t *testing.T) {
	openssl := opensslOrSkip(t)
	now := time.Now()
	ca := mustCA(t, "skupper-site-ca", now)
	server := mustIssue(t, ca, Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}, now)
	client := mustIssue(t, ca, Request{CommonName: "client-skupper-router", Usage: ClientAuth}, now)
	ipOnly := ipSANOnlyCert(t, ca)
	dir := writeFiles(t, map[string][]byte{
		"ca.crt": ca.Cert, "server.crt": server.Cert, "server.key": server.Key,
		"client.crt": client.Cert, "iponly.crt": ipOnly.Cert,
	})

	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"server cert as TLS server, by IP name", []string{"-purpose", "sslserver", "-verify_hostname", "127.0.0.1", "server.crt"}, true},
		{"server cert as TLS server, by DNS name", []string{"-purpose", "sslserver", "-verify_hostname", "localhost", "server.crt"}, true},
		{"server cert as TLS server, by IP", []string{"-purpose", "sslserver", "-verify_ip", "127.0.0.1", "server.crt"}, true},
		{"server cert, other name", []string{"-purpose", "sslserver", "-verify_hostname", "other.example", "server.crt"}, false},
		{"server cert is no client cert", []string{"-purpose", "sslclient", "server.crt"}, false},
		{"client cert as TLS client", []string{"-purpose", "sslclient", "client.crt"}, true},
		{"client cert is no server cert", []string{"-purpose", "sslserver", "client.crt"}, false},
		// Why IPs are DNS SANs too: OpenSSL's host-name check ignores IP SANs.
		{"IP-SAN-only cert fails host-name check by IP", []string{"-purpose", "sslserver", "-verify_hostname", "127.0.0.1", "iponly.crt"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), opensslTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, append([]string{"verify", "-CAfile", "ca.crt"}, tc.args...)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if tc.ok {
				assert.NoError(t, err, "openssl verify: %s", out)
			} else {
				assert.Error(t, err, "openssl verify must fail: %s", out)
			}
		})
	}

	t.Run("key is readable and matches", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), opensslTimeout)
		defer cancel()
		fromKey, err := exec.CommandContext(ctx, openssl, "pkey", "-in", filepath.Join(dir, "server.key"), "-pubout").Output()
		require.NoError(t, err)
		fromCert, err := exec.CommandContext(ctx, openssl, "x509", "-in", filepath.Join(dir, "server.crt"), "-noout", "-pubkey").Output()
		require.NoError(t, err)
		assert.Equal(t, string(fromCert), string(fromKey))
	})
}

// TestOpenSSLClientHandshake: openssl s_client, configured like a router
// making a link (CA file, client cert, host-name check against the IP it
// connects to), completes a mutual-TLS handshake with a Go server.
func TestOpenSSLClientHandshake(t *testing.T) {
	openssl := opensslOrSkip(t)
	now := time.Now()
	ca := mustCA(t, "skupper-site-ca", now)
	server := mustIssue(t, ca, Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}, now)
	client := mustIssue(t, ca, Request{CommonName: "client-skupper-router", Usage: ClientAuth}, now)
	dir := writeFiles(t, map[string][]byte{"ca.crt": ca.Cert, "client.crt": client.Cert, "client.key": client.Key})

	for _, tc := range []struct {
		name   string
		server Bundle
		ok     bool
	}{
		{"site server cert", server, true},
		{"IP-SAN-only server cert", ipSANOnlyCert(t, ca), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			res := serveOnce(ln, &tls.Config{
				Certificates: []tls.Certificate{keyPair(t, tc.server)},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    certPool(t, ca.Cert),
			})

			ctx, cancel := context.WithTimeout(context.Background(), opensslTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", ln.Addr().String(),
				"-CAfile", "ca.crt", "-cert", "client.crt", "-key", "client.key",
				"-verify_hostname", "127.0.0.1", "-verify_return_error", "-brief")
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader("")
			out, clientErr := cmd.CombinedOutput()
			sr := <-res

			if !tc.ok {
				assert.Error(t, clientErr, "s_client must refuse: %s", out)
				assert.Contains(t, string(out), "hostname mismatch")
				return
			}
			require.NoError(t, clientErr, "s_client: %s", out)
			require.NoError(t, sr.err)
			require.NotEmpty(t, sr.state.VerifiedChains, "server verified the OpenSSL client's certificate")
			assert.Equal(t, "client-skupper-router", sr.state.PeerCertificates[0].Subject.CommonName)
		})
	}
}

// TestOpenSSLServerHandshake: openssl s_server, configured like a router's
// inter-router listener (requires a client certificate from the site CA),
// accepts a client certificate issued here and refuses foreign ones and ones
// without the clientAuth usage.
func TestOpenSSLServerHandshake(t *testing.T) {
	openssl := opensslOrSkip(t)
	now := time.Now()
	ca := mustCA(t, "skupper-site-ca", now)
	server := mustIssue(t, ca, Request{CommonName: "skupper-router", Hosts: []string{"127.0.0.1", "localhost"}, Usage: ServerAuth}, now)
	client := mustIssue(t, ca, Request{CommonName: "client-skupper-router", Usage: ClientAuth}, now)
	serverOnly := mustIssue(t, ca, Request{CommonName: "server-only", Usage: ServerAuth}, now)
	foreign := mustIssue(t, mustCA(t, "foreign-ca", now), Request{CommonName: "client-foreign", Usage: ClientAuth}, now)
	dir := writeFiles(t, map[string][]byte{"ca.crt": ca.Cert, "server.crt": server.Cert, "server.key": server.Key})

	for _, tc := range []struct {
		name    string
		client  Bundle
		ok      bool
		wantErr string // the alert OpenSSL sends
	}{
		{"site client cert", client, true, ""},
		{"foreign client cert", foreign, false, "unknown certificate authority"},
		{"server-only EKU as client", serverOnly, false, "unsupported certificate"},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tc.name+"/"+tls.VersionName(version), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), opensslTimeout)
				defer cancel()
				cmd := exec.CommandContext(ctx, openssl, "s_server", "-accept", "127.0.0.1:0",
					"-cert", "server.crt", "-key", "server.key", "-CAfile", "ca.crt",
					"-Verify", "1", "-verify_return_error", "-naccept", "1", "-www")
				cmd.Dir = dir
				stdout, err := cmd.StdoutPipe()
				require.NoError(t, err)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				require.NoError(t, cmd.Start())
				done := make(chan struct{})
				defer func() {
					cancel() // ends s_server if it is still waiting
					<-done
				}()

				// s_server prints "ACCEPT 127.0.0.1:<port>" once listening.
				addrCh := make(chan string, 1)
				go func() {
					defer close(done)
					sc := bufio.NewScanner(stdout)
					for sc.Scan() {
						if a, ok := strings.CutPrefix(sc.Text(), "ACCEPT "); ok {
							addrCh <- a
						}
					}
					_ = cmd.Wait()
				}()
				var addr string
				select {
				case addr = <-addrCh:
				case <-ctx.Done():
					t.Fatalf("s_server did not start: %s", stderr.String())
				}

				kp := keyPair(t, tc.client)
				err = httpGetOverTLS(addr, &tls.Config{
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil },
					RootCAs:              certPool(t, ca.Cert),
					ServerName:           "127.0.0.1",
					MinVersion:           version,
					MaxVersion:           version,
				})
				if tc.ok {
					assert.NoError(t, err)
				} else {
					require.Error(t, err, "s_server must refuse the client certificate")
					assert.Contains(t, err.Error(), tc.wantErr)
				}
			})
		}
	}
}

// httpGetOverTLS sends "GET /" and expects an HTTP 200 status line: proof that
// the server accepted the handshake, client certificate included.
func httpGetOverTLS(addr string, cfg *tls.Config) error {
	d := net.Dialer{Timeout: handshakeTimeout}
	conn, err := tls.DialWithDialer(&d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := conn.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(line, " 200 ") {
		return fmt.Errorf("unexpected response %q", strings.TrimSpace(line))
	}
	return nil
}
