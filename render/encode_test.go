package render

import (
	"encoding/json"
	"testing"
)

func checkMarshalEntity(t *testing.T, attrs map[string]any) {
	t.Helper()
	want, werr := json.MarshalIndent(attrs, "    ", "    ")
	got, err := marshalEntity(attrs)
	if (err != nil) != (werr != nil) || string(got) != string(want) {
		t.Fatalf("marshalEntity(%#v) =\n%s (%v)\nencoding/json gives\n%s (%v)", attrs, got, err, want, werr)
	}
}

func TestMarshalEntity(t *testing.T) {
	for _, attrs := range []map[string]any{
		nil,
		{},
		{"name": "listener/backend", "port": 1024, "host": "0.0.0.0", "address": "backend"},
		{"verifyHostname": false, "authenticatePeer": true, "cost": int64(-3)},
		{"a<b": "x&y>z", "quote\"": "back\\slash", "ctl": "tab\there\n", "utf8": "é\u2028", "bad": "\xff"},
		{"list": []string{"a"}, "name": "falls back"},
		{"float": 1.5},
		{"nested": map[string]any{"k": 1}},
	} {
		checkMarshalEntity(t, attrs)
	}
}

func FuzzMarshalEntity(f *testing.F) {
	f.Add("name", "connector/backend", "port", int64(8080), "ok", true)
	f.Add("a<b", "\xff\u2028\"", "", int64(-1), "", false)
	f.Fuzz(func(t *testing.T, k1, v1, k2 string, n int64, k3 string, b bool) {
		checkMarshalEntity(t, map[string]any{k1: v1, k2: n, k3: b})
		checkMarshalEntity(t, map[string]any{k1: v1, k2: int(n)})
	})
}
