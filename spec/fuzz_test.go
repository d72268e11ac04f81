package spec_test

import (
	"testing"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/internal/specfuzz"
)

// FuzzLoadFile: no file makes loading panic or hang, through every stage a
// workspace goes through: YAML, the kinds' schemas, decoding, references,
// inline JSON Schemas and CEL.
func FuzzLoadFile(f *testing.F) {
	specfuzz.Seeds(f, "testdata", "../examples/quickstart")
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, diags := spec.LoadOneFile("f.yaml", data)
		specfuzz.CheckDiagnostics(t, "f.yaml", data, diags)
		specfuzz.CheckDiagnostics(t, "f.yaml", data, compile.Check(ws))
	})
}
