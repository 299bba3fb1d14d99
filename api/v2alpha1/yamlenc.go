package v2alpha1

// A fast YAML encoder for what this project writes (status files, the
// reconcile summary): the value is encoded to JSON with encoding/json (so
// json tags, omitempty and MarshalJSON methods apply as before), and the JSON
// is turned into the exact bytes that sigs.k8s.io/yaml.JSONToYAML (go-yaml
// v2, block style, keys sorted) gives for it, without its round trip
// through interface{} maps and go-yaml's emitter. Anything outside the
// plain-ASCII subset whose rendering is reproduced here (non-ASCII or
// control characters, line breaks, floats, long keys, a top level that is
// not a mapping) falls back to sigs.k8s.io/yaml.JSONToYAML for the whole
// value, so the output is byte-for-byte the same either way
// (TestMarshalYAMLMatchesJSONToYAML, FuzzMarshalYAML).

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// MarshalYAML encodes v as YAML: the bytes sigs.k8s.io/yaml.Marshal gives,
// faster.
func MarshalYAML(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return JSONToYAML(j)
}

// JSONToYAML is MarshalYAML of a value whose JSON encoding (json.Marshal)
// is j, for a caller that has it already.
func JSONToYAML(j []byte) ([]byte, error) {
	if out, ok := jsonToYAML(j); ok {
		return out, nil
	}
	return yaml.JSONToYAML(j)
}

// jnode is a parsed JSON value: kind '{' (keys, kids), '[' (kids), '"'
// (text is the string), or 'n' (text is the literal: an integer, true,
// false or null).
type jnode struct {
	kind byte
	text string
	keys []string
	kids []*jnode
}

// jparser parses the compact JSON that encoding/json writes.
type jparser struct {
	data []byte
	pos  int
	ok   bool
}

func jsonToYAML(j []byte) ([]byte, bool) {
	p := &jparser{data: j, ok: true}
	n := p.value(0)
	if !p.ok || p.pos != len(j) || n.kind != '{' {
		return nil, false
	}
	e := &yenc{out: make([]byte, 0, len(j)+len(j)/2)}
	if len(n.keys) == 0 {
		e.out = append(e.out, "{}\n"...)
	} else {
		e.mapping(n, 0, false)
	}
	if !e.ok() {
		return nil, false
	}
	return e.out, true
}

// maxDepth bounds nesting (deeper values take the slow path).
const maxDepth = 64

func (p *jparser) value(depth int) *jnode {
	if !p.ok || p.pos >= len(p.data) || depth > maxDepth {
		p.ok = false
		return &jnode{}
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		n := &jnode{kind: '{'}
		for p.ok && p.pos < len(p.data) && p.data[p.pos] != '}' {
			if len(n.keys) > 0 && !p.expect(',') {
				break
			}
			k := p.str()
			p.expect(':')
			n.keys = append(n.keys, k)
			n.kids = append(n.kids, p.value(depth+1))
		}
		p.expect('}')
		return n
	case c == '[':
		p.pos++
		n := &jnode{kind: '['}
		for p.ok && p.pos < len(p.data) && p.data[p.pos] != ']' {
			if len(n.kids) > 0 && !p.expect(',') {
				break
			}
			n.kids = append(n.kids, p.value(depth+1))
		}
		p.expect(']')
		return n
	case c == '"':
		return &jnode{kind: '"', text: p.str()}
	default:
		start := p.pos
		for p.pos < len(p.data) && !strings.ContainsRune(",]}", rune(p.data[p.pos])) {
			p.pos++
		}
		lit := string(p.data[start:p.pos])
		if !plainLiteral(lit) {
			p.ok = false
		}
		return &jnode{kind: 'n', text: lit}
	}
}

// plainLiteral reports whether a JSON literal is rendered as itself: true,
// false, null and integers without a leading zero or "-0" (floats and
// anything else take the slow path).
func plainLiteral(s string) bool {
	switch s {
	case "true", "false", "null":
		return true
	case "", "-":
		return false
	}
	d := strings.TrimPrefix(s, "-")
	if len(d) > 18 || (d[0] == '0' && s != "0") {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

func (p *jparser) expect(c byte) bool {
	if p.ok && p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	p.ok = false
	return false
}

// str parses a JSON string; strings holding escapes or bytes outside
// printable ASCII take the slow path (only '"' and '\\' are escaped in a
// printable ASCII string by encoding/json, besides HTML characters).
func (p *jparser) str() string {
	if !p.expect('"') {
		return ""
	}
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			s := string(p.data[start:p.pos])
			p.pos++
			return s
		case c == '\\':
			return p.escaped(start)
		case c < 0x20 || c > 0x7e:
			p.ok = false
			return ""
		}
		p.pos++
	}
	p.ok = false
	return ""
}

// escaped finishes a string that holds an escape, from its start.
func (p *jparser) escaped(start int) string {
	end := p.pos
	for end < len(p.data) && p.data[end] != '"' {
		if p.data[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(p.data) {
		p.ok = false
		return ""
	}
	var s string
	if err := json.Unmarshal(p.data[start-1:end+1], &s); err != nil {
		p.ok = false
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			p.ok = false
			return ""
		}
	}
	p.pos = end + 1
	return s
}

// yenc writes go-yaml v2's block style: two-space indentation, sequences
// in a mapping not indented, keys sorted.
type yenc struct {
	out  []byte
	fail bool
}

func (e *yenc) ok() bool { return !e.fail }

func (e *yenc) indent(n int) {
	for range n {
		e.out = append(e.out, ' ')
	}
}

// mapping writes a non-empty mapping whose keys sit at column ind; inline:
// the first key follows a "- " already written.
func (e *yenc) mapping(n *jnode, ind int, inline bool) {
	order := make([]int, len(n.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case keyLess(n.keys[a], n.keys[b]):
			return -1
		case keyLess(n.keys[b], n.keys[a]):
			return 1
		}
		return 0
	})
	for i, k := range order {
		key := n.keys[k]
		if key == "" || len(key) > 120 {
			// go-yaml writes these as complex keys ("? ...").
			e.fail = true
			return
		}
		if i > 0 || !inline {
			e.indent(ind)
		}
		e.scalar(key, -1)
		e.out = append(e.out, ':')
		e.child(n.kids[k], ind, false)
	}
}

// child writes a value after "key:" (seq false) or "-" (seq true), the
// mapping or sequence it is part of being at column ind.
func (e *yenc) child(v *jnode, ind int, seq bool) {
	switch {
	case v.kind == '{' && len(v.keys) == 0:
		e.out = append(e.out, " {}\n"...)
	case v.kind == '[' && len(v.kids) == 0:
		e.out = append(e.out, " []\n"...)
	case v.kind == '{' && seq:
		e.out = append(e.out, ' ')
		e.mapping(v, ind+2, true)
	case v.kind == '{':
		e.out = append(e.out, '\n')
		e.mapping(v, ind+2, false)
	case v.kind == '[' && seq:
		e.out = append(e.out, ' ')
		e.sequence(v, ind+2, true)
	case v.kind == '[':
		e.out = append(e.out, '\n')
		e.sequence(v, ind, false)
	case v.kind == '"':
		e.out = append(e.out, ' ')
		e.scalar(v.text, ind+2)
		e.out = append(e.out, '\n')
	default:
		e.out = append(e.out, ' ')
		e.out = append(e.out, v.text...)
		e.out = append(e.out, '\n')
	}
}

// sequence writes a non-empty sequence whose dashes sit at column ind.
func (e *yenc) sequence(n *jnode, ind int, inline bool) {
	for i, v := range n.kids {
		if i > 0 || !inline {
			e.indent(ind)
		}
		e.out = append(e.out, '-')
		e.child(v, ind, true)
	}
}

// bestWidth is go-yaml v2's line width: past it, a space in a scalar
// (not a key) becomes a line break followed by the scalar's indentation.
const bestWidth = 80

// column is the column the next byte is written at.
func (e *yenc) column() int {
	for i := len(e.out) - 1; i >= 0; i-- {
		if e.out[i] == '\n' {
			return len(e.out) - 1 - i
		}
	}
	return len(e.out)
}

// scalar writes a printable ASCII string as go-yaml v2 does: plain when it
// reads back as the same string, else single-quoted when plain is not
// allowed, double-quoted when it would read back as another type. A value
// (cont >= 0) is wrapped at spaces past bestWidth, continuing at column
// cont; a key (cont < 0) is not.
func (e *yenc) scalar(s string, cont int) {
	style := byte('\'')
	switch {
	case !resolvesToString(s) || isBase60Float(s):
		style = '"'
	case plainAllowed(s):
		style = 0
	}
	col := e.column()
	if style != 0 {
		e.out = append(e.out, style)
		col++
	}
	spaces := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != ' ' {
			switch {
			case style == '"' && (c == '"' || c == '\\'):
				e.out = append(e.out, '\\')
				col++
			case style == '\'' && c == '\'':
				e.out = append(e.out, '\'')
				col++
			}
			e.out = append(e.out, c)
			col++
			spaces = false
			continue
		}
		nextSpace := i+1 < len(s) && s[i+1] == ' '
		brk := cont >= 0 && !spaces && col > bestWidth
		switch style {
		case 0:
			brk = brk && !nextSpace
		case '\'':
			brk = brk && i > 0 && i < len(s)-1 && !nextSpace
		default:
			brk = brk && i > 0 && i < len(s)-1
		}
		spaces = true
		if !brk {
			e.out = append(e.out, ' ')
			col++
			continue
		}
		e.out = append(e.out, '\n')
		e.indent(cont)
		col = cont
		if style == '"' && nextSpace {
			e.out = append(e.out, '\\')
			col++
		}
	}
	if style != 0 {
		e.out = append(e.out, style)
	}
}

// plainAllowed is go-yaml v2's analysis of a printable ASCII scalar for the
// block plain style (yaml_emitter_analyze_scalar).
func plainAllowed(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	for i := 0; i < len(s); i++ {
		followedBySpace := i+1 >= len(s) || s[i+1] == ' '
		precededBySpace := i == 0 || s[i-1] == ' '
		switch c := s[i]; {
		case i == 0 && strings.IndexByte("#,[]{}&*!|>'\"%@`", c) >= 0:
			return false
		case i == 0 && (c == '?' || c == ':' || c == '-') && followedBySpace:
			return false
		case i > 0 && c == ':' && followedBySpace:
			return false
		case i > 0 && c == '#' && precededBySpace:
			return false
		}
	}
	return true
}

// keyLess is go-yaml v2's order of string keys (keyList.Less) for ASCII:
// letters before other characters, runs of digits by their value.
func keyLess(a, b string) bool {
	isLetter := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		al, bl := isLetter(a[i]), isLetter(b[i])
		if al && bl {
			return a[i] < b[i]
		}
		if al || bl {
			return bl
		}
		var an, bn int64
		if a[i] == '0' || b[i] == '0' {
			for j := i - 1; j >= 0 && isDigit(a[j]); j-- {
				if a[j] != '0' {
					an, bn = 1, 1
					break
				}
			}
		}
		ai, bi := i, i
		for ; ai < len(a) && isDigit(a[ai]); ai++ {
			an = an*10 + int64(a[ai]-'0')
		}
		for ; bi < len(b) && isDigit(b[bi]); bi++ {
			bn = bn*10 + int64(b[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}

// yamlNonStrings are the plain scalars go-yaml v2 resolves to a bool, null
// or float by lookup (its merge key "<<" starts with a character that is
// never looked up).
var yamlNonStrings = map[string]bool{}

func init() {
	for _, s := range strings.Fields("y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF ~ null Null NULL .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF") {
		yamlNonStrings[s] = true
	}
	yamlNonStrings[""] = true
}

var (
	yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	base60Float    = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)
)

// resolvesToString reports whether go-yaml v2 reads the plain scalar s as a
// string (its resolve function, for printable ASCII).
func resolvesToString(s string) bool {
	if yamlNonStrings[s] {
		return false
	}
	switch c := s[0]; {
	case c == '.':
		_, err := strconv.ParseFloat(s, 64)
		return err != nil
	case c == '+' || c == '-' || c >= '0' && c <= '9':
	default:
		return true
	}
	if isYAMLTimestamp(s) {
		return false
	}
	plain := strings.ReplaceAll(s, "_", "")
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return false
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return false
	}
	if yamlStyleFloat.MatchString(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return false
		}
	}
	if b, ok := strings.CutPrefix(plain, "0b"); ok {
		if _, err := strconv.ParseInt(b, 2, 64); err == nil {
			return false
		}
		if _, err := strconv.ParseUint(b, 2, 64); err == nil {
			return false
		}
	} else if b, ok := strings.CutPrefix(plain, "-0b"); ok {
		if _, err := strconv.ParseInt("-"+b, 2, 64); err == nil {
			return false
		}
	}
	return true
}

// isBase60Float: go-yaml v2 quotes these for other parsers' sake.
func isBase60Float(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c == '+' || c == '-' || c >= '0' && c <= '9') || strings.IndexByte(s, ':') < 0 {
		return false
	}
	return base60Float.MatchString(s)
}

var yamlTimestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// isYAMLTimestamp is go-yaml v2's parseTimestamp.
func isYAMLTimestamp(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, format := range yamlTimestampFormats {
		if _, err := time.Parse(format, s); err == nil {
			return true
		}
	}
	return false
}
