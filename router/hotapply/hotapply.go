// Package hotapply brings a running router to a rendered configuration
// through management, without a restart and without cutting the flows of
// the entities that stay (shared/reference/router-runtime.md §3–4).
//
// Plan is pure: from the entities the router runs (QUERY per type, by
// name) and the entities of skrouterd.json it computes the operations, or
// says why only a restart can apply the change. Apply runs a plan through
// a Manager (a *mgmt.Client) and reads the result back.
//
// What the router supports at run time decides the operations:
//   - sslProfile: CREATE, UPDATE (file paths and ordinal; an UPDATE
//     re-reads the files, so renewed certificates are loaded, and a higher
//     ordinal makes a link's connector open new connections with them
//     while the old ones keep their flows), DELETE.
//   - tcpListener: CREATE, DELETE, UPDATE of observer only; any other
//     change is DELETE + CREATE under the same name.
//   - tcpConnector, listener, connector: CREATE, DELETE; a change is
//     DELETE + CREATE.
//   - log: UPDATE of enable, compared with what the router runs (QUERY),
//     so that a level changed behind skupperd's back is set again. A
//     module no longer configured is UPDATEd back to what the router
//     starts with: "default" (follow DEFAULT), or DefaultLogLevel for
//     DEFAULT itself. The router has no DELETE for log entities.
//   - router, site, address and skupperd's own management listener
//     (skupper-local-normal): startup only, so a change needs a restart.
//
// Order: sslProfiles are created and updated first, so that the
// listeners and connectors using them find them; then the replaced and
// removed listeners and connectors are deleted (freeing their ports and
// names); then the new ones are created, tcpConnectors before
// tcpListeners (a tcpListener binds once its address has a consumer);
// then the in-place updates; removed sslProfiles go last. An entity that
// does not change is never touched, so its flows go on.
package hotapply

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Entity is one router entity: its type (short, e.g. "tcpListener"),
// name and attributes.
type Entity struct {
	Type  string
	Name  string
	Attrs map[string]any
}

// Managed are the types whose entities Plan creates, updates and deletes,
// in the order their running entities are queried.
var Managed = []string{"sslProfile", "listener", "connector", "tcpConnector", "tcpListener"}

// Queried are the types Running reads: the Managed ones and "log", whose
// levels Plan UPDATEs.
var Queried = append(append([]string(nil), Managed...), "log")

// DefaultLogLevel is the level of the DEFAULT log module of a router
// whose configuration sets none.
const DefaultLogLevel = "info+"

// LocalListener is skupperd's management listener: changing it would cut
// the connection hot apply runs on.
const LocalListener = "skupper-local-normal"

// Op is one management operation.
type Op struct {
	Operation string // CREATE, UPDATE or DELETE
	Type      string
	Name      string
	Attrs     map[string]any // CREATE/UPDATE body; nil for DELETE
}

func (o Op) String() string { return o.Operation + " " + o.Type + " " + o.Name }

// Plan is what it takes to bring the router to the desired entities.
type Plan struct {
	Ops []Op
	// Busy are the tcpListeners still down after Apply because another
	// process holds their port (see Busy).
	Busy []string
	// Restart is why the change cannot be applied at run time ("" when it
	// can). Ops are still computed, for the log.
	Restart string
	// Took is how long Apply spent learning what runs and planning,
	// running the operations, and reading back.
	Took struct{ Query, Operations, ReadBack time.Duration }
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Ops) == 0 && p.Restart == "" }

// Options adjust a plan.
type Options struct {
	// Reload names the kept sslProfiles to UPDATE even when their
	// attributes are unchanged, so that the router re-reads their renewed
	// certificate files (see ProfileFiles).
	Reload map[string]bool
	// Incremental takes what runs from the previous configuration but
	// what changes, and reads back only what was operated on (see Apply).
	Incremental bool
}

// Busy lists the running tcpListeners that could not listen because
// another process holds their port, as "name: message". They stay down
// until they are deleted and created again (Recreate): the router never
// retries them.
func Busy(running []Entity) []string {
	var out []string
	for name, msg := range BusyListeners(running) {
		out = append(out, name+": "+msg)
	}
	sort.Strings(out)
	return out
}

// BusyListeners maps each running tcpListener that could not listen
// because another process holds its port to the router's message (its
// connectionMsg, e.g. "Address already in use - listen on
// 127.0.0.1:47010"). A tcpListener that is down only because its address
// has no consumer is not busy.
func BusyListeners(running []Entity) map[string]string {
	out := map[string]string{}
	for _, e := range running {
		if e.Type == "tcpListener" && busy(e) {
			out[e.Name] = norm(e.Attrs["connectionMsg"])
		}
	}
	return out
}

// ProfileFiles maps each sslProfile of es to the files it names
// (caCertFile, certFile, privateKeyFile), for callers that compare their
// contents to decide what to Reload.
func ProfileFiles(es []Entity) map[string][]string {
	out := map[string][]string{}
	for _, e := range es {
		if e.Type != "sslProfile" {
			continue
		}
		var files []string
		for _, k := range []string{"caCertFile", "certFile", "privateKeyFile"} {
			if f := norm(e.Attrs[k]); f != "" {
				files = append(files, f)
			}
		}
		out[e.Name] = files
	}
	return out
}

func busy(e Entity) bool {
	return norm(e.Attrs["operStatus"]) == "down" && strings.Contains(norm(e.Attrs["connectionMsg"]), "in use")
}

// ParseConfig reads the entities of a skrouterd.json: a list of
// [type, attributes] pairs.
func ParseConfig(data []byte) ([]Entity, error) {
	var raw [][2]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse router configuration: %w", err)
	}
	out := make([]Entity, 0, len(raw))
	for i, r := range raw {
		var e Entity
		if err := json.Unmarshal(r[0], &e.Type); err != nil {
			return nil, fmt.Errorf("parse router configuration: entity %d: type: %w", i, err)
		}
		if err := json.Unmarshal(r[1], &e.Attrs); err != nil {
			return nil, fmt.Errorf("parse router configuration: entity %d (%s): %w", i, e.Type, err)
		}
		e.Name, _ = e.Attrs["name"].(string)
		if e.Type == "log" {
			mod, _ := e.Attrs["module"].(string)
			e.Name = "log/" + mod
		}
		out = append(out, e)
	}
	return out, nil
}

// defaults are the values the router holds for attributes skrouterd.json
// may leave out, per managed type: a desired entity without one of them
// wants the default, so that removing it from the configuration is a
// change.
var defaults = map[string]map[string]any{
	"sslProfile":   {"caCertFile": nil, "certFile": nil, "privateKeyFile": nil},
	"listener":     {"sslProfile": nil, "saslMechanisms": nil, "authenticatePeer": false, "requireSsl": false, "host": ""},
	"connector":    {"sslProfile": nil, "saslMechanisms": nil, "verifyHostname": true},
	"tcpListener":  {"sslProfile": nil, "authenticatePeer": false, "observer": "auto", "host": ""},
	"tcpConnector": {"sslProfile": nil, "verifyHostname": true},
}

// updatable are the attributes an UPDATE may change, per type.
var updatable = map[string]map[string]bool{
	"sslProfile":  {"caCertFile": true, "certFile": true, "privateKeyFile": true, "ordinal": true},
	"tcpListener": {"observer": true},
}

// rank orders creations: profiles, then what carries links and our own
// connection, then connectors before listeners.
var rank = map[string]int{"sslProfile": 0, "listener": 1, "connector": 2, "tcpConnector": 3, "tcpListener": 4}

// Compute plans the change from the running entities of the Managed types
// (as QUERY reports them, every attribute) and the previous configuration
// the router was started with or brought to (for the startup-only
// entities) to the desired configuration.
func Compute(running, previous, desired []Entity, opts Options) Plan {
	var p Plan
	if why := staticChange(previous, desired); why != "" {
		p.Restart = why
	}
	have := byName(running, func(e Entity) bool { return isManaged(e.Type) })
	want := byName(desired, func(e Entity) bool { return isManaged(e.Type) })
	var (
		profiles, deletes, creates, updates, dropProfiles []Op
	)
	for _, name := range sortedKeys(want) {
		w := want[name]
		h, ok := have[name]
		switch {
		case !ok:
			creates = append(creates, Op{"CREATE", w.Type, name, body(w)})
		case h.Type != w.Type:
			deletes = append(deletes, Op{"DELETE", h.Type, name, nil})
			creates = append(creates, Op{"CREATE", w.Type, name, body(w)})
		default:
			changed := differing(h, w)
			if len(changed) == 0 {
				if w.Type == "sslProfile" && opts.Reload[name] {
					profiles = append(profiles, Op{"UPDATE", w.Type, name, body(w)})
				}
				continue
			}
			if name == LocalListener && p.Restart == "" {
				p.Restart = fmt.Sprintf("skupperd's management listener %s changed (%s)", name, strings.Join(changed, ", "))
			}
			if canUpdate(w.Type, changed) {
				op := Op{"UPDATE", w.Type, name, body(w)}
				if w.Type == "sslProfile" {
					profiles = append(profiles, op)
				} else {
					op.Attrs = pick(w, changed)
					updates = append(updates, op)
				}
				continue
			}
			deletes = append(deletes, Op{"DELETE", h.Type, name, nil})
			creates = append(creates, Op{"CREATE", w.Type, name, body(w)})
		}
	}
	for _, name := range sortedKeys(have) {
		if _, ok := want[name]; ok {
			continue
		}
		h := have[name]
		if name == LocalListener && p.Restart == "" {
			p.Restart = "skupperd's management listener " + name + " was removed"
		}
		op := Op{"DELETE", h.Type, name, nil}
		if h.Type == "sslProfile" {
			dropProfiles = append(dropProfiles, op)
		} else {
			deletes = append(deletes, op)
		}
	}
	logs := logOps(running, desired)
	// Profiles (CREATE, UPDATE) first; then the deletions, tcpListeners
	// before the tcpConnectors behind them; then the creations in rank
	// order; updates; removed profiles last, when nothing uses them.
	var profileCreates []Op
	rest := creates[:0:0]
	for _, c := range creates {
		if c.Type == "sslProfile" {
			profileCreates = append(profileCreates, c)
		} else {
			rest = append(rest, c)
		}
	}
	sortOps(deletes, true)
	sortOps(rest, false)
	p.Ops = append(p.Ops, profileCreates...)
	p.Ops = append(p.Ops, profiles...)
	p.Ops = append(p.Ops, deletes...)
	p.Ops = append(p.Ops, rest...)
	p.Ops = append(p.Ops, updates...)
	p.Ops = append(p.Ops, logs...)
	p.Ops = append(p.Ops, dropProfiles...)
	return p
}

func isManaged(t string) bool { _, ok := rank[t]; return ok }

// sortOps orders operations by type rank (reversed for deletions: users
// of a thing before the thing), then name.
func sortOps(ops []Op, reverse bool) {
	sort.SliceStable(ops, func(i, j int) bool {
		ri, rj := rank[ops[i].Type], rank[ops[j].Type]
		if ri != rj {
			return (ri < rj) != reverse
		}
		return ops[i].Name < ops[j].Name
	})
}

// staticChange says why the startup-only entities differ ("" if not).
func staticChange(previous, desired []Entity) string {
	prev, want := statics(previous), statics(desired)
	for _, k := range sortedKeys(want) {
		if _, ok := prev[k]; !ok {
			return "the router's " + k + " entity was added; it is read at startup only"
		}
	}
	for _, k := range sortedKeys(prev) {
		w, ok := want[k]
		if !ok {
			return "the router's " + k + " entity was removed; it is read at startup only"
		}
		if changed := differing(prev[k], w); len(changed) > 0 {
			return fmt.Sprintf("the router's %s entity changed (%s); it is read at startup only", k, strings.Join(changed, ", "))
		}
		if changed := differing(w, prev[k]); len(changed) > 0 {
			return fmt.Sprintf("the router's %s entity changed (%s); it is read at startup only", k, strings.Join(changed, ", "))
		}
	}
	return ""
}

// statics are the startup-only entities by a key: "router", "site",
// "address <prefix>".
func statics(es []Entity) map[string]Entity {
	out := map[string]Entity{}
	for _, e := range es {
		switch e.Type {
		case "router", "site":
			out[e.Type] = e
		case "address":
			p, _ := e.Attrs["prefix"].(string)
			out["address "+p] = e
		}
	}
	return out
}

// logOps updates the log modules whose level the router does not run:
// those of desired, and those the router runs at a level desired does not
// set, back to their startup level (see logLevel).
func logOps(running, desired []Entity) []Op {
	have := byName(running, func(e Entity) bool { return e.Type == "log" })
	want := byName(desired, func(e Entity) bool { return e.Type == "log" })
	var ops []Op
	for _, name := range sortedKeys(want) {
		w := logLevel(name, want[name])
		if h, ok := have[name]; ok && logLevel(name, h) == w || !ok && w == logLevel(name, Entity{}) {
			continue
		}
		ops = append(ops, Op{"UPDATE", "log", name, map[string]any{"enable": w}})
	}
	for _, name := range sortedKeys(have) {
		if _, ok := want[name]; ok {
			continue
		}
		if start := logLevel(name, Entity{}); logLevel(name, have[name]) != start {
			ops = append(ops, Op{"UPDATE", "log", name, map[string]any{"enable": start}})
		}
	}
	return ops
}

// logLevel is the level a log entity sets for module name: its enable,
// else what the router starts with (DefaultLogLevel for DEFAULT;
// "default", following DEFAULT, for the others, which QUERY reports as
// no enable at all before an UPDATE).
func logLevel(name string, e Entity) string {
	v := norm(e.Attrs["enable"])
	if v == "" || v == "default" {
		if name == "log/DEFAULT" {
			return DefaultLogLevel
		}
		return "default"
	}
	return v
}

// differing lists the attributes of want (and the defaulted ones it
// leaves out) whose value have does not hold, sorted.
func differing(have, want Entity) []string {
	var out []string
	for k, v := range want.Attrs {
		if k == "name" {
			continue
		}
		if norm(have.Attrs[k]) != norm(v) {
			out = append(out, k)
		}
	}
	for k, v := range defaults[want.Type] {
		if _, set := want.Attrs[k]; set {
			continue
		}
		if hv, ok := have.Attrs[k]; ok && norm(hv) != norm(v) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// norm makes values comparable across JSON (float64), the Python agent
// (int32) and the C agent (uint32/uint64).
func norm(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		if v == float64(int64(v)) {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v)
	}
	return fmt.Sprint(v)
}

func canUpdate(typ string, changed []string) bool {
	u := updatable[typ]
	for _, k := range changed {
		if !u[k] {
			return false
		}
	}
	return len(u) > 0
}

// body is the CREATE/UPDATE body of e: its attributes without the name
// (which goes in the request's application-properties), numbers as int64.
func body(e Entity) map[string]any {
	out := make(map[string]any, len(e.Attrs))
	for k, v := range e.Attrs {
		if k == "name" {
			continue
		}
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			v = int64(f)
		}
		out[k] = v
	}
	return out
}

func pick(e Entity, keys []string) map[string]any {
	b := body(e)
	out := map[string]any{}
	for _, k := range keys {
		v, ok := b[k]
		if !ok {
			v = defaults[e.Type][k]
		}
		out[k] = v
	}
	return out
}

func byName(es []Entity, keep func(Entity) bool) map[string]Entity {
	out := map[string]Entity{}
	for _, e := range es {
		if keep(e) && e.Name != "" {
			out[e.Name] = e
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
