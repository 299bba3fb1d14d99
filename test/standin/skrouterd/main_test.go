package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every process the tests start.
const testTimeout = 60 * time.Second

// TestStandin builds the stand-in once and runs every scenario against the
// binary as a real process.
func TestStandin(t *testing.T) {
	bin := buildStandin(t)

	t.Run("Version", func(t *testing.T) {
		t.Parallel()
		for _, arg := range []string{"-v", "--version"} {
			p := startProc(t, bin, nil, arg)
			if code := p.wait(t); code != 0 {
				t.Errorf("%s: exit %d, stderr %q", arg, code, p.stderr.String())
			}
			if got, want := p.stdout.String(), "skrouterd-standin "+Version+"\n"; got != want {
				t.Errorf("%s: stdout %q, want %q", arg, got, want)
			}
		}
	})

	t.Run("UsageErrors", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"--bogus"}, {"-x"}, {}, {"-c"}, {"stray.json"}, {"-c", "a.json", "b.json"}} {
			p := startProc(t, bin, nil, args...)
			if code := p.wait(t); code != 2 {
				t.Errorf("%q: exit %d, want 2", args, code)
			}
			if !strings.Contains(p.stderr.String(), "Usage: skrouterd -c <config.json>") {
				t.Errorf("%q: no usage on stderr: %q", args, p.stderr.String())
			}
			if p.stdout.Len() != 0 {
				t.Errorf("%q: unexpected stdout %q", args, p.stdout.String())
			}
		}
	})

	t.Run("ServesAndStopsOnSIGTERM", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		stateDir := filepath.Join(dir, "state")
		pki := writePKI(t, dir)
		ports := freePorts(t, 3)
		cfg := baseConfig(pki)
		cfg = append(cfg,
			entity{"listener", obj{
				"name": "skupper-local-normal", "role": "normal", "host": "127.0.0.1", "port": strconv.Itoa(ports[0]),
				"sslProfile": "skupper-local-server", "saslMechanisms": "EXTERNAL", "authenticatePeer": true,
			}},
			// A number for a string attribute: the real router accepts it,
			// and upstream renders listener ports this way.
			entity{"listener", obj{"name": "west-inter-router", "role": "inter-router", "host": "127.0.0.1", "port": ports[1]}},
			entity{"tcpListener", obj{"name": "listener/backend", "host": "127.0.0.1", "port": strconv.Itoa(ports[2]), "address": "backend:8080"}},
		)
		config := writeConfig(t, dir, cfg)

		before := time.Now()
		p := startProc(t, bin, []string{StateDirEnv + "=" + stateDir}, "-c", config)
		p.waitReady(t, "skrouterd-standin: ready (3 listeners)\n")

		addrs := make([]string, len(ports))
		for i, port := range ports {
			addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			expectAcceptAndClose(t, addrs[i])
		}

		statePath := filepath.Join(stateDir, strconv.Itoa(p.cmd.Process.Pid)+".json")
		if files := jsonFiles(t, stateDir); !slices.Equal(files, []string{statePath}) {
			t.Fatalf("state files %q, want exactly %q", files, statePath)
		}
		st := readState(t, statePath)
		data, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if st.PID != p.cmd.Process.Pid || st.Config != config || st.ConfigSHA256 != hex.EncodeToString(sum[:]) || !slices.Equal(st.Listening, addrs) {
			t.Errorf("state file %+v; want pid %d, config %s, listening %q", st, p.cmd.Process.Pid, config, addrs)
		}
		started, err := time.Parse(time.RFC3339Nano, st.Started)
		if err != nil || started.Before(before.Add(-time.Second)) || started.After(time.Now()) {
			t.Errorf("started %q (%v): not an RFC 3339 time during the test", st.Started, err)
		}

		// SIGHUP is ignored. If it were not, the process would die of it
		// before handling SIGTERM (pending signals are delivered lowest
		// number first) and not exit 0.
		p.signal(t, syscall.SIGHUP)
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit %d after SIGTERM, stderr:\n%s", code, p.stderr.String())
		}
		if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state file still there after exit: %v", err)
		}
		for _, a := range addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Errorf("%s not released after exit: %v", a, err)
				continue
			}
			_ = ln.Close()
		}
	})

	t.Run("LongConfigOptionAndSIGINT", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		port := freePorts(t, 1)[0]
		// Upstream's rendering, coercions included: a comment line, the
		// integer helloMaxAgeSeconds as a string.
		config := filepath.Join(dir, "skrouterd.json")
		text := fmt.Sprintf(`# rendered for a test
[
    ["router", {"id": "west-1", "mode": "interior", "helloMaxAgeSeconds": "3"}],
    ["listener", {"name": "skupper-local-normal", "host": "127.0.0.1", "port": %d}],
    ["address", {"prefix": "mc", "distribution": "multicast"}],
    ["tcpConnector", {"name": "connector/backend@localhost", "host": "127.0.0.1", "port": "1", "address": "backend"}],
    ["log", {"module": "ROUTER_CORE", "enable": "error+"}]
]
`, port)
		if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, bin, nil, "--config="+config)
		p.waitReady(t, "skrouterd-standin: ready (1 listeners)\n")
		expectAcceptAndClose(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		p.signal(t, syscall.SIGINT)
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit %d after SIGINT, stderr:\n%s", code, p.stderr.String())
		}
	})

	// Each of these configs must be refused at start-up with exit status
	// 1, a message on stderr, nothing on stdout and no state file.
	refused := []struct {
		name string
		// config returns the config file to use, given a directory and a
		// PKI in it.
		config func(t *testing.T, dir string, pki pkiFiles) string
		stderr []string // expected on stderr
	}{
		{
			name: "MisspelledAttribute",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				return writeConfig(t, dir, append(baseConfig(pki),
					entity{"tcpListener", obj{"name": "listener/backend", "host": "127.0.0.1", "prot": "9090", "address": "backend"}}))
			},
			stderr: []string{`:7: entity 5 tcpListener "listener/backend": unknown attribute "prot"`, "refusing to start: 1 problem(s)"},
		},
		{
			name: "EveryProblemReported",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				return writeConfig(t, dir, append(baseConfig(pki),
					entity{"listener", obj{"name": "a", "role": "hub", "port": "1"}},
					entity{"tcpListner", obj{"name": "b"}}))
			},
			stderr: []string{`entity 5 listener "a": attribute "role": invalid value string "hub"`, `entity 6 tcpListner "b": unknown entity type "tcpListner"`, "2 problem(s)"},
		},
		{
			name: "MissingCertFile",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				cfg := baseConfig(pki)
				cfg[1][1].(obj)["certFile"] = filepath.Join(dir, "missing", "tls.crt")
				return writeConfig(t, dir, cfg)
			},
			stderr: []string{`sslProfile "skupper-local-server" (entity 1): certFile: open `, filepath.Join("missing", "tls.crt"), "no such file or directory"},
		},
		{
			name: "KeyFileWithoutKey",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				cfg := baseConfig(pki)
				cfg[1][1].(obj)["privateKeyFile"] = pki.cert // a certificate, not a key
				return writeConfig(t, dir, cfg)
			},
			stderr: []string{`sslProfile "skupper-local-server" (entity 1): privateKeyFile: `, "no PRIVATE KEY or EC PRIVATE KEY or RSA PRIVATE KEY PEM block"},
		},
		{
			name: "UndefinedSslProfile",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				return writeConfig(t, dir, append(baseConfig(pki),
					entity{"tcpConnector", obj{"name": "c", "host": "127.0.0.1", "port": "1", "address": "a", "sslProfile": "nope"}}))
			},
			stderr: []string{`tcpConnector "c" (entity 5): sslProfile "nope" is not defined`},
		},
		{
			name: "NotJSONFileName",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				path := writeConfig(t, dir, baseConfig(pki))
				conf := strings.TrimSuffix(path, ".json") + ".conf"
				if err := os.Rename(path, conf); err != nil {
					t.Fatal(err)
				}
				return conf
			},
			stderr: []string{"the file name must end in .json"},
		},
		{
			name: "MissingConfig",
			config: func(t *testing.T, dir string, pki pkiFiles) string {
				return filepath.Join(dir, "absent.json")
			},
			stderr: []string{"read config: open ", "absent.json: no such file or directory"},
		},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "state")
			config := c.config(t, dir, writePKI(t, dir))
			p := startProc(t, bin, []string{StateDirEnv + "=" + stateDir}, "-c", config)
			if code := p.wait(t); code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, p.stderr.String())
			}
			for _, want := range c.stderr {
				if !strings.Contains(p.stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, p.stderr.String())
				}
			}
			if p.stdout.Len() != 0 {
				t.Errorf("unexpected stdout %q", p.stdout.String())
			}
			if files := jsonFiles(t, stateDir); len(files) != 0 {
				t.Errorf("state files left: %q", files)
			}
		})
	}

	t.Run("PortInUse", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		stateDir := filepath.Join(dir, "state")
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		busyAddr := busy.Addr().String()
		_, busyPort, _ := net.SplitHostPort(busyAddr)
		free := freePorts(t, 1)[0]
		cfg := append(baseConfig(writePKI(t, dir)),
			entity{"listener", obj{"name": "first", "host": "127.0.0.1", "port": strconv.Itoa(free)}},
			entity{"tcpListener", obj{"name": "listener/taken", "host": "127.0.0.1", "port": busyPort, "address": "a"}})
		p := startProc(t, bin, []string{StateDirEnv + "=" + stateDir}, "-c", writeConfig(t, dir, cfg))
		if code := p.wait(t); code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", code, p.stderr.String())
		}
		want := fmt.Sprintf(`tcpListener "listener/taken" (entity 6): cannot listen on %s: `, busyAddr)
		if !strings.Contains(p.stderr.String(), want) || !strings.Contains(p.stderr.String(), "address already in use") {
			t.Errorf("stderr lacks %q and \"address already in use\":\n%s", want, p.stderr.String())
		}
		if p.stdout.Len() != 0 {
			t.Errorf("unexpected stdout %q", p.stdout.String())
		}
		if files := jsonFiles(t, stateDir); len(files) != 0 {
			t.Errorf("state files left: %q", files)
		}
	})
}

// goTool is the go command of the toolchain running the test, so that the
// stand-in is built by the same Go as the test whatever PATH holds.
func goTool() string {
	//lint:ignore SA1019 a test binary runs where "go test" built it, so the build-time GOROOT is the right one.
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildStandin builds this package into a temporary directory.
func buildStandin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "skrouterd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type obj = map[string]any

type entity = []any

type pkiFiles struct{ ca, cert, key, pkcs8Key string }

// baseConfig is a router, two sslProfiles (entities 1 and 2), an address
// and a log entity: five entities, no listeners.
func baseConfig(pki pkiFiles) []entity {
	return []entity{
		{"router", obj{"id": "west-1700000000-1", "mode": "interior", "helloMaxAgeSeconds": 3}},
		{"sslProfile", obj{"name": "skupper-local-server", "caCertFile": pki.ca, "certFile": pki.cert, "privateKeyFile": pki.key}},
		{"sslProfile", obj{"name": "west", "caCertFile": pki.ca, "certFile": pki.cert, "privateKeyFile": pki.pkcs8Key}},
		{"address", obj{"prefix": "mc", "distribution": "multicast"}},
		{"log", obj{"module": "ROUTER_CORE", "enable": "info+"}},
	}
}

// writeConfig writes cfg as <dir>/skrouterd.json, one entity per line, and
// returns its absolute path.
func writeConfig(t *testing.T, dir string, cfg []entity) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, e := range cfg {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		if i < len(cfg)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	path := filepath.Join(dir, "skrouterd.json")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// writePKI writes a self-signed certificate (as CA and leaf) and its key,
// in SEC 1 and PKCS #8 form, into dir.
func writePKI(t *testing.T, dir string) pkiFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := pkiFiles{
		ca:       filepath.Join(dir, "ca.crt"),
		cert:     filepath.Join(dir, "tls.crt"),
		key:      filepath.Join(dir, "tls.key"),
		pkcs8Key: filepath.Join(dir, "tls-pkcs8.key"),
	}
	for path, data := range map[string][]byte{
		files.ca:       certPEM,
		files.cert:     certPEM,
		files.key:      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		files.pkcs8Key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// expectAcceptAndClose connects to addr and expects the stand-in to close
// the connection.
func expectAcceptAndClose(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read from %s: %v, want the connection closed", addr, err)
	}
}

// jsonFiles lists the *.json files in dir (none if dir does not exist).
func jsonFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readState(t *testing.T, path string) stateFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("state file %s: %v\n%s", path, err, data)
	}
	return st
}

// proc is a running stand-in process.
type proc struct {
	cmd    *exec.Cmd
	stdout *notifyBuffer
	stderr *notifyBuffer
	ctx    context.Context
	done   chan struct{} // closed once the process has exited and its output is collected
}

// startProc starts bin with args and extra environment. The process is
// killed if it outlives testTimeout or the test.
func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	p := &proc{
		cmd:    exec.CommandContext(ctx, bin, args...),
		stdout: newNotifyBuffer(),
		stderr: newNotifyBuffer(),
		ctx:    ctx,
		done:   make(chan struct{}),
	}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status is read from ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel() // kills the process if it is still running
		<-p.done
	})
	return p
}

// waitReady waits until stdout is exactly want. It fails if the process
// exits or the deadline passes first.
func (p *proc) waitReady(t *testing.T, want string) {
	t.Helper()
	for {
		got := p.stdout.String()
		if got == want {
			return
		}
		if !strings.HasPrefix(want, got) {
			t.Fatalf("stdout %q, want %q; stderr:\n%s", got, want, p.stderr.String())
		}
		select {
		case <-p.stdout.changed:
		case <-p.done:
			if p.stdout.String() == want {
				return
			}
			t.Fatalf("exited (%v) before printing %q; stdout %q, stderr:\n%s", p.cmd.ProcessState, want, p.stdout.String(), p.stderr.String())
		case <-p.ctx.Done():
			t.Fatalf("no %q before the deadline; stdout %q, stderr:\n%s", want, p.stdout.String(), p.stderr.String())
		}
	}
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit status (-1 if a
// signal ended it).
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-p.ctx.Done():
		<-p.done
		t.Fatalf("did not exit before the deadline; stdout %q, stderr:\n%s", p.stdout.String(), p.stderr.String())
		return -1
	}
}

// notifyBuffer is a goroutine-safe buffer that signals every write on
// changed.
type notifyBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer {
	return &notifyBuffer{changed: make(chan struct{}, 1)}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (b *notifyBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *notifyBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
