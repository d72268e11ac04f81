package conntest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
)

// A connector test may expect host-not-allowed: a case whose connection
// parameter tries to choose the host passes when the run is refused, and
// sends nothing.
func TestExpectsHostNotAllowed(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"notes.yaml": `kind: Connector
key: notes
baseUrl: https://${ connection.parameters.account }.notes.invalid
parameters: {type: object, required: [account], properties: {account: {type: string}}}
---
kind: Action
connector: notes
key: get-note
request: {path: /notes/1}
output: ${ response.body }
`,
		"tests.yaml": `kind: ConnectorTest
connector: notes
action: get-note
connection: {parameters: {account: "evil.example/"}}
cases:
  - name: a parameter that chooses the host is refused
    error: {type: host-not-allowed, message: account}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	results := run(t, ws)
	if len(results) != 1 || !results[0].Passed() {
		for _, r := range results {
			t.Errorf("%s failed:\n%s", r.Case.Name, strings.Join(r.Failures, "\n"))
		}
		t.Fatalf("%d results, want 1 that passes", len(results))
	}
}
