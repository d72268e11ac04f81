package schemas

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/schemas/internal/schemagen"
)

// TestGenerated: each schema file is what its source in src/ generates
// (with the shared definitions of src/defs.json copied in), and every
// schema file has a source.
func TestGenerated(t *testing.T) {
	files, err := schemagen.Generate(os.DirFS("src"))
	if err != nil {
		t.Fatalf("%v; fix schemas/src, then run go generate ./schemas/...", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		got, err := os.ReadFile(f.Name)
		if err != nil {
			t.Errorf("schemas/%s is missing; run go generate ./schemas/...", f.Name)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("schemas/%s is stale; run go generate ./schemas/... (edit schemas/src/%s, not the generated file)\n%s",
				f.Name, f.Name, firstDiff(got, f.Data))
		}
	}
	committed, _ := filepath.Glob("*.schema.json")
	for _, f := range committed {
		if !slices.Contains(names, f) {
			t.Errorf("schemas/%s has no source in schemas/src; remove it, or add its source", f)
		}
	}
}

// firstDiff says at which line of the committed file it first differs from
// the generated one.
func firstDiff(committed, generated []byte) string {
	a, b := strings.Split(string(committed), "\n"), strings.Split(string(generated), "\n")
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference, line %d:\n  committed: %s\n  generated: %s", i+1, strings.TrimSpace(a[i]), strings.TrimSpace(b[i]))
		}
	}
	return fmt.Sprintf("the committed file has %d lines, the generated one %d", len(a)-1, len(b)-1)
}
