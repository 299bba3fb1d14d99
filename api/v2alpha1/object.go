package v2alpha1

import (
	"fmt"
	"reflect"
)

// Object is implemented by every accepted kind.
type Object interface {
	// GetTypeMeta returns the apiVersion and kind.
	GetTypeMeta() *TypeMeta
	// GetObjectMeta returns the metadata.
	GetObjectMeta() *ObjectMeta
	// GetStatus returns the common status, or nil for kinds without status
	// (Secret).
	GetStatus() *ResourceStatus
}

// GetTypeMeta implements Object.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// GetObjectMeta implements Object.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// GetStatus implements Object.
func (s *Site) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *Link) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *Listener) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *Connector) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *RouterAccess) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *AccessGrant) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *AccessToken) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *AttachedConnector) GetStatus() *ResourceStatus { return &s.Status.ResourceStatus }

// GetStatus implements Object.
func (s *AttachedConnectorBinding) GetStatus() *ResourceStatus {
	return &s.Status.ResourceStatus
}

// GetStatus implements Object; a Secret has no status.
func (s *Secret) GetStatus() *ResourceStatus { return nil }

// kindInfo maps a kind to its API version and Go type.
type kindInfo struct {
	apiVersion string
	typ        reflect.Type
}

var kindTable = map[string]kindInfo{
	KindSite:                     {GroupVersion, reflect.TypeOf(Site{})},
	KindLink:                     {GroupVersion, reflect.TypeOf(Link{})},
	KindListener:                 {GroupVersion, reflect.TypeOf(Listener{})},
	KindConnector:                {GroupVersion, reflect.TypeOf(Connector{})},
	KindRouterAccess:             {GroupVersion, reflect.TypeOf(RouterAccess{})},
	KindAccessToken:              {GroupVersion, reflect.TypeOf(AccessToken{})},
	KindAccessGrant:              {GroupVersion, reflect.TypeOf(AccessGrant{})},
	KindAttachedConnector:        {GroupVersion, reflect.TypeOf(AttachedConnector{})},
	KindAttachedConnectorBinding: {GroupVersion, reflect.TypeOf(AttachedConnectorBinding{})},
	KindSecret:                   {CoreVersion, reflect.TypeOf(Secret{})},
}

// New returns a new, empty object of the given kind with its TypeMeta set,
// or an error for an unknown kind.
func New(kind string) (Object, error) {
	ki, ok := kindTable[kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	obj := reflect.New(ki.typ).Interface().(Object)
	*obj.GetTypeMeta() = TypeMeta{APIVersion: ki.apiVersion, Kind: kind}
	return obj, nil
}

// APIVersionOf returns the apiVersion a kind belongs to ("" if unknown).
func APIVersionOf(kind string) string { return kindTable[kind].apiVersion }

// Key identifies a resource within a namespace.
type Key struct {
	Kind string
	Name string
}

// String renders the key as Kind/name.
func (k Key) String() string { return k.Kind + "/" + k.Name }

// KeyOf returns the key of an object.
func KeyOf(o Object) Key {
	return Key{Kind: o.GetTypeMeta().Kind, Name: o.GetObjectMeta().Name}
}

// FileName is the conventional input/status file name of a resource:
// "<Kind>-<name>.yaml".
func (k Key) FileName() string { return k.Kind + "-" + k.Name + ".yaml" }
