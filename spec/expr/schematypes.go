package expr

// FromSchema derives the CEL type of values that a JSON Schema (draft
// 2020-12, decoded as map[string]any, []any, strings, numbers and bools)
// describes, as Kubernetes does for OpenAPI schemas:
//
//   - object with properties → an object type named by its path (typeName,
//     typeName.address, typeName.items[], typeName.labels.*), so a misspelt
//     field is a compile error;
//   - object with only additionalProperties: S → map(string, S);
//     object with neither → map(string, dyn);
//   - array with items: S → list(S);
//   - string, integer, number, boolean, null → string, int, double, bool,
//     null; `type: [X, "null"]` → X;
//   - local `$ref` → the target (a recursive ref is dyn);
//   - allOf of objects → their fields merged; a oneOf/anyOf of one schema
//     (besides null) → that schema;
//   - anything else (unions, conflicts, remote refs) → dyn.
func FromSchema(typeName string, schema any) *Type {
	// The root is being expanded: a `$ref: '#'` inside it is a cycle.
	w := &schemaWalk{root: schema, stack: []string{"#"}, cutCycles: true}
	return w.typeOf(typeName, schema, 0)
}

func (w *schemaWalk) typeOf(path string, s any, depth int) *Type {
	if depth > maxSchemaDepth {
		return Dyn
	}
	m, pushed, ok := w.deref(node(s))
	if !ok || m == nil {
		return Dyn
	}
	defer w.leave(pushed)

	if all, ok := m["allOf"].([]any); ok {
		return w.allOf(path, m, all, depth)
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if bs, ok := branches(m, key); ok {
			if len(bs) != 1 {
				return w.sameType(path, bs, depth)
			}
			return w.typeOf(path, bs[0], depth+1)
		}
	}

	switch schemaKind(m) {
	case "string":
		return String
	case "integer":
		return Int
	case "number":
		return Double
	case "boolean":
		return Bool
	case "null":
		return Null
	case "array":
		if items := m["items"]; node(items) != nil {
			return ListOf(w.typeOf(path+"[]", items, depth+1))
		}
		return ListOf(Dyn)
	case "object":
		props := node(m["properties"])
		if len(props) == 0 {
			if ap := node(m["additionalProperties"]); ap != nil {
				return MapOf(String, w.typeOf(path+".*", ap, depth+1))
			}
			return MapOf(String, Dyn)
		}
		fields := make(map[string]*Type, len(props))
		for name, ps := range props {
			fields[name] = w.typeOf(path+"."+name, ps, depth+1)
		}
		return Object(path, fields)
	}
	return Dyn
}

// allOf merges the members of an allOf (and the schema's own keywords)
// into one type: objects merge their fields; members that do not
// constrain the type (no type, or a bare `type: object`) are skipped; any
// conflict is dyn.
func (w *schemaWalk) allOf(path string, m map[string]any, all []any, depth int) *Type {
	own := make(map[string]any, len(m))
	for k, v := range m {
		if k != "allOf" {
			own[k] = v
		}
	}
	parts := append([]any{own}, all...)
	var got []*Type
	for _, p := range parts {
		t := w.typeOf(path, p, depth+1)
		if t.kind == KindDyn || t.kind == KindMap && t.elem.kind == KindDyn && t.key.kind == KindString {
			continue
		}
		got = append(got, t)
	}
	switch {
	case len(got) == 0:
		if schemaKind(m) == "object" {
			return MapOf(String, Dyn)
		}
		return Dyn
	case len(got) == 1:
		return got[0]
	}
	if got[0].kind != KindObject {
		for _, t := range got[1:] {
			if !t.Equal(got[0]) {
				return Dyn
			}
		}
		return got[0]
	}
	fields := map[string]*Type{}
	for _, t := range got {
		if t.kind != KindObject {
			return Dyn
		}
		for name, f := range t.fields {
			if prev, ok := fields[name]; ok && !prev.Equal(f) {
				switch {
				case prev.kind == KindDyn:
				case f.kind == KindDyn:
					continue
				default:
					return Dyn
				}
			}
			fields[name] = f
		}
	}
	return Object(path, fields)
}

// sameType is the type shared by every member of a union, or dyn.
func (w *schemaWalk) sameType(path string, bs []any, depth int) *Type {
	if len(bs) == 0 {
		return Dyn
	}
	ts := make([]*Type, len(bs))
	for i, b := range bs {
		ts[i] = w.typeOf(path, b, depth+1)
	}
	for _, t := range ts[1:] {
		if !t.Equal(ts[0]) {
			return Dyn
		}
	}
	return ts[0]
}
