package expr

import (
	"sort"
	"strings"
	"testing"
)

// describe writes a type with its objects' fields, to compare structure.
func describe(t *Type) string {
	switch t.Kind() {
	case KindObject:
		var fs []string
		for _, n := range t.FieldNames() {
			f, _ := t.Field(n)
			fs = append(fs, n+": "+describe(f))
		}
		sort.Strings(fs)
		return t.Name() + "{" + strings.Join(fs, ", ") + "}"
	case KindList:
		return "list(" + describe(t.Elem()) + ")"
	case KindMap:
		return "map(" + describe(t.Key()) + ", " + describe(t.Elem()) + ")"
	}
	return t.String()
}

func TestFromSchema(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   string
	}{
		{"string", `{"type": "string"}`, "string"},
		{"date-time stays a string", `{"type": "string", "format": "date-time"}`, "string"},
		{"integer", `{"type": "integer", "format": "int64"}`, "int"},
		{"number", `{"type": "number"}`, "double"},
		{"boolean", `{"type": "boolean"}`, "bool"},
		{"null", `{"type": "null"}`, "null"},
		{"nullable", `{"type": ["string", "null"]}`, "string"},
		{"union", `{"type": ["string", "integer"]}`, "dyn"},
		{"no type", `{"description": "anything"}`, "dyn"},
		{"true", `true`, "dyn"},
		{"string enum", `{"enum": ["a", "b"]}`, "string"},
		{"mixed enum", `{"enum": ["a", 1]}`, "dyn"},
		{"const", `{"const": 3}`, "int"},
		{"object", `{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}`, "x{a: string, b: int}"},
		{"object without type", `{"properties": {"a": {"type": "string"}}}`, "x{a: string}"},
		{"nested object", `{"type": "object", "properties": {"addr": {"type": "object", "properties": {"city": {"type": "string"}}}}}`, "x{addr: x.addr{city: string}}"},
		{"list of objects", `{"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}}`, "list(x[]{id: int})"},
		{"list of strings", `{"type": "array", "items": {"type": "string"}}`, "list(string)"},
		{"list without items", `{"type": "array"}`, "list(dyn)"},
		{"tuple", `{"type": "array", "prefixItems": [{"type": "string"}]}`, "list(dyn)"},
		{"map", `{"type": "object", "additionalProperties": {"type": "integer"}}`, "map(string, int)"},
		{"map of objects", `{"type": "object", "additionalProperties": {"properties": {"v": {"type": "boolean"}}}}`, "map(string, x.*{v: bool})"},
		{"free object", `{"type": "object"}`, "map(string, dyn)"},
		{"free object with true", `{"type": "object", "additionalProperties": true}`, "map(string, dyn)"},
		{"empty properties", `{"type": "object", "properties": {}}`, "map(string, dyn)"},
		{"ref", `{"$defs": {"A": {"type": "object", "properties": {"n": {"type": "number"}}}}, "type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}`, "x{a: x.a{n: double}}"},
		{"ref to definitions", `{"definitions": {"S": {"type": "string"}}, "$ref": "#/definitions/S"}`, "string"},
		{"escaped pointer", `{"$defs": {"a/b": {"type": "integer"}}, "$ref": "#/$defs/a~1b"}`, "int"},
		{"unresolvable ref", `{"$ref": "#/$defs/Missing"}`, "dyn"},
		{"remote ref", `{"$ref": "https://example.com/s.json"}`, "dyn"},
		{"recursive ref", `{"$defs": {"Node": {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}, "$ref": "#/$defs/Node"}`, "x{children: list(dyn), name: string}"},
		{"self ref", `{"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "integer"}}}`, "x{next: dyn, v: int}"},
		{"allOf merges objects", `{"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"properties": {"b": {"type": "integer"}}}, {"required": ["a"]}]}`, "x{a: string, b: int}"},
		{"allOf with own properties", `{"type": "object", "properties": {"c": {"type": "boolean"}}, "allOf": [{"$ref": "#/$defs/B"}], "$defs": {"B": {"properties": {"a": {"type": "string"}}}}}`, "x{a: string, c: bool}"},
		{"allOf conflict", `{"allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"a": {"type": "integer"}}}]}`, "dyn"},
		{"allOf of one", `{"allOf": [{"type": "integer"}, {"minimum": 1}]}`, "int"},
		{"oneOf with null", `{"oneOf": [{"type": "string"}, {"type": "null"}]}`, "string"},
		{"anyOf union", `{"anyOf": [{"type": "string"}, {"type": "integer"}]}`, "dyn"},
		{"anyOf alike", `{"anyOf": [{"type": "string", "format": "email"}, {"type": "string", "format": "uri"}]}`, "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(FromSchema("x", decodeJSON(t, tt.schema)))
			if got != tt.want {
				t.Errorf("FromSchema = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFromSchemaDeterministic(t *testing.T) {
	s := decodeJSON(t, contactSchema)
	if !FromSchema("input", s).Equal(FromSchema("input", decodeJSON(t, contactSchema))) {
		t.Error("the same schema gave types that differ")
	}
	if FromSchema("input", s).Equal(FromSchema("other", s)) {
		t.Error("types of different names compare equal")
	}
}

func TestFromSchemaDeep(t *testing.T) {
	// A schema nested past maxSchemaDepth ends in dyn instead of recursing on.
	s := `{"type": "string"}`
	for range maxSchemaDepth + 5 {
		s = `{"type": "array", "items": ` + s + `}`
	}
	typ := FromSchema("x", decodeJSON(t, s))
	depth := 0
	for typ.Kind() == KindList {
		typ, depth = typ.Elem(), depth+1
	}
	if typ.Kind() != KindDyn || depth > maxSchemaDepth+1 {
		t.Errorf("innermost type %s at depth %d, want dyn by %d", typ, depth, maxSchemaDepth+1)
	}
}

// Types made by hand behave like types from schemas.
func TestObjectBuilder(t *testing.T) {
	env, err := NewEnv(map[string]*Type{"response": responseType})
	if err != nil {
		t.Fatal(err)
	}
	_, issues := env.Compile("${ response.stauts }", nil)
	if len(issues) != 1 || !strings.Contains(issues[0].Message, "did you mean 'status'") {
		t.Errorf("issues = %v", issues)
	}
	tm := mustCompile(t, env, "${ response.status >= 400 ? response.body.error : null }", nil)
	v, err := tm.Eval(map[string]any{"response": map[string]any{"status": int64(404), "body": map[string]any{"error": "gone"}}})
	if err != nil || v != "gone" {
		t.Errorf("Eval = %v, %v", v, err)
	}
}
