package routerschema

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reproduces, for JSON input, the Python built-ins the router's
// config loader applies to attribute values (python/skupper_router_internal/
// management/schema.py: Type.validate calls str(), int(), list() or dict();
// BooleanType and EnumType have their own rules). Each function returns the
// converted value or a non-empty message saying why Python would raise.

// pySpace reports whether r is whitespace for Python's str.isspace, which
// str.strip() and int() use.
func pySpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0d, r >= 0x1c && r <= 0x20, r == 0x85, r == 0xa0:
		return true
	case r < 0x80:
		return false
	}
	return unicode.Is(unicode.White_Space, r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

// camelCase is skupper_router.management.entity.camelcase: split on ' ', '_',
// '-' and '.', keep the first word as it is and capitalize the others
// (Python str.capitalize: first character title-cased, the rest lower-cased).
// The loader applies it to every entity type name and attribute name.
func camelCase(s string) string {
	if s == "" {
		return ""
	}
	words := splitSeparators(s)
	var b strings.Builder
	b.WriteString(words[0])
	for _, w := range words[1:] {
		b.WriteString(pyCapitalize(w))
	}
	return b.String()
}

// splitSeparators is re.split(r' |_|-|\.', s): empty words are kept.
func splitSeparators(s string) []string {
	var words []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '_', '-', '.':
			words = append(words, s[start:i])
			start = i + 1
		}
	}
	return append(words, s[start:])
}

// pyTitleSpecial lists the characters whose Python title case is more than
// one character (the ones that can yield ASCII; others never match a schema
// name anyway).
var pyTitleSpecial = map[rune]string{
	'ß':      "Ss",
	'\uFB00': "Ff", '\uFB01': "Fi", '\uFB02': "Fl", '\uFB03': "Ffi",
	'\uFB04': "Ffl", '\uFB05': "St", '\uFB06': "St",
}

func pyCapitalize(w string) string {
	if w == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(w)
	head, ok := pyTitleSpecial[r]
	if !ok {
		head = string(unicode.ToTitle(r))
	}
	return head + strings.ToLower(w[n:])
}

// pyStr is Python's str() of the decoded JSON value.
func pyStr(v *jsonValue) string {
	switch v.kind {
	case jString:
		return v.str
	case jNull:
		return "None"
	case jBool:
		if v.b {
			return "True"
		}
		return "False"
	case jNumber:
		if v.isInt {
			if v.str == "-0" {
				return "0"
			}
			return v.str
		}
		return pyFloatRepr(numberFloat(v))
	default:
		return pyRepr(v)
	}
}

// pyRepr is Python's repr() of the decoded JSON value. For strings it is an
// approximation of Python's quoting rules, close enough for the only uses
// here (str() of a list or dict given where a string was expected).
func pyRepr(v *jsonValue) string {
	switch v.kind {
	case jString:
		return pyStringRepr(v.str)
	case jArray:
		parts := make([]string, len(v.elems))
		for i, e := range v.elems {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case jObject:
		keys, vals := pyDictItems(v)
		parts := make([]string, len(keys))
		for i := range keys {
			parts[i] = pyStringRepr(keys[i]) + ": " + pyRepr(vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return pyStr(v)
	}
}

// pyDictItems returns the items of the Python dict json.loads builds from an
// object: a repeated key keeps its first position and its last value.
func pyDictItems(v *jsonValue) ([]string, []*jsonValue) {
	index := make(map[string]int, len(v.members))
	var keys []string
	var vals []*jsonValue
	for _, m := range v.members {
		if i, ok := index[m.key]; ok {
			vals[i] = m.val
			continue
		}
		index[m.key] = len(keys)
		keys = append(keys, m.key)
		vals = append(vals, m.val)
	}
	return keys, vals
}

func pyStringRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' || (unicode.IsPrint(r) && r != 0x7f):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// numberFloat is Python's float for a number literal (json.loads maps
// literals with a fraction or exponent, and NaN/Infinity, to float; a literal
// too large for float64 becomes infinity, as in Python).
func numberFloat(v *jsonValue) float64 {
	switch v.str {
	case "NaN":
		return math.NaN()
	case "Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	f, _ := strconv.ParseFloat(v.str, 64) // the parser only produces valid literals; range errors give ±Inf or 0 as Python does
	return f
}

// pyFloatRepr is Python's repr() of a float: the shortest round-tripping
// digits, positional when the decimal exponent is in [-4, 16), always with
// a fractional part or an exponent.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyInt is Python's int() of the decoded JSON value, restricted to the
// int64 range the router's C code reads integers into.
func pyInt(v *jsonValue) (int64, string) {
	switch v.kind {
	case jBool:
		if v.b {
			return 1, ""
		}
		return 0, ""
	case jNumber:
		if v.isInt {
			n, err := strconv.ParseInt(v.str, 10, 64)
			if err != nil {
				return 0, fmt.Sprintf("integer %s is out of range", v.str)
			}
			return n, ""
		}
		f := numberFloat(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Sprintf("cannot convert %s to an integer", v.str)
		}
		t := math.Trunc(f)
		if t < -(1<<63) || t >= 1<<63 {
			return 0, fmt.Sprintf("number %s is out of range for an integer", v.str)
		}
		return int64(t), ""
	case jString:
		n, ok := pyParseInt(v.str)
		if !ok {
			return 0, fmt.Sprintf("invalid integer %s", quoteShort(v.str))
		}
		return n, ""
	default:
		return 0, fmt.Sprintf("want an integer, got %s", v.kind)
	}
}

// pyParseInt is Python's int(str) in base 10: surrounding whitespace, an
// optional sign, decimal digits (any Unicode decimal digit) with single
// underscores allowed between digits. The result must fit an int64.
func pyParseInt(s string) (int64, bool) {
	s = strings.TrimFunc(s, pySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n uint64
	prevDigit := false
	for _, r := range s {
		if r == '_' {
			if !prevDigit {
				return 0, false
			}
			prevDigit = false
			continue
		}
		d, ok := decimalValue(r)
		if !ok {
			return 0, false
		}
		if n > (math.MaxUint64-uint64(d))/10 {
			return 0, false
		}
		n = n*10 + uint64(d)
		prevDigit = true
	}
	if !prevDigit { // trailing underscore
		return 0, false
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return int64(-n), true // n <= 2^63: -n wraps to the right int64
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// decimalValue returns the value of a Unicode decimal digit (category Nd).
// Unicode encodes every such digit in runs of ascending 0..9, possibly
// several runs back to back, so the value is the distance from the start of
// the run modulo 10.
func decimalValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.IsDigit(r) {
		return 0, false
	}
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return int(r-start) % 10, true
}

// pyBoolStrings are BooleanType.VALUES; a string is lower-cased before lookup.
var pyBoolStrings = map[string]bool{"yes": true, "true": true, "on": true, "no": false, "false": false, "off": false}

// pyBool is BooleanType.validate: strings must be one of yes/true/on/no/
// false/off in any case; any other value is converted with Python's bool(),
// which accepts numbers, lists and dicts.
func pyBool(v *jsonValue) (bool, string) {
	switch v.kind {
	case jString:
		b, ok := pyBoolStrings[strings.ToLower(v.str)]
		if !ok {
			return false, fmt.Sprintf("invalid boolean %s (want true/false, yes/no or on/off)", quoteShort(v.str))
		}
		return b, ""
	case jBool:
		return v.b, ""
	case jNumber:
		f := numberFloat(v)
		return f != 0, "" // NaN is true, as in Python
	case jArray:
		return len(v.elems) > 0, ""
	case jObject:
		return len(v.members) > 0, ""
	default:
		return false, "want a boolean, got null"
	}
}

// pyList is Python's list(): arrays as they are, a string as its characters,
// an object as its keys.
func pyList(v *jsonValue) ([]any, string) {
	switch v.kind {
	case jArray:
		return toNative(v).([]any), ""
	case jString:
		out := []any{}
		for _, r := range v.str {
			out = append(out, string(r))
		}
		return out, ""
	case jObject:
		keys, _ := pyDictItems(v)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out, ""
	default:
		return nil, fmt.Sprintf("want a list, got %s", v.kind)
	}
}

// pyDict is Python's dict(): an object as it is; an array whose elements
// are each a sequence of two items (a 2-element array, a 2-character string
// or a 2-key object) with a hashable first item; the empty string. Keys of
// the result are Python's str() of the keys.
func pyDict(v *jsonValue) (map[string]any, string) {
	switch v.kind {
	case jObject:
		return toNative(v).(map[string]any), ""
	case jString:
		if v.str == "" {
			return map[string]any{}, ""
		}
		return nil, "want a map, got a non-empty string"
	case jArray:
		out := make(map[string]any, len(v.elems))
		for i, e := range v.elems {
			var key string
			var val any
			switch e.kind {
			case jArray:
				if len(e.elems) != 2 {
					return nil, fmt.Sprintf("map given as a list: element %d has %d items, want 2", i, len(e.elems))
				}
				if k := e.elems[0].kind; k == jArray || k == jObject {
					return nil, fmt.Sprintf("map given as a list: element %d has an unhashable key (%s)", i, k)
				}
				key, val = pyStr(e.elems[0]), toNative(e.elems[1])
			case jString:
				rs := []rune(e.str)
				if len(rs) != 2 {
					return nil, fmt.Sprintf("map given as a list: element %d has %d items, want 2", i, len(rs))
				}
				key, val = string(rs[0]), string(rs[1])
			case jObject:
				keys, _ := pyDictItems(e)
				if len(keys) != 2 {
					return nil, fmt.Sprintf("map given as a list: element %d has %d items, want 2", i, len(keys))
				}
				key, val = keys[0], keys[1]
			default:
				return nil, fmt.Sprintf("map given as a list: element %d is a %s, not a sequence", i, e.kind)
			}
			out[key] = val
		}
		return out, ""
	default:
		return nil, fmt.Sprintf("want a map, got %s", v.kind)
	}
}

// quoteShort quotes s for a message, shortening long values.
func quoteShort(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "..."
	}
	return strconv.Quote(s)
}
