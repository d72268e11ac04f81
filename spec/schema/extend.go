package schema

import (
	"slices"

	"github.com/membrane-dev/membrane/spec/tree"
)

// Extend returns the contract an implementation or an override runs
// under: base (the universal contract) with add's properties, required
// fields and $defs added. add may only add: a property base already has
// keeps base's definition, so an implementation can never loosen the
// contract. The $defs come along so that add's properties keep what their
// $refs point to.
func Extend(base, add *tree.Value) *tree.Value {
	switch {
	case base == nil:
		return add
	case add == nil:
		return base
	}
	out := base.Clone()
	addMissing(out, add, "properties")
	addMissing(out, add, "$defs")
	if req := add.Get("required"); req != nil && req.Kind == tree.List {
		dst := out.Get("required")
		if dst == nil || dst.Kind != tree.List {
			dst = &tree.Value{Kind: tree.List, Pos: req.Pos, Layer: req.Layer}
			out.Set("required", req.Pos, dst)
		}
		for _, it := range req.Items {
			if it.Kind == tree.String && !slices.ContainsFunc(dst.Items, func(v *tree.Value) bool { return v.Str == it.Str }) {
				dst.Items = append(dst.Items, it.Clone())
			}
		}
	}
	return out
}

// addMissing copies into out the entries of add's object keyword that out
// does not have.
func addMissing(out, add *tree.Value, keyword string) {
	from := add.Get(keyword)
	if from == nil || from.Kind != tree.Map {
		return
	}
	dst := out.Get(keyword)
	if dst == nil || dst.Kind != tree.Map {
		dst = &tree.Value{Kind: tree.Map, Pos: from.Pos, Layer: from.Layer}
		out.Set(keyword, from.Pos, dst)
	}
	for _, f := range from.Fields {
		if dst.Get(f.Key) == nil {
			dst.Fields = append(dst.Fields, tree.Field{Key: f.Key, KeyPos: f.KeyPos, Value: f.Value.Clone()})
		}
	}
}
