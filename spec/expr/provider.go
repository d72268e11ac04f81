package expr

import (
	"fmt"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// provider tells CEL's checker and interpreter about the object types of one
// Env and delegates every other name to the base registry.
type provider struct {
	base    types.Provider
	objects map[string]*objectInfo // by CEL name
}

type objectInfo struct {
	typ    *Type
	fields map[string]*types.FieldType
}

var _ types.Provider = (*provider)(nil)

func newProvider(base types.Provider, objs map[string]*Type) *provider {
	p := &provider{base: base, objects: make(map[string]*objectInfo, len(objs))}
	for name, t := range objs {
		info := &objectInfo{typ: t, fields: make(map[string]*types.FieldType, len(t.fields))}
		for _, f := range t.names {
			info.fields[f] = fieldType(f, t.fields[f])
		}
		p.objects[name] = info
	}
	return p
}

func (p *provider) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

func (p *provider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(o.typ.cel), true
	}
	return p.base.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return o.typ.names, true
	}
	return p.base.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		ft, ok := o.fields[field]
		return ft, ok
	}
	return p.base.FindStructFieldType(name, field)
}

// NewValue is never reached for our objects: their names are not
// identifiers, so no expression can write `object(input){…}`.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("objects of type %s cannot be created in an expression; write a map literal", name)
	}
	return p.base.NewValue(name, fields)
}

// fieldType makes the accessors CEL's interpreter uses to select a field of
// an object value, which at run time is a plain map[string]any (decoded
// JSON). A JSON null counts as absent for has() and `.?`, as it does for
// the people who send it.
func fieldType(name string, t *Type) *types.FieldType {
	conv := numberConv(t.kind)
	return &types.FieldType{
		Type: t.cel,
		IsSet: func(target any) bool {
			v, ok := lookup(target, name)
			return ok && v != nil
		},
		GetFrom: func(target any) (any, error) {
			v, ok := lookup(target, name)
			if !ok {
				if target == nil || target == types.NullValue.Value() {
					return nil, fmt.Errorf("no such key: %s (the object is null)", name)
				}
				return nil, fmt.Errorf("no such key: %s", name)
			}
			if conv != nil {
				return conv(v), nil
			}
			return v, nil
		},
	}
}

// lookup finds a key in any map-like value.
func lookup(target any, name string) (any, bool) {
	switch m := target.(type) {
	case map[string]any:
		v, ok := m[name]
		return v, ok
	case map[string]string:
		v, ok := m[name]
		return v, ok
	case nil:
		return nil, false
	}
	mv, ok := types.DefaultTypeAdapter.NativeToValue(target).(traits.Mapper)
	if !ok {
		return nil, false
	}
	v, found := mv.Find(types.String(name))
	if !found {
		return nil, false
	}
	return v, true
}

// numberConv returns a converter that makes a JSON number fit a field typed
// int or double, so that `input.count + 1` works on a body decoded as
// float64 even when Normalize was not called.
func numberConv(k Kind) func(any) any {
	switch k {
	case KindInt:
		return func(v any) any {
			if i, ok := asInt(v); ok {
				return i
			}
			return v
		}
	case KindDouble:
		return func(v any) any {
			if f, ok := asFloat(v); ok {
				return f
			}
			return v
		}
	}
	return nil
}
