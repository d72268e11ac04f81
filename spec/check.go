package spec

import (
	"maps"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/spec/diag"
)

// check runs the checks that need the whole workspace: references between
// files, contracts between universal and integration layers, and every
// expression compiled in the place it stands.
func check(ws *Workspace, diags *diag.List) {
	for _, key := range sortedKeys(ws.UniversalActions) {
		ua := ws.UniversalActions[key]
		ua.Input.Compile(diags)
		ua.Output.Compile(diags)
	}
	for _, key := range sortedKeys(ws.UniversalEvents) {
		ws.UniversalEvents[key].Record.Compile(diags)
	}
	for _, key := range sortedKeys(ws.Connectors) {
		c := ws.Connectors[key]
		c.Parameters.Compile(diags)
		if c.Auth != nil {
			c.Auth.Credentials.Compile(diags)
		}
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
	for _, key := range sortedKeys(ws.UniversalActions) {
		if !implemented[key] {
			ua := ws.UniversalActions[key]
			diags.Warnf(keyPos(ua.Source), "unused", "universal action %q has no implementation in any connector", key)
		}
	}
	for _, key := range sortedKeys(ws.UniversalEvents) {
		if !implemented["event:"+key] {
			ue := ws.UniversalEvents[key]
			diags.Warnf(keyPos(ue.Source), "unused", "universal event %q has no implementation in any connector", key)
		}
	}
	compileExpressions(ws, diags)
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
	if _, ok := ws.Connectors[key]; ok {
		return true
	}
	if ws.broken[KindConnector+"//"+key] {
		return false // its own errors are reported
	}
	diags.Errorf(fieldPos(src, "connector"), "unknown-reference", "connector %q is not defined in the workspace%s", key, didYouMean(key, slices.Collect(maps.Keys(ws.Connectors))))
	return false
}

func checkActionRefs(ws *Workspace, a *Action, diags *diag.List) {
	checkConnectorRef(ws, a.Source, a.Connector, diags)
	if a.Implements != "" {
		ua, ok := ws.UniversalActions[a.Implements]
		if !ok && !ws.broken[KindUniversalAction+"//"+a.Implements] {
			diags.Errorf(fieldPos(a.Source, "implements"), "unknown-reference", "universal action %q is not defined in the workspace%s", a.Implements, didYouMean(a.Implements, slices.Collect(maps.Keys(ws.UniversalActions))))
		} else if ok {
			checkOutputCoversContract(a.Output, fieldPos(a.Source, "output"), ua.Output, "universal action "+quote(ua.Key), diags)
		}
	}
	seen := map[string]diag.Pos{}
	for _, st := range a.Steps {
		if prev, ok := seen[st.Name]; ok {
			diags.Errorf(st.Pos, "duplicate-definition", "step %q is already defined at line %d; step names must be unique", st.Name, prev.Line)
		}
		seen[st.Name] = st.Pos
		if st.Action != "" {
			if ws.Action(a.Connector, st.Action) == nil && !ws.broken[KindAction+"/"+a.Connector+"/"+st.Action] {
				diags.Errorf(st.Pos, "unknown-reference", "step %q calls action %q, which connector %q does not define%s", st.Name, st.Action, a.Connector, didYouMean(st.Action, slices.Collect(maps.Keys(ws.Actions[a.Connector]))))
			} else if cycle := callCycle(ws, a.Connector, a.Key, nil); cycle != nil {
				diags.Errorf(st.Pos, "call-cycle", "actions call each other in a cycle: %s", strings.Join(cycle, " → "))
			}
		}
	}
}

// callCycle returns the chain of action keys that leads back to key through
// steps, or nil.
func callCycle(ws *Workspace, conn, key string, path []string) []string {
	if i := slices.Index(path, key); i >= 0 {
		return append(path[i:], key)
	}
	a := ws.Action(conn, key)
	if a == nil {
		return nil
	}
	path = append(path, key)
	for _, st := range a.Steps {
		if st.Action != "" {
			if c := callCycle(ws, conn, st.Action, path); c != nil {
				return c
			}
		}
	}
	return nil
}

func checkEventRefs(ws *Workspace, e *Event, diags *diag.List) {
	checkConnectorRef(ws, e.Source, e.Connector, diags)
	if e.Implements != "" {
		ue, ok := ws.UniversalEvents[e.Implements]
		if !ok && !ws.broken[KindUniversalEvent+"//"+e.Implements] {
			diags.Errorf(fieldPos(e.Source, "implements"), "unknown-reference", "universal event %q is not defined in the workspace%s", e.Implements, didYouMean(e.Implements, slices.Collect(maps.Keys(ws.UniversalEvents))))
		} else if ok {
			checkOutputCoversContract(e.Record, fieldPos(e.Source, "record"), ue.Record, "universal event "+quote(ue.Key), diags)
		}
	}
}

func checkOverrideRefs(ws *Workspace, o *ConnectionOverride, diags *diag.List) {
	if !checkConnectorRef(ws, o.Source, o.Connector, diags) {
		return
	}
	patches := o.Source.Doc.Get("actions")
	for _, key := range sortedKeys(o.Actions) {
		if ws.Action(o.Connector, key) == nil && !ws.broken[KindAction+"/"+o.Connector+"/"+key] {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no action %q to override%s", o.Connector, key, didYouMean(key, slices.Collect(maps.Keys(ws.Actions[o.Connector]))))
		}
	}
	patches = o.Source.Doc.Get("events")
	for _, key := range sortedKeys(o.Events) {
		if ws.Event(o.Connector, key) == nil && !ws.broken[KindEvent+"/"+o.Connector+"/"+key] {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no event %q to override%s", o.Connector, key, didYouMean(key, slices.Collect(maps.Keys(ws.Events[o.Connector]))))
		}
	}
}

// checkOutputCoversContract checks that a mapping written as a literal
// object gives every field the contract's schema requires. Field types are
// checked with the expressions, which know their result types.
func checkOutputCoversContract(mapping *Value, pos diag.Pos, contract *Schema, what string, diags *diag.List) {
	if contract.IsZero() {
		return
	}
	required := schemaRequired(contract.Value)
	if len(required) == 0 {
		return
	}
	if mapping == nil {
		diags.Errorf(pos, "contract", "no output mapping, but %s requires %s", what, strings.Join(quoteAll(required), ", "))
		return
	}
	if mapping.Kind != Map {
		return // one expression: its type is checked when compiled
	}
	for _, r := range required {
		if mapping.Get(r) == nil {
			diags.Errorf(mapping.Pos, "contract", "the mapping does not give %q, which %s requires", r, what)
		}
	}
}

func schemaRequired(s *Value) []string {
	var out []string
	if r := s.Get("required"); r != nil && r.Kind == List {
		for _, it := range r.Items {
			if it.Kind == String {
				out = append(out, it.Str)
			}
		}
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}
