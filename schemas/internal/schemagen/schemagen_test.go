package schemagen

import (
	"strings"
	"testing"
	"testing/fstest"
)

const defs = `{
  "$comment": "shared",
  "$defs": {
    "key": {"type": "string"},
    "template": {"type": "string", "pattern": "x"},
    "headers": {"type": "object", "additionalProperties": {"$ref": "#/$defs/template"}},
    "request": {"properties": {"headers": {"$ref": "#/$defs/headers"}, "path": {"$ref": "#/$defs/template"}}}
  }
}`

func gen(t *testing.T, files map[string]string) (map[string]string, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	out, err := Generate(fsys)
	got := map[string]string{}
	for _, f := range out {
		got[f.Name] = string(f.Data)
	}
	return got, err
}

// A schema gets the shared definitions it refers to, and those they refer
// to, before its own, in defs.json's order; its keys keep their order.
func TestGenerateInlines(t *testing.T) {
	got, err := gen(t, map[string]string{
		"defs.json": defs,
		"a.schema.json": `{"title": "A <b>", "properties": {"r": {"$ref": "defs.json#/$defs/request"}, "s": {"$ref": "#/$defs/step"}},
			"$defs": {"step": {"properties": {"k": {"$ref": "defs.json#/$defs/key"}, "n": 1.50}}}, "additionalProperties": false}`,
		"b.schema.json": `{"properties": {"k": {"$ref": "defs.json#/$defs/key"}}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantA := `{
  "title": "A <b>",
  "properties": {
    "r": {
      "$ref": "#/$defs/request"
    },
    "s": {
      "$ref": "#/$defs/step"
    }
  },
  "$defs": {
    "key": {
      "type": "string"
    },
    "template": {
      "type": "string",
      "pattern": "x"
    },
    "headers": {
      "type": "object",
      "additionalProperties": {
        "$ref": "#/$defs/template"
      }
    },
    "request": {
      "properties": {
        "headers": {
          "$ref": "#/$defs/headers"
        },
        "path": {
          "$ref": "#/$defs/template"
        }
      }
    },
    "step": {
      "properties": {
        "k": {
          "$ref": "#/$defs/key"
        },
        "n": 1.50
      }
    }
  },
  "additionalProperties": false
}
`
	if got["a.schema.json"] != wantA {
		t.Errorf("a.schema.json:\n%s\nwant:\n%s", got["a.schema.json"], wantA)
	}
	wantB := "{\n  \"properties\": {\n    \"k\": {\n      \"$ref\": \"#/$defs/key\"\n    }\n  },\n  \"$defs\": {\n    \"key\": {\n      \"type\": \"string\"\n    }\n  }\n}\n"
	if got["b.schema.json"] != wantB {
		t.Errorf("b.schema.json:\n%s\nwant:\n%s", got["b.schema.json"], wantB)
	}
}

func TestGenerateRefuses(t *testing.T) {
	cases := []struct {
		name   string
		files  map[string]string
		errHas string
	}{
		{"unknown shared definition", map[string]string{"defs.json": defs,
			"a.schema.json": `{"properties": {"a": {"$ref": "defs.json#/$defs/nope"}, "b": {"$ref": "defs.json#/$defs/request"}, "c": {"$ref": "defs.json#/$defs/key"}}}`},
			`a.schema.json: $ref "defs.json#/$defs/nope": defs.json defines no nope`},
		{"unknown local definition", map[string]string{"defs.json": defs,
			"a.schema.json": `{"properties": {"a": {"$ref": "#/$defs/request"}, "b": {"$ref": "defs.json#/$defs/request"}, "c": {"$ref": "defs.json#/$defs/key"}}}`},
			`a.schema.json: $ref "#/$defs/request" points to nothing`},
		{"another file", map[string]string{"defs.json": defs,
			"a.schema.json": `{"properties": {"a": {"$ref": "other.json#/$defs/x"}, "b": {"$ref": "defs.json#/$defs/request"}, "c": {"$ref": "defs.json#/$defs/key"}}}`},
			`$ref "other.json#/$defs/x" points to nothing`},
		{"a local copy of a shared definition", map[string]string{"defs.json": defs,
			"a.schema.json": `{"properties": {"b": {"$ref": "defs.json#/$defs/request"}, "c": {"$ref": "defs.json#/$defs/key"}}, "$defs": {"key": {}}}`},
			`a.schema.json: $defs/key is defined in defs.json too`},
		{"an unused shared definition", map[string]string{"defs.json": defs,
			"a.schema.json": `{"properties": {"b": {"$ref": "defs.json#/$defs/headers"}}}`},
			`defs.json: no schema uses $defs/key`},
		{"a shared definition referring outside", map[string]string{
			"defs.json":     `{"$defs": {"a": {"$ref": "#/$defs/b"}}}`,
			"a.schema.json": `{"$ref": "defs.json#/$defs/a"}`},
			`defs.json: $ref "#/$defs/b": a shared definition may only refer to another`},
		{"a duplicate key", map[string]string{"defs.json": defs,
			"a.schema.json": `{"type": "object", "type": "string"}`},
			`a.schema.json: duplicate key "type"`},
		{"no sources", map[string]string{"defs.json": defs}, "no *.schema.json sources"},
		{"no defs.json", map[string]string{"a.schema.json": `{}`}, "defs.json"},
		{"something else in defs.json", map[string]string{"defs.json": `{"$defs": {}, "type": "object"}`, "a.schema.json": `{}`},
			`defs.json: unexpected key "type"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := gen(t, c.files)
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("error %v, want one containing %q", err, c.errHas)
			}
		})
	}
}
