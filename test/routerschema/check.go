package routerschema

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is one problem found by Check or Parse. Its Error method reads like
// `entity 5 tcpListener "listener/backend": unknown attribute "prot"`, or
// `config: ...` for a problem with the document as a whole.
type Error struct {
	// Index is the entity's position in the top-level array, counting from
	// 0, or -1 for a problem with the document as a whole (bad JSON, not an
	// array, no router entity).
	Index int
	// Type is the entity type as written in the file; "" when the element
	// has no string type.
	Type string
	// Name is the entity's "name" attribute when it has one (HasName).
	Name    string
	HasName bool
	// Attribute is the attribute concerned, as written in the file, or "".
	Attribute string
	// Line is the 1-based line of the problem in the file: the attribute's
	// name, else the entity, else the syntax error; 0 when not known.
	Line int
	// Msg says what is wrong.
	Msg string
}

var plainTypeName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Error implements error.
func (e *Error) Error() string {
	if e.Index < 0 {
		return "config: " + e.Msg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "entity %d", e.Index)
	if e.Type != "" {
		if plainTypeName.MatchString(e.Type) {
			b.WriteString(" " + e.Type)
		} else {
			fmt.Fprintf(&b, " %q", e.Type)
		}
	}
	if e.HasName {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Entity is one entity of a config file as the router reads it.
type Entity struct {
	// Index is the position in the top-level array, counting from 0.
	Index int
	// Type is the entity type's config-file name ("listener", "address"),
	// as listed by EntityTypes; in Router mode after camel-casing.
	Type string
	// Attrs holds the attributes set in the file, by schema name, converted
	// as the mode prescribes: string, path, entityId and enumerated values
	// as string, integers as int64, booleans as bool, lists as []any, maps
	// and properties as map[string]any (nested numbers are int64 or
	// float64). Defaults are not filled in; null values and values that
	// failed their check are left out.
	Attrs map[string]any
	// Line is the 1-based line where the entity starts.
	Line int
}

// Check reports every problem in config under mode, in entity order; nil
// means the config is acceptable. Every element of the result is an
// *Error. The problems are described in the package documentation and on
// Strict and Router.
func (s *Schema) Check(config []byte, mode Mode) []error {
	_, errs := s.Parse(config, mode)
	return errs
}

// Parse checks config like Check and also returns its entities with known
// types, attribute values converted as the router would convert them under
// mode. The entities are complete only when there are no errors.
func (s *Schema) Parse(config []byte, mode Mode) ([]Entity, []error) {
	c := &checker{
		s:          s,
		mode:       mode,
		singletons: map[string]int{},
		unique:     map[string]map[string]firstUse{},
		logModules: map[string]int{},
	}
	c.run(config)
	return c.entities, c.errs
}

type firstUse struct {
	index int
	typ   string
}

type checker struct {
	s          *Schema
	mode       Mode
	lineStarts []int
	entities   []Entity
	errs       []error

	routers    int
	singletons map[string]int                 // entity type -> first index
	unique     map[string]map[string]firstUse // attribute -> value -> first use
	logModules map[string]int                 // log module -> first index
}

func (c *checker) docError(off int, format string, args ...any) {
	e := &Error{Index: -1, Msg: fmt.Sprintf(format, args...)}
	if off >= 0 {
		e.Line = c.line(off)
	}
	c.errs = append(c.errs, e)
}

func (c *checker) run(config []byte) {
	if c.mode != Strict && c.mode != Router {
		c.docError(-1, "unknown check mode %v", c.mode)
		return
	}
	c.lineStarts = lineStarts(config)
	if !utf8.Valid(config) {
		off := 0
		for off < len(config) {
			r, n := utf8.DecodeRune(config[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		c.docError(off, "not valid UTF-8 (at byte offset %d)", off)
		return
	}
	src := config
	if c.mode == Router {
		src = blankCommentLines(config)
	}
	doc, serr := parseJSON(src, c.mode == Router)
	if serr != nil {
		line := c.line(serr.off)
		col := serr.off - c.lineStarts[line-1] + 1
		c.docError(serr.off, "invalid JSON at line %d, column %d: %s", line, col, serr.msg)
		return
	}
	if doc.kind != jArray {
		c.docError(doc.off, "must be a JSON array of [type, {attributes}] pairs, got %s", doc.kind)
		return
	}
	for i, el := range doc.elems {
		c.entity(i, el)
	}
	if c.mode == Strict && c.routers == 0 {
		c.docError(-1, "no router entity: exactly one is required")
	}
}

// lineStarts returns the offset of the start of every line. Like Python's
// universal newlines, "\n", "\r\n" and a lone "\r" end a line.
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			starts = append(starts, i+1)
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			starts = append(starts, i+1)
		}
	}
	return starts
}

func (c *checker) line(off int) int {
	return sort.Search(len(c.lineStarts), func(i int) bool { return c.lineStarts[i] > off })
}

// blankCommentLines replaces every line whose first non-whitespace
// character is '#' with spaces, as config.py _parserawjson drops such lines.
// Byte offsets, and so line numbers, are unchanged.
func blankCommentLines(src []byte) []byte {
	out := src
	copied := false
	starts := lineStarts(src)
	for i, start := range starts {
		end := len(src)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		line := src[start:end]
		trimmed := strings.TrimLeftFunc(string(line), pySpace)
		if !strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !copied {
			out = append([]byte(nil), src...)
			copied = true
		}
		for j := start; j < end; j++ {
			if out[j] != '\n' && out[j] != '\r' {
				out[j] = ' '
			}
		}
	}
	return out
}

// entityState is what is known about the entity being checked.
type entityState struct {
	index   int
	typ     string
	name    string
	hasName bool
	line    int
}

func (c *checker) add(es *entityState, attr string, off int, format string, args ...any) {
	e := &Error{Index: es.index, Type: es.typ, Name: es.name, HasName: es.hasName, Attribute: attr, Line: es.line, Msg: fmt.Sprintf(format, args...)}
	if off >= 0 {
		e.Line = c.line(off)
	}
	c.errs = append(c.errs, e)
}

// attrIn is one attribute as given in the file, after Router-mode
// camel-casing and duplicate resolution.
type attrIn struct {
	written string // as written
	name    string // as the router reads it
	keyOff  int
	val     *jsonValue
}

func (c *checker) entity(index int, el *jsonValue) {
	es := &entityState{index: index, line: c.line(el.off)}
	if el.kind != jArray {
		c.add(es, "", -1, "must be a [type, {attributes}] array, got %s", el.kind)
		return
	}
	n := len(el.elems)
	if n < 2 {
		c.add(es, "", -1, "must be a 2-element array [type, {attributes}], got %d element(s)", n)
		return
	}
	t, body := el.elems[0], el.elems[1]
	if t.kind == jString {
		es.typ = t.str
	}
	if n > 2 && c.mode == Strict {
		c.add(es, "", -1, "must be a 2-element array [type, {attributes}], got %d element(s)", n)
	}
	if t.kind != jString {
		c.add(es, "", t.off, "entity type must be a string, got %s", describe(t))
		return
	}
	typeName := t.str
	if c.mode == Router {
		typeName = camelCase(t.str)
	}
	def := c.s.types[typeName]
	if body.kind == jObject {
		c.setName(es, body)
	}
	if def == nil {
		c.add(es, "", t.off, "unknown entity type %q%s", t.str, c.typeHint(t.str, typeName))
		return
	}
	if body.kind != jObject {
		c.add(es, "", body.off, "attributes must be a JSON object, got %s", body.kind)
		return
	}

	ent := Entity{Index: index, Type: def.name, Attrs: map[string]any{}, Line: es.line}
	given := map[string]bool{} // non-null attributes, valid or not
	for _, a := range c.attributes(es, body) {
		if a.name == "type" {
			c.add(es, a.written, a.keyOff, "attribute %q must not be set: the entity type is the array's first element", a.written)
			continue
		}
		if a.name == "identity" && !(c.mode == Router && a.val.kind == jNull) {
			c.add(es, a.written, a.keyOff, "attribute %q cannot be set in a config file (the router assigns identities)", a.written)
			continue
		}
		ad := def.attrs[a.name]
		if ad == nil {
			hint := ""
			if a.name != a.written {
				hint = fmt.Sprintf(" (read as %q)", a.name)
			}
			c.add(es, a.written, a.keyOff, "unknown attribute %q%s", a.written, hint)
			continue
		}
		if a.val.kind == jNull {
			if c.mode == Strict {
				c.add(es, a.written, a.keyOff, "attribute %q: null is not allowed; leave the attribute out instead", a.written)
			}
			continue // Router: null means not set
		}
		given[ad.name] = true
		if c.mode == Strict && ad.operational {
			c.add(es, a.written, a.keyOff, "attribute %q is operational (set by the router at run time) and cannot be configured", a.written)
			continue
		}
		v, msg := c.convert(ad, a.val)
		if msg != "" {
			c.add(es, a.written, a.keyOff, "attribute %q: %s", a.written, msg)
			continue
		}
		ent.Attrs[ad.name] = v
	}
	for _, an := range def.attrNames {
		if ad := def.attrs[an]; ad.required && !given[an] {
			c.add(es, an, -1, "missing required attribute %q", an)
		}
	}
	c.entities = append(c.entities, ent)
	c.crossChecks(es, def, ent)
}

// setName records the entity's name for messages.
func (c *checker) setName(es *entityState, body *jsonValue) {
	for _, m := range body.members {
		key := m.key
		if c.mode == Router {
			key = camelCase(key)
		}
		if key != "name" {
			continue
		}
		switch {
		case m.val.kind == jString:
			es.name, es.hasName = m.val.str, true
		case c.mode == Router && m.val.kind != jNull:
			es.name, es.hasName = pyStr(m.val), true
		default:
			es.name, es.hasName = "", false
		}
	}
}

func (c *checker) typeHint(written, read string) string {
	if rest, ok := strings.CutPrefix(written, routerConfigPrefix); ok && c.s.types[rest] != nil {
		return fmt.Sprintf(" (write %q in a config file)", rest)
	}
	if c.s.operational[written] || c.s.operational[read] {
		return " (not a configuration entity type)"
	}
	if read != written {
		return fmt.Sprintf(" (read as %q)", read)
	}
	return ""
}

// attributes returns the entity's attributes in document order. Strict
// reports repeated names; Router camel-cases names and lets a later
// occurrence replace an earlier one in place, as building a Python dict does.
func (c *checker) attributes(es *entityState, body *jsonValue) []attrIn {
	var out []attrIn
	pos := map[string]int{}
	for _, m := range body.members {
		a := attrIn{written: m.key, name: m.key, keyOff: m.keyOff, val: m.val}
		if c.mode == Router {
			a.name = camelCase(m.key)
		}
		if i, dup := pos[a.name]; dup {
			if c.mode == Strict {
				c.add(es, a.written, a.keyOff, "attribute %q is given more than once", a.written)
			}
			out[i].val = a.val
			continue
		}
		pos[a.name] = len(out)
		out = append(out, a)
	}
	return out
}

// crossChecks runs the checks that involve other entities, and the
// start-up checks of the router's agent.
func (c *checker) crossChecks(es *entityState, def *entityDef, ent Entity) {
	if def.singleton {
		if first, seen := c.singletons[def.name]; seen {
			c.add(es, "", -1, "more than one %s entity (the first is entity %d); only one is allowed", def.name, first)
		} else {
			c.singletons[def.name] = es.index
		}
	}
	for _, an := range def.attrNames {
		if !def.attrs[an].unique {
			continue
		}
		v, ok := ent.Attrs[an].(string)
		if !ok {
			continue
		}
		seen := c.unique[an]
		if seen == nil {
			seen = map[string]firstUse{}
			c.unique[an] = seen
		}
		if first, dup := seen[v]; dup {
			c.add(es, an, -1, "attribute %q: value %q is already used by entity %d %s (it must be unique across all entities of every type)", an, v, first.index, first.typ)
			continue
		}
		seen[v] = firstUse{index: es.index, typ: es.typ}
	}
	switch def.name {
	case "router":
		c.routers++
		if id, ok := ent.Attrs["id"].(string); ok {
			for _, r := range id {
				if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) {
					c.add(es, "id", -1, "attribute \"id\": router id %q contains %U; control and whitespace characters are not allowed", id, r)
					break
				}
			}
		}
	case "log":
		if m, ok := ent.Attrs["module"].(string); ok {
			if first, dup := c.logModules[m]; dup {
				c.add(es, "module", -1, "log module %s is configured more than once (first by entity %d)", m, first)
			} else {
				c.logModules[m] = es.index
			}
		}
		if v, ok := ent.Attrs["enable"].(string); ok && !validLogEnable(v) {
			c.add(es, "enable", -1, "attribute \"enable\": %q is not a valid log level (the router knows none, debug, info, warning, error, critical, each with an optional \"+\")", v)
		}
	case "listener", "connector":
		c.checkOpenProperties(es, ent)
	}
}

// logLevels are the levels skupper-router's log.c knows, plus "trace",
// which its configuration loader reads as debug at startup (an UPDATE
// through management refuses it). It refuses to start with any other,
// e.g. "notice+".
var logLevels = map[string]bool{"default": true, "none": true, "debug": true, "info": true, "warning": true, "error": true, "critical": true, "trace": true}

// validLogEnable reports whether the router accepts a log entity's
// enable string: levels separated by ", ;:", each with an optional "+".
func validLogEnable(v string) bool {
	for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(", ;:", r) }) {
		if !logLevels[strings.ToLower(strings.TrimSuffix(tok, "+"))] {
			return false
		}
	}
	return true
}

// reservedOpenProperties are the connection-property keys agent.py
// ConnectionBaseEntity refuses. Its list lacks a comma between "scheme" and
// "hostname", so the router refuses "schemehostname" and lets "scheme" and
// "hostname" through; Strict refuses all three.
var reservedOpenProperties = map[string]Mode{
	"product": Router, "version": Router, "failover-server-list": Router,
	"network-host": Router, "port": Router, "schemehostname": Router,
	"scheme": Strict, "hostname": Strict,
}

func (c *checker) checkOpenProperties(es *entityState, ent Entity) {
	props, ok := ent.Attrs["openProperties"].(map[string]any)
	if !ok || len(props) == 0 {
		return
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mode, reserved := reservedOpenProperties[k]
		if (reserved && (mode == Router || c.mode == Strict)) || strings.HasPrefix(k, "qd.") || strings.HasPrefix(k, "x-opt-qd.") {
			c.add(es, "openProperties", -1, "attribute \"openProperties\": reserved key %q is not allowed", k)
		}
	}
	role, _ := ent.Attrs["role"].(string)
	if role == "inter-router" || role == "edge" {
		c.add(es, "openProperties", -1, "attribute \"openProperties\" is not allowed on a %s with role %s", ent.Type, role)
	}
}

// convert checks v against the attribute's type under the checker's mode
// and returns the converted value, or a message saying what is wrong.
func (c *checker) convert(ad *attrDef, v *jsonValue) (any, string) {
	if ad.kind == kProperties {
		return convertProperties(v)
	}
	if c.mode == Router {
		return convertRouter(ad, v)
	}
	switch ad.kind {
	case kString, kPath, kEntityID:
		if v.kind == jString {
			return v.str, ""
		}
		return nil, "want a string, got " + describe(v)
	case kInteger:
		if v.kind == jNumber && v.isInt {
			n, err := strconv.ParseInt(v.str, 10, 64)
			if err != nil {
				return nil, fmt.Sprintf("integer %s is out of range", v.str)
			}
			return n, ""
		}
		if v.kind == jNumber {
			return nil, "want an integer, got " + describe(v) + " (a fraction or exponent is not allowed)"
		}
		return nil, "want an integer, got " + describe(v)
	case kBoolean:
		if v.kind == jBool {
			return v.b, ""
		}
		return nil, "want a boolean, got " + describe(v)
	case kEnum:
		if v.kind == jString {
			for _, tag := range ad.enum {
				if v.str == tag {
					return tag, ""
				}
			}
		}
		return nil, fmt.Sprintf("invalid value %s: want one of %s", describe(v), quoteList(ad.enum))
	case kMap:
		if v.kind == jObject {
			return toNative(v), ""
		}
		return nil, "want a JSON object, got " + describe(v)
	case kList:
		if v.kind == jArray {
			return toNative(v), ""
		}
		return nil, "want a JSON array, got " + describe(v)
	}
	return nil, fmt.Sprintf("unsupported schema type %q", ad.typeName)
}

func convertRouter(ad *attrDef, v *jsonValue) (any, string) {
	switch ad.kind {
	case kString, kPath, kEntityID:
		return pyStr(v), ""
	case kInteger:
		n, msg := pyInt(v)
		if msg != "" {
			return nil, msg
		}
		return n, ""
	case kBoolean:
		b, msg := pyBool(v)
		if msg != "" {
			return nil, msg
		}
		return b, ""
	case kEnum:
		if v.kind == jString {
			for _, tag := range ad.enum {
				if v.str == tag {
					return tag, ""
				}
			}
		}
		n := int64(len(ad.enum))
		if i, msg := pyInt(v); msg == "" && i >= -n && i < n {
			if i < 0 {
				i += n
			}
			return ad.enum[i], ""
		}
		return nil, fmt.Sprintf("invalid value %s: want one of %s (or an index 0..%d)", describe(v), quoteList(ad.enum), n-1)
	case kMap:
		m, msg := pyDict(v)
		if msg != "" {
			return nil, msg
		}
		return m, ""
	case kList:
		l, msg := pyList(v)
		if msg != "" {
			return nil, msg
		}
		return l, ""
	}
	return nil, fmt.Sprintf("unsupported schema type %q", ad.typeName)
}

// convertProperties is PropertiesType.validate: a JSON object whose keys are
// ASCII.
func convertProperties(v *jsonValue) (any, string) {
	if v.kind != jObject {
		return nil, "want a JSON object, got " + describe(v)
	}
	for _, m := range v.members {
		for i := 0; i < len(m.key); i++ {
			if m.key[i] >= utf8.RuneSelf {
				return nil, fmt.Sprintf("property key %s is not ASCII", quoteShort(m.key))
			}
		}
	}
	return toNative(v), ""
}

// describe names v's JSON type and, for scalars, its value.
func describe(v *jsonValue) string {
	switch v.kind {
	case jString:
		return "string " + quoteShort(v.str)
	case jNumber:
		s := v.str
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return "number " + s
	case jBool:
		return "boolean " + strconv.FormatBool(v.b)
	default:
		return v.kind.String()
	}
}

func quoteList(tags []string) string {
	q := make([]string, len(tags))
	for i, t := range tags {
		q[i] = strconv.Quote(t)
	}
	return strings.Join(q, ", ")
}
