package engine

import (
	"context"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/runtime/internal/fastjson"
	"github.com/membrane-dev/membrane/spec/compile"
)

// encodeFields writes an object mapping as JSON without building its map:
// the fields are evaluated in their order (so the first failing one is
// the one reported, as with Eval), then written in key order, which is
// what json.Marshal of the map gives; fields the mapping leaves out when
// null (Mapping.Omitted) are left out. It returns nil, with no error, when
// fastjson.Encode would give up on a value or keys repeat; the caller then
// evaluates the mapping into a map as usual.
func encodeFields(ctx context.Context, m *compile.Mapping, keys []string, vars map[string]any) ([]byte, error) {
	if len(keys) > 32 {
		return nil, nil
	}
	var (
		vbuf  [32]any
		order [32]int
	)
	vals := vbuf[:len(keys)]
	idx := order[:0]
	for i := range keys {
		v, err := m.EvalField(ctx, vars, i)
		if err != nil {
			return nil, err
		}
		vals[i] = v
		if !m.Omitted(i, v) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	b := make([]byte, 0, 256)
	b = append(b, '{')
	for n, i := range idx {
		if n > 0 {
			if keys[i] == keys[idx[n-1]] {
				return nil, nil
			}
			b = append(b, ',')
		}
		b = fastjson.AppendString(b, keys[i])
		b = append(b, ':')
		var ok bool
		if b, ok = fastjson.Append(b, vals[i], 1); !ok {
			return nil, nil
		}
	}
	return append(b, '}'), nil
}
