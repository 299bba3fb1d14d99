package v2alpha1

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Severity tells whether a diagnostic stops a resource from applying.
type Severity int

// Severities.
const (
	// SeverityError: the resource (or file) is not applied.
	SeverityError Severity = iota
	// SeverityWarning: the resource applies; something in it is ignored or
	// suspicious.
	SeverityWarning
)

// Diagnostic is one problem found in input, located by file and line and
// attributed to a resource and field where known.
type Diagnostic struct {
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	Name     string   `json:"name,omitempty"`
	Field    string   `json:"field,omitempty"`
	Message  string   `json:"message"`
	Severity Severity `json:"-"`
}

// Error renders the diagnostic as "file:line: Kind/name: field: message".
// Parts that are unknown are left out; warnings carry a "warning: " prefix
// before the resource.
func (d Diagnostic) Error() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(d.Line))
		}
		b.WriteString(": ")
	}
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if d.Kind != "" {
		b.WriteString(d.Kind)
		if d.Name != "" {
			b.WriteString("/")
			b.WriteString(Abbreviate(d.Name))
		}
		b.WriteString(": ")
	}
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// IsError reports whether the diagnostic has error severity.
func (d Diagnostic) IsError() bool { return d.Severity == SeverityError }

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// Sort orders diagnostics by file, line, then rendered text, and removes
// exact duplicates.
func (ds Diagnostics) Sort() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].less(ds[j]) })
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d == ds[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (d Diagnostic) less(o Diagnostic) bool {
	if d.File != o.File {
		return d.File < o.File
	}
	if d.Line != o.Line {
		return d.Line < o.Line
	}
	return d.Error() < o.Error()
}

// HasErrors reports whether any diagnostic has error severity.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.IsError() {
			return true
		}
	}
	return false
}

// Errors returns only the error-severity diagnostics.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.IsError() {
			out = append(out, d)
		}
	}
	return out
}

// For returns the diagnostics attributed to a resource.
func (ds Diagnostics) For(k Key) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Kind == k.Kind && d.Name == k.Name {
			out = append(out, d)
		}
	}
	return out
}

// Err returns the sorted error-severity diagnostics as a *multierror.Error
// (one per line when printed), or nil when there are none.
func (ds Diagnostics) Err() error {
	errs := append(Diagnostics(nil), ds.Errors()...).Sort()
	if len(errs) == 0 {
		return nil
	}
	var m *multierror.Error
	for _, d := range errs {
		m = multierror.Append(m, d)
	}
	m.ErrorFormat = func(es []error) string {
		lines := make([]string, len(es))
		for i, e := range es {
			lines[i] = e.Error()
		}
		if len(lines) == 1 {
			return lines[0]
		}
		return fmt.Sprintf("%d problems:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	return m
}
