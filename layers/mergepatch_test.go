package layers_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// parse reads one YAML (or JSON) document, keeping positions in file.
func parse(t *testing.T, file, src string) *tree.Value {
	t.Helper()
	if src == "null" {
		// ParseYAML leaves empty (null) documents out.
		return &tree.Value{Kind: tree.Null, Pos: diag.Pos{File: file, Line: 1, Col: 1}}
	}
	docs, diags := tree.ParseYAML(file, []byte(src))
	if len(diags) > 0 {
		t.Fatalf("parse %s: %v", file, diags)
	}
	if len(docs) != 1 {
		t.Fatalf("parse %s: %d documents, want 1", file, len(docs))
	}
	return docs[0].Root
}

// canonical decodes JSON into plain Go values, so that two documents
// compare equal whatever their key order.
func canonical(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return v
}

func jsonOf(t *testing.T, v *tree.Value) string {
	t.Helper()
	b, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMergePatchRFC7386 runs every example of RFC 7386 appendix A (the
// same table as RFC 7396's).
func TestMergePatchRFC7386(t *testing.T) {
	vectors := []struct{ original, patch, result string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for i, v := range vectors {
		t.Run(fmt.Sprintf("%d/%s+%s", i+1, v.original, v.patch), func(t *testing.T) {
			target := parse(t, "target.json", v.original)
			patch := parse(t, "patch.json", v.patch)
			targetBefore, patchBefore := jsonOf(t, target), jsonOf(t, patch)

			got := layers.MergePatch(target, patch, layers.Connection)

			if g, w := canonical(t, []byte(jsonOf(t, got))), canonical(t, []byte(v.result)); !reflect.DeepEqual(g, w) {
				t.Errorf("MergePatch(%s, %s) = %s, want %s", v.original, v.patch, jsonOf(t, got), v.result)
			}
			// The result keeps the target's key order and appends new keys
			// in the patch's order, so explain reads like the files.
			if got.Kind == tree.Map && jsonOf(t, got) != compact(t, v.result) {
				t.Errorf("key order: got %s, want %s", jsonOf(t, got), compact(t, v.result))
			}
			if jsonOf(t, target) != targetBefore || jsonOf(t, patch) != patchBefore {
				t.Errorf("MergePatch modified its inputs: target %s → %s, patch %s → %s", targetBefore, jsonOf(t, target), patchBefore, jsonOf(t, patch))
			}
		})
	}
}

// compact rewrites a JSON document without spaces, keeping key order.
func compact(t *testing.T, s string) string {
	t.Helper()
	return jsonOf(t, parse(t, "want.json", s))
}

func TestMergePatchNilPatchCopiesTarget(t *testing.T) {
	target := parse(t, "target.yaml", "a: {b: c}\n")
	got := layers.MergePatch(target, nil, layers.Connection)
	if jsonOf(t, got) != `{"a":{"b":"c"}}` {
		t.Fatalf("got %s", jsonOf(t, got))
	}
	got.Get("a").Set("b", got.Pos, &tree.Value{Kind: tree.String, Str: "changed"})
	if jsonOf(t, target) != `{"a":{"b":"c"}}` {
		t.Errorf("the result shares nodes with the target: target is now %s", jsonOf(t, target))
	}
}

const provenanceBase = `request:
  method: POST
  path: /contacts
  body:
    email: ${ input.email }
    first_name: ${ input.firstName }
  headers:
    Accept: application/json
output:
  id: ${ response.body.id }
`

const provenancePatch = `request:
  body:
    first_name: null
    color: ${ input.color }
  query:
    region: eu
output: ${ response.body }
`

// TestMergePatchProvenance checks that every node of a merge says which
// layer and which file:line gave it.
func TestMergePatchProvenance(t *testing.T) {
	base := layers.Label(parse(t, "actions/create-contact.yaml", provenanceBase), layers.Integration)
	patch := parse(t, "connections/acme.yaml", provenancePatch)
	got := layers.MergePatch(base, patch, layers.Connection)

	type want struct {
		ptr        string
		layer      string
		file       string
		line, col  int
		jsonOfNode string
	}
	for _, w := range []want{
		// Untouched nodes keep their layer and place.
		{"", layers.Integration, "actions/create-contact.yaml", 1, 1, ""},
		{"/request", layers.Integration, "actions/create-contact.yaml", 2, 3, ""},
		{"/request/method", layers.Integration, "actions/create-contact.yaml", 2, 11, `"POST"`},
		{"/request/body", layers.Integration, "actions/create-contact.yaml", 5, 5, ""},
		{"/request/body/email", layers.Integration, "actions/create-contact.yaml", 5, 12, `"${ input.email }"`},
		{"/request/headers/Accept", layers.Integration, "actions/create-contact.yaml", 8, 13, `"application/json"`},
		// Nodes from the patch carry its layer and place.
		{"/request/body/color", layers.Connection, "connections/acme.yaml", 4, 12, `"${ input.color }"`},
		{"/request/query", layers.Connection, "connections/acme.yaml", 6, 5, `{"region":"eu"}`},
		{"/request/query/region", layers.Connection, "connections/acme.yaml", 6, 13, `"eu"`},
		{"/output", layers.Connection, "connections/acme.yaml", 7, 9, `"${ response.body }"`},
	} {
		n := got.Lookup(w.ptr)
		if n == nil {
			t.Errorf("%s: missing from %s", w.ptr, jsonOf(t, got))
			continue
		}
		if n.Layer != w.layer || n.Pos.File != w.file || n.Pos.Line != w.line || n.Pos.Col != w.col {
			t.Errorf("%s: from %s %s, want %s %s:%d:%d", w.ptr, n.Layer, n.Pos, w.layer, w.file, w.line, w.col)
		}
		if w.jsonOfNode != "" && jsonOf(t, n) != w.jsonOfNode {
			t.Errorf("%s = %s, want %s", w.ptr, jsonOf(t, n), w.jsonOfNode)
		}
	}
	if got.Lookup("/request/body/first_name") != nil {
		t.Errorf("first_name: a null in the patch must remove it: %s", jsonOf(t, got))
	}
	// A key the patch adds keeps the patch's key position.
	if f := got.Get("request").Get("body").Field("color"); f == nil || f.KeyPos.File != "connections/acme.yaml" || f.KeyPos.Line != 4 || f.KeyPos.Col != 5 {
		t.Errorf("color: key position %+v, want connections/acme.yaml:4:5", f)
	}
	// Invariant: a node's layer and file agree everywhere.
	got.Walk(func(ptr string, n *tree.Value) bool {
		switch n.Pos.File {
		case "actions/create-contact.yaml":
			if n.Layer != layers.Integration {
				t.Errorf("%s: from the integration file but labelled %q", ptr, n.Layer)
			}
		case "connections/acme.yaml":
			if n.Layer != layers.Connection {
				t.Errorf("%s: from the override but labelled %q", ptr, n.Layer)
			}
		default:
			t.Errorf("%s: unexpected file %q", ptr, n.Pos.File)
		}
		return true
	})
	// The patch itself is left unlabelled.
	patch.Walk(func(ptr string, n *tree.Value) bool {
		if n.Layer != "" {
			t.Errorf("patch %s was labelled %q", ptr, n.Layer)
		}
		return true
	})
}

// TestMergePatchOntoScalar checks that patching a non-object with an object
// builds the object at the patch's place.
func TestMergePatchOntoScalar(t *testing.T) {
	base := layers.Label(parse(t, "base.yaml", "body: ${ input }\n"), layers.Integration)
	patch := parse(t, "patch.yaml", "body:\n  a: 1\n")
	got := layers.MergePatch(base, patch, layers.Connection)
	body := got.Get("body")
	if jsonOf(t, body) != `{"a":1}` {
		t.Fatalf("body = %s", jsonOf(t, body))
	}
	if body.Layer != layers.Connection || body.Pos.File != "patch.yaml" || body.Pos.Line != 2 {
		t.Errorf("body from %s %s, want connection patch.yaml:2", body.Layer, body.Pos)
	}
}

func TestLabel(t *testing.T) {
	v := parse(t, "u.yaml", "a: [1, {b: c}]\n")
	l := layers.Label(v, layers.Universal)
	l.Walk(func(ptr string, n *tree.Value) bool {
		if n.Layer != layers.Universal {
			t.Errorf("%s: layer %q", ptr, n.Layer)
		}
		return true
	})
	v.Walk(func(ptr string, n *tree.Value) bool {
		if n.Layer != "" {
			t.Errorf("Label modified its input at %s", ptr)
		}
		return true
	})
}
