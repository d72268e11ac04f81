package expr

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEvalSingle(t *testing.T) {
	env := testEnv(t)
	vars := testVars(t)
	tests := []struct {
		src  string
		typ  string
		want any
	}{
		{"${ input.email }", "string", "ada@example.com"},
		{"${input.age}", "int", int64(36)},
		{"${ input.age + 1 }", "int", int64(37)}, // age was decoded as float64 36
		{"${ input.score * 2.0 }", "double", 19.0},
		{"${ input.vip }", "bool", true},
		{"${ input.lastName }", "string", nil},
		{"${ input.address.city }", "string", "London"},
		{"${ has(input.email) }", "bool", true},
		{"${ has(input.firstName) }", "bool", false},
		{"${ has(input.lastName) }", "bool", false}, // JSON null counts as absent
		{"${ input.?firstName.orValue('x') }", "string", "x"},
		{"${ input.?firstName.orValue(null) }", "string", nil},
		{"${ input.?firstName }", "optional(string)", nil},
		{"${ input.?address.city }", "optional(string)", "London"},
		{"${ input.?address.?zip.orValue('none') }", "string", "none"},
		{"${ input.tags.map(t, t.upperAscii()) }", "list(string)", []any{"MATH", "ENGINES"}},
		{"${ input.phones.filter(p, p.kind == 'work').map(p, p.number) }", "list(string)", []any{"456"}},
		{"${ input.phones[0].number }", "string", "123"},
		{"${ input.custom.favoriteColor }", "string", "green"},
		{"${ input.?custom.favoriteColor.orValue(null) }", "string", "green"},
		{"${ input.extra.n }", "dyn", 2.0},
		{"${ input.`first-name` }", "string", "Ada"},
		{"${ input.address }", "object(input.address)", map[string]any{"city": "London"}},
		{"${ input.tags }", "list(string)", []any{"math", "engines"}},
		{"${ has(input.firstName) ? input.firstName : null }", "string", nil},
		{"${ response.status == 200 }", "bool", true},
		{"${ response.headers['content-type'] }", "string", "application/json"},
		{"${ response.body.id }", "dyn", "c-1"},
		{"${ response.body.items.map(i, i.id) }", "list(dyn)", []any{1.0, 2.5}},
		{"${ {'email': input.email, 'n': [1, 2.5], 'ok': true} }", "map(string, dyn)", map[string]any{"email": "ada@example.com", "n": []any{int64(1), 2.5}, "ok": true}},
		{"${ {1: 'a'} }", "map(int, string)", map[string]any{"1": "a"}},
		{"${ null }", "null", nil},
		{"${ 5u }", "uint", int64(5)},
		{"${ 18446744073709551615u }", "uint", uint64(18446744073709551615)},
		{"${ b'hi' }", "bytes", []byte("hi")},
		{"${ timestamp('2024-01-02T03:04:05Z') }", "timestamp", "2024-01-02T03:04:05Z"},
		{"${ duration('90m') }", "duration", "1h30m0s"},
		{"${ optional.none() }", "optional(dyn)", nil},
		{"${ 'a,b'.split(',') }", "list(string)", []any{"a", "b"}},
		{"${ '%s is %d'.format([input.email, input.age]) }", "string", "ada@example.com is 36"},
		{"${ cel.bind(n, input.tags.size(), n * n) }", "int", int64(4)},
		{"${ {'a': 1}.transformMap(k, v, v + 1) }", "map(string, int)", map[string]any{"a": int64(2)}},
		{"${ base64.encode(b'hi') }", "string", "aGk="},
		{"${ 1 < 1.5 }", "bool", true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tm := mustCompile(t, env, tt.src, nil)
			if got := tm.Type().String(); got != tt.typ {
				t.Errorf("Type() = %s, want %s", got, tt.typ)
			}
			got, err := tm.Eval(vars)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestEvalInterpolation(t *testing.T) {
	env := testEnv(t)
	vars := testVars(t)
	tests := []struct{ src, want string }{
		{"plain text", "plain text"},
		{"$${not} an expression", "${not} an expression"},
		{"/contacts/${ input.email }", "/contacts/ada@example.com"},
		{"${ input.age } years", "36 years"},
		{"n=${ 1.0 }", "n=1"},
		{"n=${ 1.5 }", "n=1.5"},
		{"n=${ 1e21 }", "n=1e+21"},
		{"n=${ 5u }", "n=5"},
		{"[${ null }]", "[]"},
		{"[${ input.lastName }]", "[]"},
		{"${ true } and ${ false }", "true and false"},
		{"[${ input.?firstName }]", "[]"},
		{"at ${ timestamp('2024-01-02T03:04:05.5Z') }", "at 2024-01-02T03:04:05.5Z"},
		{"in ${ duration('1m') }", "in 1m0s"},
		{" ${ input.email }", " ada@example.com"},
		{"${ input.tags.join(', ') }!", "math, engines!"},
		{"${ '}' }${ \"{\" }", "}{"},
	}
	for _, tt := range tests {
		tm := mustCompile(t, env, tt.src, nil)
		if tm.Type().Kind() != KindString {
			t.Errorf("%q: Type() = %s, want string", tt.src, tm.Type())
		}
		got, err := tm.Eval(vars)
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	env := testEnv(t)
	vars := testVars(t)
	tests := []struct {
		src    string
		expr   string
		offset int
		msg    string
	}{
		{"${ input.firstName }", "input.firstName", 3, "no such key: firstName"},
		{"Hello ${input.firstName}!", "input.firstName", 8, "no such key: firstName"},
		{"${ response.body.missing }", "response.body.missing", 3, "no such key: missing"},
		{"${ 1 / (input.tags.size() - 2) }", "1 / (input.tags.size() - 2)", 3, "division by zero"},
		{"a ${ dyn(input.tags) } b", "dyn(input.tags)", 5, "list cannot be written into text"},
		{"${ input.email }-${ input.address.zip }", "input.address.zip", 20, "no such key: zip"},
		{"${ dyn(input).lastName.first }", "dyn(input).lastName.first", 3, "no such key: first"},
	}
	for _, tt := range tests {
		tm := mustCompile(t, env, tt.src, nil)
		_, err := tm.Eval(vars)
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Errorf("%q: error %v, want an *EvalError", tt.src, err)
			continue
		}
		if ee.Expr != tt.expr || ee.Offset != tt.offset || !strings.Contains(ee.Message, tt.msg) {
			t.Errorf("%q: got {%q %d %q}, want {%q %d …%q…}", tt.src, ee.Expr, ee.Offset, ee.Message, tt.expr, tt.offset, tt.msg)
		}
	}
}

func TestEvalNullObject(t *testing.T) {
	env := testEnv(t)
	vars := map[string]any{"input": map[string]any{"address": nil}}
	for src, want := range map[string]any{
		"${ has(input.address) }":                 false,
		"${ input.?address.city.orValue('-') }":   "-",
		"${ input.address == null }":              true,
		"${ input.?address.?city.orValue(null) }": nil,
		// An object is not a map to the checker; dyn() lets them mix.
		"${ has(input.address) ? dyn(input.address) : {} }": map[string]any{},
	} {
		v, err := mustCompile(t, env, src, nil).Eval(vars)
		if err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("%s = %#v, %v; want %#v", src, v, err, want)
		}
	}
	_, err := mustCompile(t, env, "${ input.address.city }", nil).Eval(vars)
	if err == nil || !strings.Contains(err.Error(), "no such key: city (the object is null)") {
		t.Errorf("selecting in a null object: %v", err)
	}
}

func TestEvalMissingVariable(t *testing.T) {
	env := testEnv(t)
	tm := mustCompile(t, env, "${ input.email }", nil)
	if _, err := tm.Eval(nil); err == nil {
		t.Fatal("Eval(nil) succeeded, want an error naming input")
	} else if !strings.Contains(err.Error(), "input") {
		t.Errorf("error %q does not name the variable", err)
	}
}

func TestCostLimit(t *testing.T) {
	env := testEnv(t)
	tm := mustCompile(t, env, "${ lists.range(10000).map(i, lists.range(10000).map(j, i * j + input.age)).size() }", nil)
	// CEL reports "cost limit exceeded" only when it aborts the evaluation
	// as the running cost passes the limit, so the error alone shows the
	// 10^8 steps were not all taken; a wall-clock bound would flake on a
	// busy machine.
	_, err := tm.Eval(testVars(t))
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Fatalf("Eval = %v, want a cost limit error", err)
	}
}

func TestEvalContextCancelled(t *testing.T) {
	env := testEnv(t)
	tm := mustCompile(t, env, "${ lists.range(1000).map(i, i * 2).size() }", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tm.EvalContext(ctx, testVars(t)); err == nil {
		t.Fatal("EvalContext with a cancelled context succeeded")
	}
	v, err := tm.EvalContext(context.Background(), testVars(t))
	if err != nil || v != int64(1000) {
		t.Fatalf("EvalContext = %v, %v; want 1000", v, err)
	}
}

func TestEvalConcurrent(t *testing.T) {
	env := testEnv(t)
	tm := mustCompile(t, env, "${ input.email + '/' + string(input.age) }", nil)
	vars := testVars(t)
	done := make(chan error)
	for range 8 {
		go func() {
			for range 100 {
				v, err := tm.Eval(vars)
				if err == nil && v != "ada@example.com/36" {
					err = errors.New("wrong value")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// On a value without a schema (a response body), a field holding null is
// present, as CEL has it: the reference documents this, and the cel.bind
// form it gives for a default that also covers null.
func TestNullFieldOfAnUntypedValue(t *testing.T) {
	env := testEnv(t)
	vars := testVars(t)
	tests := []struct {
		body, src string
		want      any
	}{
		{`{"message": null}`, "${ has(response.body.message) }", true},
		{`{"message": null}`, "${ response.body.?message.orValue('none') }", nil},
		{`{"message": null}`, "${ cel.bind(m, response.body.?message.orValue(null), m == null ? 'none' : m) }", "none"},
		{`{}`, "${ cel.bind(m, response.body.?message.orValue(null), m == null ? 'none' : m) }", "none"},
		{`{"message": "hi"}`, "${ cel.bind(m, response.body.?message.orValue(null), m == null ? 'none' : m) }", "hi"},
	}
	for _, tt := range tests {
		vars["response"].(map[string]any)["body"] = decodeJSON(t, tt.body)
		got, err := mustCompile(t, env, tt.src, nil).Eval(vars)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s over %s = %#v, %v; want %#v", tt.src, tt.body, got, err, tt.want)
		}
	}
}
