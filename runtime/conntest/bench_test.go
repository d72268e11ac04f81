package conntest_test

import (
	"context"
	"os"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/conntest"
	"github.com/membrane-dev/membrane/runtime/conntest/internal/testgen"
)

// TestWriteBenchWorkspace writes the benchmark workspace into
// $MEMBRANE_TESTGEN_DIR, for scripts/bench-test.sh; without it, it skips.
func TestWriteBenchWorkspace(t *testing.T) {
	dir := os.Getenv("MEMBRANE_TESTGEN_DIR")
	if dir == "" {
		t.Skip("MEMBRANE_TESTGEN_DIR is not set")
	}
	if err := testgen.Write(dir, testgen.Default); err != nil {
		t.Fatal(err)
	}
}

// TestGeneratedWorkspacePasses keeps the generator honest: its workspace
// loads clean and every case passes.
func TestGeneratedWorkspacePasses(t *testing.T) {
	dir := t.TempDir()
	cfg := testgen.Config{Connectors: 2, CasesPerAction: 4}
	if err := testgen.Write(dir, cfg); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if len(diags) > 0 {
		t.Fatalf("the generated workspace has diagnostics:\n%v", diags)
	}
	cases := conntest.Cases(ws, nil)
	if len(cases) != cfg.Cases() {
		t.Fatalf("%d cases, want %d", len(cases), cfg.Cases())
	}
	r := conntest.New(ws, conntest.Options{})
	defer r.Close()
	for _, res := range r.Run(context.Background(), cases) {
		if !res.Passed() {
			t.Errorf("%s: %v", res.Case.Name, res.Failures)
		}
	}
}

// BenchmarkRun runs the 1,000 cases of the benchmark workspace, loaded
// once: the in-process part of `membrane test`.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	if err := testgen.Write(dir, testgen.Default); err != nil {
		b.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	cases := conntest.Cases(ws, nil)
	for b.Loop() {
		r := conntest.New(ws, conntest.Options{})
		for _, res := range r.Run(context.Background(), cases) {
			if !res.Passed() {
				b.Fatalf("%s: %v", res.Case.Name, res.Failures)
			}
		}
		r.Close()
	}
}
