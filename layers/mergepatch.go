// Package layers resolves an element through its three layers — universal
// (any app), integration (one app) and connection (one account) — and keeps
// the provenance of every field, so that explain can show where each came
// from and an error can name the layer that caused it.
package layers

import (
	"github.com/membrane-dev/membrane/spec/tree"
)

// Layer names.
const (
	Universal   = "universal"
	Integration = "integration"
	Connection  = "connection"
)

// MergePatch applies patch to target as an RFC 7386 JSON Merge Patch and
// returns the result; neither input is modified. Nodes taken from the patch
// are labelled with layer and keep the patch's positions, so the result
// tells, node by node, which layer gave it.
func MergePatch(target, patch *tree.Value, layer string) *tree.Value {
	if patch == nil {
		return target.Clone()
	}
	if patch.Kind != tree.Map {
		return label(patch.Clone(), layer)
	}
	var out *tree.Value
	if target != nil && target.Kind == tree.Map {
		out = target.Clone()
	} else {
		// Patching a non-object replaces it with an object built from the patch.
		out = &tree.Value{Kind: tree.Map, Pos: patch.Pos, Layer: layer}
	}
	for _, f := range patch.Fields {
		if f.Value.Kind == tree.Null {
			out.Delete(f.Key)
			continue
		}
		merged := MergePatch(out.Get(f.Key), f.Value, layer)
		if existing := out.Field(f.Key); existing != nil {
			existing.Value = merged
		} else {
			out.Fields = append(out.Fields, tree.Field{Key: f.Key, KeyPos: f.KeyPos, Value: merged})
		}
	}
	return out
}

// label marks every node of v as coming from layer.
func label(v *tree.Value, layer string) *tree.Value {
	v.Walk(func(_ string, n *tree.Value) bool {
		n.Layer = layer
		return true
	})
	return v
}

// Label returns a copy of v with every node marked as coming from layer.
func Label(v *tree.Value, layer string) *tree.Value {
	return label(v.Clone(), layer)
}
