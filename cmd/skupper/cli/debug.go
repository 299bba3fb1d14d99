package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/certs"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/render"
)

// redacted replaces private key material in dumps.
const redacted = "<redacted>"

// expiryWarning is how soon a certificate's expiry makes debug check warn.
const expiryWarning = 30 * 24 * time.Hour

// minInotifyWatches is the max_user_watches below which debug check warns.
const minInotifyWatches = 8192

// newDebugCommand builds the "skupper debug" command group.
func (a *app) newDebugCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Troubleshoot the current namespace's site",
		Args:  noArgs,
		RunE:  helpOrUnknown,
	}
	cmd.AddCommand(a.debugCheck(), a.debugDump())
	return cmd
}

// checkResult is one line of "skupper debug check".
type checkResult struct {
	level  string // OK, WARN or FAIL
	name   string
	detail string
}

// debugCheck builds "skupper debug check".
func (a *app) debugCheck() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Run diagnostic checks",
		Long: `Check what a working site needs and print one line per check:
OK|WARN|FAIL  <check>: <detail>

Checks: skupperd is running; the router (skrouterd) is installed and running;
the router's ports accept connections; no certificate expires within 30 days;
the inotify limits suffice; the namespace's input has no errors; no resource
status is Error (e.g. a refused AccessToken).

Exit status: 1 when any check fails, else 0.`,
		Example: `  skupper debug check -n west`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, err := a.existingNS()
			if err != nil {
				return err
			}
			results := a.runChecks(ns)
			fail := false
			for _, r := range results {
				a.printf("%-4s  %s: %s\n", r.level, r.name, r.detail)
				fail = fail || r.level == "FAIL"
			}
			if fail {
				return errReported
			}
			return nil
		},
	}
}

// runChecks performs every check of "skupper debug check".
func (a *app) runChecks(ns namespaces.Namespace) []checkResult {
	var out []checkResult
	add := func(level, name, format string, args ...any) {
		out = append(out, checkResult{level, name, fmt.Sprintf(format, args...)})
	}
	daemonUp, pid := ns.Home.DaemonRunning()
	if daemonUp {
		add("OK", "skupperd", "running (pid %d)", pid)
	} else {
		add("FAIL", "skupperd", "not running; %s", startHint)
	}
	if path, ok := a.routerPath(); ok {
		add("OK", "router installed", "%s", path)
	} else {
		add("FAIL", "router installed", "%s is not installed (not on PATH, or $%s); install the skupper-router package", RouterBinary, EnvRouterBinary)
	}
	switch up, seen := siteRunning(ns); {
	case !daemonUp:
		add("FAIL", "router running", "skupperd is not running, so neither is the router (the site status on disk is from its last run)")
	case ns.Stopped():
		add("WARN", "router running", "stopped by \"skupper system stop\"; start it with \"skupper system start\"")
	case up:
		add("OK", "router running", "%s", seen)
	default:
		add("FAIL", "router running", "%s", seen)
	}
	out = append(out, checkPorts(ns))
	out = append(out, checkCertificates(ns, a.now()))
	out = append(out, a.checkInotify())
	out = append(out, checkDiagnostics(ns))
	out = append(out, checkResourceErrors(ns))
	return out
}

// checkResourceErrors reports the resources whose status is Error, e.g.
// an AccessToken the grant server refused, which stays in the input.
func checkResourceErrors(ns namespaces.Namespace) checkResult {
	const name = "resources"
	keys, err := ns.ListStatus()
	if err != nil {
		return checkResult{"FAIL", name, err.Error()}
	}
	var bad []string
	for _, k := range keys {
		obj, err := ns.ReadStatus(k)
		if err != nil {
			continue
		}
		if st := obj.GetStatus(); st.StatusType == v2alpha1.StatusError {
			bad = append(bad, fmt.Sprintf("%s: %s", k, st.Message))
		}
	}
	switch {
	case len(keys) == 0:
		return checkResult{"WARN", name, "no resource status yet (skupperd has not applied this namespace)"}
	case len(bad) > 0:
		return checkResult{"FAIL", name, fmt.Sprintf("%s in error, the first: %s", plural(len(bad), "resource"), bad[0])}
	}
	return checkResult{"OK", name, fmt.Sprintf("%s, none in error", plural(len(keys), "resource"))}
}

// routerSocket is a socket the router configuration declares.
type routerSocket struct {
	what, host, port string
}

// routerSockets reads the listeners of runtime/router/skrouterd.json.
func routerSockets(ns namespaces.Namespace) ([]routerSocket, error) {
	data, err := os.ReadFile(ns.RouterConfigPath())
	if err != nil {
		return nil, err
	}
	var entities [][]json.RawMessage
	if err := json.Unmarshal(data, &entities); err != nil {
		return nil, fmt.Errorf("%s: %w", ns.RouterConfigPath(), err)
	}
	var out []routerSocket
	for _, e := range entities {
		if len(e) != 2 {
			continue
		}
		var typ string
		var attrs map[string]any
		if json.Unmarshal(e[0], &typ) != nil || json.Unmarshal(e[1], &attrs) != nil {
			continue
		}
		if typ != "listener" && typ != "tcpListener" {
			continue
		}
		host, _ := attrs["host"].(string)
		port := fmt.Sprint(attrs["port"])
		name, _ := attrs["name"].(string)
		out = append(out, routerSocket{what: name, host: host, port: port})
	}
	return out, nil
}

// checkPorts connects to every socket the router configuration declares.
func checkPorts(ns namespaces.Namespace) checkResult {
	const name = "ports bound"
	socks, err := routerSockets(ns)
	if errors.Is(err, fs.ErrNotExist) {
		return checkResult{"WARN", name, "no router configuration yet (skupperd has not applied a site)"}
	}
	if err != nil {
		return checkResult{"FAIL", name, err.Error()}
	}
	var closed []string
	for _, s := range socks {
		host := s.host
		switch {
		case host == "" || host == "0.0.0.0":
			host = "127.0.0.1"
		case host == "::":
			host = "::1"
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, s.port), time.Second)
		if err != nil {
			closed = append(closed, fmt.Sprintf("%s (%s)", net.JoinHostPort(host, s.port), s.what))
			continue
		}
		conn.Close()
	}
	if len(closed) > 0 {
		return checkResult{"FAIL", name, fmt.Sprintf("%d of %d ports refuse connections: %s", len(closed), len(socks), strings.Join(closed, ", "))}
	}
	return checkResult{"OK", name, fmt.Sprintf("%d ports accept connections", len(socks))}
}

// certFile is a certificate file of a namespace and its summaries.
type certFile struct {
	Path         string          `json:"path"`
	Certificates []certs.Summary `json:"certificates,omitempty"`
	Error        string          `json:"error,omitempty"`
}

// namespaceCertificates summarises every ca.crt and tls.crt of the
// namespace's bundle directories (never a key).
func namespaceCertificates(ns namespaces.Namespace) []certFile {
	var out []certFile
	for _, parent := range []string{ns.InputCertsDir(), ns.InputIssuersDir(), ns.RuntimeCertsDir(), ns.RuntimeIssuersDir(), filepath.Join(ns.InternalDir(), "link-clients")} {
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() || namespaces.IgnoredName(e.Name()) {
				continue
			}
			for _, file := range []string{"ca.crt", "tls.crt"} {
				p := filepath.Join(parent, e.Name(), file)
				data, err := readLimited(p)
				if err != nil {
					continue
				}
				rel, _ := filepath.Rel(ns.Dir, p)
				cf := certFile{Path: rel}
				if sums, err := certs.Summarize(data); err != nil {
					cf.Error = err.Error()
				} else {
					cf.Certificates = sums
				}
				out = append(out, cf)
			}
		}
	}
	return out
}

// checkCertificates reports certificates of the runtime that expire soon.
func checkCertificates(ns namespaces.Namespace, now time.Time) checkResult {
	const name = "certificates"
	level, n := "OK", 0
	var notes []string
	for _, cf := range namespaceCertificates(ns) {
		if !strings.HasPrefix(cf.Path, "runtime"+string(filepath.Separator)) {
			continue
		}
		if cf.Error != "" {
			level = "FAIL"
			notes = append(notes, fmt.Sprintf("%s: %s", cf.Path, cf.Error))
			continue
		}
		for _, c := range cf.Certificates {
			n++
			left := c.NotAfter.Sub(now)
			switch {
			case left <= 0:
				level = "FAIL"
				notes = append(notes, fmt.Sprintf("%s (%s) expired on %s", cf.Path, c.Subject, c.NotAfter.Format(time.DateOnly)))
			case left < expiryWarning:
				if level == "OK" {
					level = "WARN"
				}
				notes = append(notes, fmt.Sprintf("%s (%s) expires on %s, in %d days", cf.Path, c.Subject, c.NotAfter.Format(time.DateOnly), int(left.Hours()/24)))
			}
		}
	}
	if n == 0 && len(notes) == 0 {
		return checkResult{"WARN", name, "no certificates in runtime yet (skupperd has not applied a site)"}
	}
	if len(notes) == 0 {
		return checkResult{"OK", name, fmt.Sprintf("%d certificates valid for more than 30 days", n)}
	}
	return checkResult{level, name, strings.Join(notes, "; ")}
}

// checkInotify reads the inotify watch limit skupperd's file watching needs.
func (a *app) checkInotify() checkResult {
	const name = "inotify limits"
	path := filepath.Join(a.procRoot, "sys", "fs", "inotify", "max_user_watches")
	data, err := os.ReadFile(path)
	if err != nil {
		return checkResult{"WARN", name, fmt.Sprintf("cannot read %s: %v", path, err)}
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return checkResult{"WARN", name, fmt.Sprintf("cannot parse %s: %q", path, strings.TrimSpace(string(data)))}
	}
	if n < minInotifyWatches {
		return checkResult{"WARN", name, fmt.Sprintf("fs.inotify.max_user_watches is %d; below %d skupperd may fall back to polling (raise it with sysctl)", n, minInotifyWatches)}
	}
	return checkResult{"OK", name, fmt.Sprintf("fs.inotify.max_user_watches is %d", n)}
}

// checkDiagnostics reports the errors of the namespace's last reconcile.
func checkDiagnostics(ns namespaces.Namespace) checkResult {
	const name = "namespace diagnostics"
	s, err := ns.ReadSummary()
	switch {
	case err != nil:
		return checkResult{"FAIL", name, err.Error()}
	case s == nil:
		return checkResult{"WARN", name, "skupperd has not reconciled this namespace yet"}
	case len(s.Errors) > 0:
		return checkResult{"FAIL", name, fmt.Sprintf("%s, the first: %s (see \"skupper system status\")", plural(len(s.Errors), "error"), s.Errors[0])}
	case len(s.Warnings) > 0:
		return checkResult{"WARN", name, fmt.Sprintf("%s, the first: %s", plural(len(s.Warnings), "warning"), s.Warnings[0])}
	}
	return checkResult{"OK", name, fmt.Sprintf("no problems in the input (last reconcile %s, outcome %s)", shortTime(s.LastReconcile), s.Outcome)}
}

// debugDump builds "skupper debug dump".
func (a *app) debugDump() *cobra.Command {
	return &cobra.Command{
		Use:   "dump [file]",
		Short: "Generate a debug dump file",
		Long: `Write a tar.gz file with what another party needs to find a problem with the
namespace's site: its input and runtime resources and their status, the
router configuration, summaries of its certificates (subject, names, expiry),
component versions, skupperd's reconcile summary, the checks of "skupper debug
check", skstat output when skstat is installed, and the recent logs of skupperd
and of the namespace's router (skupperd's log file in the data home, which
holds its routers' output under the process supervisor, and the systemd
journal of skupperd.service and skupper-<namespace>.service when journalctl is
installed).

Secrets are never included: tls.key files are left out, and the tls.key
values of Secrets and the codes of AccessGrants and AccessTokens are replaced
by "<redacted>".

The file defaults to skupper-dump-<site-name>-<YYYYMMDDhhmmss>.tar.gz in the
current directory. The command fails if the file already exists.`,
		Example: `  # Generate a dump file
  skupper debug dump

  # Generate a dump file to a particular path
  skupper debug dump /tmp/abc.tar.gz`,
		Args: positional("skupper debug dump [file] [options]", nil, "file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.loadForStatus()
			if err != nil {
				return err
			}
			ns := s.ns
			now := a.now()
			file := ""
			if len(args) == 1 {
				file = args[0]
			} else {
				label := ns.Name
				if site := s.site(); site != nil {
					label = site.Name
				}
				file = fmt.Sprintf("skupper-dump-%s-%s.tar.gz", label, now.Format("20060102150405"))
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				return usageError("invalid file %q: %v", file, err)
			}
			if _, err := os.Lstat(abs); err == nil {
				return failure("%s already exists; give another file name", abs)
			}
			data, err := a.buildDump(s, now)
			if err != nil {
				return failed(err)
			}
			if err := writeNew(abs, data); err != nil {
				return failed(err)
			}
			a.printf("Debug dump file: %s\n", abs)
			return nil
		},
	}
}

// writeNew writes a file that must not exist yet (0600), durably.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, namespaces.FilePerm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; give another file name", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// dumpWriter accumulates the files of a dump.
type dumpWriter struct {
	tw  *tar.Writer
	now time.Time
	err error
}

// add appends a file to the dump; the first error sticks.
func (d *dumpWriter) add(name string, data []byte) {
	if d.err != nil {
		return
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: d.now, Typeflag: tar.TypeReg}
	if d.err = d.tw.WriteHeader(hdr); d.err == nil {
		_, d.err = d.tw.Write(data)
	}
}

// addYAML appends v as a YAML file to the dump.
func (d *dumpWriter) addYAML(name string, v any) {
	b, err := yaml.Marshal(v)
	if err != nil {
		d.add(name+".error.txt", []byte(err.Error()+"\n"))
		return
	}
	d.add(name, b)
}

// buildDump assembles the dump of the namespace in memory.
func (a *app) buildDump(s *inputState, now time.Time) ([]byte, error) {
	ns := s.ns
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	d := &dumpWriter{tw: tar.NewWriter(gz), now: now}

	d.addYAML("versions.yaml", a.gatherVersions())
	running, pid := ns.Home.DaemonRunning()
	d.addYAML("daemon.yaml", map[string]any{"running": running, "pid": pid, "dataHome": ns.Home.Root, "namespace": ns.Name, "stopped": ns.Stopped()})
	if sum, err := ns.ReadSummary(); err == nil && sum != nil {
		d.addYAML("internal/status.yaml", sum)
	}
	var check bytes.Buffer
	for _, r := range a.runChecks(ns) {
		fmt.Fprintf(&check, "%-4s  %s: %s\n", r.level, r.name, r.detail)
	}
	d.add("check.txt", check.Bytes())

	// Input resources, with Secret keys redacted; a file that does not
	// decode is left out (it may hold keys in a form not recognised).
	for _, f := range s.files {
		rel := "input/resources/" + filepath.Base(f.Path)
		docs, diags := v2alpha1.Decode(f.Path, f.Data)
		if len(docs) == 0 && diags.HasErrors() {
			d.add(rel+".omitted.txt", []byte("This file does not decode, so it is left out of the dump (it could hold private keys):\n"+diags.Err().Error()+"\n"))
			continue
		}
		d.add(rel, redactDocs(docs))
	}
	addDir(d, ns.StatusDir(), "runtime/resources", true)
	addDir(d, ns.LinksDir(), "runtime/links", true)
	if data, err := readLimited(ns.RouterConfigPath()); err == nil {
		d.add("runtime/router/skrouterd.json", data)
	}
	if data, err := readLimited(filepath.Join(ns.InternalDir(), "ports.yaml")); err == nil {
		d.add("internal/ports.yaml", data)
	}
	d.addYAML("certificates.yaml", namespaceCertificates(ns))
	a.addSkstat(d, ns)
	a.addLogs(d, ns)
	d.add("host.txt", hostInfo(a.procRoot))

	if d.err != nil {
		return nil, fmt.Errorf("build dump: %w", d.err)
	}
	if err := d.tw.Close(); err != nil {
		return nil, fmt.Errorf("build dump: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("build dump: %w", err)
	}
	return buf.Bytes(), nil
}

// addDir adds the YAML files of dir; redact decodes and redacts them.
func addDir(d *dumpWriter, dir, prefix string, redact bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := readLimited(p)
		if err != nil {
			continue
		}
		if redact {
			docs, diags := v2alpha1.Decode(p, data)
			if diags.HasErrors() {
				d.add(prefix+"/"+e.Name()+".omitted.txt", []byte("This file does not decode, so it is left out of the dump (it could hold private keys).\n"))
				continue
			}
			data = redactDocs(docs)
		}
		d.add(prefix+"/"+e.Name(), data)
	}
}

// redactDocs renders documents as YAML with the private keys of Secrets
// replaced.
func redactDocs(docs []*v2alpha1.Document) []byte {
	var out []byte
	for i, doc := range docs {
		obj := v2alpha1.DeepCopy(doc.Object)
		redactObject(obj)
		b, err := v2alpha1.Marshal(obj)
		if err != nil {
			continue
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, b...)
	}
	return out
}

// redactObject replaces the secrets an object carries: a Secret's private
// keys, and the codes of AccessGrants and AccessTokens (whoever holds a
// grant's code and URL can redeem it).
func redactObject(obj v2alpha1.Object) {
	switch o := obj.(type) {
	case *v2alpha1.Secret:
		for _, m := range []map[string]string{o.Data, o.StringData} {
			for k := range m {
				if k == v2alpha1.SecretKeyKey || strings.HasSuffix(k, ".key") {
					m[k] = redacted
				}
			}
		}
	case *v2alpha1.AccessGrant:
		if o.Spec.Code != "" {
			o.Spec.Code = redacted
		}
		if o.Status.Code != "" {
			o.Status.Code = redacted
		}
	case *v2alpha1.AccessToken:
		if o.Spec.Code != "" {
			o.Spec.Code = redacted
		}
	}
}

// skstatArgs are the skstat views a dump records.
var skstatArgs = []string{"-g", "-c", "-l", "-n", "-e", "-a", "-m", "-p"}

// addSkstat records skstat output from the site's router when skstat is
// installed, connecting with the router's local client certificate.
func (a *app) addSkstat(d *dumpWriter, ns namespaces.Namespace) {
	path, ok := a.lookPath("skstat")
	if !ok {
		d.add("skstat/README.txt", []byte("skstat is not installed, so no router statistics were collected.\n"))
		return
	}
	port := ""
	socks, _ := routerSockets(ns)
	for _, s := range socks {
		if s.what == "skupper-local-normal" {
			port = s.port
		}
	}
	if port == "" {
		d.add("skstat/README.txt", []byte("The router configuration has no local listener, so skstat was not run.\n"))
		return
	}
	client := ns.RuntimeCertDir(render.LocalClientCreds)
	for _, flag := range skstatArgs {
		out, err := runTool(10*time.Second, path, flag, "-b", "amqps://127.0.0.1:"+port,
			"--ssl-certificate", filepath.Join(client, "tls.crt"), "--ssl-key", filepath.Join(client, "tls.key"),
			"--ssl-trustfile", filepath.Join(client, "ca.crt"), "--timeout", "5")
		if err != nil {
			out += "\n(skstat: " + err.Error() + ")\n"
		}
		d.add("skstat/skstat"+flag+".txt", []byte(out))
	}
}

// hostInfo describes the host: OS release and kernel.
func hostInfo(procRoot string) []byte {
	var b bytes.Buffer
	for _, p := range []string{"/etc/os-release", filepath.Join(procRoot, "version")} {
		if data, err := os.ReadFile(p); err == nil {
			fmt.Fprintf(&b, "==> %s <==\n%s\n", p, data)
		}
	}
	return b.Bytes()
}
