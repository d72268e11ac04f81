package engine

// Tests of the fast paths of perf work: each must agree with the general
// code it stands in for.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"mime"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/tree"
)

// refDecode is how decodeBody decoded JSON before decodeJSON.
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
		b, _ := json.Marshal(randomValue(rnd, 0))
		checkDecode(t, b)
		// What json.Marshal writes is what decodeJSON is for.
		if _, ok := decodeJSON(b); !ok {
			t.Errorf("%.80q: decodeJSON gave up", b)
		}
	}
}

func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	got, ok := decodeJSON(b)
	want, err := refDecode(b)
	if !ok {
		return // the caller falls back to refDecode
	}
	if err != nil {
		t.Errorf("%.80q: decodeJSON took it, encoding/json says %v", b, err)
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

func randomValue(rnd *rand.Rand, depth int) any {
	n := 8
	if depth > 3 {
		n = 6
	}
	switch rnd.IntN(n) {
	case 0:
		return nil
	case 1:
		return rnd.IntN(2) == 0
	case 2:
		return rnd.Int64() >> rnd.IntN(64)
	case 3:
		return rnd.NormFloat64() * float64(rnd.IntN(1e6))
	case 4:
		runes := []rune{'a', 'é', '"', '\\', '\n', '<', 0x2028, '😀', 0x01}
		var sb strings.Builder
		for range rnd.IntN(8) {
			sb.WriteRune(runes[rnd.IntN(len(runes))])
		}
		return sb.String()
	case 5:
		return fmt.Sprint(rnd.IntN(100))
	case 6:
		l := make([]any, rnd.IntN(4))
		for i := range l {
			l[i] = randomValue(rnd, depth+1)
		}
		return l
	default:
		m := map[string]any{}
		for range rnd.IntN(4) {
			m[fmt.Sprint(rnd.IntN(10))] = randomValue(rnd, depth+1)
		}
		return m
	}
}

// quickSchema never calls valid what the JSON Schema validator refuses.
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
		values = append(values, randomValue(rnd, 0))
	}
	for _, src := range schemas {
		var doc any
		if err := json.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		doc = expr.Normalize(nil, doc)
		q := compileQuick(doc)
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
			if q.valid(val) {
				if err := full.Validate(val); err != nil {
					t.Errorf("%s: quick says %#v is valid; the validator: %v", src, val, err)
				}
			}
		}
	}
	for _, src := range []string{`{"pattern": "a"}`, `{"$ref": "#/$defs/a"}`, `{"minimum": 1}`, `{"properties": {"a": {"oneOf": []}}}`, `{"enum": [1]}`, `{"format": "regex"}`, `{"format": 1}`} {
		var doc any
		json.Unmarshal([]byte(src), &doc)
		if compileQuick(doc) != nil {
			t.Errorf("%s: a quick schema for a keyword it does not know", src)
		}
	}
}

// quickFormats are the formats the fuzz target tries; "phone" and
// "password" are no format the validator knows, so annotations.
var quickFormats = []string{"email", "idn-email", "uri", "uri-reference", "iri", "date-time", "date", "time", "duration", "uuid",
	"ipv4", "ipv6", "hostname", "idn-hostname", "json-pointer", "relative-json-pointer", "uri-template", "semver", "period", "phone", "password"}

// FuzzQuickSchemaFormats: for every format, a quickSchema never calls
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
		if p.quick.valid(s) {
			if err := p.full.Validate(s); err != nil {
				t.Fatalf("%s: quick says %q is valid; the validator: %v", p.src, s, err)
			}
		}
	})
}

type jsonschemaPair struct {
	src   string
	quick *quickSchema
	full  interface{ Validate(any) error }
}

func compilePair(tb testing.TB, src string) *jsonschemaPair {
	var doc any
	if err := json.Unmarshal([]byte(src), &doc); err != nil {
		tb.Fatal(err)
	}
	q := compileQuick(doc)
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

func TestPlainPathMatchesURLParse(t *testing.T) {
	for _, p := range []string{"/v1/contacts", "/", "/a/b.c/~d_e-f", "/a/../b", "//host/x", "v1/x", "/a b", "/a%2Fb", "/a?x=1", "/a#f", "/a:b", "a:b", "", "/é"} {
		if !plainPath(p) {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || u.Path != p || u.RawQuery != "" || u.Host != "" || u.Scheme != "" || u.Fragment != "" || u.Opaque != "" {
			t.Errorf("%q is plain, but url.Parse gives %#v, %v", p, u, err)
		}
	}
}

func TestMediaTypeMatchesMime(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json;charset=utf-8", "Application/JSON", "text/html", "", "application/problem+json"} {
		want, _, _ := mime.ParseMediaType(ct)
		if got := mediaType(ct); got != want {
			t.Errorf("%q: %q, want %q", ct, got, want)
		}
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Date", "Server", "Connection", "Cache-Control", "Etag", "Vary", "Link", "Location", "Retry-After", "X-Request-Id", "X-Other"} {
		if got := lowerHeader(h); got != strings.ToLower(h) {
			t.Errorf("%q: %q", h, got)
		}
	}
}

// The redactor hides what it always hid, building its replacer only for
// text that holds a secret.
func TestRedactorLazy(t *testing.T) {
	rd := NewRedactor([]string{"sk_secret_123", "a b&c"}, "X-Key", "")
	for in, want := range map[string]string{
		"nothing here":                     "nothing here",
		"key=sk_secret_123&x":              "key=[redacted]&x",
		"q=a+b%26c p=a%20b&c raw=a b&c":    "q=[redacted] p=[redacted] raw=[redacted]",
		"twice sk_secret_123sk_secret_123": "twice [redacted][redacted]",
	} {
		if got := rd.String(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	h := rd.Header(map[string][]string{"X-Key": {"v"}, "Other": {"sk_secret_123"}})
	if h["X-Key"][0] != redacted || h["Other"][0] != redacted {
		t.Errorf("headers: %v", h)
	}
}

// encodeJSON writes what json.Marshal writes, byte for byte.
func TestEncodeJSONMatchesMarshal(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(-5), int64(1 << 62), 0.0, math.Copysign(0, -1), 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, -2.5e-300, 3e300,
		"", "plain", "quote\"", "back\\slash", "<b>&amp;</b>", "tab\t", "nl\n", "\x00\x1f\x7f", "café", "\u2028\u2029", "bad\xffutf8", "😀",
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil),
		map[string]any{"b": int64(1), "a": []any{"x", nil, 2.5}, "A": map[string]any{"z": true, "<": "&"}, "": "empty"},
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		values = append(values, randomValue(rnd, 0))
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		got, ok := encodeJSON(v)
		if !ok {
			t.Errorf("%#v: encodeJSON gave up", v)
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v:\n got %s\nwant %s (%v)", v, got, want, err)
		}
	}
	// What it leaves to json.Marshal.
	for _, v := range []any{map[string]any{"n": 1}, json.Number("1"), []any{float32(1)}, map[string]string{}, math.NaN(), math.Inf(1)} {
		if _, ok := encodeJSON(v); ok {
			t.Errorf("%#v: encodeJSON took a value json.Marshal may write otherwise", v)
		}
	}
}

// encodeFields writes what json.Marshal of the evaluated mapping writes.
func TestEncodeFieldsMatchesMarshal(t *testing.T) {
	src := map[string]any{
		"b": "${ input.b }", "a": "${ input.a }", "<tag>": "${ input.c }", "é": "${ input.d }",
		"nested": map[string]any{"x": "${ input.a }", "lit": 1.5}, "list": []any{"${ input.b }", true},
		"lit": "plain", "num": int64(3), "text": "a ${ input.b } b",
	}
	v, err := tree.FromInterface(src, diag.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	var diags diag.List
	m := compile.NewScope(nil).CompileValue(v, nil, &diags, compile.VarInput)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(9, 10))
	inputs := []map[string]any{
		{"a": nil, "b": "x", "c": "<&>", "d": 1.5},
		{"a": map[string]any{"z": 1.0, "y": []any{}}, "b": "q\"uote", "c": int64(7), "d": math.Inf(1)},
	}
	for range 300 {
		inputs = append(inputs, map[string]any{"a": randomValue(rnd, 0), "b": fmt.Sprint(rnd.IntN(9)), "c": randomValue(rnd, 0), "d": randomValue(rnd, 0)})
	}
	took := 0
	for _, in := range inputs {
		vars := map[string]any{compile.VarInput: in}
		got, gerr := encodeFields(t.Context(), m, m.Keys(), vars)
		val, verr := m.Eval(t.Context(), vars)
		if fmt.Sprint(gerr) != fmt.Sprint(verr) {
			t.Fatalf("%v: errors %v and %v", in, gerr, verr)
		}
		if got == nil {
			continue
		}
		took++
		want, err := json.Marshal(val)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%v:\n got %s\nwant %s (%v)", in, got, want, err)
		}
	}
	if took < len(inputs)/2 {
		t.Errorf("encodeFields wrote only %d of %d bodies", took, len(inputs))
	}
}

var benchBody = []byte(`{"id":"cus_9s6XKzkNRiz8i3","object":"customer","email":"ada@example.com",` +
	`"first_name":"Ada","last_name":"Lovelace","phone":"+44 20 7946 0958","company":"Analytical Engines Ltd",` +
	`"title":"Countess","created":1718877600,"updated":1718877601,"score":97.5,"vip":true,` +
	`"address":{"line1":"12 St James's Square","city":"London","postal_code":"SW1Y 4JH","country":"GB"},` +
	`"currency":"gbp","delinquent":false,"livemode":false,"tags":["math","poetry"],` +
	`"metadata":{"source":"membrane","campaign":"spring"},"preferred_locales":["en-GB"],"balance":0}`)

// BenchmarkDecode compares decodeJSON with what it replaced and with a
// plain json.Unmarshal.
func BenchmarkDecode(b *testing.B) {
	b.Run("decodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeJSON(benchBody); !ok {
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
				if !p.quick.valid(in) {
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
