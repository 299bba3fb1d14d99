package hotapply

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func ent(typ, name string, kv ...any) Entity {
	a := map[string]any{}
	if name != "" {
		a["name"] = name
	}
	for i := 0; i < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1]
	}
	return Entity{Type: typ, Name: name, Attrs: a}
}

// base is a rendered configuration's startup-only part and management
// listener.
func base() []Entity {
	return []Entity{
		ent("router", "", "id", "west-1", "mode", "interior", "metadata", "{}"),
		ent("sslProfile", "tls/skupper-local-server", "caCertFile", "/c/ca.crt", "certFile", "/c/tls.crt", "privateKeyFile", "/c/tls.key"),
		ent("listener", LocalListener, "role", "normal", "host", "127.0.0.1", "port", "5671", "sslProfile", "tls/skupper-local-server", "saslMechanisms", "EXTERNAL", "authenticatePeer", true),
		ent("address", "", "prefix", "mc", "distribution", "multicast"),
		{Type: "log", Name: "log/DEFAULT", Attrs: map[string]any{"module": "DEFAULT", "enable": "info+"}},
		ent("site", "west", "namespace", "west", "platform", "linux", "version", "1"),
	}
}

func with(es []Entity, more ...Entity) []Entity { return append(append([]Entity(nil), es...), more...) }

// asRunning turns configuration entities into what QUERY would report:
// managed types only, numbers as int32, defaults filled in, identity.
func asRunning(es []Entity) []Entity {
	var out []Entity
	for _, e := range es {
		if e.Type == "log" {
			// QUERY reports module, enable (once set) and name.
			out = append(out, Entity{Type: "log", Name: e.Name, Attrs: map[string]any{"module": e.Attrs["module"], "enable": e.Attrs["enable"], "name": e.Name}})
			continue
		}
		if !isManaged(e.Type) {
			continue
		}
		a := map[string]any{"identity": e.Type + "/x", "type": "io.skupper.router." + e.Type}
		for k, v := range defaults[e.Type] {
			a[k] = v
		}
		for k, v := range e.Attrs {
			if f, ok := v.(float64); ok {
				v = int32(f)
			}
			if i, ok := v.(int); ok {
				v = int32(i)
			}
			a[k] = v
		}
		out = append(out, Entity{Type: e.Type, Name: e.Name, Attrs: a})
	}
	return out
}

func lis(name string, port, key string) Entity {
	return ent("tcpListener", "listener/"+name, "host", "", "port", port, "address", key)
}

func con(name string, port, key string) Entity {
	return ent("tcpConnector", "connector/"+name, "host", "127.0.0.1", "port", port, "address", key)
}

func opsOf(p Plan) []string {
	var out []string
	for _, op := range p.Ops {
		out = append(out, op.String())
	}
	return out
}

func TestCompute(t *testing.T) {
	b := base()
	link := ent("connector", "link/east", "role", "inter-router", "host", "h", "port", "55671", "cost", 1, "sslProfile", "tls/l-profile")
	prof := ent("sslProfile", "tls/l-profile", "caCertFile", "/c/l/ca.crt", "certFile", "/c/l/tls.crt", "privateKeyFile", "/c/l/tls.key")
	tests := []struct {
		name      string
		prev, now []Entity
		opts      Options
		ops       []string
		restart   string // substring
	}{
		{name: "nothing changed", prev: with(b, lis("a", "9000", "a"), con("a", "9001", "a")), now: with(b, lis("a", "9000", "a"), con("a", "9001", "a"))},
		{name: "listener added", prev: b, now: with(b, lis("a", "9000", "a")), ops: []string{"CREATE tcpListener listener/a"}},
		{name: "listener removed", prev: with(b, lis("a", "9000", "a")), now: b, ops: []string{"DELETE tcpListener listener/a"}},
		{name: "listener port changed", prev: with(b, lis("a", "9000", "a"), lis("b", "9100", "b")), now: with(b, lis("a", "9002", "a"), lis("b", "9100", "b")),
			ops: []string{"DELETE tcpListener listener/a", "CREATE tcpListener listener/a"}},
		{name: "listener observer changed", prev: with(b, lis("a", "9000", "a")), now: with(b, ent("tcpListener", "listener/a", "host", "", "port", "9000", "address", "a", "observer", "none")),
			ops: []string{"UPDATE tcpListener listener/a"}},
		{name: "connector routing key changed", prev: with(b, con("a", "9001", "a")), now: with(b, con("a", "9001", "z")),
			ops: []string{"DELETE tcpConnector connector/a", "CREATE tcpConnector connector/a"}},
		{name: "burst: connector and listener added, one removed", prev: with(b, lis("old", "9009", "o"), con("old", "9008", "o")), now: with(b, lis("a", "9000", "a"), con("a", "9001", "a")),
			ops: []string{"DELETE tcpListener listener/old", "DELETE tcpConnector connector/old", "CREATE tcpConnector connector/a", "CREATE tcpListener listener/a"}},
		{name: "link with its profile added", prev: b, now: with(b, prof, link),
			ops: []string{"CREATE sslProfile tls/l-profile", "CREATE connector link/east"}},
		{name: "link with its profile removed", prev: with(b, prof, link), now: b,
			ops: []string{"DELETE connector link/east", "DELETE sslProfile tls/l-profile"}},
		{name: "link cost changed", prev: with(b, prof, link), now: with(b, prof, ent("connector", "link/east", "role", "inter-router", "host", "h", "port", "55671", "cost", 2, "sslProfile", "tls/l-profile")),
			ops: []string{"DELETE connector link/east", "CREATE connector link/east"}},
		{name: "tls listener moves to a new profile", prev: with(b, ent("sslProfile", "tls/a", "certFile", "/a"), ent("tcpListener", "listener/a", "host", "", "port", "9000", "address", "a", "sslProfile", "tls/a")),
			now: with(b, ent("sslProfile", "tls/b", "certFile", "/b"), ent("tcpListener", "listener/a", "host", "", "port", "9000", "address", "a", "sslProfile", "tls/b")),
			ops: []string{"CREATE sslProfile tls/b", "DELETE tcpListener listener/a", "CREATE tcpListener listener/a", "DELETE sslProfile tls/a"}},
		{name: "tls dropped from a listener", prev: with(b, ent("sslProfile", "tls/a", "certFile", "/a"), ent("tcpListener", "listener/a", "host", "", "port", "9000", "address", "a", "sslProfile", "tls/a")),
			now: with(b, lis("a", "9000", "a")),
			ops: []string{"DELETE tcpListener listener/a", "CREATE tcpListener listener/a", "DELETE sslProfile tls/a"}},
		{name: "profile paths changed", prev: with(b, prof), now: with(b, ent("sslProfile", "tls/l-profile", "caCertFile", "/d/ca.crt", "certFile", "/c/l/tls.crt", "privateKeyFile", "/c/l/tls.key")),
			ops: []string{"UPDATE sslProfile tls/l-profile"}},
		{name: "certificates renewed", prev: with(b, prof), now: with(b, prof), opts: Options{Reload: map[string]bool{"tls/l-profile": true}},
			ops: []string{"UPDATE sslProfile tls/l-profile"}},
		{name: "certificates rotated: ordinal raised", prev: with(b, prof, link),
			now: with(b, ent("sslProfile", "tls/l-profile", "caCertFile", "/c/l/ca.crt", "certFile", "/c/l/tls.crt", "privateKeyFile", "/c/l/tls.key", "ordinal", float64(1)), link),
			ops: []string{"UPDATE sslProfile tls/l-profile"}},
		{name: "log level changed", prev: b, now: replace(b, Entity{Type: "log", Name: "log/DEFAULT", Attrs: map[string]any{"module": "DEFAULT", "enable": "debug+"}}),
			ops: []string{"UPDATE log log/DEFAULT"}},
		{name: "DEFAULT log module removed, at the router's own level", prev: b, now: drop(b, "log")},
		{name: "DEFAULT log module removed", prev: replace(b, logEnt("DEFAULT", "debug+")), now: drop(b, "log"),
			ops: []string{"UPDATE log log/DEFAULT"}},
		{name: "log module removed", prev: with(b, logEnt("TCP_ADAPTOR", "debug+")), now: b,
			ops: []string{"UPDATE log log/TCP_ADAPTOR"}},
		{name: "log module added", prev: b, now: with(b, logEnt("TCP_ADAPTOR", "debug+")),
			ops: []string{"UPDATE log log/TCP_ADAPTOR"}},
		{name: "router mode changed", prev: b, now: replace(b, ent("router", "", "id", "west-1", "mode", "edge", "metadata", "{}")), restart: "router entity changed (mode)"},
		{name: "router metadata changed", prev: b, now: replace(b, ent("router", "", "id", "west-1", "mode", "interior", "metadata", "{v2}")), restart: "(metadata)"},
		{name: "site changed", prev: b, now: replace(b, ent("site", "west", "namespace", "west", "platform", "linux", "version", "2")), restart: "site entity changed (version)"},
		{name: "address removed", prev: b, now: drop(b, "address"), restart: "address mc entity was removed"},
		{name: "management listener changed", prev: b, now: replace(b, ent("listener", LocalListener, "role", "normal", "host", "127.0.0.1", "port", "5672", "sslProfile", "tls/skupper-local-server", "saslMechanisms", "EXTERNAL", "authenticatePeer", true)),
			restart: "management listener skupper-local-normal changed (port)", ops: []string{"DELETE listener skupper-local-normal", "CREATE listener skupper-local-normal"}},
		{name: "no previous configuration", prev: nil, now: b, restart: "entity was added; it is read at startup only",
			ops: []string{"CREATE sslProfile tls/skupper-local-server", "CREATE listener skupper-local-normal"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Compute(asRunning(tc.prev), tc.prev, tc.now, tc.opts)
			for _, op := range p.Ops {
				if op.Type == "log" && op.Attrs["enable"] == nil {
					t.Errorf("%s without a level", op)
				}
			}
			if got := opsOf(p); !reflect.DeepEqual(got, tc.ops) {
				t.Errorf("ops:\n got %q\nwant %q", got, tc.ops)
			}
			if tc.restart == "" && p.Restart != "" || !strings.Contains(p.Restart, tc.restart) {
				t.Errorf("restart = %q, want %q", p.Restart, tc.restart)
			}
		})
	}
}

func logEnt(module, enable string) Entity {
	return Entity{Type: "log", Name: "log/" + module, Attrs: map[string]any{"module": module, "enable": enable}}
}

// TestLogLevels: log levels are compared with what the router runs, so a
// level set behind skupperd's back is set again; a module no longer
// configured goes back to the level the router starts with.
func TestLogLevels(t *testing.T) {
	cfg := with(base(), logEnt("TCP_ADAPTOR", "debug+"))
	running := asRunning(cfg)
	running = append(running, Entity{Type: "log", Name: "log/ROUTER", Attrs: map[string]any{"module": "ROUTER", "name": "log/ROUTER"}})
	if p := Compute(running, cfg, cfg, Options{}); len(p.Ops) != 0 {
		t.Fatalf("the router runs the configured levels: %q", opsOf(p))
	}
	drifted := asRunning(cfg)
	for _, e := range drifted {
		switch e.Name {
		case "log/DEFAULT":
			e.Attrs["enable"] = "critical+"
		case "log/TCP_ADAPTOR":
			e.Attrs["enable"] = "default"
		}
	}
	drifted = append(drifted,
		Entity{Type: "log", Name: "log/ROUTER", Attrs: map[string]any{"module": "ROUTER", "name": "log/ROUTER", "enable": "debug+"}},
		Entity{Type: "log", Name: "log/AGENT", Attrs: map[string]any{"module": "AGENT", "name": "log/AGENT", "enable": "default"}})
	p := Compute(drifted, cfg, cfg, Options{})
	got := map[string]any{}
	for _, op := range p.Ops {
		got[op.String()] = op.Attrs["enable"]
	}
	want := map[string]any{"UPDATE log log/DEFAULT": "info+", "UPDATE log log/TCP_ADAPTOR": "debug+", "UPDATE log log/ROUTER": "default"}
	if !reflect.DeepEqual(got, want) || p.Restart != "" {
		t.Fatalf("drifted levels: ops %v (restart %q), want %v", got, p.Restart, want)
	}
}

func replace(es []Entity, e Entity) []Entity {
	out := append([]Entity(nil), es...)
	for i := range out {
		if out[i].Type == e.Type {
			out[i] = e
		}
	}
	return out
}

func drop(es []Entity, typ string) []Entity {
	var out []Entity
	for _, e := range es {
		if e.Type != typ {
			out = append(out, e)
		}
	}
	return out
}

func TestProfileFiles(t *testing.T) {
	got := ProfileFiles(with(base(), ent("sslProfile", "tls/ca-only", "caCertFile", "/x/ca.crt")))
	want := map[string][]string{
		"tls/skupper-local-server": {"/c/ca.crt", "/c/tls.crt", "/c/tls.key"},
		"tls/ca-only":              {"/x/ca.crt"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ProfileFiles = %v, want %v", got, want)
	}
}

func TestParseConfig(t *testing.T) {
	es, err := ParseConfig([]byte(`[["router", {"id": "r", "mode": "interior"}], ["tcpListener", {"name": "listener/a", "port": "9000"}], ["log", {"module": "TCP_ADAPTOR", "enable": "debug+"}], ["connector", {"name": "link/x", "cost": 2}]]`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Type+":"+e.Name)
	}
	if want := []string{"router:", "tcpListener:listener/a", "log:log/TCP_ADAPTOR", "connector:link/x"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("got %q want %q", names, want)
	}
	if b := body(es[3]); b["cost"] != int64(2) || b["name"] != nil {
		t.Fatalf("body = %#v: want cost as int64 and no name", b)
	}
	if _, err := ParseConfig([]byte(`{"not": "a list"}`)); err == nil {
		t.Fatal("a map parsed as a configuration")
	}
}

// fake is a Manager over a map, recording operations.
type fake struct {
	ents    map[string]Entity
	ops     []string
	reads   []string // entities READ
	queries []string // types QUERYed
	fail    string   // an operation (Op.String()) that fails
}

func (f *fake) Read(_ context.Context, typ, name string) (map[string]any, error) {
	f.reads = append(f.reads, typ+" "+name)
	for _, e := range asRunning(mapValues(f.ents)) {
		if e.Type == typ && e.Name == name {
			return e.Attrs, nil
		}
	}
	return nil, fmt.Errorf("404 not found: %s %s", typ, name)
}

func (f *fake) Query(_ context.Context, typ string, _ ...string) ([]map[string]any, error) {
	f.queries = append(f.queries, typ)
	var out []map[string]any
	for _, e := range asRunning(mapValues(f.ents)) {
		if e.Type == typ {
			out = append(out, e.Attrs)
		}
	}
	return out, nil
}

func mapValues(m map[string]Entity) []Entity {
	var out []Entity
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func (f *fake) do(op, typ, name string) error {
	s := op + " " + typ + " " + name
	f.ops = append(f.ops, s)
	if s == f.fail {
		return errors.New("500 boom")
	}
	return nil
}

func (f *fake) Create(_ context.Context, typ, name string, attrs map[string]any) (map[string]any, error) {
	if err := f.do("CREATE", typ, name); err != nil {
		return nil, err
	}
	if _, ok := f.ents[name]; ok {
		return nil, fmt.Errorf("400 duplicates unique attribute 'name'")
	}
	a := map[string]any{"name": name}
	for k, v := range attrs {
		a[k] = v
	}
	f.ents[name] = Entity{Type: typ, Name: name, Attrs: a}
	return a, nil
}

func (f *fake) Update(_ context.Context, typ, name string, attrs map[string]any) (map[string]any, error) {
	if err := f.do("UPDATE", typ, name); err != nil {
		return nil, err
	}
	e, ok := f.ents[name]
	if !ok && typ == "log" {
		e = Entity{Type: typ, Name: name, Attrs: map[string]any{"module": strings.TrimPrefix(name, "log/")}}
		f.ents[name] = e
	}
	for k, v := range attrs {
		e.Attrs[k] = v
	}
	return e.Attrs, nil
}

func (f *fake) Delete(_ context.Context, typ, name string) error {
	if err := f.do("DELETE", typ, name); err != nil {
		return err
	}
	delete(f.ents, name)
	return nil
}

func newFake(es []Entity) *fake {
	f := &fake{ents: map[string]Entity{}}
	for _, e := range es {
		if isManaged(e.Type) || e.Type == "log" {
			f.ents[e.Name] = e
		}
	}
	return f
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	prev := with(base(), lis("keep", "9000", "k"), con("keep", "9001", "k"), lis("a", "9002", "a"))
	now := with(base(), lis("keep", "9000", "k"), con("keep", "9001", "k"), lis("a", "9003", "a"), con("a", "9004", "a"))
	f := newFake(prev)
	plan, err := Apply(ctx, f, prev, now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DELETE tcpListener listener/a", "CREATE tcpConnector connector/a", "CREATE tcpListener listener/a"}
	if !reflect.DeepEqual(f.ops, want) || !reflect.DeepEqual(opsOf(plan), want) {
		t.Fatalf("ops %q, plan %q, want %q", f.ops, opsOf(plan), want)
	}
	for _, op := range f.ops {
		if strings.Contains(op, "keep") {
			t.Fatalf("an untouched entity was operated on: %s", op)
		}
	}

	// A failed operation is an error (the caller restarts).
	f = newFake(prev)
	f.fail = "CREATE tcpConnector connector/a"
	if _, err := Apply(ctx, f, prev, now, Options{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the failed CREATE", err)
	}

	// A restart-only change runs nothing.
	f = newFake(prev)
	_, err = Apply(ctx, f, prev, replace(now, ent("router", "", "id", "west-2", "mode", "interior", "metadata", "{}")), Options{})
	if !errors.Is(err, ErrRestart) || len(f.ops) != 0 {
		t.Fatalf("err = %v, ops %q: want ErrRestart and no operation", err, f.ops)
	}
}

// lossy is a router that accepts a CREATE but does not keep it.
type lossy struct{ *fake }

func (l lossy) Create(_ context.Context, typ, name string, _ map[string]any) (map[string]any, error) {
	return nil, l.do("CREATE", typ, name)
}

func TestApplyReadBack(t *testing.T) {
	prev := base()
	now := with(base(), lis("a", "9000", "a"))
	_, err := Apply(context.Background(), lossy{newFake(prev)}, prev, now, Options{})
	if err == nil || !strings.Contains(err.Error(), "read back") || !strings.Contains(err.Error(), "CREATE tcpListener listener/a") {
		t.Fatalf("err = %v, want a read-back difference", err)
	}
}

func TestBusyListeners(t *testing.T) {
	cfg := with(base(), lis("a", "9000", "a"), lis("b", "9001", "b"))
	running := asRunning(cfg)
	for _, e := range running {
		switch e.Name {
		case "listener/a":
			e.Attrs["operStatus"] = "down"
			e.Attrs["connectionMsg"] = "Address already in use - listen on 127.0.0.1:9000"
		case "listener/b":
			e.Attrs["operStatus"] = "down" // no consumer: not busy
		}
	}
	if got, want := Busy(running), []string{"listener/a: Address already in use - listen on 127.0.0.1:9000"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Busy = %q, want %q", got, want)
	}
	if p := Compute(running, cfg, cfg, Options{}); len(p.Ops) != 0 {
		t.Fatalf("a busy listener is left to Recreate: %q", opsOf(p))
	}
}

func TestRecreate(t *testing.T) {
	cfg := with(base(), lis("a", "9000", "a"))
	f := newFake(cfg)
	if err := Recreate(context.Background(), f, lis("a", "9000", "a")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"DELETE tcpListener listener/a", "CREATE tcpListener listener/a"}; !reflect.DeepEqual(f.ops, want) {
		t.Fatalf("ops %q, want %q", f.ops, want)
	}
	if got := f.ents["listener/a"].Attrs["port"]; got != "9000" {
		t.Fatalf("recreated with port %v", got)
	}
	f.fail = "DELETE tcpListener listener/a"
	if err := Recreate(context.Background(), f, lis("a", "9000", "a")); err == nil || !strings.Contains(err.Error(), "delete") {
		t.Fatalf("err = %v, want the failed delete", err)
	}
}

// TestApplyIncremental: an incremental apply READs only the entities of
// the previous configuration that change (and QUERYs the log modules),
// takes the replies to its operations as their read-back (a tcpListener
// is READ: it binds afterwards), and fails on a router that drifted.
func TestApplyIncremental(t *testing.T) {
	ctx := context.Background()
	inc := Options{Incremental: true}
	prev := with(base(), lis("keep", "9000", "k"), con("keep", "9001", "k"), lis("a", "9002", "a"))
	now := with(base(), lis("keep", "9000", "k"), con("keep", "9001", "k"), lis("a", "9003", "a"), con("a", "9004", "a"))
	f := newFake(prev)
	plan, err := Apply(ctx, f, prev, now, inc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DELETE tcpListener listener/a", "CREATE tcpConnector connector/a", "CREATE tcpListener listener/a"}
	if !reflect.DeepEqual(f.ops, want) || !reflect.DeepEqual(opsOf(plan), want) {
		t.Fatalf("ops %q, plan %q, want %q", f.ops, opsOf(plan), want)
	}
	if want := []string{"tcpListener listener/a", "tcpListener listener/a"}; !reflect.DeepEqual(f.reads, want) {
		t.Fatalf("read %q, want only what changed %q", f.reads, want)
	}
	if want := []string{"log"}; !reflect.DeepEqual(f.queries, want) {
		t.Fatalf("queried %q, want only %q", f.queries, want)
	}
	// The same plan as a full apply.
	full := newFake(prev)
	if plan, err := Apply(ctx, full, prev, now, Options{}); err != nil || !reflect.DeepEqual(opsOf(plan), want) {
		t.Fatalf("full apply: %q, %v; want %q", opsOf(plan), err, want)
	}

	// A router that already runs a new entity, or lost a changed one,
	// fails the apply (the caller restarts it).
	f = newFake(now)
	if _, err := Apply(ctx, f, prev, now, inc); err == nil || !strings.Contains(err.Error(), "CREATE tcpConnector connector/a") {
		t.Fatalf("err = %v, want the CREATE of a name in use reported", err)
	}
	f = newFake(prev)
	delete(f.ents, "listener/a")
	if _, err := Apply(ctx, f, prev, now, inc); err == nil || !strings.Contains(err.Error(), "READ tcpListener listener/a") {
		t.Fatalf("err = %v, want the lost entity reported", err)
	}

	// Read-back failures.
	if _, err := Apply(ctx, lossy{newFake(prev)}, prev, now, inc); err == nil || !strings.Contains(err.Error(), "read back tcpListener listener/a") {
		t.Fatalf("err = %v, want a read-back failure", err)
	}
	if _, err := Apply(ctx, altered{newFake(prev)}, prev, now, inc); err == nil || !strings.Contains(err.Error(), "still differs") || !strings.Contains(err.Error(), "connector/a") {
		t.Fatalf("err = %v, want a read-back difference", err)
	}
	removed := with(base(), con("x", "9009", "x"))
	if _, err := Apply(ctx, undeletable{newFake(removed)}, removed, base(), inc); err == nil || !strings.Contains(err.Error(), "still runs tcpConnector connector/x") {
		t.Fatalf("err = %v, want the deleted entity still running", err)
	}
}

// altered is a router that creates an entity with another port.
type altered struct{ *fake }

func (a altered) Create(ctx context.Context, typ, name string, attrs map[string]any) (map[string]any, error) {
	changed := map[string]any{}
	for k, v := range attrs {
		changed[k] = v
	}
	changed["port"] = "1"
	return a.fake.Create(ctx, typ, name, changed)
}

// undeletable is a router that accepts a DELETE but keeps the entity.
type undeletable struct{ *fake }

func (u undeletable) Delete(_ context.Context, typ, name string) error {
	return u.do("DELETE", typ, name)
}
