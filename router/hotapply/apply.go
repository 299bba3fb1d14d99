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

// Running queries the entities of the Queried types the router runs,
// with all their attributes.
func Running(ctx context.Context, m Manager) ([]Entity, error) {
	var out []Entity
	for _, typ := range Queried {
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
// plans, runs the operations in order and reads the result back. It
// returns the plan it ran. A change that needs a restart runs nothing and
// returns a *RestartError. Any failed operation, or a read-back that
// differs from desired, is an error: the caller restarts the router.
//
// By default it queries everything the router runs (the Queried types)
// before and after, which also sets back drift behind skupperd's back.
// With opts.Incremental (a configuration change on a router of thousands
// of entities: issue 13, one pair added to 1,000) what runs is previous,
// except the entities of previous that change, which are READ (a router
// that no longer runs one of them fails the apply), and the log modules
// (a QUERY); a new entity is taken as not running (a router that already
// runs it fails its CREATE); and only what was operated on is read back:
// the reply of a CREATE or UPDATE, a READ of a tcpListener (which binds
// afterwards), a QUERY of names for a type deleted from, a QUERY of the
// log modules if one was UPDATEd. A router that drifted from previous
// elsewhere may then fail an operation or the read-back, and is restarted.
func Apply(ctx context.Context, m Manager, previous, desired []Entity, opts Options) (Plan, error) {
	start := time.Now()
	var running []Entity
	var err error
	if opts.Incremental {
		running, err = runningFor(ctx, m, previous, desired)
	} else {
		running, err = Running(ctx, m)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("query the running router: %w", err)
	}
	plan := Compute(running, previous, desired, opts)
	plan.Took.Query = time.Since(start)
	start = time.Now()
	if plan.Restart != "" {
		return plan, &RestartError{Reason: plan.Restart}
	}
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
	if opts.Incremental {
		plan.Busy, err = readBack(ctx, m, plan, desired, replies)
	} else {
		plan.Busy, err = readBackAll(ctx, m, desired)
	}
	plan.Took.ReadBack = time.Since(start)
	return plan, err
}

// readBackAll checks that everything the router runs equals desired.
func readBackAll(ctx context.Context, m Manager, desired []Entity) ([]string, error) {
	after, err := Running(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("read back: %w", err)
	}
	if left := Compute(after, desired, desired, Options{}); len(left.Ops) > 0 {
		return nil, differs(left)
	}
	return Busy(after), nil
}

func differs(left Plan) error {
	var ops []string
	for _, op := range left.Ops {
		ops = append(ops, op.String())
	}
	return fmt.Errorf("read back: the router still differs from the configuration: %s", strings.Join(ops, "; "))
}

// runningFor is what the router runs as far as an incremental plan from
// previous to desired needs it (see Apply).
func runningFor(ctx context.Context, m Manager, previous, desired []Entity) ([]Entity, error) {
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
	out := make([]Entity, 0, len(running)+32)
	for _, name := range sortedKeys(running) {
		out = append(out, running[name])
	}
	logs, err := queryType(ctx, m, "log")
	if err != nil {
		return nil, err
	}
	return append(out, logs...), nil
}

// queryType queries the entities of one type, with all their attributes.
func queryType(ctx context.Context, m Manager, typ string) ([]Entity, error) {
	rows, err := m.Query(ctx, typ)
	if err != nil {
		return nil, err
	}
	out := make([]Entity, 0, len(rows))
	for _, r := range rows {
		name, _ := r["name"].(string)
		out = append(out, Entity{Type: typ, Name: name, Attrs: r})
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
	for _, op := range plan.Ops {
		if op.Type != "log" {
			continue
		}
		// A log level was UPDATEd: the modules are read back (a few).
		logs, err := queryType(ctx, m, "log")
		if err != nil {
			return nil, fmt.Errorf("read back: %w", err)
		}
		after = append(after, logs...)
		for _, e := range desired {
			if e.Type == "log" {
				wanted = append(wanted, e)
			}
		}
		break
	}
	if left := Compute(after, wanted, wanted, Options{}); len(left.Ops) > 0 {
		return nil, differs(left)
	}
	return Busy(after), nil
}

// Recreate deletes the entity e names from the router behind m and
// creates it again with e's attributes: the router never retries a
// tcpListener or listener that could not listen (its port was held), so
// this is how it is retried once the port frees.
func Recreate(ctx context.Context, m Manager, e Entity) error {
	if err := m.Delete(ctx, e.Type, e.Name); err != nil {
		return fmt.Errorf("retry %s %s: delete: %w", e.Type, e.Name, err)
	}
	if _, err := m.Create(ctx, e.Type, e.Name, body(e)); err != nil {
		return fmt.Errorf("retry %s %s: create: %w", e.Type, e.Name, err)
	}
	return nil
}
