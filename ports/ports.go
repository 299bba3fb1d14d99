// Package ports allocates the router ports of the namespaces of one data
// home and checks every port a namespace binds against the others.
//
// Each namespace keeps a table of its reservations in
// <ns>/internal/ports.yaml: the router ports the allocator chose for it
// (local "normal", inter-router, edge) and the fixed ports its resources
// bind (Listener ports, explicit RouterAccess role ports). A reservation
// lasts until the namespace asks for a different set of ports (Assign) or
// is deleted (Release, or removal of the namespace directory), so a stopped
// site keeps its ports.
//
// Every decision is taken under an exclusive flock on
// <data home>/namespaces/.ports.lock, held for the whole read-decide-write
// cycle, so daemon workers and CLI invocations in any process never hand out
// the same port twice.
//
// Differences from upstream Skupper (reference/upstream-nonkube.md §3.4,
// §9 item 14): router ports are chosen once and kept across renders and
// restarts instead of re-probed every render; the probe checks the address
// the router binds (127.0.0.1 for the local port) as well as the wildcard;
// ports of stopped namespaces stay reserved; and user-specified ports are
// checked against every reservation, with an error naming both owners.
package ports

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
)

// Roles of allocated router ports.
const (
	RoleNormal      = "normal"
	RoleInterRouter = "inter-router"
	RoleEdge        = "edge"
)

// BasePort is where the search for a free port of each role starts. It is
// read-only; use WithBasePorts to search elsewhere.
var BasePort = map[string]int{
	RoleNormal:      5671,
	RoleInterRouter: 55671,
	RoleEdge:        45671,
}

func knownRole(r string) bool {
	_, ok := BasePort[r]
	return ok
}

// Claim is a port a namespace wants.
//
// Exactly one of Port and Role is set: Port for a fixed port the user
// chose, Role for a router port the allocator chooses.
//
// Conventional claims: the router's local port is {Key: "router/normal",
// Role: RoleNormal, Host: "127.0.0.1", What: "router local port"}; a
// RouterAccess role without a port is {Key: "routeraccess/<name>/<role>",
// Role: <role>, Host: <bindHost>}; a Listener is {Key: "listener/<name>",
// Port: <port>, Host: <host>, What: "Listener/<name>"}.
type Claim struct {
	// Key identifies the claim within the namespace and must be stable
	// across calls: an allocated port stays with its Key.
	Key string
	// Role of a port to allocate (RoleNormal, RoleInterRouter, RoleEdge);
	// "" for a fixed port.
	Role string
	// Port is a fixed port, 1-65535; 0 to allocate one for Role.
	Port int
	// Host is the bind host; "", 0.0.0.0 and :: mean all interfaces. Two
	// bindings of one port clash when their hosts are equal or either is a
	// wildcard (v2alpha1.BindingsClash).
	Host string
	// What names the user of the port in messages, e.g. "Listener/backend",
	// "RouterAccess/west role inter-router", "router local port". Key is
	// used when empty.
	What string
}

func (c Claim) fixed() bool { return c.Port != 0 }

func (c Claim) entry(port int) Entry {
	return Entry{Key: c.Key, Role: c.Role, Port: port, Host: c.Host, What: c.What}
}

// Allocator allocates and checks ports on one data home. It is safe for
// concurrent use, and any number of Allocators in any number of processes
// may work on the same data home. The zero Allocator is not usable; use New.
type Allocator struct {
	home  namespaces.Home
	probe Probe
	base  map[string]int
	// sem serialises this Allocator's own calls so they queue here rather
	// than poll the file lock.
	sem  chan struct{}
	memo tableMemo
}

// Option configures an Allocator.
type Option func(*Allocator)

// WithProbe replaces ListenProbe, e.g. with a deterministic probe in tests.
func WithProbe(p Probe) Option { return func(a *Allocator) { a.probe = p } }

// WithBasePorts replaces the base port of the given roles (the others keep
// BasePort), e.g. so that tests need not depend on 5671 being free.
func WithBasePorts(base map[string]int) Option {
	return func(a *Allocator) {
		for r, p := range base {
			a.base[r] = p
		}
	}
}

// New returns an Allocator for home.
func New(home namespaces.Home, opts ...Option) *Allocator {
	a := &Allocator{home: home, probe: ListenProbe, base: map[string]int{}, sem: make(chan struct{}, 1)}
	for r, p := range BasePort {
		a.base[r] = p
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Assign resolves the claims of namespace ns and records them as its
// reservations, replacing the previous ones: a reservation whose Key is not
// claimed any more is released. It returns the port of each claim that got
// one, by Key.
//
// The namespace directory must exist (Assign does not resurrect a deleted
// namespace); its internal/ directory is created 0700 if needed and the
// table is written 0600 through atomicfile, only when it changes.
//
// Rules, applied under the data-home lock:
//   - a fixed claim clashing with a reservation of another namespace
//     (whether allocated or fixed, stopped or running) or with an earlier
//     fixed claim of this call (by Key order) gets a *ConflictError naming
//     both owners, and no port;
//   - an allocation claim keeps the port its Key had in this namespace's
//     table with the same Role, without probing (the namespace's own router
//     may hold it), unless a fixed claim of this call or another namespace's
//     reservation now clashes with it: allocated ports are ours to move, so
//     the claim then gets a new port rather than an error;
//   - otherwise it gets the lowest port >= the role's base port that no
//     namespace reserves on any host, that no other claim of this call
//     uses, and that the probe reports free on the claim's Host; if there
//     is none, a *NoFreePortError.
//
// Claims are processed in Key order, so the result does not depend on the
// order of claims. Claim errors are joined (see ClaimErrors); the claims
// that succeeded are still recorded and returned. Invalid claims (empty or
// duplicate Key, port out of range, both or neither of Port and Role, an
// unknown Role), an invalid namespace name, a missing namespace, an
// unreadable table of any namespace (*CorruptTableError) or a failure to
// lock or write return a nil map and change nothing.
func (a *Allocator) Assign(ctx context.Context, ns string, claims []Claim) (map[string]int, error) {
	got, pending, err := a.AssignAsync(ctx, ns, claims)
	if pending != nil {
		if werr := pending.Wait(); werr != nil {
			return nil, werr
		}
	}
	return got, err
}

// Pending is the write of a namespace's table that AssignAsync started.
type Pending struct {
	done chan struct{}
	err  error
}

// Wait returns once the table is written and durable (fsync'd, as every
// table is), with the error of writing it; it may be called any number of
// times, from any goroutine.
func (p *Pending) Wait() error {
	<-p.done
	return p.err
}

// AssignAsync is Assign that returns as soon as the ports are decided,
// while the table is written (and fsync'd) in the background, still under
// the data-home lock: the next Assign of any namespace waits for it. The
// caller must call Wait on the returned Pending (non-nil whenever the
// ports map is) before it writes anything that uses the ports, and treat
// the assignment as failed, like Assign's write error, if Wait returns an
// error. So a reconcile computes its credentials and router configuration
// while the table's two fsyncs run.
func (a *Allocator) AssignAsync(ctx context.Context, ns string, claims []Claim) (map[string]int, *Pending, error) {
	if msg := v2alpha1.ValidateName(ns); msg != "" {
		return nil, nil, fmt.Errorf("assign ports: namespace name %s", msg)
	}
	sorted, err := checkClaims(claims)
	if err != nil {
		return nil, nil, fmt.Errorf("assign ports of namespace %q: %w", ns, err)
	}
	n := a.home.Namespace(ns)
	if !n.Exists() {
		return nil, nil, fmt.Errorf("assign ports: namespace %q does not exist (%s)", ns, n.Dir)
	}
	unlock, err := a.lock(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("assign ports of namespace %q: %w", ns, err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	tables, err := readAll(a.home, &a.memo)
	if err != nil {
		return nil, nil, fmt.Errorf("assign ports of namespace %q: %w", ns, err)
	}
	entries, claimErrs, err := a.decide(ctx, ns, sorted, tables)
	if err != nil {
		return nil, nil, fmt.Errorf("assign ports of namespace %q: %w", ns, err)
	}
	out := make(map[string]int, len(entries))
	for _, e := range entries {
		out[e.Key] = e.Port
	}
	p := &Pending{done: make(chan struct{})}
	if tableUnchanged(n, entries, tables[ns]) {
		close(p.done)
	} else {
		locked = false
		go func() {
			defer close(p.done)
			defer unlock()
			p.err = writeTable(n, entries, &a.memo)
		}()
	}
	return out, p, errors.Join(claimErrs...)
}

// Release drops every reservation of namespace ns, e.g. when it is deleted.
// A namespace without reservations, or without a directory, is not an
// error. It does not read any table, so it also clears a corrupt one.
func (a *Allocator) Release(ctx context.Context, ns string) error {
	if msg := v2alpha1.ValidateName(ns); msg != "" {
		return fmt.Errorf("release ports: namespace name %s", msg)
	}
	n := a.home.Namespace(ns)
	if !n.Exists() {
		return nil
	}
	unlock, err := a.lock(ctx)
	if err != nil {
		return fmt.Errorf("release ports of namespace %q: %w", ns, err)
	}
	defer unlock()
	return writeTable(n, nil, &a.memo)
}

// Reserved returns the reservations of every namespace that has any, each
// sorted by Key. It reads without the lock: every table is replaced
// atomically and each Assign changes one table, so the result is a
// consistent view as of some instant per namespace. Unreadable tables are
// reported (joined *CorruptTableError) along with the readable ones.
func (a *Allocator) Reserved() (map[string][]Entry, error) {
	return readAll(a.home, &a.memo)
}

// lock takes this Allocator's semaphore and then the data-home file lock;
// the returned func releases both.
func (a *Allocator) lock(ctx context.Context) (func(), error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for ports lock: %w", ctx.Err())
	}
	l, err := lockHome(ctx, a.home)
	if err != nil {
		<-a.sem
		return nil, err
	}
	return func() { l.unlock(); <-a.sem }, nil
}

// checkClaims validates claims and returns them sorted by Key.
func checkClaims(claims []Claim) ([]Claim, error) {
	var errs []error
	seen := map[string]bool{}
	for _, c := range claims {
		switch {
		case c.Key == "":
			errs = append(errs, fmt.Errorf("claim %q (%s): key is empty", c.Key, c.What))
		case seen[c.Key]:
			errs = append(errs, fmt.Errorf("claim %q: key appears twice", c.Key))
		case c.Port < 0 || c.Port > v2alpha1.MaxPort:
			errs = append(errs, fmt.Errorf("claim %q: port %d is not in 1-%d", c.Key, c.Port, v2alpha1.MaxPort))
		case c.Port != 0 && c.Role != "":
			errs = append(errs, fmt.Errorf("claim %q: set either Port (fixed) or Role (allocate), not both", c.Key))
		case c.Port == 0 && c.Role == "":
			errs = append(errs, fmt.Errorf("claim %q: set Port (fixed) or Role (allocate)", c.Key))
		case c.Port == 0 && !knownRole(c.Role):
			errs = append(errs, fmt.Errorf("claim %q: unknown role %q (want %s, %s or %s)", c.Key, c.Role, RoleNormal, RoleInterRouter, RoleEdge))
		}
		seen[c.Key] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid claims: %w", err)
	}
	sorted := append([]Claim(nil), claims...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	return sorted, nil
}

// reservation is an entry with its namespace.
type reservation struct {
	Entry
	ns string
}

func (r reservation) owner() Owner {
	what := r.What
	if what == "" {
		what = r.Key
	}
	return Owner{Namespace: r.ns, What: what}
}

// decide computes the new table of ns from its claims (sorted by Key) and
// the current tables. It returns the entries to record, the errors of
// single claims, and an error that aborts the call (ctx done).
func (a *Allocator) decide(ctx context.Context, ns string, claims []Claim, tables map[string][]Entry) ([]Entry, []error, error) {
	// Reservations of the other namespaces, in namespace then Key order.
	var others []reservation
	var names []string
	for name := range tables {
		if name != ns {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		for _, e := range tables[name] {
			others = append(others, reservation{e, name})
		}
	}
	prev := map[string]Entry{}
	for _, e := range tables[ns] {
		prev[e.Key] = e
	}

	var (
		final []reservation // this namespace's new entries
		errs  []error
	)
	// Reservations are looked up by port: a namespace of thousands of
	// fixed ports checked against every earlier one, and against every
	// other namespace's, would be quadratic.
	othersByPort, finalByPort := byPort(others), byPort(nil)
	keep := func(r reservation) {
		final = append(final, r)
		finalByPort[r.Port] = append(finalByPort[r.Port], r)
	}

	// Ports this namespace keeps for allocations it still claims. A user's
	// fixed port may not take one of them: moving an allocated router port
	// would silently break every link already handed out for it.
	var kept []reservation
	for _, c := range claims {
		if p, ok := prev[c.Key]; ok && !c.fixed() && p.Role == c.Role {
			kept = append(kept, reservation{p, ns})
		}
	}
	keptByPort := byPort(kept)

	// 1. Fixed claims: the user chose the port, so a clash is an error.
	for _, c := range claims {
		if !c.fixed() {
			continue
		}
		r, clash := othersByPort.clash(c.Port, c.Host)
		if !clash {
			r, clash = finalByPort.clash(c.Port, c.Host)
		}
		if !clash {
			r, clash = keptByPort.clash(c.Port, c.Host)
		}
		if clash {
			errs = append(errs, &ConflictError{Claim: c, Owner: r.owner(), OwnerHost: r.Host, Port: c.Port})
			continue
		}
		keep(reservation{c.entry(c.Port), ns})
	}

	// 2. Allocation claims that keep their previous port.
	var pending []Claim
	for _, c := range claims {
		if c.fixed() {
			continue
		}
		p, ok := prev[c.Key]
		if !ok || p.Role != c.Role || !a.canKeep(ns, p.Port, c.Host, othersByPort[p.Port], finalByPort[p.Port]) {
			pending = append(pending, c)
			continue
		}
		keep(reservation{c.entry(p.Port), ns})
	}

	// 3. New allocations: lowest port not reserved on any host and free.
	used := map[int]bool{}
	for _, r := range others {
		used[r.Port] = true
	}
	for _, r := range final {
		used[r.Port] = true
	}
	for _, c := range pending {
		port, err := a.pick(ctx, c, used)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			errs = append(errs, err)
			continue
		}
		used[port] = true
		final = append(final, reservation{c.entry(port), ns})
	}

	entries := make([]Entry, len(final))
	for i, r := range final {
		entries[i] = r.Entry
	}
	sortEntries(entries)
	return entries, errs, nil
}

// portReservations are reservations by port, each port's in the order
// they were made.
type portReservations map[int][]reservation

func byPort(rs []reservation) portReservations {
	m := make(portReservations, len(rs))
	for _, r := range rs {
		m[r.Port] = append(m[r.Port], r)
	}
	return m
}

// clash returns the first reservation of port whose binding clashes with
// host.
func (m portReservations) clash(port int, host string) (reservation, bool) {
	for _, r := range m[port] {
		if v2alpha1.BindingsClash(r.Host, host) {
			return r, true
		}
	}
	return reservation{}, false
}

// canKeep reports whether an allocated port may stay with its claim: no
// fixed claim of this call and no fixed reservation of another namespace
// clashes with it, no earlier claim of this call has the same port, and no
// other namespace holds it as an allocated port — except that when two
// namespaces hold the same allocated port (only possible if tables were
// copied or edited by hand) the one whose name sorts first keeps it, so
// exactly one of them moves. others and final may be limited to the
// reservations of port.
func (a *Allocator) canKeep(ns string, port int, host string, others, final []reservation) bool {
	for _, r := range final {
		if r.Port == port && (r.Role != "" || v2alpha1.BindingsClash(r.Host, host)) {
			return false
		}
	}
	for _, r := range others {
		if r.Port != port || !v2alpha1.BindingsClash(r.Host, host) {
			continue
		}
		if r.Role == "" || r.ns < ns {
			return false
		}
	}
	return true
}

// pick returns the lowest port from the claim's base port that is not in
// used and that the probe reports free on the claim's host.
func (a *Allocator) pick(ctx context.Context, c Claim, used map[int]bool) (int, error) {
	from := max(a.base[c.Role], 1)
	for port := from; port <= v2alpha1.MaxPort; port++ {
		if port%256 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, fmt.Errorf("allocate port for %s: %w", c.Key, err)
			}
		}
		if used[port] || !a.probe(c.Host, port) {
			continue
		}
		return port, nil
	}
	return 0, &NoFreePortError{Claim: c, From: from}
}
