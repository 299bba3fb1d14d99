package v2alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Limits applied while decoding one document.
const (
	// maxNodeVisits bounds the work spent on one document, including YAML
	// alias expansion, so that an alias bomb cannot exhaust memory or CPU.
	maxNodeVisits = 1 << 20
	// maxDiagnosticsPerDocument bounds the diagnostics one document can
	// produce; the rest are summarised in a final diagnostic.
	maxDiagnosticsPerDocument = 50
)

// Document is one decoded resource and where it came from.
type Document struct {
	// File is the path the document was read from, as given to Decode.
	File string
	// Line is the 1-based line of the document's first key.
	Line int
	// Object is the decoded resource. When decoding failed for some fields
	// the object holds whatever decoded cleanly; Diags says what did not.
	Object Object
	// Diags are the diagnostics attributed to this document, from decoding
	// and from validation.
	Diags Diagnostics

	fields    map[string]int
	badFields map[string]bool // fields that failed to decode
	// checkedFor is the namespace whose checks of the document alone
	// (validateDocument) are in Diags ("": not run); a clone keeps it.
	checkedFor string
}

// Key returns the document's Kind/name.
func (d *Document) Key() Key { return KeyOf(d.Object) }

// Valid reports whether the document has no error diagnostics.
func (d *Document) Valid() bool { return !d.Diags.HasErrors() }

// LineOf returns the line of a field path such as "spec.port" or
// "spec.endpoints[0].host", falling back to the nearest enclosing field and
// finally to the document's first line.
func (d *Document) LineOf(path string) int {
	for path != "" {
		if l, ok := d.fields[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return d.Line
}

// diag builds a diagnostic for a field of this document.
func (d *Document) diag(sev Severity, field, format string, args ...any) Diagnostic {
	k := d.Key()
	for i, a := range args {
		if v, ok := a.(string); ok {
			args[i] = Abbreviate(v)
		}
	}
	return Diagnostic{
		File: d.File, Line: d.LineOf(field), Kind: k.Kind, Name: k.Name,
		Field: field, Message: fmt.Sprintf(format, args...), Severity: sev,
	}
}

// addError attaches an error diagnostic for field to the document, unless
// that field already failed to decode (one problem per field is enough).
func (d *Document) addError(field, format string, args ...any) {
	if d.badFields[field] {
		return
	}
	d.Diags = append(d.Diags, d.diag(SeverityError, field, format, args...))
}

// addWarning attaches a warning diagnostic for field to the document.
func (d *Document) addWarning(field, format string, args ...any) {
	d.Diags = append(d.Diags, d.diag(SeverityWarning, field, format, args...))
}

// NewDocument wraps an object built in memory (for example by the CLI) as a
// document, so that it can be validated together with loaded ones.
func NewDocument(file string, obj Object) *Document {
	return &Document{File: file, Line: 1, Object: obj, fields: map[string]int{}}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Decode decodes every resource document in data. Files whose name ends in
// ".json" must hold exactly one JSON document; anything else is read as
// multi-document YAML (JSON is valid YAML).
//
// Decoding is strict: the apiVersion/kind pair must be known, every field
// must exist in the kind's schema, scalars must have the right type and keys
// must not repeat. A file that is not well-formed YAML/JSON contributes no
// documents at all, so a half-written file never applies in part.
//
// The returned diagnostics include those attached to each document plus
// file-level ones (syntax errors, empty files). Decode never panics.
func Decode(file string, data []byte) (docs []*Document, diags Diagnostics) {
	defer func() {
		if r := recover(); r != nil {
			docs = nil
			diags = Diagnostics{{File: file, Message: fmt.Sprintf("internal error while parsing this file (please report it): %v", r)}}
		}
	}()
	fileErr := func(line int, format string, args ...any) (
		[]*Document, Diagnostics) {
		return nil, Diagnostics{{File: file, Line: line, Message: fmt.Sprintf(format, args...)}}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fileErr(lineAt(data, i), "file is binary (contains a NUL byte); expected YAML or JSON text")
	}
	if !utf8.Valid(data) {
		i := firstInvalidUTF8(data)
		return fileErr(lineAt(data, i), "file is not valid UTF-8 text; expected YAML or JSON")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Diagnostics{{File: file, Line: 1, Message: "file is empty: it holds no resources", Severity: SeverityWarning}}
	}
	if strings.HasSuffix(strings.ToLower(file), ".json") {
		if ds := checkSingleJSON(file, data); ds != nil {
			return nil, ds
		}
	}

	chunks := splitDocuments(data)
	results := make([]chunkResult, len(chunks))
	decodeChunks(file, chunks, results)
	var fileDiags Diagnostics
	for _, r := range results {
		if r.fatal != nil {
			// A syntax error anywhere voids the whole file.
			return nil, Diagnostics{*r.fatal}
		}
		for _, doc := range r.docs {
			docs = append(docs, doc)
			diags = append(diags, doc.Diags...)
		}
		fileDiags = append(fileDiags, r.diags...)
	}
	if len(docs) == 0 && len(fileDiags) == 0 {
		fileDiags = append(fileDiags, Diagnostic{File: file, Line: 1, Message: "file holds no resources (only comments or empty documents)", Severity: SeverityWarning})
	}
	return docs, append(diags, fileDiags...)
}

// chunkResult is what decoding one chunk produced.
type chunkResult struct {
	docs  []*Document
	diags Diagnostics // document-level problems that yield no document
	fatal *Diagnostic // a syntax error: the file applies nothing
}

// parallelChunks is the number of chunks above which a file's documents
// are parsed on all CPUs; batchChunks is how many chunks one task takes.
const (
	parallelChunks = 8
	batchChunks    = 2
	// docsPerChunk documents share one parser: few enough to stay clear
	// of the parser's slowdown on long streams, enough to amortise its
	// set-up cost.
	docsPerChunk = 32
)

// decodeChunks fills results[i] for chunks[i], in parallel for large files.
// Results keep file order whatever the scheduling.
func decodeChunks(file string, chunks []chunk, results []chunkResult) {
	workers := runtime.GOMAXPROCS(0)
	if len(chunks) < parallelChunks || workers < 2 {
		for i := range chunks {
			results[i] = decodeChunk(file, chunks[i])
		}
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				for i := start; i < start+batchChunks && i < len(chunks); i++ {
					results[i] = decodeChunk(file, chunks[i])
				}
			}
		}()
	}
	for start := 0; start < len(chunks); start += batchChunks {
		next <- start
	}
	close(next)
	wg.Wait()
}

// decodeChunk parses and decodes the documents of one chunk. It never
// panics: a parser panic becomes a fatal diagnostic.
func decodeChunk(file string, c chunk) (res chunkResult) {
	defer func() {
		if r := recover(); r != nil {
			res = chunkResult{fatal: &Diagnostic{File: file, Line: c.offset + 1, Message: fmt.Sprintf("internal error while parsing this file (please report it): %v", r)}}
		}
	}()
	slab := slabs.Get().(*nodeSlab)
	roots, ok := fastParseInto(slab, c.data)
	if ok {
		for _, n := range roots {
			doc, ds := decodeDocument(file, n, c.offset)
			if doc != nil {
				res.docs = append(res.docs, doc)
			}
			res.diags = append(res.diags, ds...)
		}
	}
	// The documents keep strings of the trees, never their nodes. (A
	// panic above leaves the slab to the garbage collector.)
	slab.release()
	if ok {
		return res
	}
	dec := yaml.NewDecoder(bytes.NewReader(c.data))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			line, msg := 0, err.Error()
			if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				line += c.offset
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			return chunkResult{fatal: &Diagnostic{File: file, Line: line, Message: fmt.Sprintf("invalid YAML: %s; nothing in this file is applied", msg)}}
		}
		if root.Kind == yaml.DocumentNode && len(root.Content) == 0 {
			continue
		}
		n := &root
		if n.Kind == yaml.DocumentNode {
			n = n.Content[0]
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue // a document holding only comments or "~"
		}
		doc, ds := decodeDocument(file, n, c.offset)
		if doc != nil {
			res.docs = append(res.docs, doc)
		}
		res.diags = append(res.diags, ds...)
	}
}

// chunk is a slice of a YAML stream holding one or more documents, starting
// at line offset+1 of the file.
type chunk struct {
	data   []byte
	offset int
}

// splitDocuments cuts a YAML stream before every docsPerChunk-th document start marker
// ("---" at column 0 followed by a blank or the end of the line). The YAML
// spec forbids such a line inside any scalar, so the cut never splits a
// document. Parsing documents separately keeps decoding linear in the file
// size: the YAML parser slows down quadratically on long multi-document
// streams. Streams with directives ("%YAML") are not split.
func splitDocuments(data []byte) []chunk {
	if bytes.HasPrefix(data, []byte("%")) || bytes.Contains(data, []byte("\n%")) {
		return []chunk{{data: data}}
	}
	var out []chunk
	start, startLine, line, docs := 0, 0, 0, 0
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		l := data[i:next]
		if i > start && bytes.HasPrefix(l, []byte("---")) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r') {
			if docs++; docs%docsPerChunk == 0 {
				out = append(out, chunk{data: data[start:i], offset: startLine})
				start, startLine = i, line
			}
		}
		line++
		i = next
	}
	return append(out, chunk{data: data[start:], offset: startLine})
}

// checkSingleJSON verifies that data is exactly one JSON value.
func checkSingleJSON(file string, data []byte) Diagnostics {
	jd := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := jd.Decode(&raw); err != nil {
		line := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line = lineAt(data, int(se.Offset))
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if errors.Is(err, io.ErrUnexpectedEOF) {
			msg = "unexpected end of file"
		}
		return Diagnostics{{File: file, Line: line, Message: "invalid JSON: " + msg + "; nothing in this file is applied"}}
	}
	off := int(jd.InputOffset())
	rest := bytes.TrimLeft(data[off:], " \t\r\n")
	if len(rest) > 0 {
		line := lineAt(data, len(data)-len(rest))
		return Diagnostics{{File: file, Line: line, Message: "a JSON file must hold exactly one document, but more content follows the first; put several resources in a .yaml file separated by ---"}}
	}
	return nil
}

// lineAt returns the 1-based line of byte offset off in data.
func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// mappingValue returns the value node and key line for key in mapping n.
func mappingValue(n *yaml.Node, key string) (*yaml.Node, int) {
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v, k.Line
		}
	}
	return nil, 0
}

func scalarString(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		return n.Value
	}
	return ""
}

func decodeDocument(file string, n *yaml.Node, lineOffset int) (*Document, Diagnostics) {
	if n.Kind != yaml.MappingNode {
		return nil, Diagnostics{{File: file, Line: n.Line + lineOffset, Message: fmt.Sprintf("document is %s, not a resource; expected a mapping with apiVersion, kind and metadata", describeNode(n))}}
	}
	avNode, avLine := mappingValue(n, "apiVersion")
	kindNode, kindLine := mappingValue(n, "kind")
	apiVersion, kind := scalarString(avNode), scalarString(kindNode)
	var name string
	if md, _ := mappingValue(n, "metadata"); md != nil {
		nn, _ := mappingValue(md, "name")
		name = scalarString(nn)
	}
	base := Diagnostic{File: file, Line: n.Line + lineOffset, Kind: kind, Name: name}
	fail := func(line int, field, format string, args ...any) (*Document, Diagnostics) {
		d := base
		if line > 0 {
			d.Line = line + lineOffset
		}
		d.Field = field
		d.Message = fmt.Sprintf(format, args...)
		if _, known := kindTable[kind]; !known {
			d.Kind, d.Name = "", ""
		}
		return nil, Diagnostics{d}
	}
	if kindNode == nil || kind == "" {
		return fail(kindLine, "kind", "kind is missing; expected one of %s", strings.Join(Kinds, ", "))
	}
	ki, ok := kindTable[kind]
	if !ok {
		return fail(kindLine, "kind", "unknown kind %q; expected one of %s", kind, strings.Join(Kinds, ", "))
	}
	if avNode == nil || apiVersion == "" {
		return fail(avLine, "apiVersion", "apiVersion is missing; expected %q for kind %s", ki.apiVersion, kind)
	}
	if apiVersion != ki.apiVersion {
		return fail(avLine, "apiVersion", "apiVersion %q is not supported for kind %s; expected %q", apiVersion, kind, ki.apiVersion)
	}

	obj, _ := New(kind)
	doc := &Document{File: file, Line: n.Line + lineOffset, Object: obj, fields: make(map[string]int, 8)}
	d := &nodeDecoder{doc: doc, budget: maxNodeVisits, lineOffset: lineOffset}
	d.decode(n, reflect.ValueOf(obj).Elem(), "")
	if d.suppressed > 0 {
		doc.addError("", "%d more problems in this document were not listed", d.suppressed)
	}
	if doc.GetName() == "" && !doc.Diags.HasErrors() {
		doc.addError("metadata.name", "metadata.name is required")
	}
	return doc, nil
}

// GetName returns the document's resource name.
func (d *Document) GetName() string { return d.Object.GetObjectMeta().Name }

// nodeDecoder decodes a yaml.Node tree into a typed value, following json
// tags, and records the line of every field it sets.
type nodeDecoder struct {
	doc        *Document
	lineOffset int
	budget     int
	exhausted  bool
	suppressed int
}

func (d *nodeDecoder) errorf(line int, field, format string, args ...any) {
	line += d.lineOffset
	if d.doc.badFields == nil {
		d.doc.badFields = map[string]bool{}
	}
	d.doc.badFields[field] = true
	if len(d.doc.Diags) >= maxDiagnosticsPerDocument {
		d.suppressed++
		return
	}
	k := d.doc.Key()
	d.doc.Diags = append(d.doc.Diags, Diagnostic{
		File: d.doc.File, Line: line, Kind: k.Kind, Name: k.Name, Field: field,
		Message: fmt.Sprintf(format, args...),
	})
}

var portStringType = reflect.TypeOf(PortString(""))

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *nodeDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.budget--
	if d.budget < 0 {
		if !d.exhausted {
			d.exhausted = true
			d.errorf(n.Line, path, "document is too large or expands too much through YAML aliases (limit %d nodes)", maxNodeVisits)
		}
		return
	}
	// Problems are reported where a value is used: for an alias, at the
	// alias rather than at its anchor.
	line := n.Line
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	// The document's own line is Line: the root path ("") needs no entry,
	// which keeps a small resource's table in one map group.
	if _, ok := d.doc.fields[path]; !ok && path != "" {
		d.doc.fields[path] = line + d.lineOffset
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the zero value, as in JSON
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(line, path, "expected a string, got %s", describeNode(n))
			return
		}
		switch {
		case n.Tag == "!!str" || n.Tag == "!!timestamp":
			v.SetString(n.Value)
		case v.Type() == portStringType && n.Tag == "!!int":
			v.SetString(n.Value)
		case v.Type() == portStringType:
			d.errorf(line, path, "expected a port number, got %s", describeNode(n))
		default:
			d.errorf(line, path, "expected a string, got %s; quote the value if it is meant as text", describeNode(n))
		}
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.errorf(line, path, "expected an integer, got %s", describeNode(n))
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil {
			d.errorf(line, path, "integer %s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorf(line, path, "expected true or false, got %s", describeNode(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(line, path, "expected true or false, got %s", describeNode(n))
			return
		}
		v.SetBool(b)
	case reflect.Map:
		d.decodeStringMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(line, path, "expected a list, got %s", describeNode(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
	default:
		d.errorf(line, path, "field of unsupported type %s", v.Type())
	}
}

func (d *nodeDecoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "expected a mapping, got %s", describeNode(n))
		return
	}
	fields := structFields(v.Type())
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "field names must be plain strings, got %s", describeNode(k))
			continue
		}
		fp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, fp, "duplicate key %q (first given at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line + d.lineOffset
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k.Line, fp, "unknown field %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		d.doc.fields[fp] = k.Line + d.lineOffset
		d.decode(val, v.FieldByIndex(idx), fp)
	}
}

func (d *nodeDecoder) decodeStringMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "expected a mapping of names to strings, got %s", describeNode(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be plain strings, got %s", describeNode(k))
			continue
		}
		fp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, fp, "duplicate key %q (first given at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line + d.lineOffset
		d.doc.fields[fp] = k.Line + d.lineOffset
		if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(""))
			continue
		}
		if val.Kind != yaml.ScalarNode || val.Tag != "!!str" {
			if val.Kind == yaml.ScalarNode {
				d.errorf(val.Line, fp, "expected a string value, got %s; quote it (e.g. %q)", describeNode(val), val.Value)
			} else {
				d.errorf(val.Line, fp, "expected a string value, got %s", describeNode(val))
			}
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
	}
	v.Set(m)
}

// describeNode renders a node's type (and short value) for messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.Tag {
	case "!!int":
		return "the number " + v
	case "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	case "!!null":
		return "null"
	case "!!str":
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s %q", n.Tag, v)
}

var fieldCache sync.Map // reflect.Type → map[string][]int

// structFields maps JSON field names to field index paths, flattening
// embedded structs without a JSON name (as encoding/json does).
func structFields(t reflect.Type) map[string][]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			m[name] = idx
		}
	}
	walk(t, nil)
	fieldCache.Store(t, m)
	return m
}

// suggest proposes the closest known field name for a misspelling.
func suggest(name string, fields map[string][]int) string {
	best, bestDist := "", 3
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if dd := editDistance(strings.ToLower(name), strings.ToLower(f)); dd < bestDist {
			best, bestDist = f, dd
		}
	}
	if best == "" {
		return "; known fields: " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
