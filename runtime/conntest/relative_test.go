package conntest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
)

const basePathWorkspace = `kind: Connector
key: hub
baseUrl: https://api.hub.invalid/crm/v3
auth: {type: none}
---
kind: Action
connector: hub
key: update
inputSchema: {type: object, properties: {phone: {type: string}}}
request:
  method: PATCH
  path: /contacts/42
  body: {properties: "${ {'name': 'Ada'} }"}
`

func runWorkspace(t *testing.T, files map[string]string) []Result {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	r := New(ws, Options{Parallel: 1})
	defer r.Close()
	return r.Run(context.Background(), Cases(ws, nil))
}

// A test's request paths are relative to the base URL (its path
// included), and a path written whole still matches; an expected null
// means absent or null in exact matching as in partial.
func TestPathsRelativeToTheBaseURLAndNullMatching(t *testing.T) {
	res := runWorkspace(t, map[string]string{"hub.yaml": basePathWorkspace, "tests.yaml": `kind: ConnectorTest
connector: hub
action: update
cases:
  - name: relative path, exact body with a null for a field not sent
    requests:
      - {method: PATCH, path: /contacts/42, body: {properties: {name: Ada, phone: null}}}
    responses: [{body: {id: "42"}}]
  - name: whole path, partial body with a null
    requests:
      - {method: PATCH, path: /crm/v3/contacts/42, body: {properties: {phone: null}}, match: partial}
    responses: [{body: {id: "42"}}]
  - name: a null does not stand for a field that was sent
    requests:
      - {method: PATCH, path: /contacts/42, body: {properties: {name: null}}}
    responses: [{body: {id: "42"}}]
`})
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res[:2] {
		if !r.Passed() {
			t.Errorf("%s:\n%s", r.Case.Name, strings.Join(r.Failures, "\n"))
		}
	}
	if res[2].Passed() || !strings.Contains(strings.Join(res[2].Failures, "\n"), `/properties/name: want null, got "Ada"`) {
		t.Errorf("%s: failures %q", res[2].Case.Name, res[2].Failures)
	}
}
