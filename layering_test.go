package membrane_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/membrane-dev/membrane"

// TestDataFlowsOneWay keeps the flow files → spec → layers → runtime (the
// file kinds' schemas come before spec, which checks files against them):
// no package imports one further down it, and no program code imports the
// test support. (Tests may import anything.)
func TestDataFlowsOneWay(t *testing.T) {
	// What code under each directory may import of the module (package
	// paths and everything under them); cmd/ may import anything.
	allowed := []struct {
		under string
		may   []string
	}{
		{"schemas", []string{"schemas", "spec/diag", "spec/errtype", "spec/suggest"}}, // the leaves of spec
		{"spec", []string{"schemas", "spec"}},
		{"layers", []string{"spec", "layers"}},
		{"runtime", []string{"spec", "schemas", "layers", "runtime", module}},
	}
	within := func(pkg, prefix string) bool {
		if prefix == module {
			return pkg == module
		}
		return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != "." && (n == "testdata" || n == "node_modules" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(p))
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(ip, module+"/")
			if !ok {
				if ip == module {
					rel = module
				} else {
					continue // the standard library or a dependency
				}
			}
			if (within(rel, "internal/testkit") || within(rel, "internal/apitest") || within(rel, "internal/otlptest")) && !strings.HasPrefix(dir, "internal/") {
				t.Errorf("%s imports %s, which is for tests only", p, ip)
			}
			for _, rule := range allowed {
				if dir != rule.under && !strings.HasPrefix(dir, rule.under+"/") {
					continue
				}
				ok := false
				for _, m := range rule.may {
					ok = ok || within(rel, m)
				}
				if !ok {
					t.Errorf("%s imports %s: code under %s/ may import only %v of the module", p, ip, rule.under, rule.may)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
