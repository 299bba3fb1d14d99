package mgmt

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/Azure/go-amqp"
)

func TestQualifiedType(t *testing.T) {
	for in, want := range map[string]string{
		"tcpListener":                       "io.skupper.router.tcpListener",
		"connection":                        "io.skupper.router.connection",
		"router.address":                    "io.skupper.router.router.address",
		"io.skupper.router.connection":      "io.skupper.router.connection",
		"org.amqp.management":               "org.amqp.management",
		"io.skupper.router.router.config.x": "io.skupper.router.router.config.x",
	} {
		if got := QualifiedType(in); got != want {
			t.Errorf("QualifiedType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEncodeValue(t *testing.T) {
	ok := []struct {
		in, want any
	}{
		{nil, nil},
		{"s", "s"},
		{true, true},
		{7, int64(7)},
		{uint(7), uint64(7)},
		{int32(7), int32(7)},
		{uint64(1), uint64(1)},
		{1.5, 1.5},
		{[]string{"a", "b"}, []any{"a", "b"}},
		{[]string{}, []any{}},
		{[]any{"a", 1, []string{"x", "y"}}, []any{"a", int64(1), []any{"x", "y"}}},
		{map[string]any{"attributeNames": []string{"id", "mode"}}, map[string]any{"attributeNames": []any{"id", "mode"}}},
		{map[string]any{"m": map[string]any{"l": []any{true}}}, map[string]any{"m": map[string]any{"l": []any{true}}}},
	}
	for _, tc := range ok {
		got, err := EncodeValue(tc.in)
		if err != nil {
			t.Errorf("EncodeValue(%#v): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("EncodeValue(%#v) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	bad := []any{
		[]int{1, 2},
		[]int64{1},
		[]bool{true, false},
		[]byte("xy"),
		[2]string{"a", "b"},
		[]map[string]any{{}},
		map[string]string{"a": "b"},
		map[any]any{"a": "b"},
		struct{}{},
		amqp.UUID{},
		math.NaN(),
		map[string]any{"deep": []any{[]int{1, 2}}},
	}
	for _, in := range bad {
		if got, err := EncodeValue(in); err == nil {
			t.Errorf("EncodeValue(%#v) = %#v, want an error", in, got)
		}
	}
	// The error names where the bad value is.
	_, err := EncodeValue(map[string]any{"deep": []any{"ok", []int{1, 2}}})
	if err == nil || !strings.Contains(err.Error(), "body.deep[1]") {
		t.Errorf("error %v does not name body.deep[1]", err)
	}
	// A cycle is refused, not followed forever.
	cyc := []any{nil}
	cyc[0] = cyc
	if _, err := EncodeValue(cyc); err == nil {
		t.Error("a cyclic list was accepted")
	}
}

// noArrays fails t if the decoded AMQP value v contains an AMQP array.
// go-amqp decodes an array as a typed slice ([]string, []int64, ...) and a
// list as []any, so any slice other than []any was an array on the wire.
func noArrays(t *testing.T, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			noArrays(t, path+"["+string(rune('0'+i%10))+"]", e)
		}
	case map[string]any:
		for k, e := range x {
			noArrays(t, path+"."+k, e)
		}
	case map[any]any:
		for k, e := range x {
			noArrays(t, path+".key", k)
			noArrays(t, path+".value", e)
		}
	default:
		if v != nil && reflect.TypeOf(v).Kind() == reflect.Slice {
			t.Errorf("%s: the encoded message holds an AMQP array (decoded as %T)", path, v)
		}
	}
}

// TestRequestsNeverCarryArrays encodes the requests the client sends,
// decodes them back as the router would, and checks that no AMQP array
// is on the wire (router-runtime §4.5), including for []string input.
func TestRequestsNeverCarryArrays(t *testing.T) {
	c := New(nil, Options{})
	reqs := []Request{
		{Operation: "QUERY", Type: "tcpListener", Body: map[string]any{"attributeNames": []string{"name", "port", "address"}}},
		{Operation: "QUERY", Type: "connection", Body: map[string]any{"attributeNames": []any{"container", "role"}}},
		{Operation: "CREATE", Type: "tcpListener", Name: "x", Body: map[string]any{"port": "1", "list": []string{"a", "b", "c"}, "n": 3}},
		{Operation: "UPDATE", Type: "sslProfile", Name: "p", Body: map[string]any{"ordinal": uint64(1), "nested": map[string]any{"l": []string{"x", "y"}}}},
		{Operation: "DELETE", Type: "tcpListener", Name: "x"},
	}
	for _, req := range reqs {
		msg, err := c.message(req)
		if err != nil {
			t.Fatalf("%s: %v", req.Operation, err)
		}
		id := "skupperd-1"
		reply := "amqp:/_topo/0/r/temp.x"
		msg.Properties = &amqp.MessageProperties{ReplyTo: &reply, CorrelationID: id}
		wire, err := msg.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: marshal: %v", req.Operation, err)
		}
		var got amqp.Message
		if err := got.UnmarshalBinary(wire); err != nil {
			t.Fatalf("%s: unmarshal: %v", req.Operation, err)
		}
		noArrays(t, req.Operation+" body", got.Value)
		for k, v := range got.ApplicationProperties {
			noArrays(t, req.Operation+" application-properties."+k, v)
		}
		if got.Properties.CorrelationID != any(id) {
			t.Errorf("%s: correlation id %#v, want the string %q", req.Operation, got.Properties.CorrelationID, id)
		}
		wantKey := "type"
		if req.Operation == "QUERY" {
			wantKey = "entityType"
		}
		if typ := got.ApplicationProperties[wantKey]; typ != QualifiedType(req.Type) {
			t.Errorf("%s: %s = %v, want %s", req.Operation, wantKey, typ, QualifiedType(req.Type))
		}
		if req.Name != "" && got.ApplicationProperties["name"] != req.Name {
			t.Errorf("%s: name = %v, want %s in application-properties", req.Operation, got.ApplicationProperties["name"], req.Name)
		}
	}
	// The check itself detects an array: a raw []string body would fail it.
	raw := &amqp.Message{Value: map[string]any{"attributeNames": []string{"a", "b"}}}
	wire, err := raw.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got amqp.Message
	if err := got.UnmarshalBinary(wire); err != nil {
		t.Fatal(err)
	}
	if _, isArray := got.Value.(map[string]any)["attributeNames"].([]string); !isArray {
		t.Fatalf("go-amqp no longer encodes []string as an array (%T); revisit noArrays", got.Value.(map[string]any)["attributeNames"])
	}
	// Typed slices are refused before anything is sent.
	if _, err := c.message(Request{Operation: "CREATE", Type: "x", Body: map[string]any{"a": []int{1, 2}}}); err == nil {
		t.Error("a []int body was accepted")
	}
	if _, err := c.message(Request{Operation: "QUERY", Properties: map[string]any{"l": []string{"a"}}}); err == nil {
		t.Error("a []string application property was accepted")
	}
}

// build makes a nested value from fuzz bytes: each byte picks a shape,
// including the hazardous ones (typed slices) the encoder must refuse or
// convert.
func build(data []byte, pos *int, depth int) any {
	if *pos >= len(data) || depth > 6 {
		return "leaf"
	}
	b := data[*pos]
	*pos++
	n := int(b>>4) % 4
	switch b % 12 {
	case 0:
		return nil
	case 1:
		return int(b)
	case 2:
		return uint64(b)
	case 3:
		return string(rune('a' + b%26))
	case 4:
		s := make([]string, n)
		for i := range s {
			s[i] = "x"
		}
		return s
	case 5:
		return make([]int, n)
	case 6:
		return []byte{b}
	case 7:
		l := make([]any, n)
		for i := range l {
			l[i] = build(data, pos, depth+1)
		}
		return l
	case 8:
		m := map[string]any{}
		for i := range n {
			m[string(rune('k'+i))] = build(data, pos, depth+1)
		}
		return m
	case 9:
		return b%2 == 0
	case 10:
		return map[string]string{"a": "b"}
	default:
		return float64(b) / 3
	}
}

// FuzzEncodeValue checks the encoder's contract on arbitrary nested
// values: whatever it accepts is encoded by go-amqp without any AMQP array.
func FuzzEncodeValue(f *testing.F) {
	f.Add([]byte{8, 0x14, 7, 0x24, 3, 4})
	f.Add([]byte{7, 0x35, 5, 4, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		pos := 0
		v := map[string]any{"v": build(data, &pos, 0)}
		enc, err := EncodeValue(v)
		if err != nil {
			return
		}
		wire, err := (&amqp.Message{Value: enc}).MarshalBinary()
		if err != nil {
			t.Fatalf("accepted value does not marshal: %v", err)
		}
		var got amqp.Message
		if err := got.UnmarshalBinary(wire); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		noArrays(t, "body", got.Value)
	})
}
