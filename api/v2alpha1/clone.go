package v2alpha1

import (
	"maps"
	"reflect"
	"slices"
)

// Clone returns a copy of d that shares nothing mutable with it: its
// object is deep-copied and its diagnostics are its own, so that defaults,
// validation and status set on the copy leave d as decoded. The field line
// table is shared (it is read-only once decoded). A decoded document can so
// be kept and handed out again while its file is unchanged.
func (d *Document) Clone() *Document {
	c := *d
	c.Object = cloneObject(d.Object)
	c.Diags = append(Diagnostics(nil), d.Diags...)
	c.Diags = c.Diags[:len(c.Diags):len(c.Diags)]
	return &c
}

// cloneObject deep-copies o. The kinds a large namespace holds by the
// thousand are copied field by field (a tenth of the reflective copy's
// cost); the others go through cloneValue. TestTypedCloneCoversEveryField
// keeps the typed copies complete.
func cloneObject(o Object) Object {
	switch o := o.(type) {
	case *Listener:
		c := *o
		c.ObjectMeta = o.ObjectMeta.clone()
		c.Spec.Settings = maps.Clone(o.Spec.Settings)
		c.Status.ResourceStatus = o.Status.ResourceStatus.clone()
		return &c
	case *Connector:
		c := *o
		c.ObjectMeta = o.ObjectMeta.clone()
		c.Spec.Settings = maps.Clone(o.Spec.Settings)
		c.Status.ResourceStatus = o.Status.ResourceStatus.clone()
		c.Status.SelectedPods = slices.Clone(o.Status.SelectedPods)
		return &c
	}
	return cloneValue(reflect.ValueOf(o)).Interface().(Object)
}

func (m ObjectMeta) clone() ObjectMeta {
	m.Labels = maps.Clone(m.Labels)
	m.Annotations = maps.Clone(m.Annotations)
	return m
}

func (s ResourceStatus) clone() ResourceStatus {
	s.Conditions = slices.Clone(s.Conditions)
	return s
}

// cloneValue deep-copies pointers, structs, slices and maps; strings and
// other scalars are values already.
func cloneValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(cloneValue(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if f := v.Field(i); needsDeepCopy(f.Kind()) && out.Field(i).CanSet() {
				out.Field(i).Set(cloneValue(f))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(out, v)
		if needsDeepCopy(v.Type().Elem().Kind()) {
			for i := range v.Len() {
				out.Index(i).Set(cloneValue(v.Index(i)))
			}
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			out.SetMapIndex(it.Key(), cloneValue(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(cloneValue(v.Elem()))
		return out
	}
	return v
}

func needsDeepCopy(k reflect.Kind) bool {
	switch k {
	case reflect.Pointer, reflect.Struct, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}
