package fastjson

// Decode and Encode stand in for encoding/json on the engine's hot path;
// each must agree with it.

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/internal/fastjson/jsongen"
	"github.com/membrane-dev/membrane/spec/expr"
)

// refDecode is how the engine decoded a JSON body before Decode.
func refDecode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return expr.Normalize(nil, v), nil
}

var jsonCases = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `123456789012345678`, `-123456789012345678`,
	`1234567890123456789`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `-9223372036854775809`,
	`99999999999999999999999`, `1.0`, `1.5`, `-2.25`, `1e3`, `1E-3`, `1e+2`, `2.5e300`, `1e400`, `-1e400`, `0.1e1`,
	`"a"`, `""`, `"caf\u00e9"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud800"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u0000"`,
	"\"caf\xc3\xa9\"", "\"bad \xff utf8\"", "\"\xed\xa0\x80\"", `"tab	in"`, "\"nl\nin\"",
	`{"a":1,"b":[1,2.5,"x",null,true,{"c":{}}],"a":2}`, ` { "k" : [ 1 , 2 ] } `, "\n[1]\n",
	`[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `[01]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nul`, `[`, `{`, `"abc`,
	`{"k\u00e9y":1,"ké":2,"a\"b":3,"a\\b":4,"":5,"0123456789012345678901234567890123456789":6}`,
	`{} x`, `[] []`, `1 2`, `nullx`, `123abc`, ``, `   `, `{"a":"\x"}`, `"\u12"`, `"\uZZZZ"`,
	strings.Repeat("[", 600) + strings.Repeat("]", 600), strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
}

func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		checkDecode(t, []byte(c))
	}
	// Generated documents.
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b, _ := json.Marshal(jsongen.Value(rnd))
		checkDecode(t, b)
		// What json.Marshal writes is what Decode is for.
		if _, ok := Decode(b); !ok {
			t.Errorf("%.80q: Decode gave up", b)
		}
	}
}

func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	got, ok := Decode(b)
	want, err := refDecode(b)
	if !ok {
		return // the caller falls back to refDecode
	}
	if err != nil {
		t.Errorf("%.80q: Decode took it, encoding/json says %v", b, err)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%.80q:\n got %#v\nwant %#v", b, got, want)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

// Encode writes what json.Marshal writes, byte for byte.
func TestEncodeJSONMatchesMarshal(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(-5), int64(1 << 62), 0.0, math.Copysign(0, -1), 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, -2.5e-300, 3e300,
		"", "plain", "quote\"", "back\\slash", "<b>&amp;</b>", "tab\t", "nl\n", "\x00\x1f\x7f", "café", "\u2028\u2029", "bad\xffutf8", "😀",
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil),
		map[string]any{"b": int64(1), "a": []any{"x", nil, 2.5}, "A": map[string]any{"z": true, "<": "&"}, "": "empty"},
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		values = append(values, jsongen.Value(rnd))
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		got, ok := Encode(v)
		if !ok {
			t.Errorf("%#v: Encode gave up", v)
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v:\n got %s\nwant %s (%v)", v, got, want, err)
		}
	}
	// What it leaves to json.Marshal.
	for _, v := range []any{map[string]any{"n": 1}, json.Number("1"), []any{float32(1)}, map[string]string{}, math.NaN(), math.Inf(1)} {
		if _, ok := Encode(v); ok {
			t.Errorf("%#v: Encode took a value json.Marshal may write otherwise", v)
		}
	}
}

var benchBody = []byte(`{"id":"cus_9s6XKzkNRiz8i3","object":"customer","email":"ada@example.com",` +
	`"first_name":"Ada","last_name":"Lovelace","phone":"+44 20 7946 0958","company":"Analytical Engines Ltd",` +
	`"title":"Countess","created":1718877600,"updated":1718877601,"score":97.5,"vip":true,` +
	`"address":{"line1":"12 St James's Square","city":"London","postal_code":"SW1Y 4JH","country":"GB"},` +
	`"currency":"gbp","delinquent":false,"livemode":false,"tags":["math","poetry"],` +
	`"metadata":{"source":"membrane","campaign":"spring"},"preferred_locales":["en-GB"],"balance":0}`)

// BenchmarkDecode compares Decode with what it replaced and with a
// plain json.Unmarshal.
func BenchmarkDecode(b *testing.B) {
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := Decode(benchBody); !ok {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("decoder+normalize", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := refDecode(benchBody); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(benchBody, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
