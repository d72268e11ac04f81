package layers

import (
	"bytes"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/membrane-dev/membrane/spec/tree"
)

// Explain renders a merged document as YAML with each field's layer and
// source beside it, e.g. `email: ${ input.email } # integration actions/x.yaml:9`.
// A comment is written where the layer or file changes from the parent's,
// and on every scalar, so each value can be traced.
func Explain(doc *tree.Value) string {
	root := toNode(doc, nil)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	_ = enc.Close()
	return buf.String()
}

func provenance(v *tree.Value) string {
	layer := v.Layer
	if layer == "" {
		layer = Integration
	}
	return fmt.Sprintf("%s %s", layer, v.Pos)
}

func toNode(v, parent *tree.Value) *yaml.Node {
	n := &yaml.Node{}
	switch v.Kind {
	case tree.Map:
		n.Kind, n.Tag = yaml.MappingNode, "!!map"
		for _, f := range v.Fields {
			k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Key}
			val := toNode(f.Value, v)
			if f.Value.Kind == tree.Map || f.Value.Kind == tree.List {
				if changed(f.Value, v) {
					k.LineComment = provenance(f.Value)
				}
			} else {
				val.LineComment = provenance(f.Value)
			}
			n.Content = append(n.Content, k, val)
		}
	case tree.List:
		n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		for _, it := range v.Items {
			c := toNode(it, v)
			if it.Kind != tree.Map && it.Kind != tree.List {
				c.LineComment = provenance(it)
			}
			n.Content = append(n.Content, c)
		}
	default:
		n.Kind = yaml.ScalarNode
		switch v.Kind {
		case tree.Null:
			n.Tag, n.Value = "!!null", "null"
		case tree.Bool:
			n.Tag, n.Value = "!!bool", strconv.FormatBool(v.Bool)
		case tree.Int:
			n.Tag, n.Value = "!!int", strconv.FormatInt(v.Int, 10)
		case tree.Float:
			n.Tag, n.Value = "!!float", strconv.FormatFloat(v.Float, 'g', -1, 64)
		default:
			n.Tag, n.Value = "!!str", v.Str
		}
	}
	if parent == nil {
		n.HeadComment = provenance(v)
	}
	return n
}

func changed(v, parent *tree.Value) bool {
	return v.Layer != parent.Layer || v.Pos.File != parent.Pos.File
}
