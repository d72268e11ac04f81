package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec/catalog"
)

// catalog --format summary --into rewrites only the marked block of a
// README, links each connector from the README's directory, and says
// which lines to add when the block is missing.
func TestCatalogInto(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	doc := "# Our integrations\n\nBefore.\n\n" + catalog.BeginMarker + "\nold text\n" + catalog.EndMarker + "\n\nAfter.\n"
	if err := os.WriteFile(readme, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "catalog", "--format", "summary", "--into", readme, quickstart)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	abs, err := filepath.Abs(filepath.Join(quickstart, "connectors", "stripe"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Our integrations\n\nBefore.\n\n" + catalog.BeginMarker + "\n\n| connector |", "| [Stripe](" + filepath.ToSlash(rel) + ") |", catalog.EndMarker + "\n\nAfter.\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("README lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "old text") {
		t.Errorf("the old block stayed:\n%s", s)
	}

	// Run again: nothing changes.
	if code, _, stderr := runCLI(t, "catalog", "--format", "summary", "--into", readme, quickstart); code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if again, _ := os.ReadFile(readme); string(again) != s {
		t.Errorf("a second run changed the file")
	}

	if err := os.WriteFile(readme, []byte("# No block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "catalog", "--format", "summary", "--into", readme, quickstart)
	if code == 0 || !strings.Contains(stderr, catalog.BeginMarker) || !strings.Contains(stderr, "README.md") {
		t.Errorf("without markers: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "catalog", "--format", "json", "--into", readme, quickstart); code == 0 || !strings.Contains(stderr, "--format summary") {
		t.Errorf("--into with json: exit %d, %q", code, stderr)
	}
}
