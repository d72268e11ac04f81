package expr

import (
	"fmt"
	"testing"
)

func BenchmarkCompileMiss(b *testing.B) {
	env := testEnv(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, issues := env.Compile(fmt.Sprintf("${ input.email + '-%d' }", i), String); issues != nil {
			b.Fatal(issues)
		}
	}
}

// A cache hit is what 1,000 files sharing expressions pay for each.
func BenchmarkCompileHit(b *testing.B) {
	env := testEnv(b)
	const src = "${ input.?firstName.orValue(null) }"
	mustCompile(b, env, src, String)
	b.ReportAllocs()
	for b.Loop() {
		if _, issues := env.Compile(src, String); issues != nil {
			b.Fatal(issues)
		}
	}
}

const mapping10 = `${ {
	'email': input.email,
	'firstname': input.?firstName.orValue(null),
	'lastname': input.lastName,
	'age': input.age,
	'score': input.score,
	'vip': input.vip,
	'city': input.address.city,
	'tags': input.tags.join(','),
	'phone': input.phones[0].number,
	'color': input.?custom.favoriteColor.orValue('none'),
} }`

// One expression builds a 10-field map.
func BenchmarkEvalMapping10(b *testing.B) {
	env := testEnv(b)
	tm := mustCompile(b, env, mapping10, nil)
	vars := testVars(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Eval(vars); err != nil {
			b.Fatal(err)
		}
	}
}

// Ten templates, one per field, as a YAML body mapping is written.
func BenchmarkEvalMapping10Fields(b *testing.B) {
	env := testEnv(b)
	srcs := []string{
		"${ input.email }", "${ input.?firstName.orValue(null) }", "${ input.lastName }", "${ input.age }",
		"${ input.score }", "${ input.vip }", "${ input.address.city }", "${ input.tags.join(',') }",
		"${ input.phones[0].number }", "${ input.?custom.favoriteColor.orValue('none') }",
	}
	names := []string{"email", "firstname", "lastname", "age", "score", "vip", "city", "tags", "phone", "color"}
	tms := make([]*Template, len(srcs))
	for i, s := range srcs {
		tms[i] = mustCompile(b, env, s, nil)
	}
	vars := testVars(b)
	b.ReportAllocs()
	for b.Loop() {
		out := make(map[string]any, len(tms))
		for i, tm := range tms {
			v, err := tm.Eval(vars)
			if err != nil {
				b.Fatal(err)
			}
			out[names[i]] = v
		}
	}
}

func BenchmarkEvalInterpolation(b *testing.B) {
	env := testEnv(b)
	tm := mustCompile(b, env, "/contacts/${ input.email }/phones/${ input.phones[0].number }", nil)
	vars := testVars(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Eval(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalLiteral(b *testing.B) {
	env := testEnv(b)
	tm := mustCompile(b, env, "/crm/v3/objects/contacts", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Eval(nil); err != nil {
			b.Fatal(err)
		}
	}
}
