package hotapply

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Manager is the part of a management client (*mgmt.Client) hot apply
// uses.
type Manager interface {
	Query(ctx context.Context, typ string, attrs ...string) ([]map[string]any, error)
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
// was started with or last brought to) to desired: it queries what runs,
// plans, runs the operations in order and reads the result back. It
// returns the plan it ran. A change that needs a restart runs nothing and
// returns a *RestartError. Any failed operation, or a read-back that still
// differs from desired, is an error: the caller restarts the router.
func Apply(ctx context.Context, m Manager, previous, desired []Entity, opts Options) (Plan, error) {
	running, err := Running(ctx, m)
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
	after, err := Running(ctx, m)
	if err != nil {
		return plan, fmt.Errorf("read back: %w", err)
	}
	plan.Busy = Busy(after)
	if left := Compute(after, desired, desired, Options{}); len(left.Ops) > 0 {
		var ops []string
		for _, op := range left.Ops {
			ops = append(ops, op.String())
		}
		return plan, fmt.Errorf("read back: the router still differs from the configuration: %s", strings.Join(ops, "; "))
	}
	return plan, nil
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
