package compile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/internal/wsgen"
)

// TestReloadCompilesOnlyTheChangedFile counts compilations: spec/expr
// returns the same *Template for a source it has compiled in the same
// environment, so a template not seen before is one compiled. After one
// action file of 1,000 changes, its new expression is the only one.
func TestReloadCompilesOnlyTheChangedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and loads 1,160 files")
	}
	dir := t.TempDir()
	if err := wsgen.Write(dir, wsgen.Default); err != nil {
		t.Fatal(err)
	}
	l := spec.NewLoader()
	ws, diags := l.Load(dir)
	if diags = append(diags, Check(ws)...); diags.HasErrors() {
		t.Fatalf("diagnostics:\n%v", diags)
	}
	seen := templates(ws)
	const name = "connectors/app042/actions/create-contact.yaml"
	path := filepath.Join(dir, name)
	text := string(mustRead(t, path))
	// An expression no other file has, so it must compile.
	edited := strings.Replace(text, "${ input.name + '-' + string(now) }", "${ input.name + '-edited-' + string(now) }", 1)
	if edited == text {
		t.Fatal("the generated action has no idempotency expression to edit")
	}
	writeFile(t, path, edited)

	ws, diags = l.Load(dir)
	if diags = append(diags, Check(ws)...); diags.HasErrors() {
		t.Fatalf("diagnostics:\n%v", diags)
	}
	var compiled []string
	for tm, where := range templates(ws) {
		if _, ok := seen[tm]; !ok {
			compiled = append(compiled, where)
		}
	}
	if len(compiled) != 1 || !strings.HasPrefix(compiled[0], "app042/create-contact:") {
		t.Errorf("the reload compiled %d templates, want the edited one only: %q", len(compiled), compiled)
	}
}

// templates returns every compiled template of the workspace's actions,
// each with where it stands.
func templates(ws *spec.Workspace) map[*expr.Template]string {
	out := map[*expr.Template]string{}
	for conn, acts := range ws.Actions {
		for key, a := range acts {
			var d diag.List
			ca := NewAction(ws.Connectors[conn], a, ws.InputSchema(a), ws.OutputSchema(a), &d)
			for _, x := range actionExprs(ca) {
				if x != nil && x.Template != nil {
					out[x.Template] = conn + "/" + key + ": " + x.Src.Source
				}
			}
		}
	}
	return out
}

func actionExprs(ca *Action) []*Expr {
	var out []*Expr
	req := func(r *Request) {
		if r == nil {
			return
		}
		out = append(out, r.Path)
		for _, n := range slices.Concat(r.Query, r.Headers) {
			out = append(out, n.Expr)
		}
		out = mappingExprs(r.Body, out)
	}
	req(ca.Request)
	for _, e := range ca.Errors {
		out = append(out, e.When, e.Message)
	}
	if p := ca.Pagination; p != nil {
		out = append(out, p.Items, p.NextCursor, p.HasMore)
	}
	for _, st := range ca.Steps {
		out = append(out, st.When, st.ForEach)
		req(st.Request)
		out = mappingExprs(st.Output, mappingExprs(st.Input, out))
	}
	return mappingExprs(ca.Output, mappingExprs(ca.Record, out))
}

func mappingExprs(m *Mapping, out []*Expr) []*Expr {
	if m == nil {
		return out
	}
	out = append(out, m.expr)
	for _, f := range slices.Concat(m.fields, m.items) {
		out = mappingExprs(f, out)
	}
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
