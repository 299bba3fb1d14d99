package hotapply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
// was started with or last brought to) to desired: it queries what runs
// (only the attributes a plan compares), plans, runs the operations in
// order and reads back the entities it operated on (a READ each; a QUERY
// of names for a type it deleted from). It returns the plan it ran. A
// change that needs a restart runs nothing and returns a *RestartError.
// Any failed operation, or a read-back that differs from desired, is an
// error: the caller restarts the router.
//
// On a router of thousands of entities, reading back only what changed
// keeps a small change small (issue 13: one pair added to 1,000).
func Apply(ctx context.Context, m Manager, previous, desired []Entity, opts Options) (Plan, error) {
	running, err := runningFor(ctx, m, desired)
	if err != nil {
		return Plan{}, fmt.Errorf("query the running router: %w", err)
	}
	plan := Compute(running, previous, desired, opts)
	if plan.Restart != "" {
		return plan, &RestartError{Reason: plan.Restart}
	}
	for _, op := range plan.Ops {
		switch op.Operation {
		case "CREATE":
			_, err = m.Create(ctx, op.Type, op.Name, op.Attrs)
		case "UPDATE":
			_, err = m.Update(ctx, op.Type, op.Name, op.Attrs)
		case "DELETE":
			err = m.Delete(ctx, op.Type, op.Name)
		}
		if err != nil {
			return plan, fmt.Errorf("%s: %w", op, err)
		}
	}
	plan.Busy, err = readBack(ctx, m, plan, desired)
	return plan, err
}

// attributeNames are, per Managed type, the attributes a plan compares:
// the name, those desired sets, the defaulted ones, and what tells a
// tcpListener that could not listen.
func attributeNames(desired []Entity) map[string][]string {
	sets := map[string]map[string]bool{}
	for _, typ := range Managed {
		sets[typ] = map[string]bool{"name": true}
		for k := range defaults[typ] {
			sets[typ][k] = true
		}
	}
	sets["tcpListener"]["operStatus"] = true
	sets["tcpListener"]["connectionMsg"] = true
	for _, e := range desired {
		if set, ok := sets[e.Type]; ok {
			for k := range e.Attrs {
				set[k] = true
			}
		}
	}
	out := map[string][]string{}
	for typ, set := range sets {
		for k := range set {
			out[typ] = append(out[typ], k)
		}
		sort.Strings(out[typ])
	}
	return out
}

// runningFor queries the running entities of the Managed types with the
// attributes a plan towards desired compares.
func runningFor(ctx context.Context, m Manager, desired []Entity) ([]Entity, error) {
	names := attributeNames(desired)
	var out []Entity
	for _, typ := range Managed {
		rows, err := m.Query(ctx, typ, names[typ]...)
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

// readBack checks that the entities plan operated on are now as desired
// (those it deleted for good are gone), and returns the tcpListeners
// among them that could not listen (see Busy).
func readBack(ctx context.Context, m Manager, plan Plan, desired []Entity) ([]string, error) {
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
		attrs, err := m.Read(ctx, op.Type, name)
		if err != nil {
			return nil, fmt.Errorf("read back %s %s: %w", op.Type, name, err)
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
