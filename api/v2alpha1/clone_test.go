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

// TestTypedCloneCoversEveryField fills every field of the kinds cloneObject
// copies by hand and checks that the copy equals the original and shares
// nothing mutable with it: a field added to one of those types without a
// line in cloneObject fails here.
func TestTypedCloneCoversEveryField(t *testing.T) {
	for _, o := range []Object{&Listener{}, &Connector{}} {
		fill(reflect.ValueOf(o).Elem())
		want := cloneValue(reflect.ValueOf(o)).Interface().(Object)
		c := cloneObject(o)
		if !reflect.DeepEqual(c, o) {
			t.Fatalf("%T: the copy differs from the original:\n%#v\nwant\n%#v", o, c, o)
		}
		scribble(reflect.ValueOf(c))
		if !reflect.DeepEqual(o, want) {
			t.Fatalf("%T: changing the copy changed the original:\n%#v\nwant\n%#v", o, o, want)
		}
	}
}

// fill sets every string, number and bool reachable from v, and gives
// every map, slice and pointer one element.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("filled")
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	}
}
