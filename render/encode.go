package render

import (
	"encoding/json"
	"slices"
	"strconv"
)

// marshalEntity is json.MarshalIndent(attrs, "    ", "    "), byte for
// byte, without reflection for the attributes a router entity holds
// (strings, integers and booleans): a site of 1,000 pairs renders over
// 2,000 entities on every reconcile. Any other value (a list, a nested
// map, a float) hands the whole entity to encoding/json. FuzzMarshalEntity
// holds the two equal.
func marshalEntity(attrs map[string]any) ([]byte, error) {
	if attrs == nil {
		return []byte("null"), nil
	}
	keys := make([]string, 0, len(attrs))
	size := 2
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			size += len(v)
		case int, int64, bool:
		default:
			return json.MarshalIndent(attrs, "    ", "    ")
		}
		keys = append(keys, k)
		size += len(k) + 32
	}
	if len(keys) == 0 {
		return []byte("{}"), nil
	}
	slices.Sort(keys)
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, "\n        "...)
		out = appendJSONString(out, k)
		out = append(out, ": "...)
		switch v := attrs[k].(type) {
		case string:
			out = appendJSONString(out, v)
		case int:
			out = strconv.AppendInt(out, int64(v), 10)
		case int64:
			out = strconv.AppendInt(out, v, 10)
		case bool:
			out = strconv.AppendBool(out, v)
		}
	}
	return append(out, "\n    }"...), nil
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
