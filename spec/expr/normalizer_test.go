package expr

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// NormalizeCopy gives what Normalize gives on a copy, and leaves its
// argument alone.
func TestNormalizerMatchesNormalize(t *testing.T) {
	schemas := []string{
		contactSchema,
		`{"type": "object", "properties": {"0": {"type": "integer"}, "1": {"type": "number"}, "2": true, "3": {"type": "array", "items": {"type": "integer"}}}, "additionalProperties": {"type": "number"}}`,
		`{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "number"}], "items": {"type": "string"}}`,
		`{"properties": {"0": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"type": "integer"}}}`,
		`{"allOf": [{"properties": {"0": {"type": "number"}}}]}`,
		`{"type": ["integer", "null"]}`,
		`{"type": "number"}`,
		`{"properties": "oops", "additionalProperties": {"type": "integer"}}`,
		`null`, `true`,
	}
	values := []any{nil, 1.0, 1.5, int64(2), json.Number("3"), json.Number("3.5"), 4, int32(5), float32(6.5), "x",
		map[string]any(nil), []any(nil), []any{1.0, 2.0, 3.0}, map[string]any{"0": 1.0, "1": int64(2), "9": 3.0, "3": []any{1.0, 2.5}}}
	rnd := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		values = append(values, randomJSON(rnd, 0), decodeJSONAny(t, testVarsJSON))
	}
	for _, src := range schemas {
		var schema any
		if err := json.Unmarshal([]byte(src), &schema); err != nil {
			t.Fatal(err)
		}
		n := NewNormalizer(schema)
		for _, v := range values {
			before := fmt.Sprintf("%#v", v)
			got := n.NormalizeCopy(v)
			if after := fmt.Sprintf("%#v", v); after != before {
				t.Fatalf("%s: NormalizeCopy changed its argument:\n%s\n%s", src, before, after)
			}
			want := Normalize(schema, copyValue(v))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %#v:\n got %#v\nwant %#v", src, v, got, want)
			}
		}
	}
	// Past maxSchemaDepth, Normalize treats the schema as dyn.
	for _, depth := range []int{30, 31, 32, 33, 34, 40} {
		var schema any = map[string]any{"type": "number"}
		var v any = 2.0
		for range depth {
			schema = map[string]any{"properties": map[string]any{"a": schema, "n": map[string]any{"type": "number"}}}
			v = map[string]any{"a": v, "n": 3.0}
		}
		got, want := NewNormalizer(schema).NormalizeCopy(v), Normalize(schema, copyValue(v))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("depth %d:\n got %v\nwant %v", depth, got, want)
		}
	}
	if !NewNormalizer(decodeJSON(t, contactSchema)).simple {
		t.Error("the contact schema is simple")
	}
}

const testVarsJSON = `{"email": "a@b.c", "age": 36, "score": 9, "vip": true, "tags": ["x"], "address": {"city": "L", "zip": 1},
	"phones": [{"kind": "home", "number": 123}], "custom": {"a": 1}, "extra": {"n": 2.0}, "first-name": "Ada", "other": 1.5}`

func decodeJSONAny(t *testing.T, s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func randomJSON(rnd *rand.Rand, depth int) any {
	n := 7
	if depth > 3 {
		n = 5
	}
	switch rnd.IntN(n) {
	case 0:
		return nil
	case 1:
		return float64(rnd.IntN(100))
	case 2:
		return rnd.Float64() * 100
	case 3:
		return json.Number(fmt.Sprint(rnd.IntN(1000)))
	case 4:
		return fmt.Sprint(rnd.IntN(10))
	case 5:
		l := make([]any, rnd.IntN(4))
		for i := range l {
			l[i] = randomJSON(rnd, depth+1)
		}
		return l
	default:
		m := map[string]any{}
		for range rnd.IntN(5) {
			keys := []string{"0", "1", "2", "3", "9", "age", "score", "address", "zip", "phones", "number", "custom", "extra"}
			m[keys[rnd.IntN(len(keys))]] = randomJSON(rnd, depth+1)
		}
		return m
	}
}
