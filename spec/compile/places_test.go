package compile

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// Every variable list the compiler declares (vars…) is in Places, so the
// generated reference names every place an expression may stand in.
func TestPlacesNameEveryVariableList(t *testing.T) {
	fset := token.NewFileSet()
	declared := map[string]bool{}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == "places.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, sp := range g.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "vars") {
						declared[n.Name] = true
					}
				}
			}
		}
	}
	f, err := parser.ParseFile(fset, "places.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			delete(declared, id.Name)
		}
		return true
	})
	if len(declared) > 0 {
		t.Errorf("variable lists missing from Places (and so from docs/cel-reference.md): %v", declared)
	}
}
