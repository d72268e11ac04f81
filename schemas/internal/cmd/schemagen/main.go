// Command schemagen writes Membrane's JSON Schemas from their sources:
//
//	go generate ./schemas/...
//
// runs it in schemas/, where it reads src/ and writes each
// <kind>.schema.json beside it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/membrane-dev/membrane/schemas/internal/schemagen"
)

func main() {
	src := flag.String("src", "src", "the directory of the sources")
	out := flag.String("out", ".", "the directory to write the schemas into")
	flag.Parse()
	files, err := schemagen.Generate(os.DirFS(*src))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, f := range files {
		p := filepath.Join(*out, f.Name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("wrote", p)
	}
}
