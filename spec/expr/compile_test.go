package expr

import (
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestCompileIssues(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		name   string
		src    string
		want   *Type
		offset int
		msg    string
	}{
		{"misspelt field", "${ input.emial }", nil, 9, "undefined field 'emial' (did you mean 'email'?)"},
		{"misspelt nested field", "${ input.address.cty }", nil, 17, "undefined field 'cty'"},
		{"misspelt field of a list item", "${ input.phones.map(p, p.nubmer) }", nil, 25, "undefined field 'nubmer'"},
		{"misspelt field on a later line", "a\n${ input.\n  emial }", nil, 14, "undefined field 'emial'"},
		{"misspelt variable", "${ inptu.email }", nil, 3, "undeclared reference to 'inptu'"},
		{"unknown variable", "${ secrets.key }", nil, 3, "variables here: input, now, response"},
		{"type error", "Hi ${ 1 + 'a' }", nil, 8, "no matching overload for '_+_' applied to '(int, string)'"},
		{"declared scalars read plainly", "${ input.email + 1 }", nil, 15, "applied to '(string, int)'"},
		{"syntax error", "${ input. }", nil, 10, "syntax error: the expression cannot continue"},
		{"unterminated", "x ${ input.email", nil, 2, "unterminated"},
		{"empty", "${ }", nil, 0, "empty expression"},
		{"list in text", "tags: ${ input.tags }", nil, 9, "a list(string) cannot be written into text"},
		{"object in text", "${ input.address }!", nil, 3, "object(input.address) cannot be written into text"},
		{"constant that always fails", "${ 1 / 0 }", nil, 3, "division by zero"},
		{"bad constant timestamp", "at ${ timestamp('2024-13-01') }", nil, 6, "timestamp"},
		{"constant over the cost limit", "${ lists.range(10000).map(i, lists.range(10000).size()) }", nil, 3, "cost limit exceeded"},
		{"wrong result type", "${ input.tags }", String, 3, "want string, but the expression gives list(string)"},
		{"double is not an int", "${ input.score }", Int, 3, "want int"},
		{"text is a string", "n=${ input.age }", Int, 0, "want int, but text around ${ … } makes the template a string"},
		{"literal is a string", "5", Int, 0, "want int, but the text is a string"},
		{"list is not a scalar", "${ input.tags }", Scalar, 3, "want scalar"},
		{"list element type", "${ input.tags }", ListOf(Int), 3, "want list(int)"},
		{"object field type", "${ input.address }", Object("x", map[string]*Type{"city": Int}), 3, "want object(x)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, issues := env.Compile(tt.src, tt.want)
			if tm != nil {
				t.Errorf("Compile returned a template along with issues")
			}
			if len(issues) == 0 {
				t.Fatalf("Compile(%q) succeeded, want an issue", tt.src)
			}
			if issues[0].Offset != tt.offset || !strings.Contains(issues[0].Message, tt.msg) {
				t.Errorf("Compile(%q) = %v, want offset %d and …%q…", tt.src, issues, tt.offset, tt.msg)
			}
		})
	}
}

func TestCompileReportsEveryExpression(t *testing.T) {
	env := testEnv(t)
	_, issues := env.Compile("${ input.a } and ${ input.b }", nil)
	if len(issues) != 2 || issues[0].Offset != 9 || issues[1].Offset != 26 {
		t.Errorf("issues = %v, want one per expression at 9 and 26", issues)
	}
}

func TestCompileWants(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		src  string
		want *Type
	}{
		{"${ input.age }", Double}, // an int fits a double
		{"${ input.age }", Scalar},
		{"${ input.email }", Scalar},
		{"${ now }", Scalar},
		{"${ null }", String}, // null fits anything
		{"${ response.body }", ListOf(String)},
		{"${ input.?firstName }", String}, // unwrapped at run time
		{"${ input.tags }", ListOf(String)},
		{"${ input.tags }", ListOf(Dyn)},
		{"${ input.custom }", MapOf(String, String)},
		{"${ input.address }", MapOf(String, String)},
		{"${ input.address }", Object("contact.address", map[string]*Type{"city": String})},
		{"${ {'city': 'Paris'} }", Object("contact.address", map[string]*Type{"city": String})},
		{"id-${ input.age }", String},
		{"plain", Scalar},
		{"${ has(input.email) ? input.email : null }", String},
	}
	for _, tt := range tests {
		if _, issues := env.Compile(tt.src, tt.want); issues != nil {
			t.Errorf("Compile(%q, %s): %v", tt.src, tt.want, issues)
		}
	}
}

func TestCompileCache(t *testing.T) {
	env := testEnv(t)
	a := mustCompile(t, env, "${ input.email }", nil)
	b := mustCompile(t, env, "${ input.email }", String)
	if a != b {
		t.Error("compiling the same source twice gave two templates")
	}
	// The same declarations, built anew, give the same Env and share its cache.
	env2 := testEnv(t)
	if env2 != env {
		t.Fatal("NewEnv with equal declarations gave a new Env")
	}
	if c := mustCompile(t, env2, "${ input.email }", nil); c != a {
		t.Error("an equal Env recompiled the template")
	}
	// Different declarations give a different Env.
	other, err := NewEnv(map[string]*Type{"input": Dyn})
	if err != nil {
		t.Fatal(err)
	}
	if other == env {
		t.Fatal("NewEnv with different declarations gave the same Env")
	}
	if c := mustCompile(t, other, "${ input.email }", nil); c == a {
		t.Error("two environments share a template")
	}
	// Issues are cached too, and a caller cannot spoil them.
	_, i1 := env.Compile("${ input.emial }", nil)
	i1[0].Message = "changed"
	_, i2 := env.Compile("${ input.emial }", nil)
	if i2[0].Message == "changed" {
		t.Error("the cached issues were changed through a returned slice")
	}
}

func TestCompileConcurrent(t *testing.T) {
	env := testEnv(t)
	const src = "${ input.phones.map(p, p.kind + ':' + p.number).join(',') }"
	var wg sync.WaitGroup
	got := make([]*Template, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = env.Compile(src, nil)
		}()
	}
	wg.Wait()
	for _, tm := range got {
		if tm == nil || tm != got[0] {
			t.Fatal("concurrent compiles of one source gave different templates")
		}
	}
}

func TestTemplateRefs(t *testing.T) {
	steps := Object("steps", map[string]*Type{
		"fetch": Object("steps.fetch", map[string]*Type{"output": Dyn}),
	})
	env, err := NewEnv(map[string]*Type{"input": Dyn, "steps": steps, "now": Timestamp})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src   string
		vars  []string
		paths []string
	}{
		{"constant", nil, nil},
		{"${ 1 + 2 }", nil, nil},
		{"${ steps.fetch.output.id }", []string{"steps"}, []string{"steps.fetch.output.id"}},
		{"${ input.a } ${ input.b.c }", []string{"input"}, []string{"input.a", "input.b.c"}},
		{"${ input['a-b'].c }", []string{"input"}, []string{"input.a-b.c"}},
		{"${ input.?a.orValue(now) }", []string{"input", "now"}, []string{"input.a", "now"}},
		{"${ input.items[0].id }", []string{"input"}, []string{"input.items"}},
		{"${ input.items.map(i, i.id) }", []string{"input"}, []string{"input.items"}},
		{"${ [1].map(input, input + 1) }", nil, nil}, // the loop variable shadows input
		{"${ has(steps.fetch.output) }", []string{"steps"}, []string{"steps.fetch.output"}},
	}
	for _, tt := range tests {
		tm := mustCompile(t, env, tt.src, nil)
		if !reflect.DeepEqual(tm.Vars(), tt.vars) || !reflect.DeepEqual(tm.Paths(), tt.paths) {
			t.Errorf("%q: Vars %q Paths %q, want %q %q", tt.src, tm.Vars(), tm.Paths(), tt.vars, tt.paths)
		}
		if tm.IsLiteral() != (tt.src == "constant") {
			t.Errorf("%q: IsLiteral() = %v", tt.src, tm.IsLiteral())
		}
	}
}

func TestNewEnvErrors(t *testing.T) {
	a := Object("thing", map[string]*Type{"x": Int})
	b := Object("thing", map[string]*Type{"y": Int})
	if _, err := NewEnv(map[string]*Type{"a": a, "b": b}); err == nil || !strings.Contains(err.Error(), `"thing"`) {
		t.Errorf("two objects named alike: err = %v", err)
	}
	if _, err := NewEnv(map[string]*Type{"a": a, "b": ListOf(a)}); err != nil {
		t.Errorf("one object used twice: %v", err)
	}
	if _, err := NewEnv(map[string]*Type{"a-b": Int}); err == nil {
		t.Error("a variable name that is not an identifier was accepted")
	}
}

// An object type's name must not make `input.address` read as a type name
// (CEL resolves qualified names before field selections).
func TestObjectNamesDoNotShadowFields(t *testing.T) {
	env := testEnv(t)
	tm := mustCompile(t, env, "${ input.address }", nil)
	v, err := tm.Eval(testVars(t))
	if err != nil || !reflect.DeepEqual(v, map[string]any{"city": "London"}) {
		t.Errorf("Eval = %v, %v", v, err)
	}
}

// CEL's parser reports in ANTLR's terms; authors get plain words.
func TestPlainSyntaxErrors(t *testing.T) {
	env := testEnv(t)
	for _, tc := range []struct{ src, want string }{
		{"${ input.a + }", "the expression ends too early"},
		{"${ 1 $ 2 }", `"$" cannot appear in an expression`},
		{"${ 1 2 }", `"2" is left over after a complete expression`},
	} {
		_, issues := env.Compile(tc.src, nil)
		if len(issues) == 0 || !strings.Contains(issues[0].Message, tc.want) {
			t.Errorf("Compile(%q) = %v, want an issue containing %q", tc.src, issues, tc.want)
		}
		for _, is := range issues {
			if strings.Contains(is.Message, "NUM_FLOAT") || strings.Contains(is.Message, "<EOF>") {
				t.Errorf("Compile(%q): parser jargon in %q", tc.src, is.Message)
			}
		}
	}
}

// An empty list or map is the default of an absent list, map or object,
// and keeps its type: what is read from it is still checked.
func TestOrValueEmptyDefaults(t *testing.T) {
	env := testEnv(t)
	typed := []struct {
		src  string
		want string
		in   map[string]any // the input; the output is wantOut
		out  any
	}{
		{"${ input.?tags.orValue([]) }", "list(string)", map[string]any{}, []any{}},
		{"${ input.?tags.orValue([]) }", "list(string)", map[string]any{"tags": []any{"a"}}, []any{"a"}},
		{"${ input.?phones.orValue([]) }", "list(object(input.phones[]))", map[string]any{}, []any{}},
		{"${ input.?address.orValue({}) }", "object(input.address)", map[string]any{}, map[string]any{}},
		{"${ input.?address.orValue({}) }", "object(input.address)", map[string]any{"address": map[string]any{"city": "Oslo"}}, map[string]any{"city": "Oslo"}},
		{"${ input.?address.orValue({}).?city.orValue('none') }", "string", map[string]any{}, "none"},
		{"${ input.?custom.orValue({}) }", "map(string, string)", map[string]any{}, map[string]any{}},
		{"${ input.?extra.orValue({}) }", "map(string, dyn)", map[string]any{"extra": map[string]any{"k": 1.0}}, map[string]any{"k": 1.0}},
	}
	for _, tt := range typed {
		tm := mustCompile(t, env, tt.src, nil)
		if got := tm.Type().String(); got != tt.want {
			t.Errorf("type of %s = %s, want %s", tt.src, got, tt.want)
		}
		got, err := tm.Eval(map[string]any{"input": tt.in})
		if err != nil {
			t.Errorf("Eval(%s) on %v: %v", tt.src, tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.out) {
			t.Errorf("Eval(%s) on %v = %#v, want %#v", tt.src, tt.in, got, tt.out)
		}
	}
	wrong := []struct{ src, msg string }{
		{"${ input.?address.orValue({}).?citty }", "undefined field 'citty' (did you mean 'city'?)"},
		{"${ input.?tags.orValue({}) }", "the default {} is a map, but the value is list(string)"},
		{"${ input.?email.orValue({}) }", "the default {} is a map, but the value is string"},
	}
	for _, tt := range wrong {
		if _, issues := env.Compile(tt.src, nil); len(issues) == 0 || !strings.Contains(issues[0].Message, tt.msg) {
			t.Errorf("Compile(%s) = %v, want …%s…", tt.src, issues, tt.msg)
		}
	}
}
