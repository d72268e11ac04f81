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
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/internal/fastjson/jsongen"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

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
		inputs = append(inputs, map[string]any{"a": jsongen.Value(rnd), "b": fmt.Sprint(rnd.IntN(9)), "c": jsongen.Value(rnd), "d": jsongen.Value(rnd)})
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
