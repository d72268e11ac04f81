package expr

import (
	"crypto/sha256"
	"maps"
	"slices"

	"cel.dev/cel-go/common/types"
)

// Kind classifies a Type.
type Kind uint8

const (
	KindDyn Kind = iota
	KindNull
	KindBool
	KindInt
	KindUint
	KindDouble
	KindString
	KindBytes
	KindTimestamp
	KindDuration
	KindList
	KindMap
	KindObject
	// KindOptional is only an expression's result type (`input.?name`);
	// evaluation unwraps it to the value or nil.
	KindOptional
	// KindScalar is only a want: any value that can be written as text.
	KindScalar
	// KindOther is a CEL type with no JSON counterpart (a type value).
	KindOther
)

// Type is the static type of a variable, a field or a template result. It
// wraps a CEL type and, for objects, keeps the fields CEL's checker asks for
// through the package's type provider. Types are immutable.
type Type struct {
	kind   Kind
	name   string // object: the user-facing name, e.g. "input.address"
	fields map[string]*Type
	names  []string // object: sorted field names
	elem   *Type    // list element, map value, optional value
	key    *Type    // map key
	cel    *types.Type
	fp     string // structural fingerprint (a hash), for caches
}

// The plain types. Declared scalars, lists and maps are nullable, as JSON
// values are: `input.name == null`, `c ? input.name : null` and
// `input.?name.orValue(null)` type-check (CEL's own string is not).
var (
	Dyn       = prim(KindDyn, types.DynType)
	Null      = prim(KindNull, types.NullType)
	Bool      = prim(KindBool, types.NewNullableType(types.BoolType))
	Int       = prim(KindInt, types.NewNullableType(types.IntType))
	Uint      = prim(KindUint, types.NewNullableType(types.UintType))
	Double    = prim(KindDouble, types.NewNullableType(types.DoubleType))
	String    = prim(KindString, types.NewNullableType(types.StringType))
	Bytes     = prim(KindBytes, types.NewNullableType(types.BytesType))
	Timestamp = prim(KindTimestamp, types.TimestampType) // nullable in CEL already
	Duration  = prim(KindDuration, types.DurationType)

	// Scalar is a want for templates that end up as text (a path, a query
	// parameter, a header): string, int, uint, double, bool, null,
	// timestamp, duration or dyn.
	Scalar = prim(KindScalar, types.DynType)
)

var kindNames = [...]string{
	KindDyn: "dyn", KindNull: "null", KindBool: "bool", KindInt: "int", KindUint: "uint",
	KindDouble: "double", KindString: "string", KindBytes: "bytes", KindTimestamp: "timestamp",
	KindDuration: "duration", KindScalar: "scalar",
}

func prim(k Kind, t *types.Type) *Type {
	out := &Type{kind: k, cel: t}
	out.fp = fingerprint(out)
	return out
}

// ListOf is list(elem); a nil elem is dyn.
func ListOf(elem *Type) *Type {
	elem = orDyn(elem)
	t := &Type{kind: KindList, elem: elem, cel: types.NewNullableType(types.NewListType(elem.cel))}
	t.fp = fingerprint(t)
	return t
}

// MapOf is map(key, val); nil is dyn.
func MapOf(key, val *Type) *Type {
	key, val = orDyn(key), orDyn(val)
	t := &Type{kind: KindMap, key: key, elem: val, cel: types.NewNullableType(types.NewMapType(key.cel, val.cel))}
	t.fp = fingerprint(t)
	return t
}

// optionalOf is optional_type(v), the result of `x.?y` and friends.
func optionalOf(v *Type) *Type {
	v = orDyn(v)
	t := &Type{kind: KindOptional, elem: v, cel: types.NewOptionalType(v.cel)}
	t.fp = fingerprint(t)
	return t
}

// Object is an object type with named fields, e.g. `response` =
// object{status: int, headers: map(string, string), body: dyn}. At run time
// its values are map[string]any. A nil field type is dyn. The name shows in
// messages; two different objects in one Env must not share it.
func Object(name string, fields map[string]*Type) *Type {
	t := &Type{kind: KindObject, name: name, fields: make(map[string]*Type, len(fields))}
	for k, f := range fields {
		t.fields[k] = orDyn(f)
	}
	t.names = slices.Sorted(maps.Keys(t.fields))
	t.cel = types.NewObjectType(celObjectName(name))
	t.fp = fingerprint(t)
	return t
}

// celObjectName is the name CEL knows an object type by. It is not a valid
// identifier on purpose: CEL's checker resolves `input.address` as a type
// name before a field selection when such a type exists.
func celObjectName(name string) string { return "object(" + name + ")" }

func orDyn(t *Type) *Type {
	if t == nil {
		return Dyn
	}
	return t
}

// Kind returns the kind of t.
func (t *Type) Kind() Kind { return t.kind }

// Name returns an object type's name.
func (t *Type) Name() string { return t.name }

// Elem returns the element type of a list or optional, or the value type of
// a map.
func (t *Type) Elem() *Type { return t.elem }

// Key returns the key type of a map.
func (t *Type) Key() *Type { return t.key }

// Field returns an object's field type.
func (t *Type) Field(name string) (*Type, bool) {
	f, ok := t.fields[name]
	return f, ok
}

// FieldNames returns an object's field names, sorted.
func (t *Type) FieldNames() []string { return t.names }

// Equal reports whether two types have the same structure.
func (t *Type) Equal(o *Type) bool { return t == o || (t != nil && o != nil && t.fp == o.fp) }

// String writes t in CEL's notation: int, list(string), map(string, dyn),
// object(input.address).
func (t *Type) String() string {
	switch t.kind {
	case KindList:
		return "list(" + t.elem.String() + ")"
	case KindMap:
		return "map(" + t.key.String() + ", " + t.elem.String() + ")"
	case KindOptional:
		return "optional(" + t.elem.String() + ")"
	case KindObject:
		return celObjectName(t.name)
	case KindOther:
		return t.cel.String()
	}
	return kindNames[t.kind]
}

// fingerprint hashes the structure of t from its parts' fingerprints, so
// it costs O(fields) per type, not O(size of the tree).
func fingerprint(t *Type) string {
	h := sha256.New()
	h.Write([]byte{byte(t.kind)})
	switch t.kind {
	case KindObject:
		h.Write([]byte(t.name))
		for _, n := range t.names {
			h.Write([]byte{0})
			h.Write([]byte(n))
			h.Write([]byte{0})
			h.Write([]byte(t.fields[n].fp))
		}
	case KindList, KindOptional:
		h.Write([]byte(t.elem.fp))
	case KindMap:
		h.Write([]byte(t.key.fp))
		h.Write([]byte(t.elem.fp))
	case KindOther:
		h.Write([]byte(t.cel.String()))
	}
	return string(h.Sum(nil))
}

// fromCEL maps a checked CEL type back to a Type; objs knows the Env's
// object types by CEL name.
func fromCEL(t *types.Type, objs map[string]*Type) *Type {
	switch t.Kind() {
	case types.BoolKind:
		return Bool
	case types.IntKind:
		return Int
	case types.UintKind:
		return Uint
	case types.DoubleKind:
		return Double
	case types.StringKind:
		return String
	case types.BytesKind:
		return Bytes
	case types.NullTypeKind:
		return Null
	case types.TimestampKind:
		return Timestamp
	case types.DurationKind:
		return Duration
	case types.ListKind:
		return ListOf(fromCEL(t.Parameters()[0], objs))
	case types.MapKind:
		return MapOf(fromCEL(t.Parameters()[0], objs), fromCEL(t.Parameters()[1], objs))
	case types.StructKind:
		if o, ok := objs[t.TypeName()]; ok {
			return o
		}
	case types.OpaqueKind:
		if t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
			return optionalOf(fromCEL(t.Parameters()[0], objs))
		}
	case types.DynKind, types.AnyKind, types.TypeParamKind, types.ErrorKind, types.UnspecifiedKind:
		return Dyn
	}
	o := &Type{kind: KindOther, cel: t}
	o.fp = fingerprint(o)
	return o
}

// isScalar reports whether values of t can be written as text.
func isScalar(t *Type) bool {
	switch t.kind {
	case KindDyn, KindNull, KindBool, KindInt, KindUint, KindDouble, KindString, KindTimestamp, KindDuration:
		return true
	case KindOptional:
		return isScalar(t.elem)
	}
	return false
}

// assignable reports whether a value of type got may be used where want is
// expected. It is lenient where run time decides anyway: dyn and null fit
// everywhere, a number fits a double, and objects and maps fit each other
// when the fields they share fit.
func assignable(want, got *Type) bool {
	if want == nil || want.kind == KindDyn || got.kind == KindDyn || got.kind == KindNull {
		return true
	}
	if got.kind == KindOptional { // unwrapped at run time; none is null
		return assignable(want, got.elem)
	}
	switch want.kind {
	case KindScalar:
		return isScalar(got)
	case KindDouble:
		return got.kind == KindDouble || got.kind == KindInt || got.kind == KindUint
	case KindInt:
		return got.kind == KindInt || got.kind == KindUint
	case KindList:
		return got.kind == KindList && assignable(want.elem, got.elem)
	case KindMap:
		switch got.kind {
		case KindMap:
			return assignable(want.key, got.key) && assignable(want.elem, got.elem)
		case KindObject:
			if !assignable(want.key, String) {
				return false
			}
			for _, n := range got.names {
				if !assignable(want.elem, got.fields[n]) {
					return false
				}
			}
			return true
		}
		return false
	case KindObject:
		switch got.kind {
		case KindMap:
			return assignable(String, got.key)
		case KindObject:
			if want.fp == got.fp {
				return true
			}
			for _, n := range got.names {
				if w, ok := want.fields[n]; ok && !assignable(w, got.fields[n]) {
					return false
				}
			}
			return true
		}
		return false
	case KindOther:
		return got.kind == KindOther && want.cel.String() == got.cel.String()
	}
	return want.kind == got.kind
}
