package quickschema

// A quick schema must never call valid what the JSON Schema validator
// refuses.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/membrane-dev/membrane/runtime/internal/fastjson/jsongen"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/tree"
)

// a quick schema never calls valid what the JSON Schema validator refuses.
func TestQuickSchemaNeverContradicts(t *testing.T) {
	schemas := []string{
		`{"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "minLength": 3}, "age": {"type": "integer"}, "score": {"type": "number"}, "vip": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}}, "kind": {"enum": ["a", "b"]}, "x": {"type": ["string", "null"], "maxLength": 2}}}`,
		`{"type": "object", "additionalProperties": false, "properties": {"0": {"type": "integer"}, "1": {}}}`,
		`{"type": "object", "additionalProperties": {"type": "number"}}`,
		`{"type": "array", "items": {"type": "object", "properties": {"1": {"type": "string"}}}}`,
		`{"type": ["integer", "string"]}`,
		`{"type": "integer"}`,
		`{"type": "number"}`,
		`{"type": "null"}`,
		`{"properties": {"2": false}}`,
		`true`,
		`{"title": "x", "description": "y", "format": "email", "type": "string"}`,
		`{"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "format": "email"}, "site": {"format": "uri"}, "at": {"type": ["string", "null"], "format": "date-time"}, "day": {"format": "date"}, "id": {"format": "uuid"}, "ip": {"format": "ipv4"}, "host": {"format": "hostname"}, "pw": {"type": "string", "format": "password"}}}`,
		`{"type": "array", "items": {"type": "string", "format": "email"}}`,
	}
	for _, f := range quickFormats {
		schemas = append(schemas, fmt.Sprintf(`{"format": %q}`, f))
	}
	values := []any{
		nil, true, int64(3), 3.0, 3.5, "ab", "abc", "ééé", []any{"a"}, []any{1.0},
		map[string]any{"email": "a@b.c"}, map[string]any{"email": "a"}, map[string]any{"email": "a@b.c", "age": int64(3), "score": 2.5, "vip": true, "tags": []any{"x"}, "kind": "a", "x": nil},
		map[string]any{"email": "a@b.c", "age": 3.0}, map[string]any{"email": "a@b.c", "age": 3.5}, map[string]any{"email": "a@b.c", "kind": "c"},
		map[string]any{"email": "a@b.c", "x": "abc"}, map[string]any{"0": int64(1)}, map[string]any{"0": int64(1), "9": 1}, map[string]any{"2": nil},
		map[string]any{"a": 1.5, "b": int64(2)}, map[string]any{"a": "x"}, []any{map[string]any{"1": "x"}}, []any{map[string]any{"1": int64(1)}},
		json.Number("3"), 3, float32(1.5), map[string]string{"a": "b"},
		"not-an-email", "ada@example.com", "https://example.com/x", "/relative", "2024-06-20T10:00:00Z", "2024-13-01",
		"2024-06-20", "3b241101-e2bb-4255-8caf-4136c566a962", "127.0.0.1", "256.1.1.1", "example.com", "-bad-.com", "",
		map[string]any{"email": "not-an-email"}, map[string]any{"email": "a@b.c", "site": "no scheme"}, map[string]any{"email": "a@b.c", "at": "yesterday"},
		map[string]any{"email": "a@b.c", "at": nil, "day": "2024-02-30", "id": "x", "ip": "1.2.3", "host": "a..b", "pw": "anything"},
		[]any{"a@b.c", "nope"}, []any{"a@b.c"},
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		values = append(values, jsongen.Value(rnd))
	}
	for _, src := range schemas {
		var doc any
		if err := json.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		doc = expr.Normalize(nil, doc)
		q := Compile(doc)
		if q == nil {
			t.Errorf("%s: no quick schema", src)
			continue
		}
		v, _ := tree.FromInterface(doc, diag.Pos{})
		var diags diag.List
		full := (&spec.Schema{Value: v}).Compile(&diags)
		if full == nil {
			t.Fatalf("%s: %v", src, diags)
		}
		for _, val := range values {
			if q.Valid(val) {
				if err := full.Validate(val); err != nil {
					t.Errorf("%s: quick says %#v is valid; the validator: %v", src, val, err)
				}
			}
		}
	}
	for _, src := range []string{`{"pattern": "a"}`, `{"$ref": "#/$defs/a"}`, `{"minimum": 1}`, `{"properties": {"a": {"oneOf": []}}}`, `{"enum": [1]}`, `{"format": "regex"}`, `{"format": 1}`} {
		var doc any
		json.Unmarshal([]byte(src), &doc)
		if Compile(doc) != nil {
			t.Errorf("%s: a quick schema for a keyword it does not know", src)
		}
	}
}

// quickFormats are the formats the fuzz target tries; "phone" and
// "password" are no format the validator knows, so annotations.
var quickFormats = []string{"email", "idn-email", "uri", "uri-reference", "iri", "date-time", "date", "time", "duration", "uuid",
	"ipv4", "ipv6", "hostname", "idn-hostname", "json-pointer", "relative-json-pointer", "uri-template", "semver", "period", "phone", "password"}

// FuzzQuickSchemaFormats: for every format, a a quick schema never calls
// valid a string the JSON Schema validator refuses.
func FuzzQuickSchemaFormats(f *testing.F) {
	for i, s := range []string{"a@b.c", "not-an-email", "https://x.test/a?b#c", "2024-06-20T10:00:00+02:00", "::1", "1.2.3.4", "P1D", "/a/~1b", "0/x", "{x}", "1.2.3-rc.1"} {
		f.Add(uint8(i), s)
	}
	schemas := make([]*jsonschemaPair, len(quickFormats))
	for i, name := range quickFormats {
		schemas[i] = compilePair(f, fmt.Sprintf(`{"type": "string", "format": %q}`, name))
	}
	f.Fuzz(func(t *testing.T, which uint8, s string) {
		p := schemas[int(which)%len(schemas)]
		if p.quick.Valid(s) {
			if err := p.full.Validate(s); err != nil {
				t.Fatalf("%s: quick says %q is valid; the validator: %v", p.src, s, err)
			}
		}
	})
}

type jsonschemaPair struct {
	src   string
	quick *Schema
	full  interface{ Validate(any) error }
}

func compilePair(tb testing.TB, src string) *jsonschemaPair {
	var doc any
	if err := json.Unmarshal([]byte(src), &doc); err != nil {
		tb.Fatal(err)
	}
	q := Compile(doc)
	if q == nil {
		tb.Fatalf("%s: no quick schema", src)
	}
	v, _ := tree.FromInterface(doc, diag.Pos{})
	var diags diag.List
	full := (&spec.Schema{Value: v}).Compile(&diags)
	if full == nil {
		tb.Fatalf("%s: %v", src, diags)
	}
	return &jsonschemaPair{src: src, quick: q, full: full}
}

// BenchmarkQuickSchemaFormat: what checking a format costs a run's input
// on the quick path, against the same schema without the format and
// against the general validator.
func BenchmarkQuickSchemaFormat(b *testing.B) {
	in := map[string]any{"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "age": int64(36)}
	for _, c := range []struct{ name, email string }{
		{"plain", `{"type": "string"}`},
		{"email", `{"type": "string", "format": "email"}`},
	} {
		p := compilePair(b, `{"type": "object", "required": ["email"], "properties": {"email": `+c.email+`, "firstName": {"type": "string"}, "lastName": {"type": "string"}, "age": {"type": "integer"}}}`)
		b.Run("quick/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if !p.quick.Valid(in) {
					b.Fatal("not valid")
				}
			}
		})
		b.Run("validator/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := p.full.Validate(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
