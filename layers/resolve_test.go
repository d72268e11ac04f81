package layers_test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// The test workspace: a universal create-contact, an acme connector that
// implements it, and an override (connections/acme-eu.yaml) that adds a
// custom input field, sends it in the body and moves the base URL.
const (
	wsDir        = "testdata/ws"
	overrideFile = "testdata/ws/connections/acme-eu.yaml"
)

func loadWorkspace(t *testing.T, paths ...string) *spec.Workspace {
	t.Helper()
	ws, diags := loadUnchecked(paths...)
	if len(diags) > 0 {
		t.Fatalf("load %v:\n%v", paths, diags)
	}
	return ws
}

// loadOverride reads one ConnectionOverride file, as `--override` does.
func loadOverride(t *testing.T, path string) *spec.ConnectionOverride {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	els, diags := spec.LoadFile(path, data)
	if len(diags) > 0 || len(els) != 1 {
		t.Fatalf("LoadFile(%s): %d elements, %v", path, len(els), diags)
	}
	o, ok := els[0].(*spec.ConnectionOverride)
	if !ok {
		t.Fatalf("%s holds a %T", path, els[0])
	}
	return o
}

// lineOf returns the 1-based line of file holding text, so tests name
// lines by content rather than by number.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), text) {
			return n
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return 0
}

func TestResolveActionWithOverride(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	if len(ws.Overrides) != 1 {
		t.Fatalf("want the workspace's one override, got %d", len(ws.Overrides))
	}
	r, diags := layers.ResolveAction(ws, "acme", "create-contact", ws.Overrides[0])
	if len(diags) > 0 || r == nil {
		t.Fatalf("ResolveAction: %v", diags)
	}

	// The effective input schema has the override's property…
	fc := r.Input.Lookup("/properties/favoriteColor")
	if fc == nil {
		t.Fatalf("the resolved input schema lacks favoriteColor: %s", jsonOf(t, r.Input))
	}
	if got := jsonOf(t, fc); got != `{"type":"string"}` {
		t.Errorf("favoriteColor = %s", got)
	}
	if fc.Layer != layers.Connection || fc.Pos.File != overrideFile || fc.Pos.Line != lineOf(t, overrideFile, "favoriteColor:") {
		t.Errorf("favoriteColor from %s %s, want the connection layer at %s:%d", fc.Layer, fc.Pos, overrideFile, lineOf(t, overrideFile, "favoriteColor:"))
	}
	// …and keeps the universal contract.
	req := r.Input.Get("required")
	if req == nil || !slices.ContainsFunc(req.Items, func(v *tree.Value) bool { return v.Str == "email" }) {
		t.Errorf("email is no longer required: %s", jsonOf(t, r.Input))
	}
	for _, p := range []string{"/properties/email", "/properties/firstName", "/required"} {
		n := r.Input.Lookup(p)
		if n == nil || n.Layer != layers.Universal || n.Pos.File != "testdata/ws/universal/create-contact.yaml" {
			t.Errorf("input %s: %+v, want it from the universal layer", p, n)
		}
	}
	if r.Output.Lookup("/properties/id") == nil || jsonOf(t, r.Output.Get("required")) != `["id"]` {
		t.Errorf("output schema lost the contract: %s", jsonOf(t, r.Output))
	}

	// The body field is in the merged action, compiled, from the override.
	body := r.Action.Request.Body
	color := body.Get("favorite_color")
	if color == nil || color.Str != "${ input.?favoriteColor.orValue(null) }" {
		t.Fatalf("body lacks favorite_color: %s", jsonOf(t, body))
	}
	if color.Layer != layers.Connection || color.Pos.File != overrideFile {
		t.Errorf("favorite_color from %s %s", color.Layer, color.Pos)
	}
	if email := body.Get("email"); email == nil || email.Layer != layers.Integration {
		t.Errorf("email: %+v, want it from the integration layer", email)
	}
	if r.Compiled == nil || r.Compiled.Request == nil || r.Compiled.Request.Body == nil {
		t.Fatal("the action is not compiled")
	}

	// The connector patch applies too.
	if got := r.Connector.BaseURL.Source; got != "https://eu.api.acme.test" {
		t.Errorf("baseUrl = %q", got)
	}
	if n := r.ConnectorDoc.Get("baseUrl"); n.Layer != layers.Connection || n.Pos.File != overrideFile {
		t.Errorf("baseUrl from %s %s", n.Layer, n.Pos)
	}
	if n := r.ConnectorDoc.Get("name"); n.Layer != layers.Integration {
		t.Errorf("name from %s, want integration", n.Layer)
	}

	// The integration layer alone has neither.
	plain, diags := layers.ResolveAction(ws, "acme", "create-contact")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if plain.Input.Lookup("/properties/favoriteColor") != nil || plain.Action.Request.Body.Get("favorite_color") != nil {
		t.Error("resolving without the override still has its fields")
	}
	if plain.Connector.BaseURL.Source != "https://api.acme.test" {
		t.Errorf("baseUrl = %q without the override", plain.Connector.BaseURL.Source)
	}
	// The override did not leak into the workspace's own documents.
	if ws.Action("acme", "create-contact").Source.Doc.Lookup("/request/body/favorite_color") != nil {
		t.Error("ResolveAction modified the integration document")
	}
}

func TestResolveActionByUniversalKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/universal.yaml", "kind: UniversalAction\nkey: find-person\ninput: {type: object}\noutput: {type: object}\n")
	writeFile(t, dir+"/c.yaml", "kind: Connector\nkey: c\nbaseUrl: https://c.test\n")
	writeFile(t, dir+"/a.yaml", "kind: Action\nconnector: c\nkey: search-people\nimplements: find-person\nrequest: {path: /people}\n")
	ws := loadWorkspace(t, dir)
	r, diags := layers.ResolveAction(ws, "c", "find-person")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if r.Action.Key != "search-people" || r.Universal == nil || r.Universal.Key != "find-person" {
		t.Errorf("resolved %q implementing %v", r.Action.Key, r.Universal)
	}
	_, diags = layers.ResolveAction(ws, "c", "search-peple")
	if len(diags) != 1 || diags[0].Rule != "unknown-reference" || !strings.Contains(diags[0].Message, `did you mean "search-people"`) {
		t.Errorf("misspelt action: %v", diags)
	}
	_, diags = layers.ResolveAction(ws, "nope", "find-person")
	if len(diags) != 1 || diags[0].Rule != "unknown-reference" {
		t.Errorf("unknown connector: %v", diags)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResolveActionContract checks that an override that breaks the
// universal contract is refused with a `contract` diagnostic naming the
// connection layer and the override's file:line.
func TestResolveActionContract(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	for _, c := range []struct {
		file string
		line string // the text of the offending line
		msg  string
	}{
		{"unrequire.yaml", "required: [firstName]", `input field "email" must stay required`},
		{"drop-required.yaml", "required: null", `input field "email" must stay required`},
		{"retype.yaml", "email: {type: integer}", `input field "email" must stay of type "string"`},
		{"retype-output.yaml", `id: {type: [string, "null"]}`, `output field "id" must stay of type "string"`},
		{"drop-property.yaml", "email: null", `input field "email" of the universal contract was removed`},
		{"drop-output-schema.yaml", "outputSchema: null", `the output schema was removed`},
		{"drop-output.yaml", "id: null", `output field "id" of the universal contract is no longer mapped`},
		{"drop-output-mapping.yaml", "output: null", `the output mapping was removed`},
		{"implements.yaml", "implements: get-contact", `cannot change what action "create-contact" implements`},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := "testdata/broken/" + c.file
			o := loadOverride(t, path)
			r, diags := layers.ResolveAction(ws, "acme", "create-contact", o)
			if r != nil {
				t.Errorf("an override that breaks the contract resolved")
			}
			line := lineOf(t, path, c.line)
			var found *diag.Diagnostic
			for i, d := range diags {
				if d.Rule == "contract" && strings.Contains(d.Message, c.msg) {
					found = &diags[i]
				}
			}
			if found == nil {
				t.Fatalf("no contract diagnostic %q in:\n%v", c.msg, diags)
			}
			if found.Severity != diag.Error || found.Pos.File != path || found.Pos.Line != line {
				t.Errorf("reported at %s (%s), want an error at %s:%d", found.Pos, found.Severity, path, line)
			}
			if c.file != "implements.yaml" && !strings.Contains(found.Message, fmt.Sprintf("the connection layer at %s:%d", path, line)) {
				t.Errorf("the message does not name the connection layer at %s:%d: %s", path, line, found.Message)
			}
		})
	}
}

// TestResolveActionOverrideExpression checks that an override's expression
// is type-checked against the merged input schema, and a mistake in it is
// reported in the override file.
func TestResolveActionOverrideExpression(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	path := "testdata/broken/bad-expression.yaml"
	_, diags := layers.ResolveAction(ws, "acme", "create-contact", loadOverride(t, path))
	if len(diags) != 1 || diags[0].Rule != "expression" || diags[0].Pos.File != path || diags[0].Pos.Line != lineOf(t, path, "favoriteColour") {
		t.Fatalf("want one expression error in %s, got:\n%v", path, diags)
	}
	// The same expression compiles once the override declares the field.
	_, diags = layers.ResolveAction(ws, "acme", "create-contact", ws.Overrides[0], loadOverride(t, path))
	if len(diags) == 0 || !strings.Contains(diags[0].Message, "favoriteColour") {
		t.Errorf("a misspelt field must stay an error: %v", diags)
	}
}

// TestResolveActionOverridesInOrder applies two overrides: the later wins,
// and a later one may remove what an earlier one added.
func TestResolveActionOverridesInOrder(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	dir := t.TempDir()
	writeFile(t, dir+"/later.yaml", `kind: ConnectionOverride
connector: acme
connectorPatch:
  baseUrl: https://sandbox.acme.test
actions:
  create-contact:
    request:
      body:
        favorite_color: null
`)
	later := loadOverride(t, dir+"/later.yaml")
	r, diags := layers.ResolveAction(ws, "acme", "create-contact", ws.Overrides[0], later)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if r.Connector.BaseURL.Source != "https://sandbox.acme.test" {
		t.Errorf("baseUrl = %q, want the later override's", r.Connector.BaseURL.Source)
	}
	if r.Action.Request.Body.Get("favorite_color") != nil {
		t.Error("the later override's null did not remove favorite_color")
	}
	if r.Input.Lookup("/properties/favoriteColor") == nil {
		t.Error("the earlier override's input field is gone")
	}
}

// TestCheck validates a workspace with its overrides, as `membrane
// validate` does.
func TestCheck(t *testing.T) {
	if diags := layers.Check(loadWorkspace(t, wsDir)); len(diags) > 0 {
		t.Errorf("Check of a valid workspace:\n%v", diags)
	}

	// The same workspace with an override that breaks the contract.
	path := "testdata/broken/retype.yaml"
	diags := layers.Check(loadWorkspace(t, wsDir, path))
	if len(diags) != 1 {
		t.Fatalf("want one diagnostic, got:\n%v", diags)
	}
	d := diags[0]
	if d.Rule != "contract" || d.Pos.File != path || d.Pos.Line != lineOf(t, path, "type: integer") || !strings.Contains(d.Message, "the connection layer at "+path) {
		t.Errorf("got %v", d)
	}

	// A connector-only patch is checked too, through one of its actions.
	path = "testdata/broken/base-url.yaml"
	diags = layers.Check(loadWorkspace(t, wsDir, path))
	if !diags.HasErrors() || !strings.Contains(diags.Err().Error(), "baseUrl") {
		t.Errorf("removing the connector's baseUrl: %v", diags)
	}

	// An override for a connector the workspace lacks is spec's to report.
	dir := t.TempDir()
	writeFile(t, dir+"/o.yaml", "kind: ConnectionOverride\nconnector: nope\nactions: {x: {output: null}}\n")
	ws, _ := loadUnchecked(wsDir, dir)
	if diags := layers.Check(ws); len(diags) > 0 {
		t.Errorf("Check reported an unknown connector that spec reports: %v", diags)
	}
}
