package expr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that the template parser never panics and that what it
// accepts round-trips: writing the parts back gives the source, and
// parsing that again gives the same parts.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "plain", "${x}", "${ input.email }", "a ${b} c", "$${x}", "$$${x}", "$", "${",
		"${ {'a': {'b': 1}} }", `${ '}' + "}" }`, `${ 'it\'s' }`, "${ '''a}''' }", `${ r'\' }`,
		"${ x // }\n}", "${ input.`a}b` }", "${}", "${ 'x }", "${ b'\\x00' }", "héllo ${ 'wörld' }",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok || pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("Parse(%q) = %v: want a *ParseError with an offset in the source", src, err)
			}
			return
		}
		for i, pt := range p.Parts {
			if pt.Expr {
				if src[pt.Offset-2:pt.Offset] != "${" || src[pt.Offset:pt.Offset+len(pt.Text)] != pt.Text || src[pt.Offset+len(pt.Text)] != '}' {
					t.Fatalf("Parse(%q): part %d (%q) is not at offset %d", src, i, pt.Text, pt.Offset)
				}
			} else if pt.Text == "" {
				t.Fatalf("Parse(%q): empty text part", src)
			}
		}
		out := p.String()
		if out != src {
			t.Fatalf("Parse(%q).String() = %q", src, out)
		}
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) failed on its own output: %v", out, err)
		}
		if !reflect.DeepEqual(p.Parts, q.Parts) {
			t.Fatalf("round trip changed the parts of %q:\n%+v\n%+v", src, p.Parts, q.Parts)
		}
		if p.IsLiteral() != !strings.Contains(strings.ReplaceAll(src, "$${", "\x00"), "${") {
			t.Fatalf("Parse(%q).IsLiteral() = %v", src, p.IsLiteral())
		}
	})
}

// FuzzCompile checks that compiling and evaluating any template never
// panics, and that every issue points into the source.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"${ input.email }", "Hi ${ input.?firstName.orValue('') }!", "${ input.emial }", "${ 1 + 'a' }",
		"${ input.phones.map(p, p.number) }", "${ {'a': [1, 2.5, null]} }", "a\n${ input.\n emial }",
		"${ lists.range(3).map(i, i * 2) }", "${ response.body.items[0].id }", "${ 'é' + 1 }",
	} {
		f.Add(s)
	}
	env := testEnv(f)
	vars := testVars(f)
	f.Fuzz(func(t *testing.T, src string) {
		tm, issues := env.Compile(src, nil)
		for _, is := range issues {
			if is.Offset < 0 || is.Offset > len(src) {
				t.Fatalf("Compile(%q): issue %v points outside the source", src, is)
			}
		}
		if tm != nil {
			if _, err := tm.Eval(vars); err != nil {
				var ee *EvalError
				if !errors.As(err, &ee) || ee.Offset < 0 || ee.Offset > len(src) {
					t.Fatalf("Eval(%q) = %v: want an *EvalError inside the source", src, err)
				}
			}
		}
	})
}
