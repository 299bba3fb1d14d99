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
	"strconv"
	"strings"

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
	nodes *nodeSlab
}

// nodeSlab hands out yaml.Nodes from chunks, one allocation per chunk
// rather than per node. A chunk stays alive while any of its nodes does.
type nodeSlab struct {
	chunk []yaml.Node
	// size is the size of the next chunk.
	size int
}

func (s *nodeSlab) node(n yaml.Node) *yaml.Node {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]yaml.Node, 0, max(s.size, 8))
	}
	s.chunk = append(s.chunk, n)
	return &s.chunk[len(s.chunk)-1]
}

// fastParse returns the root mapping of every document of a chunk, or ok
// false when the chunk is outside the subset.
func fastParse(data []byte) (roots []*yaml.Node, ok bool) {
	if len(data) > 1<<20 {
		return nil, false
	}
	for _, c := range data {
		if c < 0x20 && c != '\n' || c >= 0x7f {
			return nil, false // tabs, carriage returns, other controls, non-ASCII
		}
	}
	src := string(data) // every line and scalar is a substring of it
	var docs [][]fline
	var cur []fline
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
			docs, cur = append(docs, cur), nil
			continue
		case strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...") || text[0] == '%':
			return nil, false
		}
		cur = append(cur, fline{no: no, indent: len(text) - len(trimmed), text: trimmed})
		nodes += lineNodes(trimmed)
	}
	docs = append(docs, cur)
	slab := &nodeSlab{size: nodes + len(docs)} // and a mapping per document
	for _, d := range docs {
		if len(d) == 0 {
			continue
		}
		p := &fastParser{lines: d, ok: true, nodes: slab}
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

// keySet finds a mapping's duplicate keys. Resource mappings are small,
// and a scan of the keys parsed so far costs less than a set; a mapping
// past scanKeys keys gets a set.
type keySet map[string]bool

const scanKeys = 16

// has reports whether mapping m holds key already, and remembers key.
func (s *keySet) has(m *yaml.Node, key string) bool {
	if *s == nil && len(m.Content) < 2*scanKeys {
		for i := 0; i < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return true
			}
		}
		return false
	}
	if *s == nil {
		*s = make(keySet, len(m.Content))
		for i := 0; i < len(m.Content); i += 2 {
			(*s)[m.Content[i].Value] = true
		}
	}
	if (*s)[key] {
		return true
	}
	(*s)[key] = true
	return false
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

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// mapping parses the block mapping whose keys sit at column indent.
func (p *fastParser) mapping(indent int) *yaml.Node {
	first := p.lines[p.pos]
	n := p.nodes.node(yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: first.no, Column: indent + 1})
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
		if !found || seen.has(n, key) {
			p.ok = false
			break
		}
		k := p.nodes.node(yaml.Node{Kind: yaml.ScalarNode, Tag: resolvePlain(key), Value: key, Line: l.no, Column: indent + 1})
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
		n.Content = append(n.Content, k, v)
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
	n := p.nodes.node(yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: first.no, Column: indent + 1})
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
			n.Content = append(n.Content, p.mapping(itemIndent))
			continue
		}
		if isSeqItem(item) {
			p.ok = false
			break
		}
		p.pos++
		n.Content = append(n.Content, p.scalar(item, l.no, itemIndent+1))
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
	n := p.nodes.node(yaml.Node{Kind: yaml.ScalarNode, Line: line, Column: col})
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
