// Package routerschema checks a skupper-router configuration file
// (skrouterd.json) against the router's management schema.
//
// NOTICE: skrouter-schema.json is copied from skupperproject/skupper-router (python/skupper_router/management/skrouter.json), licensed under the Apache License, Version 2.0.
//
// A config file is a JSON array of [entityType, {attributes}] pairs. Check
// reports every problem in it, in entity order, under one of two modes:
//
//   - Strict is what skupperd's renderer must produce: exact JSON types and
//     nothing the router would merely tolerate.
//   - Router is what the real router accepts when it loads the file at
//     start-up. It follows the loader in skupper-router
//     (python/skupper_router_internal/management/config.py, schema.py and
//     agent.py), including the coercions it applies; see Router.
//
// Both modes report: malformed structure; unknown entity types (a config
// file may use only the configuration entity types listed by EntityTypes;
// operational types such as "connection" are unknown, although the router's
// loader lets a few of them through to no effect); unknown attributes; the attributes "type" and "identity", which a config file may
// not set; values of the wrong type or outside an enumeration; missing
// required attributes; a second instance of a singleton entity type (router,
// network, policy); and a repeated value of a unique attribute (in practice
// "name"). Uniqueness is checked across all entity types, not per type,
// because that is what the router does (schema.py Schema.validate_add compares
// each entity with every earlier one): a listener and an sslProfile may not
// share a name. They also report the start-up failures the router's agent
// raises for particular entities: a log module configured twice, a router id
// containing control or whitespace characters, and listener/connector
// openProperties with reserved keys or on inter-router/edge roles.
//
// Like the router, Router mode does not require a router entity (the loader
// adds an empty one); Strict does.
//
// The package does not model checks the router makes later, in C, such as
// whether files exist, log level strings parse or an sslProfile named by a
// listener is defined (the stand-in router, test/standin/skrouterd, does
// some of those), nor name clashes with entities the router creates itself
// (such as its management entity, named "self").
package routerschema

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:embed skrouter-schema.json
var schemaJSON []byte

// Mode selects how strictly Check reads a config file.
type Mode int

const (
	// Strict is what skupperd's renderer must produce. On top of the checks
	// common to both modes (see the package documentation) it requires:
	// exactly two elements per entity; entity type and attribute names
	// exactly as in the schema; no duplicate member names in any JSON
	// object; string, path and entityId attributes as JSON strings; integer
	// attributes as JSON integers (no fraction or exponent) that fit in
	// int64; boolean attributes as JSON booleans; enumerated attributes as
	// one of the allowed strings; map and properties attributes as JSON
	// objects and list attributes as JSON arrays; no null values; no
	// operational attributes (those the schema marks "create": false, or
	// "graph": true statistics); no comment lines; and exactly one router
	// entity. A config that passes Strict also passes Router.
	Strict Mode = iota

	// Router accepts what the real router accepts when loading a config
	// file, with the loader's coercions:
	//
	//   - Lines whose first non-blank character is '#' are ignored
	//     (config.py _parserawjson).
	//   - The non-standard JSON literals NaN, Infinity and -Infinity are
	//     numbers (Python's json.loads).
	//   - An entity array may have more than two elements; the extra ones
	//     are ignored (config.py reads only s[0] and s[1]).
	//   - Entity type and attribute names are camel-cased on ' ', '_', '-'
	//     and '.' separators, so "sasl-mechanisms" means "saslMechanisms"
	//     and "tcp_listener" means "tcpListener" (entity.py camelcase).
	//     A name repeated within one entity, before or after that, keeps
	//     its last value (Python dict).
	//   - null means "not set": the default applies, and a required
	//     attribute set to null is missing (schema.py EntityType.validate).
	//   - string, path and entityId attributes take any value and convert
	//     it with Python's str(): 5671 is "5671", true is "True".
	//   - integer attributes take what Python's int() takes: JSON integers;
	//     other finite numbers, truncated toward zero (5.9 is 5); booleans
	//     (true is 1); strings of decimal digits with optional surrounding
	//     whitespace, sign and single underscores between digits, any
	//     Unicode decimal digit counting ("3", " -3 ", "1_000"). The result
	//     must fit in int64.
	//   - boolean attributes take JSON booleans; the strings yes/true/on and
	//     no/false/off in any letter case (but not "1" or "0"); and, through
	//     Python's bool(), any number (0 is false), array or object (empty
	//     is false).
	//   - enumerated attributes take one of the allowed strings exactly, or
	//     anything int() accepts (above) used as an index into the allowed
	//     values, negative indexes counting from the end as in Python: for
	//     listener role, 1 and "1" mean "inter-router".
	//   - list attributes take what Python's list() takes: arrays, strings
	//     (as their characters) and objects (as their keys).
	//   - map attributes take what Python's dict() takes: objects, arrays of
	//     two-item sequences, and the empty string.
	//
	// properties attributes (openProperties) must be JSON objects in both
	// modes.
	Router
)

// String returns "Strict" or "Router".
func (m Mode) String() string {
	switch m {
	case Strict:
		return "Strict"
	case Router:
		return "Router"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// attrKind is an attribute's schema type.
type attrKind int

const (
	kString attrKind = iota
	kPath
	kEntityID
	kInteger
	kBoolean
	kMap
	kList
	kProperties
	kEnum
)

var kindByName = map[string]attrKind{
	"string":     kString,
	"path":       kPath,
	"entityId":   kEntityID,
	"integer":    kInteger,
	"boolean":    kBoolean,
	"map":        kMap,
	"dict":       kMap,
	"list":       kList,
	"properties": kProperties,
}

// attrDef is one attribute of an entity type, inherited ones included.
type attrDef struct {
	name     string
	kind     attrKind
	typeName string   // the schema's type name, or "enum"
	enum     []string // kEnum: allowed values, in schema order
	// required: the schema says "required" and there is no default, so
	// leaving it out is an error.
	required bool
	unique   bool
	// operational: the schema marks the attribute "create": false or
	// "graph": true; the router fills it in at run time.
	operational bool
}

// entityDef is one entity type that may appear in a config file.
type entityDef struct {
	schemaName string // key in the schema, e.g. "router.config.address"
	name       string // name in config files, e.g. "address"
	singleton  bool
	attrs      map[string]*attrDef
	attrNames  []string // sorted
}

// Schema is the parsed router management schema. It is immutable and safe
// for concurrent use.
type Schema struct {
	types map[string]*entityDef // by config-file name
	// operational holds schema type names that exist but may not appear in
	// a config file, for better messages.
	operational map[string]bool
	names       []string // sorted config-file names
}

var (
	loadOnce   sync.Once
	loadSchema *Schema
	loadErr    error
)

// Load returns the schema embedded in the package. It is parsed on the first
// call; every call returns the same *Schema (or the same error).
func Load() (*Schema, error) {
	loadOnce.Do(func() {
		loadSchema, loadErr = parseSchema(schemaJSON)
		if loadErr != nil {
			loadErr = fmt.Errorf("routerschema: embedded skrouter-schema.json: %w", loadErr)
		}
	})
	return loadSchema, loadErr
}

// EntityTypes returns, sorted, the entity type names a config file may use:
// the schema's configuration entity types by their short names, with
// "router.config.address" and "router.config.autoLink" written "address"
// and "autoLink" as the router's loader expects.
func (s *Schema) EntityTypes() []string {
	return append([]string(nil), s.names...)
}

type rawSchema struct {
	Prefix      string                   `json:"prefix"`
	EntityTypes map[string]rawEntityType `json:"entityTypes"`
}

type rawEntityType struct {
	Extends    string             `json:"extends"`
	Singleton  bool               `json:"singleton"`
	Deprecated bool               `json:"deprecated"`
	Attributes map[string]rawAttr `json:"attributes"`
}

type rawAttr struct {
	Type            json.RawMessage `json:"type"`
	Default         json.RawMessage `json:"default"`
	Value           json.RawMessage `json:"value"`
	Required        bool            `json:"required"`
	Unique          bool            `json:"unique"`
	Create          *bool           `json:"create"`
	Graph           bool            `json:"graph"`
	Deprecated      bool            `json:"deprecated"`
	DeprecationName string          `json:"deprecationName"`
}

// loaderAliases are the router.config.* types the loader maps short names
// to (config.py Config.transform_sections). Other router.config.* types
// cannot be written in a config file.
var loaderAliases = map[string]bool{"address": true, "autoLink": true, "exchange": true, "binding": true}

const routerConfigPrefix = "router.config."

func parseSchema(data []byte) (*Schema, error) {
	var raw rawSchema
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(raw.EntityTypes) == 0 {
		return nil, fmt.Errorf("no entityTypes")
	}
	s := &Schema{types: map[string]*entityDef{}, operational: map[string]bool{}}
	for schemaName, et := range raw.EntityTypes {
		chain, err := baseChain(raw.EntityTypes, schemaName)
		if err != nil {
			return nil, err
		}
		isConfig := false
		for _, b := range chain[1:] {
			if b == "configurationEntity" {
				isConfig = true
			}
		}
		name := schemaName
		if rest, ok := strings.CutPrefix(schemaName, routerConfigPrefix); ok {
			if !loaderAliases[rest] {
				isConfig = false
			}
			name = rest
		} else if camelCase(name) != name {
			isConfig = false // the loader's camelcase can never produce this name
		}
		if !isConfig || et.Deprecated {
			s.operational[schemaName] = true
			continue
		}
		def := &entityDef{schemaName: schemaName, name: name, singleton: et.Singleton, attrs: map[string]*attrDef{}}
		for _, typeName := range chain {
			for attrName, ra := range raw.EntityTypes[typeName].Attributes {
				if _, dup := def.attrs[attrName]; dup {
					return nil, fmt.Errorf("entity type %q: attribute %q defined twice along %v", schemaName, attrName, chain)
				}
				ad, err := parseAttr(attrName, ra)
				if err != nil {
					return nil, fmt.Errorf("entity type %q (from %q): %w", schemaName, typeName, err)
				}
				def.attrs[attrName] = ad
				def.attrNames = append(def.attrNames, attrName)
			}
		}
		if t := def.attrs["type"]; t != nil {
			// The loader sets "type" from the entity's first element
			// (schema.py gives it a fixed value), so it is never missing.
			t.required = false
		}
		sort.Strings(def.attrNames)
		if _, dup := s.types[name]; dup {
			return nil, fmt.Errorf("two entity types with config name %q", name)
		}
		s.types[name] = def
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	if s.types["router"] == nil {
		return nil, fmt.Errorf("no router entity type")
	}
	return s, nil
}

// baseChain returns name followed by its bases, nearest first.
func baseChain(types map[string]rawEntityType, name string) ([]string, error) {
	chain := []string{name}
	seen := map[string]bool{name: true}
	for cur := types[name].Extends; cur != ""; cur = types[cur].Extends {
		if _, ok := types[cur]; !ok {
			return nil, fmt.Errorf("entity type %q extends unknown type %q", name, cur)
		}
		if seen[cur] {
			return nil, fmt.Errorf("entity type %q: extends cycle through %q", name, cur)
		}
		seen[cur] = true
		chain = append(chain, cur)
	}
	return chain, nil
}

func parseAttr(name string, ra rawAttr) (*attrDef, error) {
	if ra.Deprecated || ra.DeprecationName != "" {
		return nil, fmt.Errorf("attribute %q: deprecated attributes are not supported", name)
	}
	ad := &attrDef{name: name, unique: ra.Unique, operational: (ra.Create != nil && !*ra.Create) || ra.Graph}
	var typeName string
	var enum []string
	if err := json.Unmarshal(ra.Type, &typeName); err == nil {
		k, ok := kindByName[typeName]
		if !ok {
			return nil, fmt.Errorf("attribute %q: unknown type %q", name, typeName)
		}
		ad.kind, ad.typeName = k, typeName
	} else if err := json.Unmarshal(ra.Type, &enum); err == nil && len(enum) > 0 {
		ad.kind, ad.typeName, ad.enum = kEnum, "enum", enum
	} else {
		return nil, fmt.Errorf("attribute %q: type is neither a type name nor a list of values: %s", name, ra.Type)
	}
	hasDefault := len(ra.Default) > 0 && string(ra.Default) != "null"
	hasValue := len(ra.Value) > 0 && string(ra.Value) != "null"
	ad.required = ra.Required && !hasDefault && !hasValue
	return ad, nil
}
