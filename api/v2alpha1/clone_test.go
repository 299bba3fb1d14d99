package v2alpha1

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestCloneIsDeep checks that a clone equals its document and that changing
// the clone (defaults, status, diagnostics, every map and slice) leaves the
// document as decoded.
func TestCloneIsDeep(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test data: %v", err)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, _ := Decode(f, data)
		fresh, _ := Decode(f, data)
		for i, d := range docs {
			c := d.Clone()
			if !reflect.DeepEqual(c, d) {
				t.Fatalf("%s: clone differs from its document", f)
			}
			scribble(reflect.ValueOf(c.Object))
			c.Diags = append(c.Diags, Diagnostic{Message: "added to the clone"})
			Validate("west", []*Document{c})
			if !reflect.DeepEqual(d, fresh[i]) {
				t.Fatalf("%s: changing the clone changed the document:\n%#v\nwant\n%#v", f, d.Object, fresh[i].Object)
			}
			n++
		}
	}
	t.Logf("%d documents cloned", n)
}

// scribble overwrites every string, number and bool reachable from v, and
// adds to every map.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				scribble(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Map:
		if !v.IsNil() && v.Type().Key().Kind() == reflect.String && v.Type().Elem().Kind() == reflect.String {
			v.SetMapIndex(reflect.ValueOf("scribbled").Convert(v.Type().Key()), reflect.ValueOf("x").Convert(v.Type().Elem()))
		}
	case reflect.String:
		v.SetString(v.String() + "-changed")
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	}
}
