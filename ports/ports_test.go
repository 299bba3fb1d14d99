package ports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/namespaces"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// --- helpers ---------------------------------------------------------------

// newHome returns a data home in a temp dir with the given namespace
// directories (and nothing else in them).
func newHome(t *testing.T, nss ...string) namespaces.Home {
	t.Helper()
	home := namespaces.NewHome(t.TempDir())
	require.NoError(t, home.Ensure())
	for _, ns := range nss {
		require.NoError(t, os.MkdirAll(home.Namespace(ns).Dir, 0o700))
	}
	return home
}

func allFree(string, int) bool { return true }

// busy returns a probe that reports the given ports in use on every host.
func busy(ports ...int) Probe {
	set := map[int]bool{}
	for _, p := range ports {
		set[p] = true
	}
	return func(_ string, port int) bool { return !set[port] }
}

// noProbe fails the test if the allocator probes at all.
func noProbe(t *testing.T) Probe {
	return func(host string, port int) bool {
		t.Errorf("unexpected probe of %s:%d", host, port)
		return true
	}
}

// routerClaims are the claims of a site with linkAccess: the local port and
// an auto RouterAccess named after the site.
func routerClaims(site string) []Claim {
	return []Claim{
		{Key: "router/normal", Role: RoleNormal, Host: "127.0.0.1", What: "router local port"},
		{Key: "routeraccess/" + site + "/inter-router", Role: RoleInterRouter, What: "RouterAccess/" + site + " role inter-router"},
		{Key: "routeraccess/" + site + "/edge", Role: RoleEdge, What: "RouterAccess/" + site + " role edge"},
	}
}

func routerPorts(site string, normal, interRouter, edge int) map[string]int {
	return map[string]int{
		"router/normal":                          normal,
		"routeraccess/" + site + "/inter-router": interRouter,
		"routeraccess/" + site + "/edge":         edge,
	}
}

func listener(name string, port int, host string) Claim {
	return Claim{Key: "listener/" + name, Port: port, Host: host, What: "Listener/" + name}
}

func assign(t *testing.T, a *Allocator, ns string, claims ...Claim) map[string]int {
	t.Helper()
	got, err := a.Assign(context.Background(), ns, claims)
	require.NoError(t, err)
	return got
}

func reversed(cs []Claim) []Claim {
	out := make([]Claim, len(cs))
	for i, c := range cs {
		out[len(cs)-1-i] = c
	}
	return out
}

// --- allocation --------------------------------------------------------------

func TestTwoNamespacesGetDistinctPorts(t *testing.T) {
	home := newHome(t, "west", "east")
	a := New(home, WithProbe(allFree))

	assert.Equal(t, routerPorts("west", 5671, 55671, 45671), assign(t, a, "west", routerClaims("west")...))
	assert.Equal(t, routerPorts("east", 5672, 55672, 45672), assign(t, a, "east", routerClaims("east")...))

	res, err := a.Reserved()
	require.NoError(t, err)
	assert.Equal(t, map[string][]Entry{
		"west": {
			{Key: "router/normal", Role: RoleNormal, Port: 5671, Host: "127.0.0.1", What: "router local port"},
			{Key: "routeraccess/west/edge", Role: RoleEdge, Port: 45671, What: "RouterAccess/west role edge"},
			{Key: "routeraccess/west/inter-router", Role: RoleInterRouter, Port: 55671, What: "RouterAccess/west role inter-router"},
		},
		"east": {
			{Key: "router/normal", Role: RoleNormal, Port: 5672, Host: "127.0.0.1", What: "router local port"},
			{Key: "routeraccess/east/edge", Role: RoleEdge, Port: 45672, What: "RouterAccess/east role edge"},
			{Key: "routeraccess/east/inter-router", Role: RoleInterRouter, Port: 55672, What: "RouterAccess/east role inter-router"},
		},
	}, res)
}

func TestAllocationsAreStable(t *testing.T) {
	home := newHome(t, "west", "east")
	a := New(home, WithProbe(allFree))
	west := assign(t, a, "west", routerClaims("west")...)
	east := assign(t, a, "east", routerClaims("east")...)

	// A restarted daemon (new Allocator) with claims in another order gets
	// the same ports without probing: its own router may hold them.
	b := New(home, WithProbe(noProbe(t)))
	assert.Equal(t, east, assign(t, b, "east", reversed(routerClaims("east"))...))
	assert.Equal(t, west, assign(t, b, "west", reversed(routerClaims("west"))...))

	// A new claim is allocated around the kept ones, and they stay put.
	c := New(home, WithProbe(allFree))
	got := assign(t, c, "west", append(routerClaims("west"),
		Claim{Key: "routeraccess/extra/inter-router", Role: RoleInterRouter, What: "RouterAccess/extra role inter-router"})...)
	want := routerPorts("west", 5671, 55671, 45671)
	want["routeraccess/extra/inter-router"] = 55673
	assert.Equal(t, want, got)
}

func TestBusyPortsAreSkipped(t *testing.T) {
	home := newHome(t, "west")
	var mu sync.Mutex
	probed := map[int]string{}
	probe := func(host string, port int) bool {
		mu.Lock()
		probed[port] = host
		mu.Unlock()
		return busy(5671, 5672, 55671)(host, port)
	}
	a := New(home, WithProbe(probe))
	assert.Equal(t, routerPorts("west", 5673, 55672, 45671), assign(t, a, "west", routerClaims("west")...))
	// The probe is asked about the address each port will be bound on.
	assert.Equal(t, "127.0.0.1", probed[5673])
	assert.Equal(t, "", probed[55672])
}

func TestRoleChangeReallocates(t *testing.T) {
	home := newHome(t, "west")
	a := New(home, WithProbe(allFree))
	assign(t, a, "west", Claim{Key: "routeraccess/x/port", Role: RoleInterRouter})
	got := assign(t, a, "west", Claim{Key: "routeraccess/x/port", Role: RoleEdge})
	assert.Equal(t, map[string]int{"routeraccess/x/port": 45671}, got)
}

func TestDroppedClaimsAreReleased(t *testing.T) {
	home := newHome(t, "west", "east")
	a := New(home, WithProbe(allFree))
	assign(t, a, "west", routerClaims("west")...)
	assign(t, a, "west", routerClaims("west")[0]) // RouterAccess removed
	assert.Equal(t, routerPorts("east", 5672, 55671, 45671), assign(t, a, "east", routerClaims("east")...))
}

func TestNoFreePort(t *testing.T) {
	home := newHome(t, "west")
	a := New(home, WithProbe(busy(65534, 65535)), WithBasePorts(map[string]int{RoleEdge: 65534}))
	got, err := a.Assign(context.Background(), "west", routerClaims("west"))
	var nf *NoFreePortError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "routeraccess/west/edge", nf.Claim.Key)
	assert.EqualError(t, nf, "no free port for RouterAccess/west role edge (role edge): every port from 65534 to 65535 is reserved or in use")
	// The other claims still got their ports and are recorded.
	assert.Equal(t, map[string]int{"router/normal": 5671, "routeraccess/west/inter-router": 55671}, got)
	byKey, other := ClaimErrors(err)
	assert.NoError(t, other)
	assert.Equal(t, []string{"routeraccess/west/edge"}, keys(byKey))
}

func keys(m map[string]error) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// --- conflicts ---------------------------------------------------------------

func TestFixedPortConflictsAcrossNamespaces(t *testing.T) {
	tests := []struct {
		name    string
		claim   Claim
		wantErr string // "" = no conflict
	}{
		{
			name:    "listener on west's inter-router port",
			claim:   listener("backend", 55671, ""),
			wantErr: `port 55671 (Listener/backend) is already used by RouterAccess/west role inter-router in namespace "west"; choose another port`,
		},
		{
			name:    "explicit RouterAccess role port on west's inter-router port",
			claim:   Claim{Key: "routeraccess/public/inter-router", Port: 55671, What: "RouterAccess/public role inter-router"},
			wantErr: `port 55671 (RouterAccess/public role inter-router) is already used by RouterAccess/west role inter-router in namespace "west"; choose another port`,
		},
		{
			name:    "listener on all interfaces on west's local port",
			claim:   listener("db", 5671, "0.0.0.0"),
			wantErr: `port 5671 (Listener/db) is already used by router local port in namespace "west" (host 0.0.0.0 clashes with 127.0.0.1); choose another port`,
		},
		{
			name:    "listener on west's local port and host",
			claim:   listener("db", 5671, "127.0.0.1"),
			wantErr: `port 5671 (Listener/db) is already used by router local port in namespace "west"; choose another port`,
		},
		{
			name:    "listener on west's fixed listener port",
			claim:   listener("db", 8080, ""),
			wantErr: `port 8080 (Listener/db) is already used by Listener/web in namespace "west" (host 0.0.0.0 clashes with 127.0.0.1); choose another port`,
		},
		{
			name:  "listener on west's local port but another loopback address",
			claim: listener("db", 5671, "127.0.0.2"),
		},
		{
			name:  "listener on a free port",
			claim: listener("db", 9090, ""),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := newHome(t, "west", "east")
			a := New(home, WithProbe(allFree))
			assign(t, a, "west", append(routerClaims("west"), listener("web", 8080, "127.0.0.1"))...)

			got, err := a.Assign(context.Background(), "east", append(routerClaims("east"), tt.claim))
			res, rerr := a.Reserved()
			require.NoError(t, rerr)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.claim.Port, got[tt.claim.Key])
				assert.Len(t, res["east"], 4)
				return
			}
			var ce *ConflictError
			require.ErrorAs(t, err, &ce)
			assert.EqualError(t, ce, tt.wantErr)
			assert.Equal(t, tt.claim, ce.Claim)
			assert.Equal(t, "west", ce.Owner.Namespace)
			assert.Equal(t, tt.claim.Port, ce.Port)

			byKey, other := ClaimErrors(err)
			assert.NoError(t, other)
			require.Contains(t, byKey, tt.claim.Key)
			assert.Len(t, byKey, 1)

			// The refused claim gets no port and no reservation; the rest do.
			assert.NotContains(t, got, tt.claim.Key)
			assert.Equal(t, routerPorts("east", 5672, 55672, 45672), got)
			assert.Len(t, res["east"], 3)
		})
	}
}

// TestFixedPortRefusesOwnRouterPort: a fixed port may not take a port this
// namespace keeps for its router: moving it would break links handed out.
func TestFixedPortRefusesOwnRouterPort(t *testing.T) {
	home := newHome(t, "west")
	a := New(home, WithProbe(allFree))
	before := assign(t, a, "west", routerClaims("west")...)

	got, err := a.Assign(context.Background(), "west", append(routerClaims("west"), listener("backend", 55671, "")))
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "listener/backend", ce.Claim.Key)
	assert.Equal(t, "west", ce.Owner.Namespace)
	assert.Equal(t, 55671, ce.Port)
	_, hasListener := got["listener/backend"]
	assert.False(t, hasListener)
	delete(got, "listener/backend")
	assert.Equal(t, before, got, "router ports stay where they are")
}

func TestFixedPortsClashWithinNamespace(t *testing.T) {
	tests := []struct {
		name         string
		hostA, hostB string
		clash        bool
	}{
		{"both all interfaces", "", "", true},
		{"wildcard and loopback", "0.0.0.0", "127.0.0.1", true},
		{"IPv6 wildcard and loopback", "::", "127.0.0.1", true},
		{"same host", "127.0.0.1", "127.0.0.1", true},
		{"different loopback addresses", "127.0.0.1", "127.0.0.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := newHome(t, "west")
			a := New(home, WithProbe(allFree))
			got, err := a.Assign(context.Background(), "west", []Claim{listener("b", 9000, tt.hostB), listener("a", 9000, tt.hostA)})
			if !tt.clash {
				require.NoError(t, err)
				assert.Equal(t, map[string]int{"listener/a": 9000, "listener/b": 9000}, got)
				return
			}
			var ce *ConflictError
			require.ErrorAs(t, err, &ce)
			// Claims are taken in Key order: the later one is refused.
			assert.Equal(t, "listener/b", ce.Claim.Key)
			assert.Equal(t, Owner{Namespace: "west", What: "Listener/a"}, ce.Owner)
			assert.Contains(t, ce.Error(), `port 9000 (Listener/b) is already used by Listener/a in namespace "west"`)
			assert.Equal(t, map[string]int{"listener/a": 9000}, got)
		})
	}
}

// Tables copied or edited by hand can hold clashes Assign never creates;
// allocated ports then move rather than fail.
func TestKeptPortsYieldToLegacyClashes(t *testing.T) {
	home := newHome(t, "west", "east")
	require.NoError(t, writeTable(home.Namespace("west"), []Entry{
		{Key: "router/normal", Role: RoleNormal, Port: 5671, Host: "127.0.0.1"},
		{Key: "routeraccess/west/inter-router", Role: RoleInterRouter, Port: 55671},
	}, nil))
	require.NoError(t, writeTable(home.Namespace("east"), []Entry{
		{Key: "router/normal", Role: RoleNormal, Port: 5671, Host: "127.0.0.1"},
		{Key: "listener/backend", Port: 55671, What: "Listener/backend"},
	}, nil))
	a := New(home, WithProbe(allFree))

	// west's inter-router port yields to east's fixed listener; of the two
	// namespaces holding allocated 5671, the first by name (east) keeps it.
	got := assign(t, a, "west", routerClaims("west")[:2]...)
	assert.Equal(t, map[string]int{"router/normal": 5672, "routeraccess/west/inter-router": 55672}, got)

	got = assign(t, a, "east", routerClaims("east")[0], listener("backend", 55671, ""))
	assert.Equal(t, map[string]int{"router/normal": 5671, "listener/backend": 55671}, got)
}

// --- release, files, errors --------------------------------------------------

func TestReleaseFreesPorts(t *testing.T) {
	home := newHome(t, "west", "east", "north")
	a := New(home, WithProbe(allFree))
	assign(t, a, "west", routerClaims("west")...)
	assign(t, a, "east", routerClaims("east")...)

	require.NoError(t, a.Release(context.Background(), "west"))
	assert.NoFileExists(t, TablePath(home.Namespace("west")))
	res, err := a.Reserved()
	require.NoError(t, err)
	assert.NotContains(t, res, "west")

	assert.Equal(t, routerPorts("north", 5671, 55671, 45671), assign(t, a, "north", routerClaims("north")...))

	// Releasing twice, or a namespace that does not exist, is fine.
	require.NoError(t, a.Release(context.Background(), "west"))
	require.NoError(t, a.Release(context.Background(), "gone"))
	require.Error(t, a.Release(context.Background(), "Bad_Name"))
}

func TestStoppedNamespaceKeepsPorts(t *testing.T) {
	// A stopped site is one that is not being reconciled: its table alone
	// keeps its ports, whatever probing says.
	home := newHome(t, "west", "east")
	assign(t, New(home, WithProbe(allFree)), "west", routerClaims("west")...)
	assert.Equal(t, routerPorts("east", 5672, 55672, 45672), assign(t, New(home, WithProbe(allFree)), "east", routerClaims("east")...))
}

func TestTableFile(t *testing.T) {
	home := newHome(t, "west")
	a := New(home, WithProbe(allFree))
	assign(t, a, "west", routerClaims("west")...)

	path := TablePath(home.Namespace("west"))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	li, err := os.Stat(LockPath(home))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), li.Mode().Perm())

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), tableHeader))
	assert.Contains(t, string(data), "port: 55671")

	// Nothing changed: the file is not rewritten.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(path, old, old))
	assign(t, New(home, WithProbe(allFree)), "west", reversed(routerClaims("west"))...)
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.True(t, fi.ModTime().Equal(old), "table rewritten although nothing changed")

	// A change rewrites it.
	assign(t, a, "west", routerClaims("west")[:1]...)
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.False(t, fi.ModTime().Equal(old))

	// No claims: the file goes away.
	assign(t, a, "west")
	assert.NoFileExists(t, path)
}

func TestCorruptTable(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"not yaml", "ports: [\n", "error converting YAML to JSON"},
		{"unknown field", "ports:\n- key: a\n  port: 1\n  colour: red\n", `unknown field "colour"`},
		{"wrong type", "ports:\n- key: a\n  port: many\n", "cannot unmarshal"},
		{"port zero", "ports:\n- key: a\n  port: 0\n", "ports[0]: port 0 is not in 1-65535"},
		{"duplicate key", "ports:\n- key: a\n  port: 1\n- key: a\n  port: 2\n", `ports[1]: key "a" appears twice`},
		{"empty key", "ports:\n- port: 1\n", "ports[0]: key is empty"},
		{"unknown role", "ports:\n- key: a\n  port: 1\n  role: funny\n", `ports[0]: unknown role "funny"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := newHome(t, "west", "east")
			east := home.Namespace("east")
			require.NoError(t, os.MkdirAll(east.InternalDir(), 0o700))
			path := TablePath(east)
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			a := New(home, WithProbe(allFree))

			got, err := a.Assign(context.Background(), "west", routerClaims("west"))
			require.Error(t, err)
			assert.Nil(t, got)
			var ct *CorruptTableError
			require.ErrorAs(t, err, &ct)
			assert.Equal(t, path, ct.Path)
			assert.Equal(t, "east", ct.Namespace)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "fix the file or delete it")
			assert.NoFileExists(t, TablePath(home.Namespace("west")), "nothing may be written while a table is unreadable")

			_, err = a.Reserved()
			require.ErrorAs(t, err, &ct)

			// Release clears it without reading it; then all is well.
			require.NoError(t, a.Release(context.Background(), "east"))
			assign(t, a, "west", routerClaims("west")...)
		})
	}
}

func TestInvalidClaims(t *testing.T) {
	tests := []struct {
		name   string
		claims []Claim
		want   string
	}{
		{"empty key", []Claim{{Role: RoleNormal}}, "key is empty"},
		{"duplicate key", []Claim{{Key: "a", Port: 1}, {Key: "a", Port: 2}}, `claim "a": key appears twice`},
		{"port too big", []Claim{{Key: "a", Port: 65536}}, "port 65536 is not in 1-65535"},
		{"negative port", []Claim{{Key: "a", Port: -1}}, "port -1 is not in 1-65535"},
		{"port and role", []Claim{{Key: "a", Port: 80, Role: RoleEdge}}, "not both"},
		{"neither", []Claim{{Key: "a"}}, "set Port (fixed) or Role (allocate)"},
		{"unknown role", []Claim{{Key: "a", Role: "funny"}}, `unknown role "funny"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := newHome(t, "west")
			got, err := New(home, WithProbe(allFree)).Assign(context.Background(), "west", tt.claims)
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), tt.want)
			assert.NoFileExists(t, TablePath(home.Namespace("west")))
		})
	}

	home := newHome(t)
	a := New(home, WithProbe(allFree))
	_, err := a.Assign(context.Background(), "Bad_Name", nil)
	assert.ErrorContains(t, err, "namespace name")
	_, err = a.Assign(context.Background(), "missing", routerClaims("missing"))
	assert.ErrorContains(t, err, `namespace "missing" does not exist`)
	assert.NoDirExists(t, home.Namespace("missing").Dir, "Assign must not create a namespace")
}

func TestOwnerString(t *testing.T) {
	assert.Equal(t, `Listener/backend in namespace "west"`, Owner{Namespace: "west", What: "Listener/backend"}.String())
	assert.Equal(t, `namespace "west"`, Owner{Namespace: "west"}.String())
}

func TestClaimErrorsKeepsOtherErrors(t *testing.T) {
	plain := errors.New("disk on fire")
	ce := &ConflictError{Claim: Claim{Key: "listener/a"}, Port: 1}
	byKey, other := ClaimErrors(errors.Join(fmt.Errorf("wrapped: %w", ce), plain))
	assert.Equal(t, []string{"listener/a"}, keys(byKey))
	assert.ErrorIs(t, other, plain)
	byKey, other = ClaimErrors(nil)
	assert.Nil(t, byKey)
	assert.NoError(t, other)
}

// --- locking and concurrency ---------------------------------------------------

func TestConcurrentNamespaces(t *testing.T) {
	const n = 8
	var nss []string
	for i := range n {
		nss = append(nss, fmt.Sprintf("ns%d", i))
	}
	home := newHome(t, nss...)
	// Two Allocators stand for two processes: each opens the lock file
	// itself, so only the flock keeps them apart.
	allocs := []*Allocator{New(home, WithProbe(allFree)), New(home, WithProbe(allFree))}

	var wg sync.WaitGroup
	results := make([]map[string]int, n)
	errs := make([]error, n)
	for i, ns := range nss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = allocs[i%2].Assign(context.Background(), ns, routerClaims(ns))
		}()
	}
	wg.Wait()

	seen := map[int]string{}
	for i, ns := range nss {
		require.NoError(t, errs[i], ns)
		require.Len(t, results[i], 3)
		for key, port := range results[i] {
			if prev, dup := seen[port]; dup {
				t.Errorf("port %d given to %s and to %s %s", port, prev, ns, key)
			}
			seen[port] = ns + " " + key
		}
	}
	// With every port free the allocation is dense from each base.
	for _, base := range BasePort {
		for p := base; p < base+n; p++ {
			assert.Contains(t, seen, p)
		}
	}
}

func TestLockHonoursContext(t *testing.T) {
	home := newHome(t, "west")
	held, err := lockHome(context.Background(), home) // "another process"
	require.NoError(t, err)

	a := New(home, WithProbe(allFree))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = a.Assign(ctx, "west", routerClaims("west"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, a.Release(ctx, "west"), context.DeadlineExceeded)

	// A waiting Assign proceeds once the lock is released.
	done := make(chan error, 1)
	go func() {
		_, err := a.Assign(context.Background(), "west", routerClaims("west"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Assign did not wait for the lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	held.unlock()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Assign still waiting after the lock was released")
	}
}

// --- the real probe -----------------------------------------------------------

func TestListenProbeSkipsOccupiedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	occupied := l.Addr().(*net.TCPAddr).Port

	// Loopback stands in for the wildcard so the test binds nothing else.
	probe := listenProbe("127.0.0.1")
	assert.False(t, probe("127.0.0.1", occupied))
	assert.False(t, probe("127.0.0.2", occupied), "the all-interfaces check comes first")

	home := newHome(t, "west")
	a := New(home, WithProbe(probe), WithBasePorts(map[string]int{RoleNormal: occupied}))
	got := assign(t, a, "west", routerClaims("west")[0])
	assert.Greater(t, got["router/normal"], occupied)
	assert.True(t, probe("127.0.0.1", got["router/normal"]), "the probe must not keep the port open")
}

func TestListenProbeChecksBindHost(t *testing.T) {
	// 127.0.0.1 stands in for the wildcard, and is free on this port: only
	// the check of the bind host itself finds the listener. Another test
	// process may hold the same port number on 127.0.0.1 or 127.0.0.3 by
	// chance: then the case is retried with another port.
	probe := listenProbe("127.0.0.1")
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("127.0.0.2 is not bindable here: %v", err)
		}
		occupied := l.Addr().(*net.TCPAddr).Port
		assert.False(t, probe("127.0.0.2", occupied))
		free := probe("127.0.0.3", occupied)
		held := !free && (heldElsewhere("127.0.0.1", occupied) || heldElsewhere("127.0.0.3", occupied))
		l.Close()
		if !held || attempt == 9 {
			assert.True(t, free, "port %d on 127.0.0.3", occupied)
			return
		}
	}
}

// heldElsewhere reports whether host:port cannot be bound now.
func heldElsewhere(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return true
	}
	l.Close()
	return false
}

func TestAssignStopsSearchingWhenCancelled(t *testing.T) {
	home := newHome(t, "west")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probe := func(string, int) bool { cancel(); return false }
	got, err := New(home, WithProbe(probe)).Assign(ctx, "west", routerClaims("west"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, got)
	assert.NoFileExists(t, TablePath(home.Namespace("west")))
}

// AssignAsync returns the ports before the table is written; the table is
// on disk once Wait returns, and the lock stays held until then: another
// namespace's Assign sees the reservation.
func TestAssignAsync(t *testing.T) {
	home := newHome(t, "west", "east")
	a := New(home, WithProbe(allFree))
	got, pending, err := a.AssignAsync(context.Background(), "west", routerClaims("west"))
	require.NoError(t, err)
	require.NotNil(t, pending)
	assert.Equal(t, routerPorts("west", 5671, 55671, 45671), got)
	// Not waited for yet: east's Assign waits for the lock, then reads
	// west's table.
	assert.Equal(t, routerPorts("east", 5672, 55672, 45672), assign(t, a, "east", routerClaims("east")...))
	require.NoError(t, pending.Wait())
	require.NoError(t, pending.Wait(), "Wait may be called again")
	reserved, err := a.Reserved()
	require.NoError(t, err)
	assert.Len(t, reserved["west"], 3)

	// Unchanged: nothing to write, and the Pending is already done.
	_, pending, err = a.AssignAsync(context.Background(), "west", routerClaims("west"))
	require.NoError(t, err)
	select {
	case <-pending.done:
	default:
		t.Fatal("an unchanged table is being written")
	}
	require.NoError(t, pending.Wait())
}

// A table that cannot be written fails Wait (and Assign), and the next
// Assign is not left waiting for the lock.
func TestAssignAsyncWriteError(t *testing.T) {
	home := newHome(t, "west")
	full := errors.New("no space left on device")
	testHookWriteTable = func(namespaces.Namespace) error { return full }
	t.Cleanup(func() { testHookWriteTable = nil })
	a := New(home, WithProbe(allFree))
	_, pending, err := a.AssignAsync(context.Background(), "west", routerClaims("west"))
	require.NoError(t, err)
	require.ErrorIs(t, pending.Wait(), full)
	_, err = a.Assign(context.Background(), "west", routerClaims("west"))
	require.ErrorIs(t, err, full)
	testHookWriteTable = nil
	assign(t, a, "west", routerClaims("west")...)
}
