package tree

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Kind is the JSON type of a Value.
type Kind uint8

const (
	Null Kind = iota
	Bool
	Int
	Float
	String
	Map
	List
)

func (k Kind) String() string {
	return [...]string{"null", "boolean", "integer", "number", "string", "object", "array"}[k]
}

// Value is a JSON-shaped tree read from a spec file that remembers where each
// node came from. Maps keep their keys in file order. It is the common
// currency of spec, layers (merge patch with provenance) and the runtime
// (templates in bodies and mappings).
type Value struct {
	Kind   Kind
	Bool   bool
	Int    int64
	Float  float64
	Str    string
	Fields []Field  // Kind == Map, in file order
	Items  []*Value // Kind == List
	// Pos is where the node starts. Merged values keep the position of the
	// layer that gave them.
	Pos diag.Pos
	// Layer names the layer a node came from once layers are merged; empty
	// for a value read straight from a file.
	Layer string
	// Quoted is set for a string written in quotes, so a position inside it
	// can be found: the text starts one column after Pos.
	Quoted bool
	// Lines locates the text of a string written over several lines (a
	// block scalar, `>-` or `|`, or plain text that goes on): each span
	// says where the text from its offset on starts in the file. Nil for a
	// string on one line.
	Lines []Span
}

// Span is where a stretch of a multi-line string is in its file: the
// text from byte Off of the string on starts at Line, Col.
type Span struct {
	Off, Line, Col int
}

// At returns the file position of a byte offset of s, a string whose
// spans are lines (see Value.Lines), given the position of the string's
// node; false when lines do not locate it.
func At(s string, lines []Span, offset int, pos diag.Pos) (diag.Pos, bool) {
	if len(lines) == 0 || offset < 0 || offset > len(s) {
		return pos, false
	}
	i := len(lines) - 1
	for i > 0 && lines[i].Off > offset {
		i--
	}
	sp := lines[i]
	if sp.Off > offset {
		return pos, false
	}
	pos.Line = sp.Line
	pos.Col = sp.Col + utf8.RuneCountInString(s[sp.Off:offset])
	return pos, true
}

// Field is one key of a map.
type Field struct {
	Key    string
	KeyPos diag.Pos
	Value  *Value
}

// Get returns the value of key in a map, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != Map {
		return nil
	}
	for i := range v.Fields {
		if v.Fields[i].Key == key {
			return v.Fields[i].Value
		}
	}
	return nil
}

// Field returns the field named key in a map, or nil.
func (v *Value) Field(key string) *Field {
	if v == nil || v.Kind != Map {
		return nil
	}
	for i := range v.Fields {
		if v.Fields[i].Key == key {
			return &v.Fields[i]
		}
	}
	return nil
}

// Set replaces or appends key in a map.
func (v *Value) Set(key string, keyPos diag.Pos, val *Value) {
	if f := v.Field(key); f != nil {
		f.Value = val
		return
	}
	v.Fields = append(v.Fields, Field{Key: key, KeyPos: keyPos, Value: val})
}

// Delete removes key from a map.
func (v *Value) Delete(key string) {
	for i := range v.Fields {
		if v.Fields[i].Key == key {
			v.Fields = append(v.Fields[:i:i], v.Fields[i+1:]...)
			return
		}
	}
}

// IsNull reports whether v is absent or null.
func (v *Value) IsNull() bool { return v == nil || v.Kind == Null }

// Clone copies v deeply.
func (v *Value) Clone() *Value {
	if v == nil {
		return nil
	}
	c := *v
	if v.Fields != nil {
		c.Fields = make([]Field, len(v.Fields))
		for i, f := range v.Fields {
			c.Fields[i] = Field{Key: f.Key, KeyPos: f.KeyPos, Value: f.Value.Clone()}
		}
	}
	if v.Items != nil {
		c.Items = make([]*Value, len(v.Items))
		for i, it := range v.Items {
			c.Items[i] = it.Clone()
		}
	}
	return &c
}

// Interface converts v to plain Go values: nil, bool, int64, float64, string,
// map[string]any and []any.
func (v *Value) Interface() any {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case Bool:
		return v.Bool
	case Int:
		return v.Int
	case Float:
		return v.Float
	case String:
		return v.Str
	case Map:
		m := make(map[string]any, len(v.Fields))
		for _, f := range v.Fields {
			m[f.Key] = f.Value.Interface()
		}
		return m
	case List:
		l := make([]any, len(v.Items))
		for i, it := range v.Items {
			l[i] = it.Interface()
		}
		return l
	}
	return nil
}

// FromInterface builds a Value from plain Go values (as decoded from JSON),
// every node at pos.
func FromInterface(x any, pos diag.Pos) (*Value, error) {
	v := &Value{Pos: pos}
	switch t := x.(type) {
	case nil:
	case bool:
		v.Kind, v.Bool = Bool, t
	case int:
		v.Kind, v.Int = Int, int64(t)
	case int64:
		v.Kind, v.Int = Int, t
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			v.Kind, v.Int = Int, int64(t)
		} else {
			v.Kind, v.Float = Float, t
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			v.Kind, v.Int = Int, i
		} else if f, err := t.Float64(); err == nil {
			v.Kind, v.Float = Float, f
		} else {
			return nil, fmt.Errorf("invalid number %q", t)
		}
	case string:
		v.Kind, v.Str = String, t
	case map[string]any:
		v.Kind = Map
		for _, k := range slices.Sorted(maps.Keys(t)) {
			c, err := FromInterface(t[k], pos)
			if err != nil {
				return nil, err
			}
			v.Fields = append(v.Fields, Field{Key: k, KeyPos: pos, Value: c})
		}
	case []any:
		v.Kind = List
		v.Items = make([]*Value, 0, len(t))
		for _, it := range t {
			c, err := FromInterface(it, pos)
			if err != nil {
				return nil, err
			}
			v.Items = append(v.Items, c)
		}
	default:
		return nil, fmt.Errorf("unsupported value of type %T", x)
	}
	return v, nil
}

// MarshalJSON writes v as JSON, keeping map keys in file order.
func (v *Value) MarshalJSON() ([]byte, error) {
	return v.appendJSON(nil), nil
}

func (v *Value) appendJSON(b []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	switch v.Kind {
	case Bool:
		return strconv.AppendBool(b, v.Bool)
	case Int:
		return strconv.AppendInt(b, v.Int, 10)
	case Float:
		if math.IsInf(v.Float, 0) || math.IsNaN(v.Float) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v.Float, 'g', -1, 64)
	case String:
		s, _ := json.Marshal(v.Str)
		return append(b, s...)
	case Map:
		b = append(b, '{')
		for i, f := range v.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(f.Key)
			b = append(b, k...)
			b = append(b, ':')
			b = f.Value.appendJSON(b)
		}
		return append(b, '}')
	case List:
		b = append(b, '[')
		for i, it := range v.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = it.appendJSON(b)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

// Walk calls fn for v and every node below it, depth first, with the JSON
// pointer of each node. fn returns false to skip a node's children.
func (v *Value) Walk(fn func(ptr string, v *Value) bool) {
	v.walk("", fn)
}

func (v *Value) walk(ptr string, fn func(string, *Value) bool) {
	if v == nil || !fn(ptr, v) {
		return
	}
	for _, f := range v.Fields {
		f.Value.walk(ptr+"/"+EscapePointer(f.Key), fn)
	}
	for i, it := range v.Items {
		it.walk(ptr+"/"+strconv.Itoa(i), fn)
	}
}
