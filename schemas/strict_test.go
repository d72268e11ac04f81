package schemas_test

import (
	"path/filepath"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/schemas"
)

// TestStrictValidatorsCompile: every editor schema compiles under ajv's
// default strict mode, which refuses a keyword JSON Schema does not define
// (such as an editor's patternErrorMessage): a user's own tooling must be
// able to use the schemas.
func TestStrictValidatorsCompile(t *testing.T) {
	var files []string
	for _, k := range schemas.Kinds() {
		f, err := filepath.Abs(schemas.FileName(k))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out, logged, ok := testkit.Ajv(t, "", "strict.mjs", files...)
	if !ok {
		t.Errorf("ajv (default strict mode) refuses:\n%s%s", out, logged)
	}
	if logged != "" {
		t.Logf("what ajv's default mode only logs:\n%s", logged)
	}
}
