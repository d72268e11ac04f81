package layers_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/compile"
)

// A body written as one expression (to leave absent fields out with
// `?key:`) is still patched field by field: an override's object merges
// into the expression's value, objects into objects, instead of replacing
// the whole body.
func TestOverrideMergesIntoExpressionBody(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/connector.yaml", "kind: Connector\nkey: crm\nbaseUrl: https://api.crm.test\n")
	writeFile(t, dir+"/update.yaml", `kind: Action
connector: crm
key: update-contact
inputSchema:
  type: object
  required: [id]
  properties:
    id: {type: string}
    name: {type: string}
    color: {type: string}
request:
  method: PATCH
  path: /contacts/${ input.id }
  body: >-
    ${ {?"name": input.?name, "properties": {"source": "membrane", "plan": "free"}} }
`)
	override := dir + "/override.yaml"
	writeFile(t, override, `kind: ConnectionOverride
connector: crm
actions:
  update-contact:
    request:
      body:
        properties:
          plan: pro
          favorite_color: ${ input.?color.orValue(null) }
        team: sales
`)
	ws := loadWorkspace(t, dir)
	r, diags := layers.ResolveAction(ws, "crm", "update-contact", loadOverride(t, override))
	if len(diags) > 0 {
		t.Fatalf("ResolveAction: %v", diags)
	}
	body := func(input map[string]any) any {
		t.Helper()
		v, err := r.Compiled.Request.Body.Eval(context.Background(), map[string]any{"input": input})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	got := body(map[string]any{"id": "c1", "name": "Ada", "color": "teal"})
	want := map[string]any{
		"name":       "Ada",
		"properties": map[string]any{"source": "membrane", "plan": "pro", "favorite_color": "teal"},
		"team":       "sales",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %#v\nwant   %#v", got, want)
	}
	// Absent values stay absent: the connector's `?name` and the
	// override's null color.
	got = body(map[string]any{"id": "c1"})
	want = map[string]any{
		"properties": map[string]any{"source": "membrane", "plan": "pro"},
		"team":       "sales",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body without name and color = %#v\nwant   %#v", got, want)
	}
	// explain shows the merge: the connector's expression and the override's fields.
	if b := r.Doc.Get("request").Get("body"); b.Get(compile.MergeKey) == nil || b.Get("team") == nil || b.Layer != layers.Connection {
		t.Errorf("merged body = %s", b.Interface())
	}
}

// An override's object cannot merge into a body expression that gives
// something else: the error, at load or at run time, names the override's
// line, since the override is what to fix.
func TestOverrideMergeIntoNonObjectBody(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/connector.yaml", "kind: Connector\nkey: crm\nbaseUrl: https://api.crm.test\n")
	writeFile(t, dir+"/bulk.yaml", `kind: Action
connector: crm
key: bulk
inputSchema:
  type: object
  properties:
    ids: {type: array, items: {type: string}}
    payload: {}
request:
  method: POST
  path: /bulk
  body: ${ input.ids }
`)
	writeFile(t, dir+"/dyn.yaml", `kind: Action
connector: crm
key: raw
inputSchema:
  type: object
  properties:
    payload: {}
request:
  method: POST
  path: /raw
  body: ${ input.payload }
`)
	override := dir + "/override.yaml"
	writeFile(t, override, `kind: ConnectionOverride
connector: crm
actions:
  bulk:
    request:
      body:
        team: sales
  raw:
    request:
      body:
        region: eu
`)
	ws := loadWorkspace(t, dir)
	o := loadOverride(t, override)
	_, diags := layers.ResolveAction(ws, "crm", "bulk", o)
	if len(diags) != 1 || diags[0].Pos.File != override || !strings.Contains(diags[0].Message, "must be an object, not list(string)") {
		t.Errorf("want one error in %s: %v", override, diags)
	}
	// A dynamic value is checked when the request is built.
	r, diags := layers.ResolveAction(ws, "crm", "raw", o)
	if len(diags) > 0 {
		t.Fatalf("ResolveAction: %v", diags)
	}
	_, err := r.Compiled.Request.Body.Eval(context.Background(), map[string]any{"input": map[string]any{"payload": []any{1}}})
	var ee *compile.ExprError
	if !errors.As(err, &ee) || ee.Pos.File != override || ee.Pos.Line != lineOf(t, override, "region") || !strings.Contains(ee.Msg, "must be an object, not an array") {
		t.Errorf("run-time error = %v, want one at %s:%d", err, override, lineOf(t, override, "region"))
	}
}
