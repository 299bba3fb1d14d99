package daemon_test

// Crash safety: skupperd is killed with SIGKILL at random points while it
// reconciles a namespace whose input keeps changing. After every kill no
// file under runtime/ or internal/ is torn, and after every restart the
// runtime tree converges to exactly the tree a clean run produces for the
// same input.

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

const crashSiteUID = "6c0d9a52-2f0e-4f53-9a43-6f2b8e1d7c11"

// crashVariant is one complete input of the crash namespace. Every variant
// uses the same issuers (site CA through the RouterAccess, service CA
// through a TLS Listener, local CA), since generated CAs are kept once
// made and a clean run only makes those it needs.
func crashVariant(k int) map[string]string {
	files := map[string]string{
		"site.yaml": fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: crash\n  uid: %s\n", crashSiteUID),
		"access.yaml": fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: RouterAccess\nmetadata:\n  name: access\nspec:\n  bindHost: 127.0.0.1\n"+
			"  subjectAlternativeNames: [\"v%d.example.test\"]\n  roles:\n  - name: inter-router\n  - name: edge\n", k%2),
		"secure.yaml": fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: secure\nspec:\n  routingKey: secure\n"+
			"  host: 127.0.0.1\n  port: %d\n  tlsCredentials: secure-%d\n", 26000+k, k),
	}
	for j := range 3 + 2*k {
		files[fmt.Sprintf("pair-%d.yaml", j)] = listenerYAML(fmt.Sprintf("l%d", j), fmt.Sprintf("k%d", j), 27000+100*k+j) +
			"---\n" + connectorYAML(fmt.Sprintf("c%d", j), fmt.Sprintf("k%d", j), 28000+j)
	}
	return files
}

const crashVariants = 4

// applyInput makes input/resources hold exactly files.
func applyInput(ns namespaces.Namespace, files map[string]string) error {
	dir := ns.InputResourcesDir()
	for name, content := range files {
		if _, err := atomicfile.WriteFileIfChanged(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, keep := files[e.Name()]; !keep && !namespaces.IgnoredName(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// runtimeTree is the comparable content of a namespace's runtime/.
type runtimeTree struct {
	files  []string          // every entry under runtime/ ("dir/" for directories)
	router string            // skrouterd.json with the data home replaced
	status map[string]string // resources/*.yaml without lastTransitionTime values
}

// ordinalLine is an sslProfile's ordinal in the indented skrouterd.json,
// with the comma that separates it from its neighbour.
var ordinalLine = regexp.MustCompile(`(?m)^\s*"ordinal": \d+,\n|,\n\s*"ordinal": \d+$`)

func snapshotRuntime(ns namespaces.Namespace) (runtimeTree, error) {
	t := runtimeTree{status: map[string]string{}}
	root := ns.RuntimeDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			rel += "/"
		}
		t.files = append(t.files, rel)
		return nil
	})
	if err != nil {
		return t, err
	}
	sort.Strings(t.files)
	data, err := os.ReadFile(ns.RouterConfigPath())
	if err != nil {
		return t, err
	}
	if _, err := parseRouterConfig(data); err != nil {
		return t, err
	}
	// Router ports are allocated from what is free on the host at that
	// moment (tests of other packages run alongside), so a clean run and a
	// crashed one may get different numbers: compare them by their
	// allocation key (internal/ports.yaml), not by number.
	portKeys := allocatedPorts(ns)
	// sslProfile ordinals count how often a directory's credentials
	// changed (internal/tls-ordinals.yaml): history, not input. A clean
	// run of the last variant never renewed anything.
	router := ordinalLine.ReplaceAllString(string(data), "")
	t.router = renamePorts(strings.ReplaceAll(router, ns.Home.Root, "$HOME"), `"port": "%d"`, portKeys)
	for _, f := range statusFiles(ns) {
		data, err := os.ReadFile(filepath.Join(ns.StatusDir(), f))
		if err != nil {
			return t, err
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			return t, fmt.Errorf("%s: %w", f, err)
		}
		if st, ok := obj["status"].(map[string]any); ok {
			if conds, ok := st["conditions"].([]any); ok {
				for _, c := range conds {
					if m, ok := c.(map[string]any); ok {
						delete(m, "lastTransitionTime")
					}
				}
			}
		}
		norm, _ := json.Marshal(obj)
		t.status[f] = renamePorts(string(norm), `"port":"%d"`, portKeys)
	}
	return t, nil
}

// allocatedPorts maps each allocated (not user-fixed) port of the
// namespace to its allocation key.
func allocatedPorts(ns namespaces.Namespace) map[int]string {
	out := map[int]string{}
	data, err := os.ReadFile(filepath.Join(ns.InternalDir(), "ports.yaml"))
	if err != nil {
		return out
	}
	var table struct {
		Ports []struct {
			Key  string `json:"key"`
			Role string `json:"role"`
			Port int    `json:"port"`
		} `json:"ports"`
	}
	if yaml.Unmarshal(data, &table) != nil {
		return out
	}
	for _, e := range table.Ports {
		if e.Role != "" {
			out[e.Port] = e.Key
		}
	}
	return out
}

// renamePorts replaces every format-rendered allocated port in s by its key.
func renamePorts(s, format string, keys map[int]string) string {
	for port, key := range keys {
		s = strings.ReplaceAll(s, fmt.Sprintf(format, port), strings.Replace(format, "%d", "<"+key+">", 1))
	}
	return s
}

// diff describes how got differs from want ("" when equal).
func (want runtimeTree) diff(got runtimeTree) string {
	var out []string
	if a, b := strings.Join(want.files, "\n"), strings.Join(got.files, "\n"); a != b {
		out = append(out, fmt.Sprintf("file lists differ:\nwant:\n%s\ngot:\n%s", a, b))
	}
	if want.router != got.router {
		out = append(out, fmt.Sprintf("skrouterd.json differs:\nwant:\n%s\ngot:\n%s", want.router, got.router))
	}
	for f, w := range want.status {
		if g := got.status[f]; g != w {
			out = append(out, fmt.Sprintf("%s differs:\nwant %s\ngot  %s", f, w, g))
		}
	}
	return strings.Join(out, "\n")
}

// checkNotTorn parses every data file under runtime/ and internal/. It
// returns the hidden (temporary) files found as well.
func checkNotTorn(ns namespaces.Namespace) (hidden []string, err error) {
	var problems []string
	for _, root := range []string{ns.RuntimeDir(), ns.InternalDir()} {
		werr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") {
				hidden = append(hidden, path)
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if msg := tornReason(name, data); msg != "" {
				problems = append(problems, path+": "+msg)
			}
			return nil
		})
		if werr != nil {
			return hidden, werr
		}
	}
	if len(problems) > 0 {
		return hidden, errors.New(strings.Join(problems, "\n"))
	}
	return hidden, nil
}

func tornReason(name string, data []byte) string {
	if name == "input.lock" {
		return "" // a flock target: empty by design, never written
	}
	if len(data) == 0 {
		return "empty"
	}
	switch {
	case strings.HasSuffix(name, ".json"):
		if !json.Valid(data) {
			return "invalid JSON"
		}
	case strings.HasSuffix(name, ".yaml"):
		dec := yamlv3.NewDecoder(bytes.NewReader(data))
		for n := 0; ; n++ {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return "no YAML document"
				}
				break
			}
			if err != nil {
				return "invalid YAML: " + err.Error()
			}
		}
	case strings.HasSuffix(name, ".crt"):
		if _, err := parseCertsPEM(data); err != nil {
			return err.Error()
		}
	case strings.HasSuffix(name, ".key"):
		if _, err := parseKeyPEM(data); err != nil {
			return err.Error()
		}
	case name == "site-id" || name == "router.pid":
		if !bytes.HasSuffix(data, []byte("\n")) {
			return "no final newline"
		}
	}
	return ""
}

func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}

// verifyCredentials checks every generated issuer (a CA whose key matches)
// and every certificate directory: tls.crt verifies against its ca.crt,
// which is one of the issuers, and tls.key matches tls.crt.
func verifyCredentials(ns namespaces.Namespace) error {
	type pubEq interface{ Equal(crypto.PublicKey) bool }
	load := func(dir string) (cas, leaf []*x509.Certificate, key crypto.Signer, err error) {
		read := func(f string) []byte { d, _ := os.ReadFile(filepath.Join(dir, f)); return d }
		if cas, err = parseCertsPEM(read("ca.crt")); err != nil {
			return nil, nil, nil, fmt.Errorf("%s/ca.crt: %w", dir, err)
		}
		if leaf, err = parseCertsPEM(read("tls.crt")); err != nil {
			return nil, nil, nil, fmt.Errorf("%s/tls.crt: %w", dir, err)
		}
		if key, err = parseKeyPEM(read("tls.key")); err != nil {
			return nil, nil, nil, fmt.Errorf("%s/tls.key: %w", dir, err)
		}
		if !key.Public().(pubEq).Equal(leaf[0].PublicKey) {
			return nil, nil, nil, fmt.Errorf("%s: tls.key does not match tls.crt", dir)
		}
		return cas, leaf, key, nil
	}
	issuers := x509.NewCertPool()
	var issuerCerts []*x509.Certificate
	for _, parent := range []string{ns.RuntimeIssuersDir(), ns.RuntimeCertsDir()} {
		entries, err := os.ReadDir(parent)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			cas, leaf, _, err := load(dir)
			if err != nil {
				return err
			}
			if parent == ns.RuntimeIssuersDir() {
				if !leaf[0].IsCA || leaf[0].CheckSignatureFrom(leaf[0]) != nil {
					return fmt.Errorf("%s: tls.crt is not a self-signed CA", dir)
				}
				issuers.AddCert(leaf[0])
				issuerCerts = append(issuerCerts, leaf[0])
				continue
			}
			roots := x509.NewCertPool()
			for _, c := range cas {
				roots.AddCert(c)
			}
			if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return fmt.Errorf("%s: tls.crt does not verify against ca.crt: %w", dir, err)
			}
			known := false
			for _, ic := range issuerCerts {
				known = known || ic.Equal(cas[0])
			}
			if !known {
				return fmt.Errorf("%s: ca.crt is none of the issuers", dir)
			}
		}
	}
	return nil
}

// cleanTrees runs a fresh daemon over each variant in a fresh data home
// and returns the runtime trees they produce.
func cleanTrees(t *testing.T) []runtimeTree {
	out := make([]runtimeTree, crashVariants)
	for k := range crashVariants {
		h := newTestHome(t)
		h.defaultPorts = true // the same ports as the crash home
		ns := h.addNamespace("crash")
		if err := applyInput(ns, crashVariant(k)); err != nil {
			t.Fatal(err)
		}
		d := startDaemon(t, h, daemonOpts{supervisor: "none"})
		d.waitReady()
		d.stop()
		tree, err := snapshotRuntime(ns)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyCredentials(ns); err != nil {
			t.Fatal(err)
		}
		if s, err := readSummary(ns); err != nil || s.Outcome != "Applied" || len(s.Errors) > 0 {
			t.Fatalf("variant %d: summary %+v, %v", k, s, err)
		}
		out[k] = tree
	}
	for k := 1; k < crashVariants; k++ {
		if out[k].diff(out[0]) == "" {
			t.Fatalf("variants 0 and %d give the same tree", k)
		}
	}
	return out
}

func TestCrashSafety(t *testing.T) {
	iterations := 100
	if testing.Short() {
		iterations = 20
	}
	want := cleanTrees(t)

	h := newTestHome(t)
	h.defaultPorts = true
	ns := h.addNamespace("crash")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	final := 0
	if err := applyInput(ns, crashVariant(final)); err != nil {
		t.Fatal(err)
	}
	var (
		kills, withTemp, midChange int
		convergeMax                time.Duration
		start                      = time.Now()
	)
	// afterKill checks the tree left by a kill.
	afterKill := func(when string) {
		t.Helper()
		kills++
		hidden, err := checkNotTorn(ns)
		if err != nil {
			t.Fatalf("kill %d (%s): torn files:\n%v", kills, when, err)
		}
		if len(hidden) > 0 {
			withTemp++
		}
		got, err := snapshotRuntime(ns)
		clean := false
		for _, w := range want {
			clean = clean || (err == nil && w.diff(got) == "")
		}
		if !clean {
			midChange++
		}
	}
	for i := range iterations {
		d := startDaemon(t, h, daemonOpts{supervisor: "none"})
		if i%2 == 1 {
			// Kill during the start-up reconcile.
			time.Sleep(time.Duration(rng.IntN(60_000)) * time.Microsecond)
			d.kill()
			afterKill("start-up")
			d = startDaemon(t, h, daemonOpts{supervisor: "none"})
		}
		// Converges to the clean tree of the input. The tree left by the
		// kill can already match it while a bundle is half re-issued
		// (tls.key written, tls.crt not yet), which the first pass
		// repairs: compare once that pass is done.
		began := time.Now()
		d.waitReady()
		var last string
		eventuallyWithin(t, convergeTimeout, fmt.Sprintf("iteration %d: the clean tree of variant %d", i, final), func() (bool, string) {
			got, err := snapshotRuntime(ns)
			if err != nil {
				last = err.Error()
				return false, last
			}
			last = want[final].diff(got)
			return last == "", last
		})
		if err := verifyCredentials(ns); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		convergeMax = max(convergeMax, time.Since(began))

		// Keep changing the input while the daemon reconciles, and kill it
		// at a random moment.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mutErr error
		wg.Add(1)
		seed := rng.Uint64()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 2))
			for {
				if err := applyInput(ns, crashVariant(r.IntN(crashVariants))); err != nil {
					mutErr = err
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(5+r.IntN(35)) * time.Millisecond):
				}
			}
		}()
		time.Sleep(time.Duration(rng.IntN(150_000)) * time.Microsecond)
		d.kill()
		close(stop)
		wg.Wait()
		if mutErr != nil {
			t.Fatal(mutErr)
		}
		final = rng.IntN(crashVariants)
		afterKill("changing input")
		if err := applyInput(ns, crashVariant(final)); err != nil {
			t.Fatal(err)
		}
	}
	// A last restart converges too.
	d := startDaemon(t, h, daemonOpts{supervisor: "none"})
	d.waitReady()
	eventually(t, "the final clean tree", func() (bool, string) {
		got, err := snapshotRuntime(ns)
		if err != nil {
			return false, err.Error()
		}
		diff := want[final].diff(got)
		return diff == "", diff
	})
	if err := verifyCredentials(ns); err != nil {
		t.Fatal(err)
	}
	d.stop()
	t.Logf("%d kills in %d iterations in %s: %d left temporary files behind, %d left a runtime tree that matched no clean run yet; slowest convergence after a restart %s",
		kills, iterations, time.Since(start).Round(time.Millisecond), withTemp, midChange, convergeMax.Round(time.Millisecond))
}
