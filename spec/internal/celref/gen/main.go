// Command gen writes docs/cel-reference.md (see package celref).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/membrane-dev/membrane/spec/internal/celref"
)

func main() {
	out := flag.String("out", "docs/cel-reference.md", "the file to write")
	flag.Parse()
	b, err := celref.Markdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
