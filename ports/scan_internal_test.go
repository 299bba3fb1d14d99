package ports

import (
	"reflect"
	"strconv"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// TestScanTable checks that the fast table scan reads what the YAML
// decoder reads from tables as writeTable writes them, and declines
// anything else.
func TestScanTable(t *testing.T) {
	entries := []Entry{
		{Key: "router/normal", Role: RoleNormal, Port: 1024, Host: "127.0.0.1", What: "router local port"},
		{Key: "listener/l0", Port: 8080, Host: "127.0.0.1", What: "Listener/l0"},
		{Key: "listener/all", Port: 9090, What: "Listener/all"},
		{Key: "listener/v6", Port: 9091, Host: "::1", What: "Listener/v6"},
		{Key: "listener/num", Port: 9092, Host: "10", What: "true"},
		{Key: "routeraccess/west/inter-router", Role: RoleInterRouter, Port: 55671, Host: "0.0.0.0", What: "RouterAccess/west role inter-router"},
	}
	body, err := v2alpha1.MarshalYAML(table{Ports: entries})
	if err != nil {
		t.Fatal(err)
	}
	data := append([]byte(tableHeader), body...)
	var want table
	if err := yaml.UnmarshalStrict(data, &want); err != nil {
		t.Fatal(err)
	}
	if got, ok := scanTable(data); ok && !reflect.DeepEqual(got, want.Ports) {
		t.Errorf("scanTable = %+v, want %+v", got, want.Ports)
	}
	// Without the entries only the decoder reads, the scan takes it.
	body, err = v2alpha1.MarshalYAML(table{Ports: entries[:2]})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := scanTable(append([]byte(tableHeader), body...))
	if !ok || !reflect.DeepEqual(got, entries[:2]) {
		t.Errorf("scanTable of a table as written = %+v, %v; want %+v", got, ok, entries[:2])
	}
	plain := append([]byte(tableHeader), "ports:\n- host: 127.0.0.1\n  key: listener/l0\n  port: 8080\n  what: Listener/l0\n"...)
	got, ok = scanTable(plain)
	if !ok || !reflect.DeepEqual(got, []Entry{{Key: "listener/l0", Port: 8080, Host: "127.0.0.1", What: "Listener/l0"}}) {
		t.Errorf("scanTable of a plain table = %+v, %v", got, ok)
	}
	for _, odd := range []string{
		"ports:\n- key: a\n  port: 1\n",
		tableHeader + "ports: []\n",
		tableHeader + "ports:\n- key: a\n  port: 01\n",
		tableHeader + "ports:\n- key: a\n  port: 1\n  extra: x\n",
		tableHeader + "ports:\n- key: a\n  key: b\n  port: 1\n",
		tableHeader + "ports:\n- key: 'a'\n  port: 1\n",
		tableHeader + "ports:\n- key: a\n  port: 1\n# comment\n",
		tableHeader + "ports:\n- key: yes\n  port: 1\n",
		tableHeader + "ports:\n- key: a\n  port: 1\n  what: 'x '\n",
	} {
		if got, ok := scanTable([]byte(odd)); ok {
			t.Errorf("scanTable(%q) = %+v, want it declined", odd, got)
		}
	}
}

// TestFormatTable checks that the table writer's fast path gives exactly
// the bytes of the YAML encoder whenever it takes a table, and that it
// takes the tables skupperd writes.
func TestFormatTable(t *testing.T) {
	values := []string{"", "127.0.0.1", "0.0.0.0", "10.1.2.300", "1.2.3", "::1", "10", "01", "1e5", "0x1F",
		"true", "yes", "on", "y", "null", "Null", "~", "host.example.com", "my-host", "a b", "a  b", "x ", " x",
		"Listener/l0", "RouterAccess/west role inter-router", "listener/l0", ".hidden", "-dash", "a:b", "a#b", "a'b", "é",
		"2026-01-02", "12:30", "a-very-long-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on",
		"with spaces that go on and on and on and on and on and on and on and on and on and on and on"}
	var entries []Entry
	for i, v := range values {
		entries = append(entries,
			Entry{Key: "listener/h" + strconv.Itoa(i), Port: 1024 + i, Host: v, What: "Listener/x"},
			Entry{Key: "listener/w" + strconv.Itoa(i), Port: 2048 + i, Host: "127.0.0.1", What: v},
			Entry{Key: "router/" + strconv.Itoa(i), Role: RoleNormal, Port: 4096 + i, What: v},
		)
		if v != "" {
			entries = append(entries, Entry{Key: v, Port: 8192 + i})
		}
	}
	taken := 0
	for _, e := range entries {
		got, ok := formatTable([]Entry{e})
		body, err := v2alpha1.MarshalYAML(table{Ports: []Entry{e}})
		if err != nil {
			t.Fatal(err)
		}
		want := tableHeader + string(body)
		if ok {
			taken++
			if string(got) != want {
				t.Errorf("formatTable(%+v) =\n%s\nwant\n%s", e, got, want)
			}
		}
	}
	if taken == 0 {
		t.Errorf("the fast path took none of %d entries", len(entries))
	}
	usual := []Entry{
		{Key: "listener/l0", Port: 8080, Host: "127.0.0.1", What: "Listener/l0"},
		{Key: "listener/all", Port: 9090, What: "Listener/all"},
		{Key: "router/normal", Role: RoleNormal, Port: 1024, Host: "127.0.0.1", What: "router local port"},
		{Key: "routeraccess/west/inter-router", Role: RoleInterRouter, Port: 55671, Host: "0.0.0.0", What: "RouterAccess/west role inter-router"},
	}
	got, ok := formatTable(usual)
	body, err := v2alpha1.MarshalYAML(table{Ports: usual})
	if err != nil {
		t.Fatal(err)
	}
	if !ok || string(got) != tableHeader+string(body) {
		t.Errorf("formatTable of the usual entries = %v\n%s\nwant\n%s%s", ok, got, tableHeader, body)
	}
	if _, ok := formatTable(nil); ok {
		t.Error("formatTable of no entries was taken")
	}
}

// FuzzFormatTable checks, for any entry, that the fast table writer
// either declines it or gives exactly the YAML encoder's bytes.
func FuzzFormatTable(f *testing.F) {
	f.Add("listener/l0", "", 8080, "127.0.0.1", "Listener/l0")
	f.Add("router/normal", RoleNormal, 1024, "", "router local port")
	f.Add("k", "", 1, "10", "yes")
	f.Fuzz(func(t *testing.T, key, role string, port int, host, what string) {
		e := Entry{Key: key, Role: role, Port: port, Host: host, What: what}
		got, ok := formatTable([]Entry{e})
		if !ok {
			return
		}
		body, err := v2alpha1.MarshalYAML(table{Ports: []Entry{e}})
		if err != nil {
			t.Fatal(err)
		}
		if want := tableHeader + string(body); string(got) != want {
			t.Fatalf("formatTable(%+v) =\n%s\nwant\n%s", e, got, want)
		}
	})
}
