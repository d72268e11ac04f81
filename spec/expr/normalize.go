package expr

import (
	"encoding/json"
	"math"
	"strconv"
)

// Normalize makes the numbers of decoded JSON fit CEL. encoding/json gives
// float64 (or json.Number), but CEL has no overloads mixing int and double:
// with `count` decoded as 2.0, `input.count + 1` fails at run time ("no such
// overload"), and `input.count == 2` is true only thanks to heterogeneous
// equality. So where the schema says integer a number becomes int64, where
// it says number a float64, and where no schema says (dyn), an integral
// number becomes int64 and any other float64, the way a person reads JSON.
//
// Maps and slices are rewritten in place; the result is v with its numbers
// replaced (a number at the root is returned converted). A value that does
// not fit its schema is normalized as dyn and left for validation to
// report.
func Normalize(schema any, v any) any {
	w := &schemaWalk{root: schema}
	return w.normalize(schema, v, 0)
}

func (w *schemaWalk) normalize(s any, v any, depth int) any {
	m, pushed, ok := w.deref(node(s))
	if !ok || depth > maxSchemaDepth {
		m = nil
	}
	defer w.leave(pushed)
	if m != nil {
		for _, key := range []string{"oneOf", "anyOf"} {
			if bs, ok := branches(m, key); ok {
				if len(bs) == 1 {
					return w.normalize(bs[0], v, depth+1)
				}
				m = nil // a real union: the value decides
				break
			}
		}
	}
	kind := ""
	if m != nil {
		kind = schemaKind(m)
		if kind == "" {
			kind = allOfKind(m)
		}
	}

	switch x := v.(type) {
	case map[string]any:
		for k, fv := range x {
			x[k] = w.normalize(w.propertySchema(m, k), fv, depth+1)
		}
		return x
	case []any:
		var items any
		var prefix []any
		if m != nil {
			items = m["items"]
			prefix, _ = m["prefixItems"].([]any)
		}
		for i, e := range x {
			is := items
			if i < len(prefix) {
				is = prefix[i]
			}
			x[i] = w.normalize(is, e, depth+1)
		}
		return x
	}
	switch kind {
	case "integer":
		if i, ok := asInt(v); ok {
			return i
		}
	case "number":
		if f, ok := asFloat(v); ok {
			return f
		}
	}
	return normalizeNumber(v)
}

// propertySchema finds the schema of an object's key: a property of the
// schema or of an allOf member, else additionalProperties.
func (w *schemaWalk) propertySchema(m map[string]any, key string) any {
	if m == nil {
		return nil
	}
	if ps, ok := node(m["properties"])[key]; ok {
		return ps
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, a := range all {
			am, pushed, ok := w.deref(node(a))
			if !ok {
				continue
			}
			ps, found := node(am["properties"])[key]
			w.leave(pushed)
			if found {
				return ps
			}
		}
	}
	return m["additionalProperties"]
}

// allOfKind is the first type an allOf member states.
func allOfKind(m map[string]any) string {
	all, _ := m["allOf"].([]any)
	for _, a := range all {
		if k := schemaKind(node(a)); k != "" {
			return k
		}
	}
	return ""
}

// normalizeNumber converts a number with no schema: integral → int64,
// other → float64. Anything else is returned as is.
func normalizeNumber(v any) any {
	switch n := v.(type) {
	case float64:
		if i, ok := floatToInt(n); ok {
			return i
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i
		}
		if f, err := n.Float64(); err == nil {
			if i, ok := floatToInt(f); ok {
				return i
			}
			return f
		}
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float32:
		return normalizeNumber(float64(n))
	}
	return v
}

// floatToInt converts an integral float that int64 holds exactly.
func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// asInt converts any integral number to int64.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	case float64:
		return floatToInt(n)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := strconv.ParseFloat(string(n), 64); err == nil {
			return floatToInt(f)
		}
	}
	return 0, false
}

// asFloat converts any number to float64.
func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
