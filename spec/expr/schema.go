package expr

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxSchemaDepth bounds how deep FromSchema and Normalize descend; past it
// a schema is dyn. It guards against pathological and recursive schemas.
const maxSchemaDepth = 32

// maxRefHops bounds a chain of refs to refs (a → b → a never ends).
const maxRefHops = 16

// schemaWalk holds what resolving a schema needs: the root for local
// `$ref`s and the refs being expanded.
type schemaWalk struct {
	root any
	// stack holds the refs being expanded; with cutCycles a ref already on
	// it is not followed again. FromSchema cuts cycles (a type is finite);
	// Normalize follows them, as deep as the data goes.
	stack     []string
	cutCycles bool
}

// node returns s as a schema object; true, {} and non-objects are nil,
// meaning "anything".
func node(s any) map[string]any {
	m, _ := s.(map[string]any)
	return m
}

// deref follows m's `$ref` chain within the root schema. ok is false when a
// ref cannot be resolved or closes a cycle; when ok, leave(pushed) must
// undo what deref pushed.
func (w *schemaWalk) deref(m map[string]any) (out map[string]any, pushed int, ok bool) {
	for hops := 0; m != nil; hops++ {
		ref, isRef := m["$ref"].(string)
		if !isRef {
			return m, pushed, true
		}
		target, found := resolvePointer(w.root, ref)
		if !found || hops >= maxRefHops || w.cutCycles && slices.Contains(w.stack, ref) {
			w.leave(pushed)
			return nil, 0, false
		}
		w.stack = append(w.stack, ref)
		pushed++
		m = node(target)
	}
	return nil, pushed, true
}

// resolvePointer resolves a local ref ("#", "#/$defs/Address") in root.
func resolvePointer(root any, ref string) (any, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false // remote refs are not followed
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	if frag == "" {
		return root, true
	}
	if frag[0] != '/' {
		return nil, false // anchors are not supported
	}
	cur := root
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// schemaKind is the JSON type a schema node admits: "object", "array",
// "string", "integer", "number", "boolean", "null", or "" when it admits
// several or does not say. A type list with "null" is its other member.
func schemaKind(m map[string]any) string {
	switch t := m["type"].(type) {
	case string:
		return t
	case []any:
		kind := ""
		hasNull := false
		for _, x := range t {
			s, _ := x.(string)
			switch {
			case s == "null":
				hasNull = true
			case kind == "" || kind == s:
				kind = s
			default:
				return ""
			}
		}
		if kind == "" && hasNull {
			return "null"
		}
		return kind
	case nil:
		// No type: infer from the keywords that only make sense for one.
		if _, ok := m["properties"]; ok {
			return "object"
		}
		if _, ok := m["additionalProperties"]; ok {
			return "object"
		}
		if _, ok := m["items"]; ok {
			return "array"
		}
		if _, ok := m["prefixItems"]; ok {
			return "array"
		}
		if c, ok := m["const"]; ok {
			return valueKind(c)
		}
		if e, ok := m["enum"].([]any); ok && len(e) > 0 {
			kind := valueKind(e[0])
			for _, x := range e[1:] {
				if k := valueKind(x); k != kind {
					if kind == "integer" && k == "number" || kind == "number" && k == "integer" {
						kind = "number"
						continue
					}
					return ""
				}
			}
			return kind
		}
	}
	return ""
}

// valueKind is the JSON type of a decoded value.
func valueKind(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case float64:
		if _, ok := floatToInt(x); ok {
			return "integer"
		}
		return "number"
	case float32:
		return "number"
	}
	if _, ok := asInt(v); ok {
		return "integer"
	}
	if _, ok := asFloat(v); ok {
		return "number"
	}
	return ""
}

// branches returns the members of a oneOf or anyOf that are not just
// {type: null}: a nullable union of one schema is that schema.
func branches(m map[string]any, key string) ([]any, bool) {
	list, ok := m[key].([]any)
	if !ok {
		return nil, false
	}
	var out []any
	for _, b := range list {
		if bm := node(b); len(bm) == 1 && bm["type"] == "null" {
			continue
		}
		out = append(out, b)
	}
	return out, true
}

func (w *schemaWalk) leave(pushed int) { w.stack = w.stack[:len(w.stack)-pushed] }
