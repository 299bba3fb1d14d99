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
	"sync"
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
	return AppendJSONToYAML(nil, j)
}

// AppendJSONToYAML appends JSONToYAML(j) to dst, for a caller that reuses
// its buffers.
func AppendJSONToYAML(dst, j []byte) ([]byte, error) {
	if out, ok := jsonToYAML(dst, j); ok {
		return out, nil
	}
	out, err := yaml.JSONToYAML(j)
	if err != nil {
		return dst, err
	}
	return append(dst, out...), nil
}

// A jsonToYAML call parses the JSON into a tree of jnodes and writes the
// tree out. The tree lives in its converter's slices, which a pool keeps
// between calls: a conversion allocates its source string and its output,
// and nothing per node.

// jnode is a parsed JSON value: kind '{' (keys and kids), '[' (kids), '"'
// (text is the string), or 'n' (text is the literal: an integer, true,
// false or null). The keys and kids of a mapping or sequence are
// conv.keys[first:first+n] and conv.kids[first:first+n] (keys only for a
// mapping); kids are indexes into conv.nodes.
type jnode struct {
	kind     byte
	text     string
	first, n int32
}

// converter parses the compact JSON that encoding/json writes and writes
// it as YAML. Strings and literals are substrings of src.
type converter struct {
	src string
	pos int
	ok  bool

	nodes []jnode
	keys  []string
	kids  []int32
	// stackKeys and stackKids hold the members of the mappings and
	// sequences being parsed, innermost last, until each is complete.
	stackKeys []string
	stackKids []int32

	out  []byte
	fail bool
	// order holds the sorted member order of the mappings being written,
	// innermost last.
	order []int32
}

var converters = sync.Pool{New: func() any { return new(converter) }}

func jsonToYAML(dst, j []byte) ([]byte, bool) {
	c := converters.Get().(*converter)
	defer c.release()
	c.src, c.pos, c.ok = string(j), 0, true
	root := c.value(0)
	if !c.ok || c.pos != len(c.src) || c.nodes[root].kind != '{' {
		return nil, false
	}
	c.out = slices.Grow(dst, len(j)+len(j)/2)
	if c.nodes[root].n == 0 {
		c.out = append(c.out, "{}\n"...)
	} else {
		c.mapping(root, 0, false)
	}
	if c.fail {
		return nil, false
	}
	return c.out, true
}

// maxPooledNodes bounds what a pooled converter keeps: one that parsed an
// unusually large value lets its slices go.
const maxPooledNodes = 4096

// release empties c and returns it to the pool.
func (c *converter) release() {
	if len(c.nodes) > maxPooledNodes {
		*c = converter{}
	} else {
		clear(c.keys) // drop the references to src
		clear(c.stackKeys[:cap(c.stackKeys)])
		clear(c.nodes)
		*c = converter{nodes: c.nodes[:0], keys: c.keys[:0], kids: c.kids[:0],
			stackKeys: c.stackKeys[:0], stackKids: c.stackKids[:0], order: c.order[:0]}
	}
	converters.Put(c)
}

// maxDepth bounds nesting (deeper values take the slow path).
const maxDepth = 64

// value parses one value and returns its node's index.
func (c *converter) value(depth int) int32 {
	idx := int32(len(c.nodes))
	c.nodes = append(c.nodes, jnode{})
	if !c.ok || c.pos >= len(c.src) || depth > maxDepth {
		c.ok = false
		return idx
	}
	switch ch := c.src[c.pos]; {
	case ch == '{' || ch == '[':
		c.members(idx, ch, depth)
	case ch == '"':
		c.nodes[idx] = jnode{kind: '"', text: c.str()}
	default:
		start := c.pos
		for c.pos < len(c.src) && !strings.ContainsRune(",]}", rune(c.src[c.pos])) {
			c.pos++
		}
		lit := c.src[start:c.pos]
		if !plainLiteral(lit) {
			c.ok = false
		}
		c.nodes[idx] = jnode{kind: 'n', text: lit}
	}
	return idx
}

// members parses the members of the mapping ('{') or sequence ('[')
// whose node is idx, from its opening bracket at c.pos. A sequence's
// members take their slots in keys too (empty), so that first indexes
// both slices alike.
func (c *converter) members(idx int32, open byte, depth int) {
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	c.pos++
	mark := len(c.stackKids)
	for c.ok && c.pos < len(c.src) && c.src[c.pos] != closing {
		if len(c.stackKids) > mark && !c.expect(',') {
			break
		}
		k := ""
		if open == '{' {
			k = c.str()
			c.expect(':')
		}
		v := c.value(depth + 1)
		c.stackKeys = append(c.stackKeys, k)
		c.stackKids = append(c.stackKids, v)
	}
	c.expect(closing)
	c.nodes[idx] = jnode{kind: open, first: int32(len(c.kids)), n: int32(len(c.stackKids) - mark)}
	c.keys = append(c.keys, c.stackKeys[mark:]...)
	c.kids = append(c.kids, c.stackKids[mark:]...)
	c.stackKeys, c.stackKids = c.stackKeys[:mark], c.stackKids[:mark]
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

func (c *converter) expect(ch byte) bool {
	if c.ok && c.pos < len(c.src) && c.src[c.pos] == ch {
		c.pos++
		return true
	}
	c.ok = false
	return false
}

// str parses a JSON string; strings holding escapes or bytes outside
// printable ASCII take the slow path (only '"' and '\\' are escaped in a
// printable ASCII string by encoding/json, besides HTML characters).
func (c *converter) str() string {
	if !c.expect('"') {
		return ""
	}
	start := c.pos
	for c.pos < len(c.src) {
		ch := c.src[c.pos]
		switch {
		case ch == '"':
			s := c.src[start:c.pos]
			c.pos++
			return s
		case ch == '\\':
			return c.escaped(start)
		case ch < 0x20 || ch > 0x7e:
			c.ok = false
			return ""
		}
		c.pos++
	}
	c.ok = false
	return ""
}

// escaped finishes a string that holds an escape, from its start.
func (c *converter) escaped(start int) string {
	end := c.pos
	for end < len(c.src) && c.src[end] != '"' {
		if c.src[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(c.src) {
		c.ok = false
		return ""
	}
	var s string
	if err := json.Unmarshal([]byte(c.src[start-1:end+1]), &s); err != nil {
		c.ok = false
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			c.ok = false
			return ""
		}
	}
	c.pos = end + 1
	return s
}

// The writer follows go-yaml v2's block style: two-space indentation,
// sequences in a mapping not indented, keys sorted.

func (c *converter) indent(n int) {
	for range n {
		c.out = append(c.out, ' ')
	}
}

// mapping writes the non-empty mapping node m whose keys sit at column
// ind; inline: the first key follows a "- " already written.
func (c *converter) mapping(m int32, ind int, inline bool) {
	n := c.nodes[m]
	keys := c.keys[n.first : n.first+n.n]
	base := len(c.order)
	for i := range n.n {
		c.order = append(c.order, i)
	}
	slices.SortStableFunc(c.order[base:], func(a, b int32) int {
		switch {
		case keyLess(keys[a], keys[b]):
			return -1
		case keyLess(keys[b], keys[a]):
			return 1
		}
		return 0
	})
	for i := range int(n.n) {
		k := c.order[base+i] // c.order grows in the nested calls: index anew
		key := keys[k]
		if key == "" || len(key) > 120 {
			// go-yaml writes these as complex keys ("? ...").
			c.fail = true
			break
		}
		if i > 0 || !inline {
			c.indent(ind)
		}
		c.scalar(key, -1)
		c.out = append(c.out, ':')
		c.child(c.kids[n.first+k], ind, false)
		if c.fail {
			break
		}
	}
	c.order = c.order[:base]
}

// child writes the value node v after "key:" (seq false) or "-" (seq
// true), the mapping or sequence it is part of being at column ind.
func (c *converter) child(v int32, ind int, seq bool) {
	n := c.nodes[v]
	switch {
	case n.kind == '{' && n.n == 0:
		c.out = append(c.out, " {}\n"...)
	case n.kind == '[' && n.n == 0:
		c.out = append(c.out, " []\n"...)
	case n.kind == '{' && seq:
		c.out = append(c.out, ' ')
		c.mapping(v, ind+2, true)
	case n.kind == '{':
		c.out = append(c.out, '\n')
		c.mapping(v, ind+2, false)
	case n.kind == '[' && seq:
		c.out = append(c.out, ' ')
		c.sequence(v, ind+2, true)
	case n.kind == '[':
		c.out = append(c.out, '\n')
		c.sequence(v, ind, false)
	case n.kind == '"':
		c.out = append(c.out, ' ')
		c.scalar(n.text, ind+2)
		c.out = append(c.out, '\n')
	default:
		c.out = append(c.out, ' ')
		c.out = append(c.out, n.text...)
		c.out = append(c.out, '\n')
	}
}

// sequence writes the non-empty sequence node s whose dashes sit at
// column ind.
func (c *converter) sequence(s int32, ind int, inline bool) {
	n := c.nodes[s]
	for i := range n.n {
		if i > 0 || !inline {
			c.indent(ind)
		}
		c.out = append(c.out, '-')
		c.child(c.kids[n.first+i], ind, true)
		if c.fail {
			return
		}
	}
}

// bestWidth is go-yaml v2's line width: past it, a space in a scalar
// (not a key) becomes a line break followed by the scalar's indentation.
const bestWidth = 80

// column is the column the next byte is written at.
func (c *converter) column() int {
	for i := len(c.out) - 1; i >= 0; i-- {
		if c.out[i] == '\n' {
			return len(c.out) - 1 - i
		}
	}
	return len(c.out)
}

// scalar writes a printable ASCII string as go-yaml v2 does: plain when it
// reads back as the same string, else single-quoted when plain is not
// allowed, double-quoted when it would read back as another type. A value
// (cont >= 0) is wrapped at spaces past bestWidth, continuing at column
// cont; a key (cont < 0) is not.
func (c *converter) scalar(s string, cont int) {
	style := byte('\'')
	switch {
	case !resolvesToString(s) || isBase60Float(s):
		style = '"'
	case plainAllowed(s):
		style = 0
	}
	col := c.column()
	if style != 0 {
		c.out = append(c.out, style)
		col++
	}
	spaces := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch != ' ' {
			switch {
			case style == '"' && (ch == '"' || ch == '\\'):
				c.out = append(c.out, '\\')
				col++
			case style == '\'' && ch == '\'':
				c.out = append(c.out, '\'')
				col++
			}
			c.out = append(c.out, ch)
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
			c.out = append(c.out, ' ')
			col++
			continue
		}
		c.out = append(c.out, '\n')
		c.indent(cont)
		col = cont
		if style == '"' && nextSpace {
			c.out = append(c.out, '\\')
			col++
		}
	}
	if style != 0 {
		c.out = append(c.out, style)
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

// yamlNonString reports whether s is one of the plain scalars go-yaml v2
// resolves to a bool, null or float by lookup (its merge key "<<" starts
// with a character that is never looked up), or empty.
func yamlNonString(s string) bool {
	switch s {
	case "", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
		"~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
		"+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return true
	}
	return false
}

var (
	yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	base60Float    = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)
)

// resolvesToString reports whether go-yaml v2 reads the plain scalar s as a
// string (its resolve function, for printable ASCII).
func resolvesToString(s string) bool {
	if yamlNonString(s) {
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
	if isInt(plain) {
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

// isInt reports whether strconv parses s as an int64 or a uint64 in base
// 0, as go-yaml's resolvers ask. Strings holding a byte no such number
// has (a '.', ':' or space, say: an address or a time) are answered
// without strconv, which allocates an error for them.
func isInt(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F',
			c == 'x', c == 'X', c == 'o', c == 'O', c == '+', c == '-':
		default:
			return false
		}
	}
	if _, err := strconv.ParseInt(s, 0, 64); err == nil {
		return true
	}
	_, err := strconv.ParseUint(s, 0, 64)
	return err == nil
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
