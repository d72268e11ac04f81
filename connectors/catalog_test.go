package connectors_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/catalog"
)

// TestCatalogPage checks that docs/catalog.md is what the files make of it
// today, so the published page never lags the catalogue.
func TestCatalogPage(t *testing.T) {
	ws, diags := layers.Load(".")
	if errs, _ := diags.Count(); errs > 0 {
		t.Fatalf("the catalogue does not load:\n%v", diags)
	}
	c, err := catalog.Build(ws, "testdata/prism")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := catalog.WriteMarkdown(&want, c, "go generate ./connectors"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../docs/catalog.md")
	if err != nil {
		t.Fatalf("%v; run go generate ./connectors", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("docs/catalog.md is stale; run go generate ./connectors and commit it")
	}

	// The README's block, linked from the README's directory.
	var summary bytes.Buffer
	if err := catalog.WriteSummary(&summary, c, ".."); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := catalog.Splice(readme, summary.String())
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if !bytes.Equal(fresh, readme) {
		t.Errorf("README.md's catalogue block is stale; run go generate ./connectors and commit it")
	}
}
