package expr

import (
	"encoding/json"
	"strings"
	"testing"
)

// json.* and yaml.* run under the cost limit, charged by the text they read
// or write: a body part encoded as JSON text, a field holding JSON text.
func TestTextCodecsRunUnderTheCostLimit(t *testing.T) {
	env := testEnv(t)
	vars := testVars(t)
	tests := []struct {
		src  string
		want any
	}{
		{"${ json.encode({'name': input.email, 'parent': {'id': '0'}}) }", `{"name":"ada@example.com","parent":{"id":"0"}}`},
		{"${ json.encode(input.address) }", `{"city":"London"}`},
		{"${ json.encode('x') }", `"x"`},
		{`${ json.parse('{"a": [1, 2]}').orValue(null) }`, map[string]any{"a": []any{int64(1), int64(2)}}},
		{"${ yaml.encode({'a': 1}) }", "a: 1\n"},
		{"${ yaml.parse('a: b').orValue(null) }", map[string]any{"a": "b"}},
	}
	for _, tt := range tests {
		got, err := mustCompile(t, env, tt.src, nil).Eval(vars)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		// JSON text made from a CEL map is compared as the value it
		// encodes: a map's keys come in no fixed order.
		if text, ok := got.(string); ok && strings.HasPrefix(text, "{") {
			var v any
			if err := json.Unmarshal([]byte(text), &v); err != nil {
				t.Errorf("%s = %q, not JSON: %v", tt.src, text, err)
				continue
			}
			got = v
			_ = json.Unmarshal([]byte(tt.want.(string)), &tt.want)
		}
		// As it leaves for a body or an output: JSON (a parsed number is
		// a json.Number, which encodes as the number; map keys sorted).
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(tt.want)
		if string(g) != string(w) {
			t.Errorf("%s = %s, want %s", tt.src, g, w)
		}
	}

	// Text far past what one evaluation may read still fails on cost.
	vars["input"].(map[string]any)["email"] = strings.Repeat("x", 12<<20)
	_, err := mustCompile(t, env, "${ json.encode([input.email]) }", nil).Eval(vars)
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Errorf("encoding 12 MiB: %v, want the cost limit", err)
	}
}
