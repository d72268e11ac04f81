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
	workspace := ""       // the file of the README's Workspace example
	var settings []string // examples of membrane.yaml settings alone, such as delivery:
	for _, b := range blocks {
		if strings.HasPrefix(b[1], "# membrane.yaml") && !strings.Contains(b[1], "kind:") {
			settings = append(settings, b[1])
			continue
		}
		if !strings.Contains(b[1], "kind:") {
			continue
		}
		n++
		name := filepath.Join(dir, strconv.Itoa(n)+".yaml")
		if strings.Contains(b[1], "kind: Workspace") {
			workspace = name
		}
		if err := os.WriteFile(name, []byte(b[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n < 5 {
		t.Fatalf("found %d YAML examples with a kind in the README, want at least 5", n)
	}
	if workspace == "" || len(settings) == 0 {
		t.Fatalf("want a kind: Workspace example and a '# membrane.yaml' settings example (delivery:) in the README")
	}
	// The settings examples go into the Workspace example, as a user
	// adds them to their membrane.yaml.
	f, err := os.OpenFile(workspace, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
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
