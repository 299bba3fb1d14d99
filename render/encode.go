package render

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// A site of 1,000 pairs renders over 2,000 entities on every reconcile.
// Their JSON is written here without reflection, byte for byte as
// json.MarshalIndent(attrs, "    ", "    ") of the same attributes as a
// map: FuzzMarshalEntity and FuzzMarshalFields hold the two equal.

// field is one attribute of an entity built without a map (the Listeners'
// and Connectors' entities, which a large site holds by the thousand): a
// string, an integer or a boolean.
type field struct {
	key  string
	kind fieldKind
	str  string
	num  int64
}

type fieldKind uint8

const (
	fieldString fieldKind = iota
	fieldInt
	fieldBool
)

func strField(key, v string) field { return field{key: key, kind: fieldString, str: v} }

func boolField(key string, v bool) field {
	f := field{key: key, kind: fieldBool}
	if v {
		f.num = 1
	}
	return f
}

// marshalFields writes fields as marshalEntity writes the map of the same
// attributes: sorted by key. A key given twice keeps its last value, as
// a map would. fields is sorted in place.
func marshalFields(fields []field) []byte {
	slices.SortStableFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	// A later field of the same key wins, as a later map assignment does.
	out := fields[:0]
	for i, f := range fields {
		if i+1 < len(fields) && fields[i+1].key == f.key {
			continue
		}
		out = append(out, f)
	}
	return appendFields(nil, out)
}

// marshalEntity is json.MarshalIndent(attrs, "    ", "    "). Any value
// other than a string, an integer or a boolean (a list, a nested map, a
// float) hands the whole entity to encoding/json.
func marshalEntity(attrs map[string]any) ([]byte, error) {
	if attrs == nil {
		return []byte("null"), nil
	}
	var buf [16]field
	fields := buf[:0]
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			fields = append(fields, strField(k, v))
		case int:
			fields = append(fields, field{key: k, kind: fieldInt, num: int64(v)})
		case int64:
			fields = append(fields, field{key: k, kind: fieldInt, num: v})
		case bool:
			fields = append(fields, boolField(k, v))
		default:
			return json.MarshalIndent(attrs, "    ", "    ")
		}
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	return appendFields(nil, fields), nil
}

// appendFields appends the JSON object of fields, sorted and unique by
// key, indented as an entity of skrouterd.json.
func appendFields(out []byte, fields []field) []byte {
	if len(fields) == 0 {
		return append(out, "{}"...)
	}
	size := 16
	for _, f := range fields {
		size += len(f.key) + len(f.str) + 32
	}
	out = slices.Grow(out, size)
	out = append(out, '{')
	for i, f := range fields {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, "\n        "...)
		out = appendJSONString(out, f.key)
		out = append(out, ": "...)
		switch f.kind {
		case fieldString:
			out = appendJSONString(out, f.str)
		case fieldInt:
			out = strconv.AppendInt(out, f.num, 10)
		case fieldBool:
			out = strconv.AppendBool(out, f.num != 0)
		}
	}
	return append(out, "\n    }"...)
}

// appendJSONString appends s as encoding/json writes it: printable ASCII
// other than '"', '\\', '<', '>' and '&' as is, anything else through
// encoding/json.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(out, q...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}
