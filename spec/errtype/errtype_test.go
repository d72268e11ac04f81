package errtype_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/membrane-dev/membrane/spec/errtype"
)

// TestList: the list holds each type once, the rule types are some of
// them, and Known tells a listed type from another.
func TestList(t *testing.T) {
	all := errtype.All()
	for i, typ := range all {
		if slices.Index(all, typ) != i {
			t.Errorf("%q is listed twice", typ)
		}
		if !typ.Known() {
			t.Errorf("%q is listed but not Known", typ)
		}
	}
	for _, typ := range errtype.RuleTypes() {
		if !slices.Contains(all, typ) {
			t.Errorf("rule type %q is not in All", typ)
		}
	}
	for _, typ := range []errtype.ErrorType{"", "Auth", "refused-address", "too-large"} {
		if typ.Known() {
			t.Errorf("%q is Known", typ)
		}
	}
	// A caller may keep what All returns.
	errtype.All()[0] = "changed"
	if errtype.All()[0] == "changed" {
		t.Error("All returns the package's own slice")
	}
}

// TestEveryConstantListed reads errtype.go: every constant of the error
// types is in All, with a doc comment, and All has no value without one.
func TestEveryConstantListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errtype.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var consts []errtype.ErrorType
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				continue
			}
			v, _ := strconv.Unquote(lit.Value)
			consts = append(consts, errtype.ErrorType(v))
			if vs.Doc == nil {
				t.Errorf("%s (%q) has no doc comment", vs.Names[0], v)
			}
			if !errtype.ErrorType(v).Known() {
				t.Errorf("%s (%q) is not in the list", vs.Names[0], v)
			}
		}
	}
	if !slices.Equal(consts, errtype.All()) {
		t.Errorf("the constants are %q; All is %q: keep them in the same order", consts, errtype.All())
	}
}
