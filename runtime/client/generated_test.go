package client_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/membrane-dev/membrane/runtime/client/internal/wiregen"
)

// TestGenerated: types.go is what wiregen generates from the server's
// types, so that the client reads every field the server sends.
func TestGenerated(t *testing.T) {
	root, err := wiregen.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	want, err := wiregen.Generate(root)
	if err != nil {
		t.Fatalf("%v; then run go generate ./runtime/client/...", err)
	}
	got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(wiregen.Output)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; run go generate ./runtime/client/...", wiregen.Output)
	}
}
