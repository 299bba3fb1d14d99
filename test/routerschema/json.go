package routerschema

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small JSON parser. encoding/json cannot be used for the
// config document itself because Check needs what it hides: the order of
// object members, duplicate member names, the literal text of numbers (to tell
// the integer 5 from the float 5.0, as Python's json module does), the byte
// offset of every value (for line numbers) and, in Router mode, Python's
// non-standard NaN/Infinity/-Infinity literals.

// jsonKind is the JSON type of a parsed value.
type jsonKind uint8

const (
	jNull jsonKind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jsonKind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jArray:
		return "array"
	default:
		return "object"
	}
}

// jsonValue is one parsed JSON value.
type jsonValue struct {
	kind jsonKind
	off  int    // byte offset of the value's first byte in the source
	b    bool   // jBool
	str  string // jString: the decoded string; jNumber: the literal text
	// isInt reports that a jNumber literal has neither a fraction nor an
	// exponent, i.e. Python's json module would decode it as an int.
	isInt   bool
	elems   []*jsonValue // jArray
	members []jsonMember // jObject, in document order, duplicates kept
}

// jsonMember is one "key": value member of an object.
type jsonMember struct {
	key    string
	keyOff int
	val    *jsonValue
}

// maxDepth bounds nesting. Python's json module fails with RecursionError at
// roughly this depth, so no config the router accepts is deeper.
const maxDepth = 1000

// syntaxError is a JSON syntax problem at a byte offset.
type syntaxError struct {
	off int
	msg string
}

type jsonParser struct {
	src []byte
	pos int
	// pythonLiterals accepts NaN, Infinity and -Infinity as numbers, as
	// Python's json.loads does.
	pythonLiterals bool
	depth          int
}

// parseJSON parses exactly one JSON value surrounded by optional whitespace.
// src must be valid UTF-8.
func parseJSON(src []byte, pythonLiterals bool) (*jsonValue, *syntaxError) {
	p := &jsonParser{src: src, pythonLiterals: pythonLiterals}
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, &syntaxError{p.pos, "empty document: expected a JSON value"}
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, &syntaxError{p.pos, fmt.Sprintf("trailing data after the JSON value: %s", p.near())}
	}
	return v, nil
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// near describes the input at the current position for error messages.
func (p *jsonParser) near() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(p.src[p.pos:])
	return fmt.Sprintf("%q", r)
}

func (p *jsonParser) errorf(format string, args ...any) *syntaxError {
	return &syntaxError{p.pos, fmt.Sprintf(format, args...)}
}

func (p *jsonParser) value() (*jsonValue, *syntaxError) {
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input: expected a JSON value")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		off := p.pos
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jString, off: off, str: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.hasLiteral("true"):
		return p.literal("true", &jsonValue{kind: jBool, b: true}), nil
	case p.hasLiteral("false"):
		return p.literal("false", &jsonValue{kind: jBool}), nil
	case p.hasLiteral("null"):
		return p.literal("null", &jsonValue{kind: jNull}), nil
	case p.pythonLiterals && p.hasLiteral("NaN"):
		return p.literal("NaN", &jsonValue{kind: jNumber, str: "NaN"}), nil
	case p.pythonLiterals && p.hasLiteral("Infinity"):
		return p.literal("Infinity", &jsonValue{kind: jNumber, str: "Infinity"}), nil
	default:
		return nil, p.errorf("invalid character %s: expected a JSON value", p.near())
	}
}

func (p *jsonParser) hasLiteral(lit string) bool {
	return len(p.src)-p.pos >= len(lit) && string(p.src[p.pos:p.pos+len(lit)]) == lit
}

func (p *jsonParser) literal(lit string, v *jsonValue) *jsonValue {
	v.off = p.pos
	p.pos += len(lit)
	return v
}

func (p *jsonParser) enter() *syntaxError {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *jsonParser) array() (*jsonValue, *syntaxError) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	v := &jsonValue{kind: jArray, off: p.pos}
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		e, err := p.value()
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, e)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in array: expected ',' or ']'")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return nil, p.errorf("invalid character %s in array: expected ',' or ']'", p.near())
		}
	}
}

func (p *jsonParser) object() (*jsonValue, *syntaxError) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	v := &jsonValue{kind: jObject, off: p.pos}
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return nil, p.errorf("invalid character %s in object: expected a member name in double quotes", p.near())
		}
		keyOff := p.pos
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("invalid character %s after object member name: expected ':'", p.near())
		}
		p.pos++
		p.skipSpace()
		val, err := p.value()
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, jsonMember{key: key, keyOff: keyOff, val: val})
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of input in object: expected ',' or '}'")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return nil, p.errorf("invalid character %s in object: expected ',' or '}'", p.near())
		}
	}
}

// string parses a JSON string starting at the opening quote. Unpaired
// surrogate escapes decode to U+FFFD.
func (p *jsonParser) string() (string, *syntaxError) {
	p.pos++ // opening quote
	var buf []byte
	start := p.pos
	for {
		if p.pos >= len(p.src) {
			return "", p.errorf("unexpected end of input in string")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			s := string(append(buf, p.src[start:p.pos]...))
			p.pos++
			return s, nil
		case c < 0x20:
			return "", p.errorf("invalid control character %q in string", rune(c))
		case c == '\\':
			buf = append(buf, p.src[start:p.pos]...)
			p.pos++
			if p.pos >= len(p.src) {
				return "", p.errorf("unexpected end of input in string escape")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if p.hasLiteral(`\u`) {
						save := p.pos
						p.pos += 2
						lo, err := p.hex4()
						if err != nil {
							return "", err
						}
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							p.pos = save // not a pair: decode the second escape on its own
						}
					}
					r = r2
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.pos--
				return "", p.errorf("invalid escape character %s in string", p.near())
			}
			start = p.pos
		default:
			p.pos++
		}
	}
}

func (p *jsonParser) hex4() (rune, *syntaxError) {
	if len(p.src)-p.pos < 4 {
		return 0, p.errorf("truncated \\u escape in string")
	}
	n, err := strconv.ParseUint(string(p.src[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("invalid \\u escape in string")
	}
	p.pos += 4
	return rune(n), nil
}

// number parses a number literal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?,
// and, with pythonLiterals, -Infinity.
func (p *jsonParser) number() (*jsonValue, *syntaxError) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.src[p.pos] == '-' {
		p.pos++
		if p.pythonLiterals && p.hasLiteral("Infinity") {
			p.pos += len("Infinity")
			return &jsonValue{kind: jNumber, off: start, str: "-Infinity"}, nil
		}
	}
	if p.pos >= len(p.src) || p.src[p.pos] < '0' || p.src[p.pos] > '9' {
		return nil, p.errorf("invalid number: expected a digit, got %s", p.near())
	}
	if p.src[p.pos] == '0' {
		p.pos++
	} else {
		digits()
	}
	isInt := true
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		isInt = false
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("invalid number: expected a digit after '.', got %s", p.near())
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		isInt = false
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid number: expected a digit in the exponent, got %s", p.near())
		}
	}
	return &jsonValue{kind: jNumber, off: start, str: string(p.src[start:p.pos]), isInt: isInt}, nil
}

// toNative converts v to plain Go values: nil, bool, string, int64 (integer
// literals that fit), float64 (other numbers), []any and map[string]any (a
// duplicated member name keeps its last value, as Python's json does).
func toNative(v *jsonValue) any {
	switch v.kind {
	case jBool:
		return v.b
	case jString:
		return v.str
	case jNumber:
		if v.isInt {
			if n, err := strconv.ParseInt(v.str, 10, 64); err == nil {
				return n
			}
		}
		return numberFloat(v)
	case jArray:
		out := make([]any, len(v.elems))
		for i, e := range v.elems {
			out[i] = toNative(e)
		}
		return out
	case jObject:
		out := make(map[string]any, len(v.members))
		for _, m := range v.members {
			out[m.key] = toNative(m.val)
		}
		return out
	default:
		return nil
	}
}
