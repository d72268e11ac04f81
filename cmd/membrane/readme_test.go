package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
)

// The README's YAML examples are what new users copy first: together they
// must form a valid workspace.
func TestReadmeExamplesValidate(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	n := 0
	for _, b := range blocks {
		if !strings.Contains(b[1], "kind:") {
			continue
		}
		n++
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)+".yaml"), []byte(b[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n < 5 {
		t.Fatalf("found %d YAML examples with a kind in the README, want at least 5", n)
	}
	ws, diags := layers.Load(dir)
	diags = append(diags, layers.Check(ws)...)
	for _, d := range diags {
		t.Errorf("README example %s", d)
	}
}

// Every YAML snippet of the README's Workflows section is a whole
// document, so TestReadmeExamplesValidate checks each one.
func TestReadmeWorkflowSnippetsAreChecked(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Workflows\n")
	if !ok {
		t.Fatal("the README has no Workflows section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 5 {
		t.Fatalf("the Workflows section has %d YAML snippets, want at least 5", len(blocks))
	}
	for i, b := range blocks {
		if !strings.Contains(b[1], "kind:") {
			t.Errorf("Workflows snippet %d has no kind:, so nothing validates it:\n%s", i+1, b[1])
		}
	}
}
