package expr

// Normalizer is Normalize for one schema, prepared once: an action
// normalizes every run's input against the same schema, and walking the
// schema's maps for each value costs more than the values themselves. A
// schema with $ref, allOf, anyOf or oneOf, or deeper than Normalize
// descends, is walked as Normalize walks it.
type Normalizer struct {
	schema any
	root   *normNode
	simple bool
}

// normNode is a schema node of the simple kind; nil is dyn (no schema).
type normNode struct {
	kind   string
	props  map[string]*normNode // properties that have a schema node
	listed map[string]bool      // every property named, with or without one
	addl   *normNode            // additionalProperties
	items  *normNode
	prefix []*normNode
}

// NewNormalizer prepares Normalize for schema.
func NewNormalizer(schema any) *Normalizer {
	n := &Normalizer{schema: schema}
	n.root, n.simple = compileNorm(schema, 0)
	return n
}

func compileNorm(s any, depth int) (*normNode, bool) {
	m := node(s)
	if m == nil || depth > maxSchemaDepth {
		return nil, true
	}
	for _, k := range []string{"$ref", "allOf", "anyOf", "oneOf"} {
		if _, ok := m[k]; ok {
			return nil, false
		}
	}
	n := &normNode{kind: schemaKind(m)}
	if ps := node(m["properties"]); ps != nil {
		n.props = make(map[string]*normNode, len(ps))
		n.listed = make(map[string]bool, len(ps))
		for k, p := range ps {
			c, ok := compileNorm(p, depth+1)
			if !ok {
				return nil, false
			}
			n.listed[k] = true
			if c != nil {
				n.props[k] = c
			}
		}
	}
	var ok bool
	if n.addl, ok = compileNorm(m["additionalProperties"], depth+1); !ok {
		return nil, false
	}
	if n.items, ok = compileNorm(m["items"], depth+1); !ok {
		return nil, false
	}
	if prefix, isList := m["prefixItems"].([]any); isList {
		n.prefix = make([]*normNode, len(prefix))
		for i, p := range prefix {
			if n.prefix[i], ok = compileNorm(p, depth+1); !ok {
				return nil, false
			}
		}
	}
	return n, true
}

// NormalizeCopy returns Normalize(schema, c) where c is v with its maps
// and lists copied (a nil map or list becomes an empty one): v itself is
// left as it is. A nil Normalizer has no schema.
func (n *Normalizer) NormalizeCopy(v any) any {
	if n == nil {
		return (*normNode)(nil).normalizeCopy(v)
	}
	if !n.simple {
		return Normalize(n.schema, copyValue(v))
	}
	return n.root.normalizeCopy(v)
}

func (n *normNode) normalizeCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, fv := range x {
			out[k] = n.property(k).normalizeCopy(fv)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			is := n.item(i)
			out[i] = is.normalizeCopy(e)
		}
		return out
	}
	if n != nil {
		switch n.kind {
		case "integer":
			if i, ok := asInt(v); ok {
				return i
			}
		case "number":
			if f, ok := asFloat(v); ok {
				return f
			}
		}
	}
	return normalizeNumber(v)
}

// property is propertySchema's choice: the property's schema, else
// additionalProperties.
func (n *normNode) property(k string) *normNode {
	if n == nil {
		return nil
	}
	if n.listed[k] {
		return n.props[k]
	}
	return n.addl
}

func (n *normNode) item(i int) *normNode {
	if n == nil {
		return nil
	}
	if i < len(n.prefix) {
		return n.prefix[i]
	}
	return n.items
}

// copyValue copies the maps and lists of a JSON-like value.
func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = copyValue(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = copyValue(x)
		}
		return out
	}
	return v
}
