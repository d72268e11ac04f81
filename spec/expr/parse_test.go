package expr

import (
	"reflect"
	"strings"
	"testing"
)

// e and l build expected parts; offsets are checked separately.
func e(s string) Part { return Part{Expr: true, Text: s} }
func l(s string) Part { return Part{Text: s} }

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		parts  []Part
		single bool
	}{
		{"empty", "", nil, false},
		{"plain text", "hello world", []Part{l("hello world")}, false},
		{"dollar without brace", "costs $5 or $$", []Part{l("costs $5 or $$")}, false},
		{"single", "${x}", []Part{e("x")}, true},
		{"single with spaces", "${  input.email  }", []Part{e("  input.email  ")}, true},
		{"single with newlines", "${\n  input.email\n}", []Part{e("\n  input.email\n")}, true},
		{"space outside is interpolation", " ${x}", []Part{l(" "), e("x")}, false},
		{"text after is interpolation", "${x}!", []Part{e("x"), l("!")}, false},
		{"two expressions", "${a}${b}", []Part{e("a"), e("b")}, false},
		{"interpolation", "/users/${ id }/posts/${ post }", []Part{l("/users/"), e(" id "), l("/posts/"), e(" post ")}, false},
		{"escape", "$${x}", []Part{l("${x}")}, false},
		{"escape then expression", "$${a} ${b}", []Part{l("${a} "), e("b")}, false},
		{"dollar before escape", "$$${x}", []Part{l("$${x}")}, false},
		{"map literal", "${ {'a': 1}.a }", []Part{e(" {'a': 1}.a ")}, true},
		{"nested maps", "${ {'a': {'b': {}}} }", []Part{e(" {'a': {'b': {}}} ")}, true},
		{"brace in single quotes", "${ '}' }", []Part{e(" '}' ")}, true},
		{"brace in double quotes", `${ "}" + x }`, []Part{e(` "}" + x `)}, true},
		{"other quote inside", `${ "it's }" }`, []Part{e(` "it's }" `)}, true},
		{"escaped quote", `${ 'it\'s }' }`, []Part{e(` 'it\'s }' `)}, true},
		{"escaped backslash", `${ 'a\\' }b`, []Part{e(` 'a\\' `), l("b")}, false},
		{"triple quotes", "${ '''a ' } '' b''' }", []Part{e(" '''a ' } '' b''' ")}, true},
		{"triple double quotes", `${ """x "}" y""" }`, []Part{e(` """x "}" y""" `)}, true},
		{"raw string keeps backslash", `${ r'\' + '}' }`, []Part{e(` r'\' + '}' `)}, true},
		{"raw bytes", `${ rb'\' }x`, []Part{e(` rb'\' `), l("x")}, false},
		{"identifier ending in r is not raw", `${ [bar, '\'}'] }`, []Part{e(` [bar, '\'}'] `)}, true},
		{"bytes", "${ b'}' }", []Part{e(" b'}' ")}, true},
		{"comment", "${ x // a } here\n}", []Part{e(" x // a } here\n")}, true},
		{"division is not a comment", "${ a / b }", []Part{e(" a / b ")}, true},
		{"quoted identifier", "${ input.`a}b` }", []Part{e(" input.`a}b` ")}, true},
		{"unicode", "héllo ${ 'wörld' } ✓", []Part{l("héllo "), e(" 'wörld' "), l(" ✓")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			got := make([]Part, len(p.Parts))
			for i, pt := range p.Parts {
				got[i] = Part{Expr: pt.Expr, Text: pt.Text}
				if pt.Expr && tt.src[pt.Offset:pt.Offset+len(pt.Text)] != pt.Text {
					t.Errorf("part %d: offset %d does not point at %q", i, pt.Offset, pt.Text)
				}
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.parts) {
				t.Errorf("Parse(%q) parts\n got %+v\nwant %+v", tt.src, got, tt.parts)
			}
			if p.IsSingle() != tt.single {
				t.Errorf("IsSingle = %v, want %v", p.IsSingle(), tt.single)
			}
			if p.String() != tt.src {
				t.Errorf("String() = %q, want the source back", p.String())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src    string
		offset int
		msg    string
	}{
		{"${ x", 0, "no \"}\" closes"},
		{"abc ${ x", 4, "no \"}\" closes"},
		{"${a}${", 4, "no \"}\" closes"},
		{"hi ${ 'x }", 3, "string literal at offset 6"},
		{"${ '''x }", 0, "string literal at offset 3"},
		{"${ {'a': 1 }", 0, "no \"}\" closes"},
		{"${ x // comment }", 0, "comment"},
		{"${}", 0, "empty expression"},
		{"a ${  \n }", 2, "empty expression"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		pe, ok := err.(*ParseError)
		if !ok {
			t.Errorf("Parse(%q) = %v, want a *ParseError", tt.src, err)
			continue
		}
		if pe.Offset != tt.offset || !strings.Contains(pe.Message, tt.msg) {
			t.Errorf("Parse(%q) = offset %d %q, want offset %d and %q", tt.src, pe.Offset, pe.Message, tt.offset, tt.msg)
		}
	}
}

func TestParseOffsets(t *testing.T) {
	p, err := Parse("ab$${c}${ d }e")
	if err != nil {
		t.Fatal(err)
	}
	want := []Part{{Text: "ab${c}", Offset: 0}, {Expr: true, Text: " d ", Offset: 9}, {Text: "e", Offset: 13}}
	if !reflect.DeepEqual(p.Parts, want) {
		t.Errorf("parts = %+v, want %+v", p.Parts, want)
	}
}

func TestParseLiteralAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse("https://api.example.com/v1"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("parsing a plain string allocates %v times, want 1 (the result)", allocs)
	}
}
