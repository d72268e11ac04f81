// Package quickschema vouches for values of the simple JSON Schemas most
// actions declare without the general validator, which costs several
// allocations per keyword and value. It only ever says "valid" where the
// validator would; otherwise the caller runs the validator, which gives
// the verdict and the violations.
package quickschema

import (
	"math"
	"sync"
	"unicode/utf8"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Schema vouches for values of the simple JSON Schemas most actions
// declare (types, properties, required, items, additionalProperties,
// string enums, lengths and formats) without the general validator, which
// costs several allocations per keyword and value. It only ever says "valid"
// where the JSON Schema validator would; when it cannot tell, or the value
// is invalid, the caller runs the real validator, which gives the verdict
// and the violations. A schema with any other keyword gets no Schema.
type Schema struct {
	types     uint8 // qt* bits; 0 is any type
	props     map[string]*Schema
	propList  []prop // props, to walk when no other key matters
	required  []string
	addlFalse bool    // additionalProperties: false
	addl      *Schema // additionalProperties: {…}
	items     *Schema
	enum      []string        // string values only
	minLen    int             // -1: none
	maxLen    int             // -1: none
	format    func(any) error // the validator's own check, or nil
	never     bool            // the schema `false`
}

type prop struct {
	name string
	s    *Schema
}

const (
	qtNull uint8 = 1 << iota
	qtBool
	qtInt
	qtNumber
	qtString
	qtArray
	qtObject
)

// annotations are keywords that never make a value invalid. (format does:
// Membrane's schemas assert it, see spec.Schema.Compile.)
var annotations = map[string]bool{
	"title": true, "description": true, "default": true, "examples": true, "deprecated": true,
	"readOnly": true, "writeOnly": true, "$comment": true,
	"contentMediaType": true, "contentEncoding": true,
}

// formatChecks caches, by format name, the check the JSON Schema validator
// runs for it (a func(any) error), or a nil func for a format it does not
// know, which stays an annotation.
var formatChecks sync.Map

// formatCheck returns the validator's own check of a format: a Schema
// calls the very function the validator would, so its verdict on a format
// is the validator's. ok is false when the format cannot be checked here.
func formatCheck(name string) (check func(any) error, ok bool) {
	if name == "regex" {
		return nil, false // the validator checks it with its regexp engine
	}
	if c, found := formatChecks.Load(name); found {
		return c.(func(any) error), true
	}
	var diags diag.List
	v := &tree.Value{Kind: tree.Map, Fields: []tree.Field{{Key: "format", Value: &tree.Value{Kind: tree.String, Str: name}}}}
	sch := (&spec.Schema{Value: v}).Compile(&diags)
	if sch == nil {
		return nil, false
	}
	check = sch.FormatCheck()
	formatChecks.Store(name, check)
	return check, true
}

// Compile returns the Schema of a decoded JSON Schema, or nil
// when it uses anything beyond the simple keywords.
func Compile(s any) *Schema {
	switch v := s.(type) {
	case bool:
		return &Schema{never: !v, minLen: -1, maxLen: -1}
	case map[string]any:
		q := &Schema{minLen: -1, maxLen: -1}
		for k, x := range v {
			if annotations[k] {
				continue
			}
			switch k {
			case "type":
				if !q.setTypes(x) {
					return nil
				}
			case "properties":
				m, ok := x.(map[string]any)
				if !ok {
					return nil
				}
				q.props = make(map[string]*Schema, len(m))
				for name, ps := range m {
					if q.props[name] = Compile(ps); q.props[name] == nil {
						return nil
					}
					q.propList = append(q.propList, prop{name, q.props[name]})
				}
			case "required":
				var ok bool
				if q.required, ok = stringList(x); !ok {
					return nil
				}
			case "additionalProperties":
				if b, ok := x.(bool); ok {
					q.addlFalse = !b
				} else if q.addl = Compile(x); q.addl == nil {
					return nil
				}
			case "items":
				if q.items = Compile(x); q.items == nil {
					return nil
				}
			case "enum":
				var ok bool
				if q.enum, ok = stringList(x); !ok {
					return nil // enums of other values go to the full validator
				}
			case "format":
				name, ok := x.(string)
				if !ok {
					return nil
				}
				if q.format, ok = formatCheck(name); !ok {
					return nil
				}
			case "minLength", "maxLength":
				n, ok := schemaInt(x)
				if !ok {
					return nil
				}
				if k == "minLength" {
					q.minLen = n
				} else {
					q.maxLen = n
				}
			default:
				return nil
			}
		}
		return q
	}
	return nil
}

func (q *Schema) setTypes(x any) bool {
	var names []any
	switch t := x.(type) {
	case string:
		names = []any{t}
	case []any:
		names = t
	default:
		return false
	}
	for _, n := range names {
		switch n {
		case "null":
			q.types |= qtNull
		case "boolean":
			q.types |= qtBool
		case "integer":
			q.types |= qtInt
		case "number":
			q.types |= qtNumber
		case "string":
			q.types |= qtString
		case "array":
			q.types |= qtArray
		case "object":
			q.types |= qtObject
		default:
			return false
		}
	}
	return len(names) > 0
}

func schemaInt(x any) (int, bool) {
	switch n := x.(type) {
	case int64:
		return int(n), n >= 0
	case int:
		return n, n >= 0
	case float64:
		return int(n), n >= 0 && n == math.Trunc(n) && n < 1<<31
	}
	return 0, false
}

// valid reports whether v certainly satisfies the schema. False means
// invalid or unsure.
func (q *Schema) Valid(v any) bool {
	if q == nil || q.never {
		return false
	}
	var t uint8
	switch x := v.(type) {
	case nil:
		t = qtNull
	case bool:
		t = qtBool
	case int64, int:
		t = qtInt | qtNumber
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
		t = qtNumber // integral floats are integers too: left to the validator
	case string:
		t = qtString
		if q.minLen >= 0 || q.maxLen >= 0 {
			n := utf8.RuneCountInString(x)
			if (q.minLen >= 0 && n < q.minLen) || (q.maxLen >= 0 && n > q.maxLen) {
				return false
			}
		}
	case []any:
		t = qtArray
		if q.items != nil {
			for _, it := range x {
				if !q.items.Valid(it) {
					return false
				}
			}
		}
	case map[string]any:
		t = qtObject
		for _, r := range q.required {
			if _, ok := x[r]; !ok {
				return false
			}
		}
		if !q.addlFalse && q.addl == nil {
			// Only the declared properties are checked: look them up.
			for _, p := range q.propList {
				if fv, ok := x[p.name]; ok && !p.s.Valid(fv) {
					return false
				}
			}
		} else if q.props != nil || q.addlFalse || q.addl != nil {
			for k, fv := range x {
				if ps, ok := q.props[k]; ok {
					if !ps.Valid(fv) {
						return false
					}
				} else if q.addlFalse || (q.addl != nil && !q.addl.Valid(fv)) {
					return false
				}
			}
		}
	default:
		return false // a Go type the validator may see differently
	}
	if q.types != 0 && q.types&t == 0 {
		return false
	}
	if q.format != nil && q.format(v) != nil {
		return false
	}
	if q.enum != nil {
		s, ok := v.(string)
		if !ok {
			return false
		}
		found := false
		for _, e := range q.enum {
			if e == s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// stringList reads a JSON list of strings.
func stringList(x any) ([]string, bool) {
	l, ok := x.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		str, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, str)
	}
	return out, true
}
