package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec/tree"
)

// TestFileTooLarge: a file over tree.MaxFileSize is refused before it is read.
func TestFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	line := "# " + strings.Repeat("x", 1021) + "\n" // 1 KiB
	for range 10 << 10 {
		f.WriteString(line)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, diags := Load(dir)
	got := strings.ReplaceAll(diagText(diags), filepath.ToSlash(dir)+"/", "")
	want := "big.yaml:1:1: error: file is 10.0 MiB, larger than the 4.0 MiB a spec file may be; split it, or move data out of the workspace [file-too-large]\n"
	if got != want {
		t.Errorf("got  %swant %s", got, want)
	}
	// The same limit holds for bytes given directly.
	_, diags = tree.ParseYAML("f.yaml", make([]byte, tree.MaxFileSize+1))
	if len(diags) != 1 || diags[0].Rule != "file-too-large" {
		t.Errorf("ParseYAML of %d bytes: %v", tree.MaxFileSize+1, diags)
	}
}

// TestLoadFileBroken: LoadFile gives only usable elements; a document with
// errors gives its diagnostics and no element.
func TestLoadFileBroken(t *testing.T) {
	for _, src := range []string{
		"kind: ConnectionOverride\nconnector: stripe\nactionz: {}\n",
		"kind: ConnectionOverride\nconnector: stripe\nactions: {a: [\n",
		"kind: ConectionOverride\nconnector: stripe\n",
	} {
		els, diags := LoadFile("o.yaml", []byte(src))
		if len(els) != 0 || !diags.HasErrors() {
			t.Errorf("LoadFile(%q) = %v, %v; want no element and an error", src, els, diags)
		}
	}
	els, diags := LoadFile("o.yaml", []byte("kind: ConnectionOverride\nconnector: stripe\n"))
	if _, ok := els[0].(*ConnectionOverride); len(els) != 1 || !ok || len(diags) > 0 {
		t.Errorf("LoadFile of a good override = %v, %v", els, diags)
	}
}
