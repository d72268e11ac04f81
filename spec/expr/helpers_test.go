package expr

import (
	"encoding/json"
	"testing"
)

// contactSchema is the input of the universal create-contact action,
// grown with the shapes a mapping meets: nested objects, lists of objects,
// a map and a property that is not an identifier.
const contactSchema = `{
  "type": "object",
  "required": ["email"],
  "properties": {
    "email": {"type": "string", "format": "email"},
    "firstName": {"type": "string"},
    "lastName": {"type": ["string", "null"]},
    "age": {"type": "integer"},
    "score": {"type": "number"},
    "vip": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}},
    "phones": {"type": "array", "items": {"type": "object", "properties": {"kind": {"type": "string"}, "number": {"type": "string"}}}},
    "custom": {"type": "object", "additionalProperties": {"type": "string"}},
    "extra": {"type": "object"},
    "first-name": {"type": "string"}
  }
}`

func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// responseType is the hand-made type of `response`.
var responseType = Object("response", map[string]*Type{
	"status":  Int,
	"headers": MapOf(String, String),
	"body":    Dyn,
})

func testEnv(t testing.TB) *Env {
	t.Helper()
	env, err := NewEnv(map[string]*Type{
		"input":    FromSchema("input", decodeJSON(t, contactSchema)),
		"response": responseType,
		"now":      Timestamp,
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// testVars are decoded from JSON, as a request's are: numbers are float64.
func testVars(t testing.TB) map[string]any {
	t.Helper()
	return map[string]any{
		"input": decodeJSON(t, `{
			"email": "ada@example.com", "age": 36, "score": 9.5, "vip": true,
			"lastName": null,
			"tags": ["math", "engines"],
			"address": {"city": "London"},
			"phones": [{"kind": "home", "number": "123"}, {"kind": "work", "number": "456"}],
			"custom": {"favoriteColor": "green"},
			"extra": {"n": 2},
			"first-name": "Ada"
		}`),
		"response": map[string]any{
			"status":  200.0,
			"headers": map[string]string{"content-type": "application/json"},
			"body":    decodeJSON(t, `{"id": "c-1", "count": 3, "items": [{"id": 1}, {"id": 2.5}]}`),
		},
	}
}

func mustCompile(t testing.TB, env *Env, src string, want *Type) *Template {
	t.Helper()
	tm, issues := env.Compile(src, want)
	if issues != nil {
		t.Fatalf("Compile(%q): %v", src, issues)
	}
	return tm
}
