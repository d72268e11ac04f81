package spec

import "slices"

// ExtendSchema returns the contract an implementation or an override runs
// under: base (the universal contract) with add's properties and required
// fields added. add may only add: a property base already has keeps base's
// definition, so an implementation can never loosen the contract.
func ExtendSchema(base, add *Value) *Value {
	switch {
	case base == nil:
		return add
	case add == nil:
		return base
	}
	out := base.Clone()
	if props := add.Get("properties"); props != nil && props.Kind == Map {
		dst := out.Get("properties")
		if dst == nil || dst.Kind != Map {
			dst = &Value{Kind: Map, Pos: props.Pos, Layer: props.Layer}
			out.Set("properties", props.Pos, dst)
		}
		for _, f := range props.Fields {
			if dst.Get(f.Key) == nil {
				dst.Fields = append(dst.Fields, Field{Key: f.Key, KeyPos: f.KeyPos, Value: f.Value.Clone()})
			}
		}
	}
	if req := add.Get("required"); req != nil && req.Kind == List {
		dst := out.Get("required")
		if dst == nil || dst.Kind != List {
			dst = &Value{Kind: List, Pos: req.Pos, Layer: req.Layer}
			out.Set("required", req.Pos, dst)
		}
		for _, it := range req.Items {
			if it.Kind == String && !slices.ContainsFunc(dst.Items, func(v *Value) bool { return v.Str == it.Str }) {
				dst.Items = append(dst.Items, it.Clone())
			}
		}
	}
	return out
}

// InputSchema is the schema an action's input is checked against: the
// universal input extended by the action's own, or the action's own.
func (w *Workspace) InputSchema(a *Action) *Value {
	if ua := w.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
		return extendBy(ua.Input, a.InputSchema)
	}
	return extendBy(nil, a.InputSchema)
}

// OutputSchema is the schema an action's output is checked against.
func (w *Workspace) OutputSchema(a *Action) *Value {
	if ua := w.UniversalActions[a.Implements]; ua != nil && a.Implements != "" {
		return extendBy(ua.Output, a.OutputSchema)
	}
	return extendBy(nil, a.OutputSchema)
}

// RecordSchema is the schema an event's records are checked against.
func (w *Workspace) RecordSchema(e *Event) *Value {
	if ue := w.UniversalEvents[e.Implements]; ue != nil && e.Implements != "" {
		return extendBy(ue.Record, e.RecordSchema)
	}
	return extendBy(nil, e.RecordSchema)
}

func extendBy(universal, own *Schema) *Value {
	var base, add *Value
	if !universal.IsZero() {
		base = universal.Value
	}
	if !own.IsZero() {
		add = own.Value
	}
	return ExtendSchema(base, add)
}
