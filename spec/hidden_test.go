package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/membrane-dev/membrane/spec"
)

// Editors' hidden files beside the specs are not read: an Emacs lock link
// (a dangling symlink) or a macOS fork is no spec and no I/O error.
func TestHiddenFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "u.yaml"), []byte("kind: UniversalAction\nkey: ping\ninput: {type: object}\noutput: {type: object}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("user@host.1234:1700000000", filepath.Join(dir, ".#u.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "._u.yaml"), []byte{0, 5, 22, 7}, 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := spec.Load(dir)
	if diags.HasErrors() || len(ws.Files) != 1 || ws.UniversalActions["ping"] == nil {
		t.Fatalf("files %v\n%v", ws.Files, diags)
	}
}
