package daemon_test

// Acceptance scenarios run against the real skupperd binary.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skupperd/skupperd/namespaces"
)

// waitListener waits until the Listener's port is port in both the router
// config and its status file (port 0: the Listener is gone from both).
func waitListener(t *testing.T, ns namespaces.Namespace, name string, port int) {
	t.Helper()
	eventually(t, fmt.Sprintf("Listener/%s on port %d", name, port), func() (bool, string) {
		cfg, err := routerConfig(ns)
		if err != nil {
			return false, err.Error()
		}
		e, inCfg := findEntity(cfg, "tcpListener", "listener/"+name)
		st, err := readStatusFile(ns, "Listener", name)
		if err != nil {
			return false, err.Error()
		}
		if port == 0 {
			return !inCfg && st == nil, fmt.Sprintf("in config %v, status %v", inCfg, st != nil)
		}
		if !inCfg || e.attr("port") != fmt.Sprint(port) {
			return false, fmt.Sprintf("config entity %v (found %v)", e.Attrs, inCfg)
		}
		if st == nil || specPort(st) != port {
			return false, fmt.Sprintf("status %+v", st)
		}
		c, _ := st.condition("Configured")
		return c.Status == "True", fmt.Sprintf("status %+v", st.Status)
	})
}

// waitConnector waits until the Connector is present (port > 0) in config
// and status, or gone from both (port 0).
func waitConnector(t *testing.T, ns namespaces.Namespace, name string, port int) {
	t.Helper()
	eventually(t, fmt.Sprintf("Connector/%s on port %d", name, port), func() (bool, string) {
		cfg, err := routerConfig(ns)
		if err != nil {
			return false, err.Error()
		}
		e, inCfg := findEntity(cfg, "tcpConnector", "connector/"+name)
		st, err := readStatusFile(ns, "Connector", name)
		if err != nil {
			return false, err.Error()
		}
		if port == 0 {
			return !inCfg && st == nil, fmt.Sprintf("in config %v, status file present %v", inCfg, st != nil)
		}
		return inCfg && e.attr("port") == fmt.Sprint(port) && st != nil && specPort(st) == port,
			fmt.Sprintf("config %v (found %v), status %+v", e.Attrs, inCfg, st)
	})
}

// waitSummary waits until the namespace summary satisfies cond.
func waitSummary(t *testing.T, ns namespaces.Namespace, what string, cond func(errs, warns string) bool) {
	t.Helper()
	eventually(t, what, func() (bool, string) {
		s, err := readSummary(ns)
		if err != nil {
			return false, err.Error()
		}
		e, w := strings.Join(s.Errors, "\n"), strings.Join(s.Warnings, "\n")
		return cond(e, w), fmt.Sprintf("errors:\n%s\nwarnings:\n%s", e, w)
	})
}

func TestDaemonConvergesOnFileChanges(t *testing.T) {
	h := newTestHome(t)
	west := h.addNamespace("west")
	p := freePorts(t, 5)
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[0]))
	h.put("west", "connector.yaml", connectorYAML("backend", "backend", p[1]))
	d := startDaemon(t, h, daemonOpts{})
	d.waitReady()

	// Site + Listener + Connector: config and status files appear.
	waitListener(t, west, "backend", p[0])
	waitConnector(t, west, "backend", p[1])
	eventually(t, "site status", func() (bool, string) {
		st, err := readStatusFile(west, "Site", "west")
		if err != nil || st == nil {
			return false, fmt.Sprint(err)
		}
		l, _ := readStatusFile(west, "Listener", "backend")
		return st.Status.Status == "Ready" && l != nil && l.Status.HasMatchingConnector, fmt.Sprintf("%+v", st.Status)
	})
	if got, want := statusFiles(west), []string{"Connector-backend.yaml", "Listener-backend.yaml", "Site-west.yaml"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("status files %v, want %v", got, want)
	}

	// Edit: the new port is applied.
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", p[2]))
	waitListener(t, west, "backend", p[2])

	// Rename with the same content: the same state (the summary's input
	// hash, which covers file names, shows the rename was seen).
	before, err := readSummary(west)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(west.InputResourcesDir(), "listener.yaml"), filepath.Join(west.InputResourcesDir(), "backend-listener.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rename seen", func() (bool, string) {
		s, err := readSummary(west)
		return err == nil && s.InputHash != before.InputHash, fmt.Sprint(err)
	})
	waitListener(t, west, "backend", p[2])

	// Rename to a name that is not a resource file: the Connector goes
	// (its status file is deleted) and the summary says why.
	off := filepath.Join(west.InputResourcesDir(), "connector.yaml.disabled")
	if err := os.Rename(filepath.Join(west.InputResourcesDir(), "connector.yaml"), off); err != nil {
		t.Fatal(err)
	}
	waitConnector(t, west, "backend", 0)
	waitSummary(t, west, "warning about the disabled file", func(_, w string) bool {
		return strings.Contains(w, off+": warning: ignored: resource files must end in .yaml, .yml or .json")
	})
	eventually(t, "listener unmatched", func() (bool, string) {
		st, err := readStatusFile(west, "Listener", "backend")
		return err == nil && st != nil && !st.Status.HasMatchingConnector, fmt.Sprintf("%+v", st)
	})
	// ... and back.
	if err := os.Rename(off, filepath.Join(west.InputResourcesDir(), "connector.yaml")); err != nil {
		t.Fatal(err)
	}
	waitConnector(t, west, "backend", p[1])

	// Delete: gone from config, its status file removed.
	h.remove("west", "connector.yaml")
	waitConnector(t, west, "backend", 0)
	h.remove("west", "backend-listener.yaml")
	waitListener(t, west, "backend", 0)
	eventually(t, "only the Site's status file", func() (bool, string) {
		got := statusFiles(west)
		return fmt.Sprint(got) == "[Site-west.yaml]", fmt.Sprint(got)
	})
	if !d.alive() {
		t.Fatal("daemon exited")
	}
}

func TestDaemonNamespaceAddedAndRemovedLive(t *testing.T) {
	h := newTestHome(t)
	h.addNamespace("west")
	p := freePorts(t, 2)
	h.put("west", "site.yaml", siteYAML("west"))
	d := startDaemon(t, h, daemonOpts{})
	d.waitReady()
	eventually(t, "west's router", func() (bool, string) {
		_, ok, why := oneRouter(h, "west")
		return ok, why
	})

	// A namespace created live, the way a user would: directories first,
	// then files written in place.
	east := h.ns("east")
	h.seedLocalPort("east")
	if err := os.MkdirAll(east.InputResourcesDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(east.InputResourcesDir(), "site.yaml"), []byte(siteYAML("east")+"---\n"+listenerYAML("db", "db", p[0])), 0o600); err != nil {
		t.Fatal(err)
	}
	waitListener(t, east, "db", p[0])
	var eastRouter standinState
	eventually(t, "east's router running with the listener bound", func() (bool, string) {
		r, ok, why := oneRouter(h, "east")
		if !ok {
			return false, why
		}
		eastRouter = r
		st, _ := readStatusFile(east, "Site", "east")
		if st == nil {
			return false, "no site status"
		}
		c, _ := st.condition("Running")
		return c.Status == "True" && dialOK(fmt.Sprintf("127.0.0.1:%d", p[0])), fmt.Sprintf("running %+v", c)
	})

	// A directory whose name is not a namespace name is not a namespace
	// (as at start-up): no worker, nothing written into it.
	bogus := filepath.Join(h.home.NamespacesDir(), "Not_A_Namespace")
	if err := os.MkdirAll(filepath.Join(bogus, "input", "resources"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bogus, "input", "resources", "site.yaml"), []byte(siteYAML("bogus")), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the invalid directory name reported", func() (bool, string) {
		for _, l := range d.logLines("ignoring a directory whose name is not a valid namespace name", "") {
			if l.str("dir") == bogus {
				return true, ""
			}
		}
		return false, "no warning"
	})
	if len(d.logLines("namespace added", "Not_A_Namespace")) > 0 {
		t.Fatal("a worker was started for an invalid namespace name")
	}

	// Deleted live: its router stops, its worker ends, and the directory
	// stays deleted (the daemon does not write into a namespace that is
	// going away).
	h.removeNamespace("east")
	eventually(t, "east's router to exit", func() (bool, string) {
		return !processAlive(eastRouter.PID), fmt.Sprintf("pid %d alive", eastRouter.PID)
	})
	eventually(t, "east's worker to end", func() (bool, string) {
		return len(d.logLines("namespace removed", "east")) == 1, "no 'namespace removed' log line for east"
	})
	if _, err := os.Stat(east.Dir); !os.IsNotExist(err) {
		t.Fatalf("namespace directory came back after removal: %v", err)
	}
	if _, ok, why := oneRouter(h, "west"); !ok {
		t.Fatalf("west's router is affected: %s", why)
	}
	if dialOK(fmt.Sprintf("127.0.0.1:%d", p[0])) {
		t.Fatalf("port %d of the removed namespace is still bound", p[0])
	}
	if _, err := os.Stat(filepath.Join(bogus, "runtime")); !os.IsNotExist(err) {
		t.Fatalf("runtime files written into %s: %v", bogus, err)
	}
}

// TestDaemonRemoveBusyNamespace removes a namespace while it is being
// reconciled, in the two ways a user would: rm -rf in place, and renaming
// it out of the way first (mv to a dot-name, which is not a namespace, then
// rm -rf). The reconcile in flight re-creates directories as it writes; the
// namespace must not come back (a ghost holding port reservations), and its
// worker must end. rm -rf in place can fail with "directory not empty" while
// the reconcile writes; it is retried as a user would. After a rename the
// removal never competes with the daemon.
func TestDaemonRemoveBusyNamespace(t *testing.T) {
	iterations := 8
	if testing.Short() {
		iterations = 2
	}
	h := newTestHome(t)
	d := startDaemon(t, h, daemonOpts{supervisor: "none"})
	d.waitReady()
	rmRetries := 0
	for i := range iterations {
		name := fmt.Sprintf("busy%d", i)
		ns := h.addNamespace(name)
		h.put(name, "site.yaml", siteYAML(name))
		for j := range 150 {
			h.put(name, fmt.Sprintf("l%d.yaml", j), listenerYAML(fmt.Sprintf("l%d", j), "k", 20000+j))
		}
		waitListener(t, ns, "l149", 20149)
		// A change starts a reconcile; the removal lands in it at a
		// different point each time.
		h.put(name, "l0.yaml", listenerYAML("l0", "k", 30000))
		time.Sleep(time.Duration(15+(i/2)*10) * time.Millisecond) // the point of removal, not synchronisation
		if i%2 == 0 {
			rmRetries += h.removeNamespace(name)
		} else {
			trash := filepath.Join(h.home.NamespacesDir(), "."+name+".deleted")
			if err := os.Rename(ns.Dir, trash); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(trash); err != nil {
				t.Fatalf("removing a namespace renamed out of the way: %v", err)
			}
		}
		eventually(t, name+"'s worker to end", func() (bool, string) {
			return len(d.logLines("namespace removed", name)) == 1, "no 'namespace removed' log line"
		})
		if _, err := os.Stat(ns.Dir); !os.IsNotExist(err) {
			entries, _ := os.ReadDir(ns.Dir)
			t.Fatalf("%s came back after removal (%v): %v", name, err, entries)
		}
	}
	t.Logf("%d namespaces removed while busy; rm -rf in place was retried %d times; %d ghost directories re-created by a reconcile were removed",
		iterations, rmRetries, len(d.logLines("namespace directory was removed during a reconcile; removing what the reconcile re-created", "")))
}

// TestDaemonPartialWrite writes a new resource file in two writes, the
// first of which is not valid YAML: the half is never applied and the
// final state is the full resource.
func TestDaemonPartialWrite(t *testing.T) {
	h := newTestHome(t)
	west := h.addNamespace("west")
	p := freePorts(t, 2)
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("first", "first", p[0]))
	d := startDaemon(t, h, daemonOpts{supervisor: "none"})
	d.waitReady()
	waitListener(t, west, "first", p[0])

	// Sample every version of skrouterd.json and of the status directory
	// until the end: a Listener "late" must never be there with anything
	// but its final attributes.
	var (
		mu       sync.Mutex
		bad      []string
		samples  int
		stop     = make(chan struct{})
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cfg, err := routerConfig(west)
			mu.Lock()
			samples++
			if err != nil {
				bad = append(bad, "unreadable config: "+err.Error())
			} else if e, ok := findEntity(cfg, "tcpListener", "listener/late"); ok &&
				(e.attr("port") != fmt.Sprint(p[1]) || e.attr("host") != "127.0.0.1" || e.attr("address") != "late") {
				bad = append(bad, fmt.Sprintf("partial listener in config: %v", e.Attrs))
			}
			if st, err := readStatusFile(west, "Listener", "late"); err != nil {
				bad = append(bad, "unreadable status: "+err.Error())
			} else if st != nil && specPort(st) != p[1] {
				bad = append(bad, fmt.Sprintf("partial listener status: %+v", st))
			}
			mu.Unlock()
			time.Sleep(500 * time.Microsecond)
		}
	}()

	// The first write ends inside a quoted scalar: not valid YAML.
	full := fmt.Sprintf("apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: late\nspec:\n  routingKey: late\n  host: \"127.0.0.1\"\n  port: %d\n", p[1])
	cut := strings.Index(full, `"127.0`) + len(`"127.0`)
	half, rest := full[:cut], full[cut:]
	path := filepath.Join(west.InputResourcesDir(), "late.yaml")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	// The daemon reconciles the half and reports it as invalid YAML.
	waitSummary(t, west, "the half file reported", func(e, _ string) bool {
		return strings.Contains(e, path+":") && strings.Contains(e, "invalid YAML")
	})
	if st, _ := readStatusFile(west, "Listener", "late"); st != nil {
		t.Fatalf("half file produced a status: %+v", st)
	}
	if _, err := f.WriteString(rest); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitListener(t, west, "late", p[1])
	waitSummary(t, west, "no errors", func(e, _ string) bool { return e == "" })
	close(stop)
	<-finished
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("partial state observed (%d samples):\n%s", samples, strings.Join(bad, "\n"))
	}
	t.Logf("%d samples of the runtime state, none partial", samples)
	// The other resources were never disturbed.
	waitListener(t, west, "first", p[0])
}

// TestDaemonBurst drops 1,000 Listener files into a namespace at once (by
// renaming them in one by one from a staging directory on the same file
// system) and checks the converged state and that the burst cost only a
// few reconciles.
func TestDaemonBurst(t *testing.T) {
	const n = 1000
	h := newTestHome(t)
	ns := h.addNamespace("burst")
	h.put("burst", "site.yaml", siteYAML("burst"))
	d := startDaemon(t, h, daemonOpts{supervisor: "none"})
	d.waitReady()
	before := len(d.logLines("reconciled", "burst"))

	stage := filepath.Join(h.base, "stage")
	if err := os.Mkdir(stage, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("l%04d", i)
		if err := os.WriteFile(filepath.Join(stage, name+".yaml"), []byte(listenerYAML(name, name, 20000+i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("l%04d.yaml", i)
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(ns.InputResourcesDir(), name)); err != nil {
			t.Fatal(err)
		}
	}
	burst := time.Since(start)
	eventuallyWithin(t, 60*time.Second, "1,000 listener status files", func() (bool, string) {
		cfg, err := routerConfig(ns)
		if err != nil {
			return false, err.Error()
		}
		files := statusFiles(ns)
		return len(files) == n+1 && countEntities(cfg, "tcpListener") == n,
			fmt.Sprintf("%d status files, %d tcpListeners", len(files), countEntities(cfg, "tcpListener"))
	})
	converged := time.Since(start)
	// Every status is complete and right.
	for i := range n {
		name := fmt.Sprintf("l%04d", i)
		st, err := readStatusFile(ns, "Listener", name)
		if err != nil || st == nil || specPort(st) != 20000+i || st.Status.Status == "" {
			t.Fatalf("status of %s: %+v, %v", name, st, err)
		}
	}
	waitSummary(t, ns, "a clean summary", func(e, _ string) bool { return e == "" })
	reconciles := len(d.logLines("reconciled", "burst")) - before
	t.Logf("burst of %d renames took %s; converged after %s with %d reconciles", n, burst.Round(time.Millisecond), converged.Round(time.Millisecond), reconciles)
	// The worker coalesces events until none arrived for Quiet (15 ms) or
	// MaxDelay (500 ms) passed, and events arriving during a reconcile
	// collapse into one pending kick. A burst of B seconds therefore costs
	// at most about B/0.5 + 2 reconciles (plus one per reconcile that
	// overlapped the burst); the renames take well under a few seconds, so
	// 20 leaves a wide margin while still catching per-event reconciles.
	if reconciles > 20 {
		t.Fatalf("%d reconciles for a burst of %d files (want <= 20)", reconciles, n)
	}
}

// The daemon loads what the watcher reports changed (see inputJournal):
// files edited in place within one tick of the file system's clock, with
// the same size, are seen; so is a whole input/resources directory put in
// place of another.
func TestDaemonSeesWhatTheWatcherReports(t *testing.T) {
	h := newTestHome(t)
	west := h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west"))
	h.put("west", "listener.yaml", listenerYAML("backend", "backend", 20001))
	d := startDaemon(t, h, daemonOpts{})
	d.waitReady()
	waitListener(t, west, "backend", 20001)

	// In place, same size, back and forth: each write is an event.
	path := filepath.Join(west.InputResourcesDir(), "listener.yaml")
	for _, port := range []int{20002, 20001, 20003} {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(listenerYAML("backend", "backend", port)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitListener(t, west, "backend", 20003)

	// A new directory renamed over input/resources.
	dir := west.InputResourcesDir()
	next := filepath.Join(west.InputDir(), "next")
	if err := os.Mkdir(next, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"site.yaml":  siteYAML("west"),
		"other.yaml": listenerYAML("frontend", "frontend", 20004),
	} {
		if err := os.WriteFile(filepath.Join(next, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}
	waitListener(t, west, "frontend", 20004)
	waitListener(t, west, "backend", 0)

	// And the new directory is watched: an edit in it is seen.
	h.put("west", "other.yaml", listenerYAML("frontend", "frontend", 20005))
	waitListener(t, west, "frontend", 20005)
	if !d.alive() {
		t.Fatal("daemon exited")
	}
}
