package v2alpha1

// A fast parser for the plain subset of YAML that resource files are
// almost always written in: block mappings and sequences, keys of
// identifier characters, one-line plain or quoted scalars without escapes,
// whole-line comments and "---" separators. It builds the same yaml.Node
// trees go-yaml v3 builds (kind, tag, value, style, line, column, content),
// about ten times faster. Anything outside the subset (flow collections,
// block scalars, anchors, aliases, tags, escapes, trailing comments,
// multi-line scalars, empty values, tabs, non-ASCII bytes, a document that
// is not a mapping...) makes it decline the whole chunk, which go-yaml then
// parses: diagnostics and edge cases stay go-yaml's. TestFastParse and
// FuzzFastParse compare the trees.

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// fline is one significant line: 1-based number, indentation and text
// (right-trimmed of spaces).
type fline struct {
	no, indent int
	text       string
}

type fastParser struct {
	lines []fline
	pos   int
	ok    bool
	slab  *nodeSlab
}

// nodeSlab holds what parsing a chunk makes: its lines, its nodes, and the
// Content of its mappings and sequences, each cut from one array. A pool
// keeps slabs between chunks, so that the parse of a resource file
// allocates next to nothing. The trees it parsed must be dropped before
// the slab is released (decodeChunk decodes them into the resources,
// which keep strings, never nodes).
type nodeSlab struct {
	lines []fline
	nodes []yaml.Node
	ptrs  []*yaml.Node
	// stack holds the members of the mappings and sequences being
	// parsed, innermost last, until each is complete.
	stack []*yaml.Node
}

var slabs = sync.Pool{New: func() any { return new(nodeSlab) }}

// maxPooledSlab bounds the nodes of a slab the pool keeps.
const maxPooledSlab = 1 << 14

// release clears s and returns it to the pool.
func (s *nodeSlab) release() {
	if cap(s.nodes) > maxPooledSlab || cap(s.ptrs) > maxPooledSlab {
		return
	}
	clear(s.lines)
	clear(s.nodes)
	clear(s.ptrs)
	clear(s.stack[:cap(s.stack)])
	s.lines, s.nodes, s.ptrs, s.stack = s.lines[:0], s.nodes[:0], s.ptrs[:0], s.stack[:0]
	slabs.Put(s)
}

// reserve makes room for n nodes and their Content: the arrays must not
// move while the parse hands out pointers into them.
func (s *nodeSlab) reserve(n int) {
	if cap(s.nodes) < n {
		s.nodes = make([]yaml.Node, 0, n)
	}
	if cap(s.ptrs) < n {
		s.ptrs = make([]*yaml.Node, 0, n)
	}
}

// node returns a new node holding n.
func (s *nodeSlab) node(n yaml.Node) *yaml.Node {
	if len(s.nodes) == cap(s.nodes) {
		// More than reserved (lineNodes is wrong): a node of its own.
		// (Not &n, which would move every n to the heap.)
		extra := new(yaml.Node)
		*extra = n
		return extra
	}
	s.nodes = append(s.nodes, n)
	return &s.nodes[len(s.nodes)-1]
}

// content returns the members of the stack from mark as a Content slice,
// and takes them off the stack.
func (s *nodeSlab) content(mark int) []*yaml.Node {
	members := s.stack[mark:]
	var out []*yaml.Node
	if len(s.ptrs)+len(members) <= cap(s.ptrs) {
		start := len(s.ptrs)
		s.ptrs = append(s.ptrs, members...)
		out = s.ptrs[start:len(s.ptrs):len(s.ptrs)]
	} else {
		out = slices.Clone(members)
	}
	clear(members)
	s.stack = s.stack[:mark]
	return out
}

// fastParse returns the root mapping of every document of a chunk, or ok
// false when the chunk is outside the subset. The trees live in a slab of
// their own.
func fastParse(data []byte) (roots []*yaml.Node, ok bool) {
	return fastParseInto(new(nodeSlab), data)
}

// fastParseInto is fastParse into the slab s.
func fastParseInto(s *nodeSlab, data []byte) (roots []*yaml.Node, ok bool) {
	if len(data) > 1<<20 {
		return nil, false
	}
	for _, c := range data {
		if c < 0x20 && c != '\n' || c >= 0x7f {
			return nil, false // tabs, carriage returns, other controls, non-ASCII
		}
	}
	src := string(data) // every line and scalar is a substring of it
	// s.lines holds every document's lines; a document ends at each of
	// ends.
	var ends []int
	no, nodes := 0, 0
	for len(src) > 0 {
		no++
		var raw string
		if i := strings.IndexByte(src, '\n'); i >= 0 {
			raw, src = src[:i], src[i+1:]
		} else {
			raw, src = src, ""
		}
		text := strings.TrimRight(raw, " ")
		trimmed := strings.TrimLeft(text, " ")
		switch {
		case trimmed == "" || trimmed[0] == '#':
			continue
		case text == "---":
			ends = append(ends, len(s.lines))
			continue
		case strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...") || text[0] == '%':
			return nil, false
		}
		s.lines = append(s.lines, fline{no: no, indent: len(text) - len(trimmed), text: trimmed})
		nodes += lineNodes(trimmed)
	}
	ends = append(ends, len(s.lines))
	s.reserve(nodes + len(ends)) // and a mapping per document
	start := 0
	for _, end := range ends {
		d := s.lines[start:end:end]
		start = end
		if len(d) == 0 {
			continue
		}
		p := &fastParser{lines: d, ok: true, slab: s}
		if d[0].indent != 0 || isSeqItem(d[0].text) {
			return nil, false
		}
		n := p.mapping(0)
		if !p.ok || p.pos != len(d) {
			return nil, false
		}
		roots = append(roots, n)
	}
	return roots, true
}

// lineNodes is how many nodes the parser makes of a line: a key and its
// value (a scalar, or the mapping or sequence that the following lines
// hold), an item of a sequence, or an item that starts a mapping (the
// mapping, its first key and that key's value).
func lineNodes(text string) int {
	if !isSeqItem(text) {
		return 2
	}
	if _, _, isKey := splitKey(strings.TrimLeft(text[1:], " ")); isKey {
		return 3
	}
	return 1
}

// keySet finds a mapping's duplicate keys. Resource mappings are small,
// and a scan of the keys parsed so far costs less than a set; a mapping
// past scanKeys keys gets a set.
type keySet map[string]bool

const scanKeys = 16

// has reports whether a mapping whose members (key, value, key, value...)
// so far are members holds key already, and remembers key.
func (s *keySet) has(members []*yaml.Node, key string) bool {
	if *s == nil && len(members) < 2*scanKeys {
		for i := 0; i < len(members); i += 2 {
			if members[i].Value == key {
				return true
			}
		}
		return false
	}
	if *s == nil {
		*s = make(keySet, len(members))
		for i := 0; i < len(members); i += 2 {
			(*s)[members[i].Value] = true
		}
	}
	if (*s)[key] {
		return true
	}
	(*s)[key] = true
	return false
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// mapping parses the block mapping whose keys sit at column indent.
func (p *fastParser) mapping(indent int) *yaml.Node {
	first := p.lines[p.pos]
	n := p.slab.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: first.no, Column: indent + 1})
	mark := len(p.slab.stack)
	defer func() { n.Content = p.slab.content(mark) }()
	var seen keySet
	for p.ok && p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent || (l.indent == indent && isSeqItem(l.text)) {
			break
		}
		if l.indent > indent {
			p.ok = false
			break
		}
		key, rest, found := splitKey(l.text)
		if !found || seen.has(p.slab.stack[mark:], key) {
			p.ok = false
			break
		}
		k := p.slab.node(yaml.Node{Kind: yaml.ScalarNode, Tag: resolvePlain(key), Value: key, Line: l.no, Column: indent + 1})
		if k.Tag == "" || k.Tag == "!!merge" {
			p.ok = false
			break
		}
		p.pos++
		var v *yaml.Node
		if rest == "" {
			v = p.nested(indent)
		} else {
			v = p.scalar(rest, l.no, indent+len(l.text)-len(rest)+1)
			p.noContinuation(indent)
		}
		p.slab.stack = append(p.slab.stack, k, v)
	}
	return n
}

// nested parses the value of a key with nothing after its colon: a block
// mapping or sequence on the following lines (a sequence may sit at the
// key's own column).
func (p *fastParser) nested(indent int) *yaml.Node {
	if p.pos >= len(p.lines) {
		p.ok = false
		return &yaml.Node{}
	}
	l := p.lines[p.pos]
	switch {
	case isSeqItem(l.text) && l.indent >= indent:
		return p.sequence(l.indent)
	case l.indent > indent:
		return p.mapping(l.indent)
	}
	p.ok = false // an empty value: go-yaml knows where its null sits
	return &yaml.Node{}
}

// sequence parses the block sequence whose dashes sit at column indent.
func (p *fastParser) sequence(indent int) *yaml.Node {
	first := p.lines[p.pos]
	n := p.slab.node(yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: first.no, Column: indent + 1})
	mark := len(p.slab.stack)
	defer func() { n.Content = p.slab.content(mark) }()
	for p.ok && p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent || (l.indent == indent && !isSeqItem(l.text)) {
			break
		}
		if l.indent > indent || l.text == "-" {
			p.ok = false
			break
		}
		item := l.text[2:]
		itemIndent := indent + 2 + len(item) - len(strings.TrimLeft(item, " "))
		item = strings.TrimLeft(item, " ")
		if _, _, isKey := splitKey(item); isKey {
			// "- key: value": a mapping whose keys sit at the column of
			// this first key.
			p.lines[p.pos] = fline{no: l.no, indent: itemIndent, text: item}
			m := p.mapping(itemIndent)
			p.slab.stack = append(p.slab.stack, m)
			continue
		}
		if isSeqItem(item) {
			p.ok = false
			break
		}
		p.pos++
		v := p.scalar(item, l.no, itemIndent+1)
		p.slab.stack = append(p.slab.stack, v)
		p.noContinuation(indent)
	}
	return n
}

// noContinuation declines a scalar continued on a deeper line.
func (p *fastParser) noContinuation(indent int) {
	if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
		p.ok = false
	}
}

// splitKey splits "key: rest" or "key:" with a key of identifier
// characters.
func splitKey(text string) (key, rest string, ok bool) {
	i := 0
	for i < len(text) && isKeyChar(text[i]) {
		i++
	}
	if i == 0 || i == len(text) || text[i] != ':' || text[0] == '-' || i > maxFastKey {
		return "", "", false
	}
	key, rest = text[:i], text[i+1:]
	if rest == "" {
		return key, "", true
	}
	if rest[0] != ' ' {
		return "", "", false
	}
	return key, strings.TrimLeft(rest, " "), true
}

// maxFastKey bounds the keys the fast parser reads: go-yaml refuses a
// simple key of more than 1,024 characters ("mapping values are not
// allowed in this context"), and keys that long are no field of any
// resource, so they take go-yaml's path and get its answer.
const maxFastKey = 256

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '/' || c == '-'
}

// scalar parses a one-line scalar starting at column col.
func (p *fastParser) scalar(text string, line, col int) *yaml.Node {
	n := p.slab.node(yaml.Node{Kind: yaml.ScalarNode, Line: line, Column: col})
	switch q := text[0]; q {
	case '"', '\'':
		inner := text[1:]
		if len(inner) == 0 || inner[len(inner)-1] != q || strings.ContainsAny(inner[:len(inner)-1], `"'\`) {
			p.ok = false
			return n
		}
		n.Tag, n.Value = "!!str", inner[:len(inner)-1]
		n.Style = yaml.DoubleQuotedStyle
		if q == '\'' {
			n.Style = yaml.SingleQuotedStyle
		}
		return n
	case '-':
		if len(text) == 1 || text[1] == ' ' {
			p.ok = false
			return n
		}
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`':
		p.ok = false
		return n
	}
	if strings.Contains(text, ": ") || strings.HasSuffix(text, ":") || strings.ContainsAny(text, "#") {
		p.ok = false
		return n
	}
	n.Tag, n.Value = resolvePlain(text), text
	if n.Tag == "" {
		p.ok = false
	}
	return n
}

// v3Lookup is the tag go-yaml v3 resolves the plain scalar s to by
// lookup, or "".
func v3Lookup(s string) string {
	switch s {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return "!!bool"
	case "~", "null", "Null", "NULL":
		return "!!null"
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return "!!float"
	case "<<":
		return "!!merge"
	}
	return ""
}

// resolvePlain is go-yaml v3's tag of a plain scalar ("" when unsure).
func resolvePlain(s string) string {
	if tag := v3Lookup(s); tag != "" {
		return tag
	}
	switch c := s[0]; {
	case c == '.':
		return "" // rare: let go-yaml decide
	case c == '+' || c == '-' || c >= '0' && c <= '9':
	default:
		return "!!str"
	}
	if isYAMLTimestamp(s) {
		return "!!timestamp"
	}
	plain := strings.ReplaceAll(s, "_", "")
	if isInt(plain) {
		return "!!int"
	}
	if yamlStyleFloat.MatchString(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return "!!float"
		}
	}
	for _, prefix := range []string{"0b", "-0b", "0o", "-0o"} {
		if strings.HasPrefix(plain, prefix) {
			return "" // rare: let go-yaml decide
		}
	}
	return "!!str"
}
