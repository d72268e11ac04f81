package expr

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

// slowCopy returns t with its fast paths off, so that it runs through CEL.
func slowCopy(t *Template) *Template {
	c := *t
	c.parts = make([]part, len(t.parts))
	for i, p := range t.parts {
		c.parts[i] = p
		if p.expr != nil {
			x := *p.expr
			x.sel, x.opt, x.cat = nil, nil, nil
			x.loops = true
			c.parts[i].expr = &x
		}
	}
	return &c
}

// The fast path of selections gives what CEL gives, errors included, on
// every shape of data: normalised JSON, raw float64 numbers, nulls, missing
// keys, values of other Go types.
func TestFastSelectAgreesWithCEL(t *testing.T) {
	env := testEnv(t)
	srcs := []string{
		"${ input }", "${ input.email }", "${ input.age }", "${ input.score }", "${ input.vip }",
		"${ input.lastName }", "${ input.tags }", "${ input.address }", "${ input.address.city }",
		"${ input.custom.favoriteColor }", "${ input.extra }", "${ input.`first-name` }",
		"${ response.body }", "${ response.body.id }", "${ response.body.count }", "${ response.body.items }",
		"${ response.body.nested.deep.value }", "${ response.status }", "${ response.headers }",
		"/c/${ input.email }/${ input.age }/${ input.score }/${ response.body.id }",
		"${ input.address.city }-${ response.body.count }-${ input.vip }",
		"n=${ response.body.n }",
		"${ input.?email.orValue('none') }", "${ input.?lastName.orValue('none') }", "${ input.?age.orValue(0) }",
		"${ input.?score.orValue(1.5) }", "${ input.?vip.orValue(false) }", "${ input.address.?city.orValue(null) }",
		"${ input.custom.?favoriteColor.orValue('none') }", "${ input.custom.?other.orValue('none') }",
		"${ response.body.?id.orValue(null) }", "${ response.body.?missing.orValue(7) }", "${ response.body.?count.orValue(2.5) }",
		"${ response.body.nested.deep.?value.orValue(-1) }", "${ response.?body.orValue(null) }", "${ response.?status.orValue(0) }",
		"${ input.extra.?n.orValue(0) }", "x${ input.?age.orValue(0) }y${ response.body.?id.orValue('') }",
		"${ input.email + ' ' + input.firstName }", "${ 'a' + response.body.id + 'b' + input.email }",
		"${ input.address.city + input.custom.favoriteColor }", "${ response.body.count + response.body.n }",
		"${ input.lastName + '!' }", "${ input.tags + input.tags }", "${ response.body.items + [1] }",
	}
	varSets := map[string]map[string]any{
		"json": testVars(t),
		"normalised": func() map[string]any {
			v := testVars(t)
			v["input"] = Normalize(decodeJSON(t, contactSchema), v["input"])
			v["response"].(map[string]any)["body"] = Normalize(nil, v["response"].(map[string]any)["body"])
			return v
		}(),
		"missing": {"input": map[string]any{}, "response": map[string]any{"body": map[string]any{}}},
		"nulls": {"input": map[string]any{"email": nil, "address": nil, "age": nil, "score": nil},
			"response": map[string]any{"body": nil, "status": nil}},
		"go types": {"input": map[string]any{"email": 7, "age": int32(3), "score": float32(1.5), "vip": "yes",
			"address": map[string]string{"city": "Paris"}, "tags": []string{"a"}, "custom": map[string]any{"favoriteColor": time.Unix(0, 0)}},
			"response": map[string]any{"body": map[string]any{"id": []byte("x"), "count": uint64(5), "n": int64(-3),
				"nested": map[string]any{"deep": map[string]any{"value": 2.5}}}, "status": int64(201)}},
		"wrong shapes":  {"input": "text", "response": map[string]any{"body": []any{1}}},
		"int as double": {"input": map[string]any{"age": 36.0, "score": int64(9)}, "response": map[string]any{"body": map[string]any{"n": 1.5}}},
		"none":          {},
	}
	fast := 0
	for _, src := range srcs {
		tm := mustCompile(t, env, src, nil)
		slow := slowCopy(tm)
		for name, vars := range varSets {
			got, gerr := tm.EvalContext(context.Background(), vars)
			want, werr := slow.EvalContext(context.Background(), vars)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s with %s vars:\nfast %#v, %v\nCEL  %#v, %v", src, name, got, gerr, want, werr)
			}
			if gerr == nil && tm.parts[0].expr != nil {
				if _, ok := tm.parts[0].expr.fast(vars); ok {
					fast++
				}
			}
		}
	}
	if fast < 20 {
		t.Errorf("the fast path served only %d evaluations", fast)
	}
}

func TestSelectPathOf(t *testing.T) {
	env := testEnv(t)
	for src, want := range map[string]bool{
		"${ input.email }":                       true,
		"${ response.body.a.b }":                 true,
		"${ input }":                             true,
		"${ input.?email.orValue('') }":          true,
		"${ input.custom.?x.orValue('') }":       true,
		"${ input.?email.orValue(input.email) }": false,
		"${ input.?address.?city.orValue('') }":  false,
		"${ input.?address.city.orValue('') }":   false,
		"${ has(input.email) }":                  false,
		"${ input.tags[0] }":                     false,
		"${ response.headers['x'] }":             false,
		"${ input.email + '' }":                  true,
		"${ input.email + input.tags[0] }":       false,
		"${ input.age + 1 }":                     false,
		"${ input.tags.map(t, t.size()) }":       false,
		"${ [input.email].filter(x, true) }":     false,
	} {
		x := mustCompile(t, env, src, nil).parts[0].expr
		if got := x.sel != nil || x.opt != nil || x.cat != nil; got != want {
			t.Errorf("%s: fast path %v, want %v", src, got, want)
		}
	}
	if !mustCompile(t, env, "${ input.tags.map(t, t.size()) }", nil).parts[0].expr.loops {
		t.Error("a map() has a loop")
	}
	if mustCompile(t, env, "${ input.email + 'x' }", nil).parts[0].expr.loops {
		t.Error("a concatenation has no loop")
	}
}

// A cancelled context still stops an expression that loops.
func TestEvalContextStopsLoops(t *testing.T) {
	env := testEnv(t)
	tm := mustCompile(t, env, "${ lists.range(10000 + size(input.tags)).map(i, i * 2).size() }", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tm.EvalContext(ctx, testVars(t)); err == nil {
		t.Fatal("a cancelled evaluation succeeded")
	}
}

// An expression run without the cost tracker is one CEL bounds below the
// limit, and its actual cost stays within that bound.
func TestBoundedExpressionsStayBounded(t *testing.T) {
	env := testEnv(t)
	for src, want := range map[string]bool{
		"input.age >= 18 && !input.vip":                      true,
		"input.score * 2.0 + 1.0":                            true,
		"input.?age.orValue(0) > 3 ? 'adult' : 'child'":      true,
		"has(input.address) && size(input.tags) > 0":         true,
		"response.status == 200 || response.status == 201":   true,
		"[1, 2, 3].exists(x, x == input.age)":                true,
		"input.email + '-' + input.firstName":                false,
		"input.email.contains('@')":                          false,
		"input.tags.map(t, t + '!')":                         false,
		"input.tags.join(',')":                               false,
		"lists.range(input.age).size()":                      false,
		"response.body.items.filter(i, i.id > 1).size() > 0": false,
		"input.email.matches('^[a-z]+@')":                    false,
		"input.tags.exists(t, t == 'math') && input.age > 1": false,
	} {
		ast, iss := env.cel.Compile(src)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", src, iss.Err())
		}
		if got := bounded(env.cel, ast); got != want {
			t.Errorf("%s: bounded %v, want %v", src, got, want)
		}
		if !want {
			continue
		}
		est, _ := env.cel.EstimateCost(ast, nil)
		prog, err := env.cel.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			t.Fatal(err)
		}
		_, det, err := prog.Eval(testVars(t))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if c := det.ActualCost(); c == nil || *c > est.Max {
			t.Errorf("%s: actual cost %v over the estimate %d", src, c, est.Max)
		}
	}
}
