package daemon

import (
	"testing"
	"time"
)

// TestPortWatchBackoff: a listener that cannot listen is retried after
// retryFirst, then with the backoff doubling up to retryMax, and at most
// once per retryFree when its port is free.
func TestPortWatchBackoff(t *testing.T) {
	pw := newPortWatch()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if pw.due("l", now, false) {
		t.Fatal("retried at once while the port is held")
	}
	var gaps []time.Duration
	last := now
	for at := now; at.Before(now.Add(3 * time.Minute)); at = at.Add(100 * time.Millisecond) {
		if pw.due("l", at, false) {
			gaps = append(gaps, at.Sub(last))
			last = at
		}
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if i >= len(gaps) || gaps[i] != w {
			t.Fatalf("retry gaps %v, want them to start %v", gaps, want)
		}
	}
	if !pw.due("l", last.Add(retryFree), true) {
		t.Fatal("a free port is not retried")
	}
	if pw.due("l", last.Add(retryFree+retryFree/2), true) {
		t.Fatal("a free port retried twice within retryFree")
	}
	pw.clear("l")
	if pw.due("l", last.Add(time.Hour), false) {
		t.Fatal("the backoff did not start over after clear")
	}
}

// TestPortWatchPublish: publishing reports what was added and cleared,
// and nothing when the report is the same.
func TestPortWatchPublish(t *testing.T) {
	pw := newPortWatch()
	if _, _, changed := pw.publish(nil); changed {
		t.Fatal("an empty report changed nothing")
	}
	added, cleared, changed := pw.publish(map[string]string{"listener/a": "port 1 is held", "listener/b": "port 2 is held"})
	if !changed || len(added) != 2 || len(cleared) != 0 {
		t.Fatalf("added %v cleared %v changed %v", added, cleared, changed)
	}
	if _, _, changed := pw.publish(map[string]string{"listener/b": "port 2 is held", "listener/a": "port 1 is held"}); changed {
		t.Fatal("the same report changed")
	}
	added, cleared, _ = pw.publish(map[string]string{"listener/b": "port 2 is held"})
	if len(added) != 0 || len(cleared) != 1 || cleared[0] != "listener/a" {
		t.Fatalf("added %v cleared %v", added, cleared)
	}
	if r := pw.report(); len(r) != 1 || r["listener/b"] == "" {
		t.Fatalf("report %v", r)
	}
}

// TestPortWatchConfig: the listeners checked are the tcpListeners and
// the link-access listeners, not skupperd's own.
func TestPortWatchConfig(t *testing.T) {
	pw := newPortWatch()
	pw.setConfig([]byte(`[["router", {"id": "r"}],
		["listener", {"name": "skupper-local-normal", "role": "normal", "port": "5671"}],
		["listener", {"name": "routeraccess/west/inter-router", "role": "inter-router", "port": "55671"}],
		["listener", {"name": "routeraccess/west/edge", "role": "edge", "port": "45671"}],
		["tcpListener", {"name": "listener/a", "port": "9000", "address": "a"}],
		["tcpConnector", {"name": "connector/a", "port": "9001", "address": "a"}]]`))
	var names []string
	for _, e := range pw.listeners() {
		names = append(names, e.Name)
		if e.Name == "listener/a" && portOf(e) != 9000 {
			t.Fatalf("port of listener/a: %d", portOf(e))
		}
	}
	want := []string{"listener/a", "routeraccess/west/edge", "routeraccess/west/inter-router"}
	if len(names) != len(want) || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
		t.Fatalf("listeners %v, want %v", names, want)
	}
}
