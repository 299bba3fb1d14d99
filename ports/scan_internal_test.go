package ports

import (
	"reflect"
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
