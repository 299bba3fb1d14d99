package mgmt

import (
	"fmt"
	"math"
	"strings"
)

// TypePrefix qualifies entity type names.
const TypePrefix = "io.skupper.router."

// QualifiedType returns the fully qualified entity type for t: a short name
// such as "tcpListener" or "connection" gets the "io.skupper.router."
// prefix; a name that already has a dotted vendor prefix ("io.skupper.",
// "org.") is returned as is. The router's C agent answers only fully
// qualified names, and the Python agent silently returns no rows for the
// short names of C-implemented types, so requests always carry the
// qualified form.
func QualifiedType(t string) string {
	if strings.HasPrefix(t, TypePrefix) || strings.HasPrefix(t, "io.skupper.") || strings.HasPrefix(t, "org.") {
		return t
	}
	return TypePrefix + t
}

// EncodeValue is the single gate every value of a request body passes
// through. It returns a value that go-amqp encodes without any AMQP
// array, or an error naming the offending path.
//
// Accepted: nil, string, bool, signed and unsigned integers (int and uint
// become int64 and uint64), float32/float64 (finite), []any and []string
// (both become []any, the AMQP list), map[string]any (keys kept, values
// encoded recursively). Everything else is refused, in particular every
// other slice or array type ([]int, []byte, [2]string...), which go-amqp
// would encode as an AMQP array: an array of two or more elements in a
// body makes the router's Python agent fail while holding its lock, and
// the router then stops answering and routing (router-runtime §4.5).
func EncodeValue(v any) (any, error) {
	return encodeValue(v, "body", 0)
}

// maxDepth bounds nesting, so a cyclic []any cannot recurse forever.
const maxDepth = 32

func encodeValue(v any, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("mgmt: %s: nested more than %d levels", path, maxDepth)
	}
	switch x := v.(type) {
	case nil, string, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return x, nil
	case int:
		return int64(x), nil
	case uint:
		return uint64(x), nil
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("mgmt: %s: non-finite number", path)
		}
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("mgmt: %s: non-finite number", path)
		}
		return x, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := encodeValue(e, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := encodeValue(e, path+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	}
	return nil, fmt.Errorf("mgmt: %s: %T cannot be sent to the router (only nil, strings, booleans, numbers, []any, []string and map[string]any; typed slices would be encoded as an AMQP array)", path, v)
}

// EncodeBody encodes the attribute map of a CREATE or UPDATE request with
// EncodeValue. A nil map encodes as an empty map.
func EncodeBody(attrs map[string]any) (map[string]any, error) {
	if attrs == nil {
		return map[string]any{}, nil
	}
	v, err := EncodeValue(attrs)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}
