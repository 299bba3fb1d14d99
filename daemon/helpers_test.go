package daemon_test

// Shared helpers of the daemon tests: building and running the real
// skupperd binary with the stand-in router, writing input, and reading the
// observable state (runtime files, status files, the namespace summary,
// the daemon's JSON log and the stand-in's state files).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/ports"
	"github.com/skupperd/skupperd/test/testwait"
)

// convergeTimeout bounds every wait for observable state.
const convergeTimeout = 20 * time.Second

// Binaries built once per test binary (see TestMain).
var (
	buildOnce    sync.Once
	buildDir     string
	buildErr     error
	skupperdBin  string // the real daemon
	standinDir   string // holds the stand-in as "skrouterd"
	skrouterdBin string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// goTool is the go command of the toolchain that built this test binary.
func goTool() string {
	//lint:ignore SA1019 the test runs on the machine that built it, so the build-time GOROOT is the toolchain to use.
	root := runtime.GOROOT()
	bin := filepath.Join(root, "bin", "go")
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("go"); err == nil {
			return p
		}
	}
	return bin
}

// binaries builds skupperd and the stand-in router once per test binary
// (lazily, so that in-process tests and benchmarks do not pay for it) into
// a temporary directory that TestMain removes. The children are built
// without -race whatever the test binary uses.
func binaries(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "skupperd-daemon-test-")
		if buildErr != nil {
			return
		}
		standinDir = filepath.Join(buildDir, "standin")
		skupperdBin = filepath.Join(buildDir, "skupperd")
		skrouterdBin = filepath.Join(standinDir, "skrouterd")
		for _, b := range []struct{ out, pkg string }{
			{skupperdBin, "github.com/skupperd/skupperd/cmd/skupperd"},
			{skrouterdBin, "github.com/skupperd/skupperd/test/standin/skrouterd"},
		} {
			cmd := exec.Command(goTool(), "build", "-o", b.out, b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// ---------------------------------------------------------------------
// Input fixtures.

func siteYAML(name string) string {
	return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: %s\n", name)
}

func listenerYAML(name, key string, port int) string {
	return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: %s\nspec:\n  routingKey: %s\n  host: 127.0.0.1\n  port: %d\n", name, key, port)
}

func connectorYAML(name, key string, port int) string {
	return fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Connector\nmetadata:\n  name: %s\nspec:\n  routingKey: %s\n  host: 127.0.0.1\n  port: %d\n", name, key, port)
}

// handedOut holds every port freePorts returned in this test process: the
// kernel may offer a port again as soon as it is closed, and a test that
// gets the same port for a listener and for a router would see a clash
// it did not ask for.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePorts returns n distinct loopback ports that were free a moment ago
// and were never returned before in this process.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	handedOut.Lock()
	defer handedOut.Unlock()
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		port := l.Addr().(*net.TCPAddr).Port
		if handedOut.ports[port] {
			continue // held open until the end, so the kernel offers another
		}
		handedOut.ports[port] = true
		out = append(out, port)
	}
	return out
}

// testHome is a data home with a namespace helper.
type testHome struct {
	t    testing.TB
	base string // holds home/, state/ and logs
	home namespaces.Home
	last *daemonProc // the daemon started last, whose log is shown on failure
	// defaultPorts leaves the router ports to the allocator (from 5671);
	// by default addNamespace seeds each namespace's port table with a
	// kernel-chosen free local port instead (see seedLocalPort).
	defaultPorts bool
}

func newTestHome(t testing.TB) *testHome {
	base := t.TempDir()
	h := &testHome{t: t, base: base, home: namespaces.NewHome(filepath.Join(base, "home"))}
	if err := h.home.Ensure(); err != nil {
		t.Fatal(err)
	}
	// Runs after the daemons of the test are stopped (cleanups run last
	// registered first).
	t.Cleanup(func() { killStrayRouters(h) })
	return h
}

func (h *testHome) ns(name string) namespaces.Namespace { return h.home.Namespace(name) }

func (h *testHome) stateDir() string { return filepath.Join(h.base, "state") }

// addNamespace creates a namespace's input directories (and, unless
// h.defaultPorts, seeds its router port).
func (h *testHome) addNamespace(name string) namespaces.Namespace {
	h.t.Helper()
	ns := h.ns(name)
	if !h.defaultPorts {
		h.seedLocalPort(name)
	}
	if err := ns.EnsureInput(); err != nil {
		h.t.Fatal(err)
	}
	return ns
}

// seedLocalPort writes the namespace's port table with a router local port
// the kernel just reported free. The allocator keeps a port a namespace
// already holds, so the router binds that port rather than the first free
// one from 5671: every data home allocates from 5671, and a test package
// running routers at the same time (go test ./... runs packages in
// parallel) could take the same port between allocation and bind.
func (h *testHome) seedLocalPort(name string) {
	h.t.Helper()
	ns := h.ns(name)
	if err := os.MkdirAll(ns.InternalDir(), 0o700); err != nil {
		h.t.Fatal(err)
	}
	table := fmt.Sprintf("ports:\n- host: 127.0.0.1\n  key: router/normal\n  port: %d\n  role: normal\n  what: router local port\n", freePorts(h.t, 1)[0])
	if err := atomicfile.WriteFile(ports.TablePath(ns), []byte(table), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// put atomically writes input/resources/<file> of namespace ns.
func (h *testHome) put(ns, file, content string) {
	h.t.Helper()
	if err := atomicfile.WriteFile(filepath.Join(h.ns(ns).InputResourcesDir(), file), []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// removeNamespace deletes a namespace directory the way a user would with
// rm -rf, retrying (bounded) when a reconcile in flight writes into it and
// makes the removal fail with "directory not empty". It returns how many
// retries that took.
func (h *testHome) removeNamespace(name string) int {
	h.t.Helper()
	dir := h.ns(name).Dir
	err := os.RemoveAll(dir)
	retries := 0
	for ; err != nil && retries < 100; retries++ {
		time.Sleep(100 * time.Millisecond) // a user's retry, not synchronisation
		err = os.RemoveAll(dir)
	}
	if err != nil {
		h.t.Fatalf("cannot remove namespace %s: %v", name, err)
	}
	return retries
}

func (h *testHome) remove(ns, file string) {
	h.t.Helper()
	if err := os.Remove(filepath.Join(h.ns(ns).InputResourcesDir(), file)); err != nil {
		h.t.Fatal(err)
	}
}

// ---------------------------------------------------------------------
// The daemon as a process.

type daemonOpts struct {
	supervisor   string // default "process"
	routerBinary string // default: the stand-in, by name on PATH
	args         []string
	namespaces   []string
}

type daemonProc struct {
	t       testing.TB
	h       *testHome
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

var logSeq struct {
	sync.Mutex
	n int
}

// startDaemon runs `skupperd run` on h with JSON logs at debug level to a
// file, the stand-in router on PATH, and SKROUTERD_STANDIN_STATE_DIR set.
// The process is stopped at the end of the test; its log is printed when
// the test failed.
func startDaemon(t testing.TB, h *testHome, o daemonOpts) *daemonProc {
	t.Helper()
	binaries(t)
	if o.supervisor == "" {
		o.supervisor = "process"
	}
	if o.routerBinary == "" {
		o.routerBinary = "skrouterd"
	}
	logSeq.Lock()
	logSeq.n++
	n := logSeq.n
	logSeq.Unlock()
	logPath := filepath.Join(h.base, fmt.Sprintf("daemon-%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := []string{"run", "--data-home", h.home.Root, "--log-format", "json", "--log-level", "debug",
		"--supervisor", o.supervisor, "--router-binary", o.routerBinary,
		"--grant-server-addr", "127.0.0.1:0", "--advertise-host", "127.0.0.1"}
	for _, ns := range o.namespaces {
		args = append(args, "-n", ns)
	}
	args = append(args, o.args...)
	cmd := exec.Command(skupperdBin, args...)
	cmd.Env = childEnv(h)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Never outlive the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{t: t, h: h, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	h.last = p
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() && h.last == p {
			p.dumpLog()
		}
	})
	return p
}

// childEnv is the environment of the daemon: no SKUPPER_* settings of the
// caller, the stand-in first on PATH, and its state directory.
func childEnv(h *testHome) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SKUPPER_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "SKROUTERD_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+standinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SKROUTERD_STANDIN_STATE_DIR="+h.stateDir())
}

func (p *daemonProc) pid() int { return p.cmd.Process.Pid }

func (p *daemonProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitReady waits for the "ready" log line (every namespace reconciled once).
func (p *daemonProc) waitReady() {
	p.t.Helper()
	eventually(p.t, "daemon ready", func() (bool, string) {
		if !p.alive() {
			return false, "daemon exited: " + fmt.Sprint(p.waitErr)
		}
		return len(p.logLines("ready", "")) > 0, "no ready line in the log"
	})
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (p *daemonProc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.t.Errorf("skupperd did not stop within 20s of SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *daemonProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *daemonProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

func (p *daemonProc) dumpLog() {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 150 {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-150)}, lines[len(lines)-150:]...)
	}
	p.t.Logf("skupperd log %s:\n%s", p.logPath, strings.Join(lines, "\n"))
}

// logLine is one JSON log record.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// logLines returns the records with the given message (and namespace, when
// not empty).
func (p *daemonProc) logLines(msg, ns string) []logLine {
	return readLog(p.logPath, msg, ns)
}

func readLog(path, msg, ns string) []logLine {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if (msg == "" || l.str("msg") == msg) && (ns == "" || l.str("namespace") == ns) {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------
// Waiting.

// eventually polls cond until it holds, failing the test with cond's last
// explanation after convergeTimeout.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	eventuallyWithin(t, convergeTimeout, what, cond)
}

func eventuallyWithin(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testwait.For(t, timeout, what, cond)
}

// ---------------------------------------------------------------------
// Observable state.

// condition and statusFile mirror runtime/resources/<Kind>-<name>.yaml.
type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	LastTransitionTime string `json:"lastTransitionTime"`
}

type statusFile struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec   map[string]any `json:"spec"`
	Status struct {
		Status               string      `json:"status"`
		Message              string      `json:"message"`
		Conditions           []condition `json:"conditions"`
		HasMatchingConnector bool        `json:"hasMatchingConnector"`
		HasMatchingListener  bool        `json:"hasMatchingListener"`
		SitesInNetwork       int         `json:"sitesInNetwork"`
	} `json:"status"`
}

func (s *statusFile) condition(typ string) (condition, bool) {
	for _, c := range s.Status.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return condition{}, false
}

// readStatusFile reads a resource's status file; a missing file is
// (nil, nil).
func readStatusFile(ns namespaces.Namespace, kind, name string) (*statusFile, error) {
	data, err := os.ReadFile(filepath.Join(ns.StatusDir(), kind+"-"+name+".yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s statusFile
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("status %s-%s: %w", kind, name, err)
	}
	return &s, nil
}

func specPort(s *statusFile) int {
	if s == nil {
		return 0
	}
	switch v := s.Spec["port"].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// readSummary reads internal/status.yaml.
func readSummary(ns namespaces.Namespace) (*namespaces.Summary, error) {
	s, err := ns.ReadSummary()
	if err == nil && s == nil {
		err = fmt.Errorf("no summary at %s: %w", ns.SummaryPath(), fs.ErrNotExist)
	}
	return s, err
}

// entity is one entry of skrouterd.json.
type entity struct {
	Type  string
	Attrs map[string]any
}

func (e entity) name() string { s, _ := e.Attrs["name"].(string); return s }
func (e entity) attr(k string) string {
	switch v := e.Attrs[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// routerConfig parses the namespace's skrouterd.json; a missing file is
// (nil, nil).
func routerConfig(ns namespaces.Namespace) ([]entity, error) {
	data, err := os.ReadFile(ns.RouterConfigPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseRouterConfig(data)
}

func parseRouterConfig(data []byte) ([]entity, error) {
	var raw [][]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("skrouterd.json: %w", err)
	}
	out := make([]entity, 0, len(raw))
	for _, r := range raw {
		if len(r) != 2 {
			return nil, fmt.Errorf("skrouterd.json: entry of %d elements", len(r))
		}
		var e entity
		if err := json.Unmarshal(r[0], &e.Type); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(r[1], &e.Attrs); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func findEntity(es []entity, typ, name string) (entity, bool) {
	for _, e := range es {
		if e.Type == typ && e.name() == name {
			return e, true
		}
	}
	return entity{}, false
}

func countEntities(es []entity, typ string) int {
	n := 0
	for _, e := range es {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// statusFiles lists runtime/resources/*.yaml (not temporary files).
func statusFiles(ns namespaces.Namespace) []string {
	entries, _ := os.ReadDir(ns.StatusDir())
	var out []string
	for _, e := range entries {
		if !namespaces.IgnoredName(e.Name()) && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------
// Stand-in routers.

// standinState mirrors the stand-in's <pid>.json.
type standinState struct {
	PID          int      `json:"pid"`
	Config       string   `json:"config"`
	ConfigSHA256 string   `json:"configSha256"`
	Listening    []string `json:"listening"`
}

// routerStates returns the state files of live stand-ins, by namespace
// (derived from the config path). Files of processes that are gone
// (SIGKILLed stand-ins cannot remove theirs) are skipped.
func routerStates(h *testHome) map[string][]standinState {
	out := map[string][]standinState{}
	entries, _ := os.ReadDir(h.stateDir())
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(h.stateDir(), e.Name()))
		if err != nil {
			continue
		}
		var s standinState
		if json.Unmarshal(data, &s) != nil || !processAlive(s.PID) {
			continue
		}
		rel, err := filepath.Rel(h.home.NamespacesDir(), s.Config)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		ns, _, _ := strings.Cut(rel, string(filepath.Separator))
		out[ns] = append(out[ns], s)
	}
	return out
}

// oneRouter returns the single live stand-in of namespace ns.
func oneRouter(h *testHome, ns string) (standinState, bool, string) {
	got := routerStates(h)[ns]
	if len(got) != 1 {
		return standinState{}, false, fmt.Sprintf("%d live routers for namespace %s: %+v", len(got), ns, got)
	}
	return got[0], true, ""
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	return data[i+2] != 'Z' && data[i+2] != 'X'
}

// killStrayRouters kills stand-ins of h that are still alive (cleanup
// after a failed test, so that no process keeps ports).
func killStrayRouters(h *testHome) {
	for _, states := range routerStates(h) {
		for _, s := range states {
			_ = syscall.Kill(s.PID, syscall.SIGKILL)
		}
	}
}

// dialOK reports whether addr accepts a TCP connection.
func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
