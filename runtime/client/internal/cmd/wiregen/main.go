// Command wiregen writes runtime/client/types.go from the server's types:
//
//	go generate ./runtime/client/...
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/membrane-dev/membrane/runtime/client/internal/wiregen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	root, err := wiregen.FindRoot(".")
	if err != nil {
		return err
	}
	src, err := wiregen.Generate(root)
	if err != nil {
		return err
	}
	p := filepath.Join(root, filepath.FromSlash(wiregen.Output))
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, src) {
		return nil
	}
	if err := os.WriteFile(p, src, 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", wiregen.Output)
	return nil
}
