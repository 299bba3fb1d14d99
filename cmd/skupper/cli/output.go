package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// table writes aligned columns the way the Skupper reference shows them:
// three spaces between columns.
type table struct {
	w *tabwriter.Writer
}

// newTable starts a table with its header row.
func newTable(out io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)}
	t.row(header...)
	return t
}

// row adds a row; each cell is kept on one line.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = oneLine(c)
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

// flush writes the aligned table.
func (t *table) flush() error { return t.w.Flush() }

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\t", " ")), " ")
}

// fields writes "Label:<pad>value" lines aligned on the values, as the
// reference's single-resource status shows them.
func fields(out io.Writer, rows [][2]string) error {
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(w, "%s:\t%s\n", r[0], oneLine(r[1]))
	}
	return w.Flush()
}

// encode renders values as YAML documents ("---" between them) or as JSON
// (one value as an object, several as an array).
func encode(format string, values []any, single bool) ([]byte, error) {
	switch format {
	case "json":
		var v any = values
		if single && len(values) == 1 {
			v = values[0]
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("encode JSON: %w", err)
		}
		return buf.Bytes(), nil
	case "yaml":
		var out []byte
		for i, v := range values {
			b, err := yaml.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encode YAML: %w", err)
			}
			if i > 0 {
				out = append(out, "---\n"...)
			}
			out = append(out, b...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown output format %q", format)
}

// printEncoded writes values in format to stdout.
func (a *app) printEncoded(format string, values []any, single bool) error {
	b, err := encode(format, values, single)
	if err != nil {
		return failed(err)
	}
	_, err = a.stdout.Write(b)
	return failed(err)
}

// sortStrings sorts in place and returns the slice.
func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
