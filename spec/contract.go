package spec

import (
	"slices"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/tree"
)

// InputSchema is the schema an action's input is checked against: the
// universal input extended by the action's own, or the action's own.
func (w *Workspace) InputSchema(a *Action) *tree.Value {
	if ua := w.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
		return extendBy(ua.Input, a.InputSchema)
	}
	return extendBy(nil, a.InputSchema)
}

// OutputSchema is the schema an action's output is checked against.
func (w *Workspace) OutputSchema(a *Action) *tree.Value {
	if ua := w.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
		return extendBy(ua.Output, a.OutputSchema)
	}
	return extendBy(nil, a.OutputSchema)
}

// RecordSchema is the schema an event's records are checked against.
func (w *Workspace) RecordSchema(e *Event) *tree.Value {
	if ue := w.UniversalEvents[e.Implements]; ue != nil && e.Implements != "" {
		return extendBy(ue.Record, e.RecordSchema)
	}
	return extendBy(nil, e.RecordSchema)
}

// ContractBroken reports whether an action's contract is unknown because
// of errors reported elsewhere: the universal action it implements did
// not load, or a schema it runs under has errors of its own. What depends
// on the contract (an override's checks, the types of its expressions) is
// then not checked, so that the one real error is not buried under its
// consequences.
func (w *Workspace) ContractBroken(a *Action) bool {
	if a.Implements != "" && w.broken[KindUniversalAction+"//"+a.Implements] {
		return true
	}
	if w.SchemaBroken(a.InputSchema) || w.SchemaBroken(a.OutputSchema) {
		return true
	}
	ua := w.universalOf(a)
	return ua != nil && (w.SchemaBroken(ua.Input) || w.SchemaBroken(ua.Output))
}

// universalOf returns the universal action an action implements, or nil.
func (w *Workspace) universalOf(a *Action) *UniversalAction {
	if a.Implements == "" {
		return nil
	}
	return w.UniversalActions[a.Implements]
}

func extendBy(universal, own *Schema) *tree.Value {
	var base, add *tree.Value
	if !universal.IsZero() {
		base = universal.Value
	}
	if !own.IsZero() {
		add = own.Value
	}
	return schema.Extend(base, add)
}

// checkImplementation holds an implementation's own schema (an Action's
// inputSchema or outputSchema, an Event's recordSchema) to the universal
// contract it implements, as an override is held: a field of the contract
// may not be removed (set to null) nor change its type. Such a definition
// would otherwise be dropped without a word, since the universal one
// binds. It returns the positions it reported at.
func checkImplementation(field, what string, own, universal *Schema, contract string, diags *diag.List) []diag.Pos {
	if own.IsZero() || universal.IsZero() || own.Value.Kind != tree.Map {
		return nil
	}
	var at []diag.Pos
	errorf := func(pos diag.Pos, format string, args ...any) {
		at = append(at, pos)
		diags.Errorf(pos, "contract", format, args...)
	}
	u := universal.Value
	for _, kw := range []string{"type", "properties", "required"} {
		if f := own.Value.Field(kw); f != nil && f.Value.Kind == tree.Null && u.Get(kw) != nil {
			errorf(f.Value.Pos, "%s.%s is null, which would remove the %s of %s (at %s); an implementation may add to the contract, never remove from it",
				field, kw, kw, contract, u.Get(kw).Pos)
		}
	}
	if ut, ot := u.Get("type"), own.Value.Get("type"); ut != nil && typeValue(ot) && !sameJSON(ut, ot) {
		errorf(ot.Pos, "%s.type is %s, but %s says %s (at %s); an implementation keeps the contract's type",
			field, jsonText(ot), contract, jsonText(ut), ut.Pos)
	}
	uprops, oprops := u.Get("properties"), own.Value.Get("properties")
	if uprops == nil || oprops == nil || oprops.Kind != tree.Map {
		return at
	}
	for _, f := range oprops.Fields {
		uf := uprops.Field(f.Key)
		if uf == nil {
			continue // a field of its own: that is what the schema is for
		}
		ov := f.Value
		switch {
		case ov.Kind == tree.Null:
			errorf(ov.Pos, "%s field %q is null, which would remove it from %s (at %s); an implementation may add fields, never remove them",
				what, f.Key, contract, uf.KeyPos)
		case ov.Kind != tree.Map:
			errorf(ov.Pos, "%s field %q is redefined as %s, but %s defines it (at %s); an implementation keeps the contract's fields as they are",
				what, f.Key, jsonText(ov), contract, uf.KeyPos)
		default:
			ut, ot := uf.Value.Get("type"), ov.Get("type")
			switch {
			case ot == nil:
			case ot.Kind != tree.Null && !typeValue(ot):
				// Not a type at all: the schema's compile says so.
			case ut == nil || ot.Kind == tree.Null || !sameJSON(ut, ot):
				want := "no type"
				if ut != nil {
					want = "type " + jsonText(ut)
				}
				errorf(ot.Pos, "%s field %q is of type %s here, but %s gives it %s (at %s); an implementation may add fields, never change them",
					what, f.Key, jsonText(ot), contract, want, uf.KeyPos)
			}
		}
	}
	return at
}

// typeValue reports whether v is a valid value of `type`: a JSON type name
// or a list of them.
func typeValue(v *tree.Value) bool {
	names := []*tree.Value{v}
	if v != nil && v.Kind == tree.List {
		if len(v.Items) == 0 {
			return false
		}
		names = v.Items
	}
	for _, n := range names {
		if n == nil || n.Kind != tree.String || !slices.Contains([]string{"array", "boolean", "integer", "null", "number", "object", "string"}, n.Str) {
			return false
		}
	}
	return v != nil
}

func sameJSON(a, b *tree.Value) bool { return jsonText(a) == jsonText(b) }

func jsonText(v *tree.Value) string {
	b, _ := v.MarshalJSON()
	return string(b)
}
