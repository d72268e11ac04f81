package spec

import (
	"maps"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/spec/diag"

	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// check runs the checks that need the whole workspace: references between
// files, the inline JSON Schemas, and contracts between the universal and
// integration layers. Expressions are compiled after it, by spec/compile.
func check(ws *Workspace, diags *diag.List) {
	for _, key := range sortedKeys(ws.UniversalActions) {
		ua := ws.UniversalActions[key]
		ws.checkSchema(ua.Input, nil, diags)
		ws.checkSchema(ua.Output, nil, diags)
	}
	for _, key := range sortedKeys(ws.UniversalEvents) {
		ws.checkSchema(ws.UniversalEvents[key].Record, nil, diags)
	}
	for _, key := range sortedKeys(ws.Connectors) {
		c := ws.Connectors[key]
		ws.checkSchema(c.Parameters, nil, diags)
		for _, a := range c.Modes() {
			ws.checkSchema(a.Credentials, nil, diags)
		}
		checkAuthModeKeys(c, diags)
	}
	implemented := map[string]bool{}
	for _, conn := range sortedKeys(ws.Actions) {
		for _, key := range sortedKeys(ws.Actions[conn]) {
			a := ws.Actions[conn][key]
			checkActionRefs(ws, a, diags)
			if a.Implements != "" {
				implemented[a.Implements] = true
			}
		}
	}
	for _, conn := range sortedKeys(ws.Events) {
		for _, key := range sortedKeys(ws.Events[conn]) {
			e := ws.Events[conn][key]
			checkEventRefs(ws, e, diags)
			if e.Implements != "" {
				implemented["event:"+e.Implements] = true
			}
		}
	}
	for _, o := range ws.Overrides {
		checkOverrideRefs(ws, o, diags)
	}
	if ws.Config != nil {
		checkWorkspaceConfig(ws, ws.Config, diags)
	}
	for _, t := range ws.Tests {
		checkTest(ws, t, diags)
	}
	for _, key := range sortedKeys(ws.UniversalActions) {
		if !implemented[key] && !ws.brokenImplements[KindAction+"/"+key] {
			ua := ws.UniversalActions[key]
			diags.Warnf(keyPos(ua.Source), "unused", "universal action %q has no implementation in any connector", key)
		}
	}
	for _, key := range sortedKeys(ws.UniversalEvents) {
		if !implemented["event:"+key] && !ws.brokenImplements[KindEvent+"/"+key] {
			ue := ws.UniversalEvents[key]
			diags.Warnf(keyPos(ue.Source), "unused", "universal event %q has no implementation in any connector", key)
		}
	}
}

// fieldPos is where a document's top-level field stands (its value), or the
// document itself.
func fieldPos(s Source, name string) diag.Pos {
	if v := s.Doc.Get(name); v != nil {
		return v.Pos
	}
	return s.Pos
}

func checkConnectorRef(ws *Workspace, src Source, key string, diags *diag.List) bool {
	return connectorAt(ws, fieldPos(src, "connector"), key, diags)
}

// connectorAt reports whether the workspace defines connector key, and
// when it does not, says so at pos with the nearest key; a connector whose
// file is broken has its own errors and is not reported again.
func connectorAt(ws *Workspace, pos diag.Pos, key string, diags *diag.List) bool {
	if _, ok := ws.Connectors[key]; ok {
		return true
	}
	if !ws.broken[KindConnector+"//"+key] {
		diags.Errorf(pos, "unknown-reference", "connector %q is not defined in the workspace%s", key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Connectors))))
	}
	return false
}

func checkActionRefs(ws *Workspace, a *Action, diags *diag.List) {
	checkConnectorRef(ws, a.Source, a.Connector, diags)
	var ua *UniversalAction
	if a.Internal && a.Implements != "" {
		diags.Errorf(fieldPos(a.Source, "internal"), "invalid-value", "an internal action is offered to no caller, so it cannot implement universal action %q; remove internal, or implements", a.Implements)
	}
	if a.Implements != "" {
		var ok bool
		ua, ok = ws.UniversalActions[a.Implements]
		if !ok && !ws.broken[KindUniversalAction+"//"+a.Implements] {
			diags.Errorf(fieldPos(a.Source, "implements"), "unknown-reference", "universal action %q is not defined in the workspace%s", a.Implements, suggest.DidYouMean(a.Implements, slices.Collect(maps.Keys(ws.UniversalActions))))
		}
	}
	var inAt, outAt []diag.Pos
	what := ""
	if ua != nil {
		what = "universal action " + quote(ua.Key)
		if !ws.SchemaBroken(ua.Input) {
			inAt = checkImplementation("inputSchema", "input", a.InputSchema, ua.Input, what, diags)
		}
		if !ws.SchemaBroken(ua.Output) {
			outAt = checkImplementation("outputSchema", "output", a.OutputSchema, ua.Output, what, diags)
		}
	}
	ws.checkSchema(a.InputSchema, inAt, diags)
	ws.checkSchema(a.OutputSchema, outAt, diags)
	if ua != nil {
		ws.checkExtended(a.InputSchema, ua.Input, diags)
		ws.checkExtended(a.OutputSchema, ua.Output, diags)
		if !ws.SchemaBroken(ua.Output) {
			checkOutputCoversContract(a.Source, "output", a.Output, ua.Output, what, diags)
		}
	}
	seen := map[string]diag.Pos{}
	for _, ref := range actionSteps(a) {
		st := ref.st
		if prev, ok := seen[st.Name]; ok {
			diags.Errorf(ref.fieldPos("name"), "duplicate-definition", "step %q is already defined at line %d; step names must be unique in an action, its onError steps included", st.Name, prev.Line)
		} else {
			seen[st.Name] = ref.fieldPos("name")
		}
		if st.Action == "" {
			continue
		}
		pos := ref.fieldPos("action")
		switch {
		case ws.Action(a.Connector, st.Action) == nil:
			if !ws.broken[KindAction+"/"+a.Connector+"/"+st.Action] {
				others := slices.DeleteFunc(slices.Collect(maps.Keys(ws.Actions[a.Connector])), func(k string) bool { return k == a.Key })
				diags.Errorf(pos, "unknown-reference", "step %q calls action %q, which connector %q does not define%s", st.Name, st.Action, a.Connector, suggest.DidYouMean(st.Action, others))
			}
		case st.Action == a.Key:
			diags.Errorf(pos, "call-cycle", "step %q calls its own action %q; an action cannot call itself", st.Name, a.Key)
		default:
			if path := callPath(ws, a.Connector, st.Action, a.Key, map[string]bool{}); path != nil {
				diags.Errorf(pos, "call-cycle", "step %q calls action %q, which calls back into %q (%s); actions cannot call each other in a cycle",
					st.Name, st.Action, a.Key, strings.Join(append([]string{a.Key}, path...), " → "))
			}
		}
	}
}

// stepRef is one step of an action with its YAML node (nil when the
// document does not have it), wherever it stands: in steps, or in the
// steps of an onError block, the action's or a step's.
type stepRef struct {
	st   *Step
	node *tree.Value
}

// fieldPos is where a field of the step is written, or the step itself.
func (r stepRef) fieldPos(field string) diag.Pos {
	if v := r.node.Get(field); v != nil {
		return v.Pos
	}
	return r.st.Pos
}

// actionSteps lists every step of an action, in document order: each step,
// then its onError steps; the action's onError steps last.
func actionSteps(a *Action) []stepRef {
	var out []stepRef
	var walk func(steps []Step, nodes *tree.Value)
	walk = func(steps []Step, nodes *tree.Value) {
		for i := range steps {
			st := &steps[i]
			var node *tree.Value
			if nodes != nil && nodes.Kind == tree.List && i < len(nodes.Items) {
				node = nodes.Items[i]
			}
			out = append(out, stepRef{st: st, node: node})
			if st.OnError != nil {
				walk(st.OnError.Steps, node.Get("onError").Get("steps"))
			}
		}
	}
	doc := a.Source.Doc
	walk(a.Steps, doc.Get("steps"))
	if a.OnError != nil {
		walk(a.OnError.Steps, doc.Get("onError").Get("steps"))
	}
	return out
}

// CalledActions returns the keys of the actions an action's steps call,
// its onError steps' included, in document order.
func (a *Action) CalledActions() []string {
	var out []string
	for _, r := range actionSteps(a) {
		if r.st.Action != "" {
			out = append(out, r.st.Action)
		}
	}
	return out
}

// callPath returns the chain of actions from `from` to `to` through steps
// (from first, to last), or nil when `from` never leads to `to`.
func callPath(ws *Workspace, conn, from, to string, seen map[string]bool) []string {
	if from == to {
		return []string{to}
	}
	if seen[from] {
		return nil
	}
	seen[from] = true
	a := ws.Action(conn, from)
	if a == nil {
		return nil
	}
	for _, called := range a.CalledActions() {
		if p := callPath(ws, conn, called, to, seen); p != nil {
			return append([]string{from}, p...)
		}
	}
	return nil
}

func checkEventRefs(ws *Workspace, e *Event, diags *diag.List) {
	checkConnectorRef(ws, e.Source, e.Connector, diags)
	checkWebhookRefs(ws, e, diags)
	var ue *UniversalEvent
	if e.Implements != "" {
		var ok bool
		ue, ok = ws.UniversalEvents[e.Implements]
		if !ok && !ws.broken[KindUniversalEvent+"//"+e.Implements] {
			diags.Errorf(fieldPos(e.Source, "implements"), "unknown-reference", "universal event %q is not defined in the workspace%s", e.Implements, suggest.DidYouMean(e.Implements, slices.Collect(maps.Keys(ws.UniversalEvents))))
		}
	}
	var at []diag.Pos
	if ue != nil && !ws.SchemaBroken(ue.Record) {
		at = checkImplementation("recordSchema", "record", e.RecordSchema, ue.Record, "universal event "+quote(ue.Key), diags)
	}
	ws.checkSchema(e.RecordSchema, at, diags)
	if ue != nil {
		ws.checkExtended(e.RecordSchema, ue.Record, diags)
		if !ws.SchemaBroken(ue.Record) {
			checkOutputCoversContract(e.Source, "record", e.Record, ue.Record, "universal event "+quote(ue.Key), diags)
		}
	}
}

func checkOverrideRefs(ws *Workspace, o *ConnectionOverride, diags *diag.List) {
	if !checkConnectorRef(ws, o.Source, o.Connector, diags) {
		return
	}
	// The schemas a patch writes are checked here too, whether or not what
	// they patch is sound (layers checks the merged ones).
	if cp := o.ConnectorPatch; cp != nil {
		schema.CheckKeywords(cp.Get("parameters"), diags)
		schema.CheckKeywords(cp.Get("auth").Get("credentials"), diags)
	}
	if o.AuthMode != "" {
		if c := ws.Connectors[o.Connector]; c != nil && c.AuthMode(o.AuthMode) == nil {
			keys := c.AuthModeKeys()
			diags.Errorf(o.Source.Doc.Get("authMode").Pos, "unknown-reference", "connector %q has no auth mode %q; its modes are %s%s", o.Connector, o.AuthMode, strings.Join(keys, ", "), suggest.DidYouMean(o.AuthMode, keys))
		}
	}
	patches := o.Source.Doc.Get("actions")
	for _, key := range sortedKeys(o.Actions) {
		schema.CheckKeywords(o.Actions[key].Get("inputSchema"), diags)
		schema.CheckKeywords(o.Actions[key].Get("outputSchema"), diags)
		if ws.Action(o.Connector, key) == nil && !ws.broken[KindAction+"/"+o.Connector+"/"+key] {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no action %q to override%s", o.Connector, key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Actions[o.Connector]))))
		}
	}
	patches = o.Source.Doc.Get("events")
	for _, key := range sortedKeys(o.Events) {
		schema.CheckKeywords(o.Events[key].Get("recordSchema"), diags)
		if ws.Event(o.Connector, key) == nil && !ws.broken[KindEvent+"/"+o.Connector+"/"+key] {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no event %q to override%s", o.Connector, key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Events[o.Connector]))))
		}
	}
}

// checkSchema compiles a schema the workspace owns and reports the
// keywords JSON Schema does not define. A schema with either problem is
// marked broken, so that what depends on it (the types of the expressions
// that read it, the contracts of its implementations) is not reported as
// well. Errors at the positions in skip are left out: a contract error
// already stands there.
func (w *Workspace) checkSchema(s *Schema, skip []diag.Pos, diags *diag.List) {
	if s.IsZero() {
		return
	}
	var found diag.List
	bad := schema.CheckKeywords(s.Value, &found)
	if s.Compile(&found) == nil {
		bad = true
	}
	for _, d := range found {
		if !slices.Contains(skip, d.Pos) {
			*diags = append(*diags, d)
		}
	}
	if bad || len(skip) > 0 {
		w.badSchemas[s.Value] = true
	}
}

// SchemaBroken reports whether an inline schema of the workspace has
// errors of its own, which Load reported. What the schema types or binds
// (the expressions that read it, the contracts of its implementations) is
// then not checked against it, so that one error is not reported again
// through its consequences.
func (w *Workspace) SchemaBroken(s *Schema) bool { return !s.IsZero() && w.badSchemas[s.Value] }

// checkExtended compiles the schema an implementation runs under (the
// universal one extended by its own) when both compile alone, so that
// nothing fails first at run time.
func (w *Workspace) checkExtended(own, universal *Schema, diags *diag.List) {
	if own.IsZero() || universal.IsZero() || w.SchemaBroken(own) || w.SchemaBroken(universal) {
		return
	}
	(&Schema{Value: schema.Extend(universal.Value, own.Value)}).Compile(diags)
}

// checkOutputCoversContract checks that a mapping written as a literal
// object gives every field the contract's schema requires. Field types are
// checked with the expressions, which know their result types. With no
// mapping at all the raw response (or record) is the result, checked
// against the contract at run time.
func checkOutputCoversContract(src Source, field string, mapping *tree.Value, contract *Schema, what string, diags *diag.List) {
	if contract.IsZero() || mapping == nil || mapping.Kind != tree.Map {
		return // one expression: its type is checked when compiled
	}
	pos := mapping.Pos
	if f := src.Doc.Field(field); f != nil {
		pos = f.KeyPos
	}
	for _, r := range schemaRequired(contract.Value) {
		if mapping.Get(r) == nil {
			diags.Errorf(pos, "contract", "the %s mapping does not give %q, which %s requires; add it", field, r, what)
		}
	}
}

func schemaRequired(s *tree.Value) []string {
	var out []string
	if r := s.Get("required"); r != nil && r.Kind == tree.List {
		for _, it := range r.Items {
			if it.Kind == tree.String {
				out = append(out, it.Str)
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func quote(s string) string { return `"` + s + `"` }

// checkAuthModeKeys reports two auth modes of one connector sharing a key:
// a connection names its mode by key.
func checkAuthModeKeys(c *Connector, diags *diag.List) {
	list := c.Source.Doc.Get("auth")
	if list == nil || list.Kind != tree.List {
		return
	}
	seen := map[string]int{}
	for i, a := range c.AuthModes {
		pos := list.Items[i].Get("key").Pos
		if line, ok := seen[a.Key]; ok {
			diags.Errorf(pos, "duplicate-definition", "auth mode %q is already defined at line %d; a connection names its mode by key, so each mode needs its own", a.Key, line)
			continue
		}
		seen[a.Key] = pos.Line
	}
}
