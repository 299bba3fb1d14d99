package mgmt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/go-amqp"

	"github.com/skupperd/skupperd/router/amqpconn"
)

// Sentinel errors matched by errors.Is against an *Error.
var (
	// ErrBadRequest matches every 400 reply.
	ErrBadRequest = errors.New("bad request")
	// ErrConflict matches a 400 reply to CREATE saying the name (or another
	// unique attribute) is taken.
	ErrConflict = errors.New("entity already exists")
	// ErrForbidden matches 401 and 403 replies.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound matches 404 replies (READ/UPDATE/DELETE of a missing name).
	ErrNotFound = errors.New("not found")
	// ErrNotImplemented matches 501 replies (operation not allowed for the type).
	ErrNotImplemented = errors.New("not implemented")
)

// Error is a management reply whose statusCode is not 2xx.
type Error struct {
	Code        int    // statusCode, e.g. 404
	Description string // statusDescription, e.g. "No entity with name=x"
	Operation   string // the request's operation, e.g. "DELETE"
	Type        string // the request's (qualified) entity type
	Name        string // the request's entity name, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "router management %s %s", e.Operation, e.Type)
	if e.Name != "" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	fmt.Fprintf(&b, ": %d %s", e.Code, e.Description)
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and the other sentinels work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Code == 400
	case ErrConflict:
		return e.Code == 400 && e.Operation == "CREATE" && strings.Contains(e.Description, "duplicates unique attribute")
	case ErrForbidden:
		return e.Code == 401 || e.Code == 403
	case ErrNotFound:
		return e.Code == 404
	case ErrNotImplemented:
		return e.Code == 501
	}
	return false
}

// IsNotFound reports whether err is a 404 reply.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is a CREATE refused because the name is
// already in use.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// AsInt converts an integer attribute value as the router sends it
// (int32, uint32, uint64, ...) to int64; see amqpconn.Int.
func AsInt(v any) (int64, bool) { return amqpconn.Int(v) }

// Reply is a decoded management reply.
type Reply struct {
	Code        int
	Description string
	// Body is the amqp-value: for QUERY {"attributeNames", "results"}, for
	// CREATE/READ/UPDATE the entity's attributes. Maps are normalised to
	// map[string]any (the router's empty map decodes as map[any]any).
	Body any
}

// decodeReply extracts status and body from a reply message. It never
// panics, whatever the message holds.
func decodeReply(msg *amqp.Message) (Reply, error) {
	if msg == nil {
		return Reply{}, errors.New("mgmt: empty reply")
	}
	code, ok := AsInt(msg.ApplicationProperties["statusCode"])
	if !ok {
		return Reply{}, fmt.Errorf("mgmt: reply without an integer statusCode (%T)", msg.ApplicationProperties["statusCode"])
	}
	desc, _ := msg.ApplicationProperties["statusDescription"].(string)
	return Reply{Code: int(code), Description: desc, Body: normalize(msg.Value, 0)}, nil
}

// normalize turns maps with only string keys (including the empty
// map[any]any) into map[string]any, recursively through lists; other
// values are returned unchanged.
func normalize(v any, depth int) any {
	if depth > maxDepth {
		return v
	}
	switch x := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return v
			}
			out[ks] = normalize(e, depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, depth+1)
		}
		return out
	}
	return v
}

// DecodeAttributes returns the body of a CREATE/READ/UPDATE reply as an
// attribute map.
func DecodeAttributes(body any) (map[string]any, error) {
	switch m := normalize(body, 0).(type) {
	case map[string]any:
		return m, nil
	case nil:
		return map[string]any{}, nil
	default:
		return nil, fmt.Errorf("mgmt: reply body is %T, want a map", body)
	}
}

// DecodeQuery turns a QUERY reply body {"attributeNames": [...],
// "results": [[...], ...]} into one map per row, keyed by attribute name.
// Rows shorter than attributeNames leave the missing names out; longer rows
// and non-string names are errors.
func DecodeQuery(body any) ([]map[string]any, error) {
	m, ok := normalize(body, 0).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("mgmt: query reply body is %T, want a map", body)
	}
	namesV, ok := m["attributeNames"].([]any)
	if !ok {
		if s, isStrings := m["attributeNames"].([]string); isStrings {
			namesV = make([]any, len(s))
			for i := range s {
				namesV[i] = s[i]
			}
		} else {
			return nil, fmt.Errorf("mgmt: query reply attributeNames is %T, want a list", m["attributeNames"])
		}
	}
	names := make([]string, len(namesV))
	for i, n := range namesV {
		s, ok := n.(string)
		if !ok {
			return nil, fmt.Errorf("mgmt: query reply attributeNames[%d] is %T, want a string", i, n)
		}
		names[i] = s
	}
	results, ok := m["results"].([]any)
	if !ok {
		if m["results"] == nil {
			return []map[string]any{}, nil
		}
		return nil, fmt.Errorf("mgmt: query reply results is %T, want a list", m["results"])
	}
	rows := make([]map[string]any, 0, len(results))
	for i, r := range results {
		vals, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("mgmt: query reply row %d is %T, want a list", i, r)
		}
		if len(vals) > len(names) {
			return nil, fmt.Errorf("mgmt: query reply row %d has %d values for %d attributes", i, len(vals), len(names))
		}
		row := make(map[string]any, len(vals))
		for j, v := range vals {
			row[names[j]] = v
		}
		rows = append(rows, row)
	}
	return rows, nil
}
