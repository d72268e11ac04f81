package expr

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		value  string
		want   any
	}{
		{"integer", `{"type": "integer"}`, `3`, int64(3)},
		{"number stays double", `{"type": "number"}`, `3`, 3.0},
		{"fractional integer is left for validation", `{"type": "integer"}`, `3.5`, 3.5},
		{"no schema: integral", `true`, `3`, int64(3)},
		{"no schema: fraction", `{}`, `3.25`, 3.25},
		{"no schema: huge", `{}`, `1e300`, 1e300},
		{"string is untouched", `{"type": "string"}`, `"3"`, "3"},
		{"mismatch is normalized as dyn", `{"type": "string"}`, `3`, int64(3)},
		{"object", `{"type": "object", "properties": {"n": {"type": "number"}, "i": {"type": "integer"}}}`,
			`{"n": 1, "i": 2, "other": 3, "f": 0.5}`, map[string]any{"n": 1.0, "i": int64(2), "other": int64(3), "f": 0.5}},
		{"additionalProperties", `{"type": "object", "additionalProperties": {"type": "number"}}`,
			`{"a": 1, "b": 2}`, map[string]any{"a": 1.0, "b": 2.0}},
		{"array", `{"type": "array", "items": {"type": "number"}}`, `[1, 2.5]`, []any{1.0, 2.5}},
		{"prefixItems", `{"type": "array", "prefixItems": [{"type": "number"}], "items": {"type": "integer"}}`, `[1, 2, 3]`, []any{1.0, int64(2), int64(3)}},
		{"nested", `{"properties": {"xs": {"items": {"properties": {"p": {"type": "number"}}}}}}`,
			`{"xs": [{"p": 1, "q": 1}]}`, map[string]any{"xs": []any{map[string]any{"p": 1.0, "q": int64(1)}}}},
		{"nullable", `{"type": ["number", "null"]}`, `2`, 2.0},
		{"null", `{"type": ["number", "null"]}`, `null`, nil},
		{"ref", `{"$defs": {"N": {"type": "number"}}, "properties": {"a": {"$ref": "#/$defs/N"}}}`, `{"a": 4}`, map[string]any{"a": 4.0}},
		{"recursive ref follows the data", `{"$defs": {"T": {"properties": {"v": {"type": "number"}, "kids": {"items": {"$ref": "#/$defs/T"}}}}}, "$ref": "#/$defs/T"}`,
			`{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}`,
			map[string]any{"v": 1.0, "kids": []any{map[string]any{"v": 2.0, "kids": []any{map[string]any{"v": 3.0}}}}}},
		{"ref cycle", `{"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}`, `2`, int64(2)},
		{"allOf property", `{"allOf": [{"properties": {"a": {"type": "number"}}}, {"properties": {"b": {"type": "integer"}}}]}`,
			`{"a": 1, "b": 2}`, map[string]any{"a": 1.0, "b": int64(2)}},
		{"oneOf of one", `{"oneOf": [{"type": "number"}, {"type": "null"}]}`, `5`, 5.0},
		{"union decides by value", `{"anyOf": [{"type": "number"}, {"type": "string"}]}`, `5`, int64(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(decodeJSON(t, tt.schema), decodeJSON(t, tt.value))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Normalize = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestNormalizeJSONNumber(t *testing.T) {
	d := json.NewDecoder(strings.NewReader(`{"i": 9007199254740993, "n": 2, "d": 1.5, "big": 1e400}`))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	schema := decodeJSON(t, `{"properties": {"n": {"type": "number"}}}`)
	got := Normalize(schema, v)
	// 2^53+1 survives as an int64, which float64 would have rounded.
	want := map[string]any{"i": int64(9007199254740993), "n": 2.0, "d": 1.5, "big": json.Number("1e400")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Normalize = %#v, want %#v", got, want)
	}
}

// Why Normalize exists: CEL has no int + double overload, so a JSON
// integer decoded as float64 breaks arithmetic with int literals.
func TestNormalizeMakesArithmeticWork(t *testing.T) {
	env, err := NewEnv(map[string]*Type{"body": Dyn})
	if err != nil {
		t.Fatal(err)
	}
	tm := mustCompile(t, env, "${ body.count + 1 }", nil)
	raw := decodeJSON(t, `{"count": 2}`)
	if _, err := tm.Eval(map[string]any{"body": raw}); err == nil || !strings.Contains(err.Error(), "no such overload") {
		t.Fatalf("without Normalize: %v, want no such overload", err)
	}
	v, err := tm.Eval(map[string]any{"body": Normalize(nil, raw)})
	if err != nil || v != int64(3) {
		t.Fatalf("with Normalize: %v, %v; want 3", v, err)
	}
}

func TestNormalizeInPlace(t *testing.T) {
	m := map[string]any{"a": 1.0}
	Normalize(nil, m)
	if m["a"] != int64(1) {
		t.Errorf("the map was not rewritten in place: %#v", m)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(m); err != nil || buf.String() != "{\"a\":1}\n" {
		t.Errorf("normalized values encode as %q, %v", buf.String(), err)
	}
}
