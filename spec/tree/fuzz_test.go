package tree

import (
	"testing"

	"github.com/membrane-dev/membrane/spec/internal/specfuzz"
)

// FuzzParseYAML: no input makes the YAML reader panic, hang or report a
// problem nowhere.
func FuzzParseYAML(f *testing.F) {
	specfuzz.Seeds(f, "../testdata", "../../examples/quickstart")
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, diags := ParseYAML("f.yaml", data)
		specfuzz.CheckDiagnostics(t, "f.yaml", data, diags)
		for _, d := range docs {
			if d.Root == nil || d.Pos.File != "f.yaml" {
				t.Fatalf("document without a root or a file: %+v", d)
			}
			if _, err := d.Root.MarshalJSON(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
