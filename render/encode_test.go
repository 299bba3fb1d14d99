package render

import (
	"encoding/json"
	"slices"
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

// fieldsMap is the map of attributes fields stand for.
func fieldsMap(fields []field) map[string]any {
	m := map[string]any{}
	for _, f := range fields {
		switch f.kind {
		case fieldString:
			m[f.key] = f.str
		case fieldInt:
			m[f.key] = f.num
		case fieldBool:
			m[f.key] = f.num != 0
		}
	}
	return m
}

func checkMarshalFields(t *testing.T, fields []field) {
	t.Helper()
	want, err := json.MarshalIndent(fieldsMap(fields), "    ", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if got := marshalFields(slices.Clone(fields)); string(got) != string(want) {
		t.Fatalf("marshalFields(%+v) =\n%s\nencoding/json gives\n%s", fields, got, want)
	}
}

func TestMarshalFields(t *testing.T) {
	for _, fields := range [][]field{
		nil,
		{strField("name", "listener/backend"), strField("port", "1024"), strField("host", "0.0.0.0"), strField("address", "backend")},
		{boolField("verifyHostname", false), boolField("authenticatePeer", true), {key: "cost", kind: fieldInt, num: -3}},
		{strField("a<b", "x&y>z"), strField("quote\"", "back\\slash"), strField("utf8", "é\u2028"), strField("bad", "\xff")},
		{strField("host", "first"), strField("port", "1"), strField("host", "last")},
	} {
		checkMarshalFields(t, fields)
	}
}

func FuzzMarshalFields(f *testing.F) {
	f.Add("host", "127.0.0.1", "port", int64(8080), "verifyHostname", true)
	f.Add("k", "\xff\u2028\"", "k", int64(-1), "", false)
	f.Fuzz(func(t *testing.T, k1, v1, k2 string, n int64, k3 string, b bool) {
		checkMarshalFields(t, []field{strField(k1, v1), {key: k2, kind: fieldInt, num: n}, boolField(k3, b)})
	})
}
