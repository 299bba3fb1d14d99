package hotapply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Manager is the part of a management client (*mgmt.Client) hot apply
// uses.
type Manager interface {
	Query(ctx context.Context, typ string, attrs ...string) ([]map[string]any, error)
	Read(ctx context.Context, typ, name string) (map[string]any, error)
	Create(ctx context.Context, typ, name string, attrs map[string]any) (map[string]any, error)
	Update(ctx context.Context, typ, name string, attrs map[string]any) (map[string]any, error)
	Delete(ctx context.Context, typ, name string) error
}

// ErrRestart is matched (errors.Is) by the error of an Apply whose change
// can only be applied by a restart; the error says why.
var ErrRestart = errors.New("a restart is needed")

// RestartError carries the reason a restart is needed.
type RestartError struct{ Reason string }

func (e *RestartError) Error() string { return "restart needed: " + e.Reason }

// Is makes errors.Is(err, ErrRestart) work.
func (e *RestartError) Is(target error) bool { return target == ErrRestart }

// Running queries the entities of the Managed types the router runs, with
// all their attributes.
func Running(ctx context.Context, m Manager) ([]Entity, error) {
	var out []Entity
	for _, typ := range Managed {
		rows, err := m.Query(ctx, typ)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			name, _ := r["name"].(string)
			out = append(out, Entity{Type: typ, Name: name, Attrs: r})
		}
	}
	return out, nil
}

// Apply brings the router behind m from previous (the configuration it
// was started with or last brought to) to desired: it learns what runs,
// plans, runs the operations in order and reads back the entities it
// operated on (the reply of each CREATE or UPDATE, else a READ; a QUERY of
// names for a type it deleted from).
// It returns the plan it ran. A change that needs a restart runs nothing
// and returns a *RestartError. Any failed operation, or a read-back that
// differs from desired, is an error: the caller restarts the router.
//
// What runs is previous, except the entities of previous that differ in
// desired, which are READ (a router that no longer runs one of them fails
// the apply), and, with RetryBusy, the status of every tcpListener (a
// QUERY of three attributes); a new entity is taken as not running (a
// router that already runs it fails its CREATE). The read-back of a
// CREATE or UPDATE is its reply, but for a tcpListener (which binds
// afterwards). On a router of thousands of entities that keeps a small
// change small (issue 13: one pair added to 1,000); a router that drifted
// from previous elsewhere (which only a failed hot apply, after which the
// caller restarts it, leaves behind) makes an operation or the read-back
// fail, and the caller restarts it.
func Apply(ctx context.Context, m Manager, previous, desired []Entity, opts Options) (Plan, error) {
	start := time.Now()
	running, err := runningFor(ctx, m, previous, desired, opts)
	if err != nil {
		return Plan{}, fmt.Errorf("query the running router: %w", err)
	}
	plan := Compute(running, previous, desired, opts)
	plan.Took.Query = time.Since(start)
	start = time.Now()
	if plan.Restart != "" {
		return plan, &RestartError{Reason: plan.Restart}
	}
	// A CREATE or UPDATE answers with the entity as the router now holds
	// it: that answer is its read-back.
	replies := map[string]map[string]any{}
	for _, op := range plan.Ops {
		var reply map[string]any
		switch op.Operation {
		case "CREATE":
			reply, err = m.Create(ctx, op.Type, op.Name, op.Attrs)
		case "UPDATE":
			reply, err = m.Update(ctx, op.Type, op.Name, op.Attrs)
		case "DELETE":
			err = m.Delete(ctx, op.Type, op.Name)
		}
		if err != nil {
			return plan, fmt.Errorf("%s: %w", op, err)
		}
		replies[op.Type+" "+op.Name] = reply
	}
	plan.Took.Operations = time.Since(start)
	start = time.Now()
	plan.Busy, err = readBack(ctx, m, plan, desired, replies)
	plan.Took.ReadBack = time.Since(start)
	return plan, err
}

// runningFor is what the router runs as far as a plan from previous to
// desired needs it (see Apply).
func runningFor(ctx context.Context, m Manager, previous, desired []Entity, opts Options) ([]Entity, error) {
	managed := func(e Entity) bool { return isManaged(e.Type) }
	prev, want := byName(previous, managed), byName(desired, managed)
	running := make(map[string]Entity, len(prev))
	for name, e := range prev {
		running[name] = e
	}
	for _, name := range differingNames(prev, want) {
		e, ok := prev[name]
		if !ok {
			continue // new: not running (a CREATE of a name in use fails)
		}
		attrs, err := m.Read(ctx, e.Type, name)
		if err != nil {
			return nil, fmt.Errorf("READ %s %s: %w", e.Type, name, err)
		}
		running[name] = Entity{Type: e.Type, Name: name, Attrs: attrs}
	}
	if opts.RetryBusy {
		rows, err := m.Query(ctx, "tcpListener", "name", "operStatus", "connectionMsg")
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			name, _ := r["name"].(string)
			e, ok := running[name]
			if !ok || e.Type != "tcpListener" || !busy(Entity{Attrs: r}) {
				continue
			}
			attrs := make(map[string]any, len(e.Attrs)+2)
			for k, v := range e.Attrs {
				attrs[k] = v
			}
			attrs["operStatus"], attrs["connectionMsg"] = r["operStatus"], r["connectionMsg"]
			running[name] = Entity{Type: e.Type, Name: name, Attrs: attrs}
		}
	}
	out := make([]Entity, 0, len(running))
	for _, name := range sortedKeys(running) {
		out = append(out, running[name])
	}
	return out, nil
}

// differingNames are the names of the entities added, removed or changed
// from prev to want, sorted.
func differingNames(prev, want map[string]Entity) []string {
	var out []string
	for name, w := range want {
		p, ok := prev[name]
		if !ok || p.Type != w.Type || len(differing(p, w)) > 0 || len(differing(w, p)) > 0 {
			out = append(out, name)
		}
	}
	for name := range prev {
		if _, ok := want[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// readBack checks that the entities plan operated on are now as desired
// (those it deleted for good are gone), and returns the tcpListeners
// among them that could not listen (see Busy). An entity is taken from
// the reply to its last CREATE or UPDATE, else (and a tcpListener always)
// READ.
func readBack(ctx context.Context, m Manager, plan Plan, desired []Entity, replies map[string]map[string]any) ([]string, error) {
	want := byName(desired, func(e Entity) bool { return isManaged(e.Type) })
	last := map[string]Op{}
	var order []string
	for _, op := range plan.Ops {
		if !isManaged(op.Type) {
			continue
		}
		if _, seen := last[op.Name]; !seen {
			order = append(order, op.Name)
		}
		last[op.Name] = op
	}
	var after, wanted []Entity
	gone := map[string][]string{}
	for _, name := range order {
		op := last[name]
		if op.Operation == "DELETE" {
			gone[op.Type] = append(gone[op.Type], name)
			continue
		}
		// A tcpListener is READ: it binds after the reply to its CREATE,
		// and whether it could is what Busy reports.
		attrs := replies[op.Type+" "+name]
		if len(attrs) == 0 || op.Type == "tcpListener" {
			var err error
			if attrs, err = m.Read(ctx, op.Type, name); err != nil {
				return nil, fmt.Errorf("read back %s %s: %w", op.Type, name, err)
			}
		}
		after = append(after, Entity{Type: op.Type, Name: name, Attrs: attrs})
		wanted = append(wanted, want[name])
	}
	for _, typ := range sortedKeys(gone) {
		rows, err := m.Query(ctx, typ, "name")
		if err != nil {
			return nil, fmt.Errorf("read back: %w", err)
		}
		running := map[string]bool{}
		for _, r := range rows {
			name, _ := r["name"].(string)
			running[name] = true
		}
		for _, name := range gone[typ] {
			if running[name] {
				return nil, fmt.Errorf("read back: the router still runs %s %s", typ, name)
			}
		}
	}
	if left := Compute(after, wanted, wanted, Options{}); len(left.Ops) > 0 {
		var ops []string
		for _, op := range left.Ops {
			ops = append(ops, op.String())
		}
		return nil, fmt.Errorf("read back: the router still differs from the configuration: %s", strings.Join(ops, "; "))
	}
	return Busy(after), nil
}
