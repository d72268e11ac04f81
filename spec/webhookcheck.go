package spec

import (
	"maps"
	"slices"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
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
	for _, c := range []struct {
		name string
		call *WebhookCall
	}{{"subscribe", w.Subscribe}, {"renew", w.Renew}, {"unsubscribe", w.Unsubscribe}} {
		if c.call != nil && c.call.Action != "" {
			checkWebhookCall(ws, e, c.name, c.call, doc.Get(c.name), diags)
		}
	}
	if t := w.Type; t.Source != "" && !hasExpr(t.Source) && !slices.Contains(ChangeTypes, t.Source) {
		diags.Errorf(t.Pos, "invalid-value", "webhook.type %q is not a change type; write created, updated or deleted, or an expression giving one", t.Source)
	}
}

// checkWebhookCall checks the action a webhook's subscribe, renew or
// unsubscribe runs: that the connector defines it, and that a literal
// input has the fields its input schema requires and no field it forbids
// (the types of the fields are compile's to check).
func checkWebhookCall(ws *Workspace, e *Event, name string, c *WebhookCall, doc *tree.Value, diags *diag.List) {
	pos := c.Pos
	if v := doc.Get("action"); v != nil {
		pos = v.Pos
	}
	a := ws.Action(e.Connector, c.Action)
	if a == nil {
		if !ws.broken[KindAction+"/"+e.Connector+"/"+c.Action] && ws.Connectors[e.Connector] != nil {
			diags.Errorf(pos, "unknown-reference", "webhook.%s runs action %q, which connector %q does not define%s",
				name, c.Action, e.Connector, suggest.DidYouMean(c.Action, slices.Collect(maps.Keys(ws.Actions[e.Connector]))))
		}
		return
	}
	if ws.ContractBroken(a) {
		return
	}
	in := ws.InputSchema(a)
	if in == nil || (c.Input != nil && (c.Input.Kind != tree.Map || c.Input.Get("$merge") != nil)) {
		return // no schema, or an input whose fields are known only when it runs
	}
	at := pos
	if c.Input != nil {
		at = c.Input.Pos
	}
	var required []*tree.Value
	if r := in.Get("required"); r != nil {
		required = r.Items
	}
	for _, r := range required {
		if r.Kind == tree.String && c.Input.Get(r.Str) == nil {
			diags.Errorf(at, "contract", "webhook.%s gives action %q no %q, which its input schema requires; add input.%s", name, c.Action, r.Str, r.Str)
		}
	}
	if ap := in.Get("additionalProperties"); ap != nil && ap.Kind == tree.Bool && !ap.Bool && c.Input != nil {
		props := in.Get("properties")
		for _, f := range c.Input.Fields {
			if props.Get(f.Key) == nil {
				diags.Errorf(f.Value.Pos, "contract", "webhook.%s gives action %q the input field %q, which its input schema does not allow%s",
					name, c.Action, f.Key, suggest.DidYouMean(f.Key, fieldKeys(props)))
			}
		}
	}
}

func fieldKeys(v *tree.Value) []string {
	var out []string
	if v != nil {
		for _, f := range v.Fields {
			out = append(out, f.Key)
		}
	}
	return out
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
