package spec_test

import (
	"os"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/internal/wsgen"
)

// TestGeneratedWorkspace: the benchmark's workspace is valid, through the
// layers too, so the benchmark measures a clean validation.
func TestGeneratedWorkspace(t *testing.T) {
	dir := t.TempDir()
	cfg := wsgen.Config{Connectors: 8, Actions: 10, Overrides: 4}
	if err := wsgen.Write(dir, cfg); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if len(diags) > 0 {
		t.Fatalf("the generated workspace has problems:\n%s", render(dir, diags))
	}
	if len(ws.Files) != cfg.Files() {
		t.Errorf("read %d files, want %d", len(ws.Files), cfg.Files())
	}
}

// TestWriteBenchWorkspace writes wsgen.Default into $MEMBRANE_WSGEN_DIR for
// scripts/bench-validate.sh; without it, it does nothing.
func TestWriteBenchWorkspace(t *testing.T) {
	dir := os.Getenv("MEMBRANE_WSGEN_DIR")
	if dir == "" {
		t.Skip("MEMBRANE_WSGEN_DIR is not set")
	}
	if err := wsgen.Write(dir, wsgen.Default); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLoad1000 loads the workspace of wsgen.Default (1,160 files: 100
// connectors × 10 actions, 10 universal actions, 50 overrides) and checks
// the overrides through the layers, as `membrane validate` does. The
// compiled-expression caches of spec/expr live for the process, so only the
// first iteration compiles; the wall time of a cold `membrane validate` is
// what scripts/bench-validate.sh measures.
func BenchmarkLoad1000(b *testing.B) {
	dir := b.TempDir()
	if err := wsgen.Write(dir, wsgen.Default); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, diags := layers.Load(dir)
		if len(diags) > 0 {
			b.Fatalf("%d diagnostics, the first: %v", len(diags), diags[0])
		}
	}
}
