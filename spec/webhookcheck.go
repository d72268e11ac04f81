package spec

import (
	"maps"
	"slices"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
)

// checkWebhookRefs checks what an event's webhook names outside itself:
// the action that enriches id-only payloads, and a literal change type.
func checkWebhookRefs(ws *Workspace, e *Event, diags *diag.List) {
	w := e.Webhook
	if w == nil {
		return
	}
	doc := e.Source.Doc.Get("webhook")
	if en := w.Enrich; en != nil && en.Action != "" && ws.Action(e.Connector, en.Action) == nil &&
		!ws.broken[KindAction+"/"+e.Connector+"/"+en.Action] && ws.Connectors[e.Connector] != nil {
		pos := e.Source.Pos
		if v := doc.Get("enrich").Get("action"); v != nil {
			pos = v.Pos
		}
		diags.Errorf(pos, "unknown-reference", "webhook.enrich runs action %q, which connector %q does not define%s",
			en.Action, e.Connector, suggest.DidYouMean(en.Action, slices.Collect(maps.Keys(ws.Actions[e.Connector]))))
	}
	if t := w.Type; t.Source != "" && !hasExpr(t.Source) && !slices.Contains(ChangeTypes, t.Source) {
		diags.Errorf(t.Pos, "invalid-value", "webhook.type %q is not a change type; write created, updated or deleted, or an expression giving one", t.Source)
	}
}

// hasExpr reports whether template text holds an expression.
func hasExpr(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '$' && s[i+1] == '{' {
			return true
		}
	}
	return false
}
