package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// inputFile is one resource file of a namespace's input/resources.
type inputFile struct {
	Path string
	Data []byte
}

// inputState is a namespace's input as the CLI sees it: the resource files
// and what they decode to, with every diagnostic.
type inputState struct {
	ns    namespaces.Namespace
	files []inputFile
	docs  []*v2alpha1.Document
	diags v2alpha1.Diagnostics
}

// readInput reads every resource file of the namespace's input/resources
// with the daemon's loader (namespaces.ReadResources: *.yaml, *.yml and
// *.json, not recursive, editor and hidden files ignored; FIFOs, unreadable
// files and files over 4 MiB are diagnostics of their own, never a hang or
// a failure of the command) and decodes and validates them together. A
// missing namespace or resources directory yields an empty input.
func readInput(ns namespaces.Namespace) (*inputState, error) {
	files, readDiags, err := namespaces.ReadResources(ns)
	if err != nil {
		return nil, fmt.Errorf("read input of namespace %q: %w", ns.Name, err)
	}
	s := &inputState{ns: ns}
	for _, f := range files {
		s.files = append(s.files, inputFile{Path: f.Path, Data: f.Data})
	}
	s.docs, s.diags = decodeFiles(ns.Name, s.files)
	s.diags = append(s.diags, readDiags...).Sort()
	return s, nil
}

// readLimited reads a regular file of at most namespaces.MaxInputFileSize
// bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, namespaces.MaxInputFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > namespaces.MaxInputFileSize {
		return nil, fmt.Errorf("read %s: file is larger than %d bytes (4 MiB)", path, namespaces.MaxInputFileSize)
	}
	return data, nil
}

// decodeFiles decodes files as the input of namespace and validates them
// together, returning the documents and every diagnostic, sorted.
func decodeFiles(namespace string, files []inputFile) ([]*v2alpha1.Document, v2alpha1.Diagnostics) {
	var docs []*v2alpha1.Document
	var diags v2alpha1.Diagnostics
	for _, f := range files {
		d, ds := v2alpha1.Decode(f.Path, f.Data)
		docs = append(docs, d...)
		// Decode lists the documents' own diagnostics first; Validate
		// returns those again, so only the file-level ones are kept here.
		attached := 0
		for _, doc := range d {
			attached += len(doc.Diags)
		}
		diags = append(diags, ds[attached:]...)
	}
	diags = append(diags, v2alpha1.Validate(namespace, docs)...)
	diags = append(diags, v2alpha1.CheckSitePresent(namespace, docs)...)
	return docs, diags.Sort()
}

// location is where a resource is defined in input.
type location struct {
	path string
	doc  *v2alpha1.Document
	// alone is true when the resource is the only document of its file.
	alone bool
}

// docsPerFile counts the documents decoded from each file.
func (s *inputState) docsPerFile() map[string]int {
	n := map[string]int{}
	for _, d := range s.docs {
		n[d.File]++
	}
	return n
}

// find returns every definition of k in input (normally zero or one).
func (s *inputState) find(k v2alpha1.Key) []location {
	per := s.docsPerFile()
	var out []location
	for _, d := range s.docs {
		if d.Key() == k {
			out = append(out, location{path: d.File, doc: d, alone: per[d.File] == 1})
		}
	}
	return out
}

// ofKind returns the documents of one kind, sorted by name.
func (s *inputState) ofKind(kind string) []*v2alpha1.Document {
	var out []*v2alpha1.Document
	for _, d := range s.docs {
		if d.Key().Kind == kind {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// site returns the namespace's Site object when there is exactly one.
func (s *inputState) site() *v2alpha1.Site {
	sites := s.ofKind(v2alpha1.KindSite)
	if len(sites) != 1 {
		return nil
	}
	return sites[0].Object.(*v2alpha1.Site)
}

// brokenFilesNote tells, when some input files could not be decoded at
// all, that resources in them are invisible.
func (s *inputState) brokenFilesNote() string {
	var broken []string
	for _, d := range s.diags {
		if d.IsError() && d.Kind == "" && d.File != "" {
			broken = append(broken, d.File)
		}
	}
	if len(broken) == 0 {
		return ""
	}
	sort.Strings(broken)
	return fmt.Sprintf(" (note: %s could not be read; run \"skupper system validate -n %s\")", strings.Join(dedupe(broken), ", "), s.ns.Name)
}

// dedupe drops adjacent duplicates of a sorted list.
func dedupe(list []string) []string {
	var out []string
	for i, v := range list {
		if i == 0 || v != list[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// notFound is the failure for a resource missing from input.
func (s *inputState) notFound(k v2alpha1.Key) error {
	return failure("%s %q does not exist in namespace %q%s", k.Kind, k.Name, s.ns.Name, s.brokenFilesNote())
}

// locate returns the single definition of k, or a failure when it is
// missing or defined more than once.
func (s *inputState) locate(k v2alpha1.Key) (location, error) {
	locs := s.find(k)
	switch len(locs) {
	case 0:
		return location{}, s.notFound(k)
	case 1:
		return locs[0], nil
	}
	var where []string
	for _, l := range locs {
		where = append(where, fmt.Sprintf("%s:%d", l.path, l.doc.Line))
	}
	return location{}, failure("%s %q is defined more than once (%s); remove all but one definition first", k.Kind, k.Name, strings.Join(where, ", "))
}

// editable returns the file skupper may rewrite or remove for k: the file
// that holds k and nothing else. A resource that shares its file with
// others is left to the user, since rewriting the file would drop their
// comments and layout.
func (loc location) editable(k v2alpha1.Key, verb string) error {
	if loc.alone {
		return nil
	}
	return failure("%s %q is defined in %s together with other resources; skupper only %s files that hold a single resource, so edit that file instead", k.Kind, k.Name, loc.path, verb)
}

// change is a set of file writes and removals in input/resources.
type change struct {
	writes  map[string][]byte
	removes map[string]bool
	// touched are the resources the change creates, updates or deletes.
	touched map[v2alpha1.Key]bool
	order   []string // write order of paths, for stable output
}

// newChange returns an empty change.
func newChange() *change {
	return &change{writes: map[string][]byte{}, removes: map[string]bool{}, touched: map[v2alpha1.Key]bool{}}
}

// write records that path gets data, for the resources keys.
func (c *change) write(path string, data []byte, keys ...v2alpha1.Key) {
	if _, ok := c.writes[path]; !ok {
		c.order = append(c.order, path)
	}
	c.writes[path] = data
	delete(c.removes, path)
	for _, k := range keys {
		c.touched[k] = true
	}
}

// remove records that path is removed, for the resources keys.
func (c *change) remove(path string, keys ...v2alpha1.Key) {
	c.removes[path] = true
	delete(c.writes, path)
	for _, k := range keys {
		c.touched[k] = true
	}
}

// result returns the input files as they are after the change.
func (s *inputState) result(c *change) []inputFile {
	var out []inputFile
	seen := map[string]bool{}
	for _, f := range s.files {
		seen[f.Path] = true
		if c.removes[f.Path] {
			continue
		}
		if data, ok := c.writes[f.Path]; ok {
			f = inputFile{Path: f.Path, Data: data}
		}
		out = append(out, f)
	}
	for _, p := range c.order {
		if data, ok := c.writes[p]; ok && !seen[p] {
			out = append(out, inputFile{Path: p, Data: data})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// check validates the namespace's input as it would be after the change.
// It returns the errors that refuse the change — every error about a
// touched resource, and every error the change introduces elsewhere (a
// clash with an existing resource) — and warnings worth showing: warnings
// about touched resources and namespace-wide notes (such as a missing
// Site), which do not refuse the change. Diagnostics located in the files
// the change writes are shown without file and line: the user wrote a
// command, not those files.
func (s *inputState) check(c *change) (errs, warns v2alpha1.Diagnostics) {
	before := map[string]bool{}
	for _, d := range s.diags {
		before[d.Error()] = true
	}
	_, after := decodeFiles(s.ns.Name, s.result(c))
	for _, d := range after {
		touched := c.touched[v2alpha1.Key{Kind: d.Kind, Name: d.Name}]
		isNew := !before[d.Error()]
		shown := d
		if _, written := c.writes[d.File]; written {
			shown.File, shown.Line = "", 0
		}
		switch {
		case d.Kind == "" && d.File == "":
			// Namespace-wide (no Site): a note, not a refusal.
			if isNew {
				shown.Severity = v2alpha1.SeverityWarning
				warns = append(warns, shown)
			}
		case d.IsError() && (touched || isNew):
			errs = append(errs, shown)
		case !d.IsError() && touched:
			warns = append(warns, shown)
		}
	}
	return errs, warns
}

// invalid reports refused changes: the diagnostics, and that nothing was
// written (exit 2).
func (a *app) invalid(errs v2alpha1.Diagnostics) error {
	lines := make([]string, len(errs))
	for i, d := range errs {
		lines[i] = d.Error()
	}
	if len(lines) == 1 {
		return usageError("%s", lines[0])
	}
	return usageError("%d problems; nothing was written:\n%s", len(lines), strings.Join(lines, "\n"))
}

// printWarnings prints warnings on stderr.
func (a *app) printWarnings(warns v2alpha1.Diagnostics) {
	for _, w := range warns {
		w.Severity = v2alpha1.SeverityError // Diagnostic.Error adds "warning: " otherwise
		a.warnf("%s", w.Error())
	}
}

// commit validates and performs a change: nothing is written when it is
// refused. Validate-then-write is serialised per namespace (its input
// lock): under the lock the input is read again and the change validated
// against it, so that two concurrent commands cannot both write changes
// that clash (the same port), and a file another command changed since s
// was read is not overwritten.
func (a *app) commit(s *inputState, c *change) error {
	if errs, _ := s.check(c); len(errs) > 0 {
		return a.invalid(errs)
	}
	unlock, err := s.ns.LockInput()
	if err != nil {
		return failed(err)
	}
	defer unlock()
	fresh, err := readInput(s.ns)
	if err != nil {
		return failed(err)
	}
	if p := changedSince(s, fresh, c); p != "" {
		return failure("%s changed while this command ran; nothing was written: run the command again", p)
	}
	errs, warns := fresh.check(c)
	if len(errs) == 0 {
		after, _ := decodeFiles(fresh.ns.Name, fresh.result(c))
		errs = a.portClashes(fresh, after, c)
	}
	if len(errs) > 0 {
		return a.invalid(errs)
	}
	a.printWarnings(warns)
	return apply(fresh.ns, c)
}

// changedSince returns a file the change writes or removes whose content
// differs between the input as read before (old) and now (cur).
func changedSince(old, cur *inputState, c *change) string {
	content := func(s *inputState) map[string]string {
		m := map[string]string{}
		for _, f := range s.files {
			m[f.Path] = string(f.Data)
		}
		return m
	}
	before, now := content(old), content(cur)
	var paths []string
	for p := range c.writes {
		paths = append(paths, p)
	}
	for p := range c.removes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, hadB := before[p]
		n, hasN := now[p]
		if hadB != hasN || b != n {
			return p
		}
	}
	return ""
}

// apply writes and removes the change's files (0600, in 0700 directories).
func apply(ns namespaces.Namespace, c *change) error {
	if len(c.writes) > 0 {
		if err := ns.EnsureInput(); err != nil {
			return failed(fmt.Errorf("prepare namespace %q: %w", ns.Name, err))
		}
	}
	for _, p := range c.order {
		data, ok := c.writes[p]
		if !ok {
			continue
		}
		if err := atomicfile.WriteFile(p, data, namespaces.FilePerm); err != nil {
			return failed(fmt.Errorf("write %s: %w", p, err))
		}
	}
	var removes []string
	for p := range c.removes {
		removes = append(removes, p)
	}
	sort.Strings(removes)
	for _, p := range removes {
		if err := atomicfile.Remove(p); err != nil {
			return failed(fmt.Errorf("remove %s: %w", p, err))
		}
	}
	return nil
}

// encodeFor renders obj for the file at path: JSON for *.json files (the
// daemon reads those as JSON), YAML otherwise. Status is never written to
// input.
func encodeFor(path string, obj v2alpha1.Object) ([]byte, error) {
	obj = withoutStatus(obj)
	if strings.EqualFold(filepath.Ext(path), ".json") {
		b, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", v2alpha1.KeyOf(obj), err)
		}
		return append(b, '\n'), nil
	}
	return v2alpha1.Marshal(obj)
}

// withoutStatus returns a copy of obj with its status cleared.
func withoutStatus(obj v2alpha1.Object) v2alpha1.Object {
	c := v2alpha1.DeepCopy(obj)
	v := reflect.ValueOf(c).Elem()
	if f := v.FieldByName("Status"); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
	return c
}

// specOf returns the JSON of obj's spec (for a Secret, its type and data),
// for comparing a resource with its status file.
func specOf(obj v2alpha1.Object) string {
	v := reflect.ValueOf(obj).Elem()
	var part any
	if f := v.FieldByName("Spec"); f.IsValid() {
		part = f.Interface()
	} else {
		part = obj
	}
	b, err := json.Marshal(part)
	if err != nil {
		return ""
	}
	return string(b)
}

// applied reports whether a status object reflects the input object: its
// spec equals the input's, as written or with the daemon's defaults.
func applied(input, status v2alpha1.Object, site *v2alpha1.Site) bool {
	if status == nil {
		return false
	}
	st := specOf(status)
	if specOf(input) == st {
		return true
	}
	d := v2alpha1.DeepCopy(input)
	v2alpha1.SetDefaults(d, site)
	return specOf(d) == st
}
