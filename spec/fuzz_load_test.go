package spec_test

import (
	"testing"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// FuzzLoadFile: no file makes loading panic or hang, through every stage a
// workspace goes through: YAML, the kinds' schemas, decoding, references,
// inline JSON Schemas and CEL.
func FuzzLoadFile(f *testing.F) {
	spec.FuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, diags := spec.LoadOneFile("f.yaml", data)
		spec.CheckDiagnostics(t, "f.yaml", data, diags)
		spec.CheckDiagnostics(t, "f.yaml", data, compile.Check(ws))
	})
}
