package layers_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
)

// TestLoadChecksLayers: the loader every caller uses reports what only
// resolving through the layers finds, at the override's line, and a
// Loader reports it again on a reload that re-parses nothing.
func TestLoadChecksLayers(t *testing.T) {
	path := "testdata/broken/retype.yaml"
	want := lineOf(t, path, "type: integer")
	check := func(name string, load func() []string) {
		t.Helper()
		got := load()
		if len(got) != 1 || !strings.Contains(got[0], path+":"+strconv.Itoa(want)+":") || !strings.Contains(got[0], "[contract]") {
			t.Errorf("%s: want one contract error at %s:%d, got %q", name, path, want, got)
		}
	}
	check("Load", func() []string {
		_, diags := layers.Load(wsDir, path)
		return errorStrings(diags)
	})
	l := layers.NewLoader()
	for _, name := range []string{"Loader.Load", "Loader.Load again", "Loader.LoadInvalidated"} {
		check(name, func() []string {
			load := l.Load
			if name == "Loader.LoadInvalidated" {
				l.Invalidate(path)
				load = l.LoadInvalidated
			}
			_, diags := load(wsDir, path)
			return errorStrings(diags)
		})
	}
	if _, diags := layers.Load(wsDir); len(diags) > 0 {
		t.Errorf("a valid workspace: %v", diags)
	}
}

// loadUnchecked loads a workspace as Load does but for Check, which a
// test then runs itself: what spec.Load and compile.Check report.
func loadUnchecked(paths ...string) (*spec.Workspace, diag.List) {
	ws, diags := spec.Load(paths...)
	return ws, append(diags, compile.Check(ws)...)
}

func errorStrings(diags diag.List) []string {
	var out []string
	for _, d := range diags {
		if d.Severity == diag.Error {
			out = append(out, d.String())
		}
	}
	return out
}

// TestOneLoader keeps every caller on the checked loader: outside spec
// and layers, no code of the module loads a workspace with spec.Load or
// spec.NewLoader, which skip the checks across layers.
func TestOneLoader(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	const specPath = `"github.com/membrane-dev/membrane/spec"`
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case rel == "spec", rel == "layers", d.Name() == "testdata", d.Name() == "node_modules", strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		name := ""
		for _, imp := range f.Imports {
			if imp.Path.Value == specPath {
				name = "spec"
				if imp.Name != nil {
					name = imp.Name.Name
				}
			}
		}
		if name == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == name && (sel.Sel.Name == "Load" || sel.Sel.Name == "NewLoader") {
				t.Errorf("%s: spec.%s skips the checks across layers; use layers.%[2]s", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
