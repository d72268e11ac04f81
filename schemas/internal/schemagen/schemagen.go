// Package schemagen builds Membrane's published JSON Schemas from their
// sources: one source per schema, and defs.json, the definitions several
// schemas share.
//
// A source refers to a shared definition as
//
//	"$ref": "defs.json#/$defs/request"
//
// and to one of its own $defs as "#/$defs/name". Generate writes each
// schema self-contained: every shared definition it refers to, directly or
// through another shared definition, is copied into its $defs (first, in
// defs.json's order, then the schema's own, in source order) and the ref
// becomes "#/$defs/request". Keys keep their source order; the output is
// indented by two spaces, with no HTML escaping, and ends with a newline.
package schemagen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// DefsFile is the source of the shared definitions.
const DefsFile = "defs.json"

// sharedRef prefixes a source's ref to a shared definition; localRef, a ref
// to a schema's own definitions (and a shared definition's ref to another).
const (
	sharedRef = DefsFile + "#/$defs/"
	localRef  = "#/$defs/"
)

// File is one generated schema: its name (the name of its source) and
// content.
type File struct {
	Name string
	Data []byte
}

// Generate builds every schema of src (each *.schema.json beside
// defs.json), in file name order. It fails on a ref it cannot place, a
// schema defining a name defs.json defines too, or a shared definition no
// schema uses.
func Generate(src fs.FS) ([]File, error) {
	shared, err := readDefs(src)
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(src, "*.schema.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("schemagen: no *.schema.json sources")
	}
	used := map[string]bool{}
	var out []File
	for _, name := range names {
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return nil, err
		}
		data, err := generate(name, b, shared, used)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: name, Data: data})
	}
	for _, k := range shared.keys {
		if !used[k] {
			return nil, fmt.Errorf("schemagen: %s: no schema uses $defs/%s; remove it, or move it to the schema that will", DefsFile, k)
		}
	}
	return out, nil
}

// readDefs reads the $defs of defs.json and checks that their refs stay
// among them.
func readDefs(src fs.FS) (*object, error) {
	b, err := fs.ReadFile(src, DefsFile)
	if err != nil {
		return nil, fmt.Errorf("schemagen: %w", err)
	}
	doc, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("schemagen: %s: %w", DefsFile, err)
	}
	root, _ := doc.(*object)
	defs, _ := root.get("$defs").(*object)
	if defs == nil {
		return nil, fmt.Errorf("schemagen: %s: no $defs object", DefsFile)
	}
	for _, k := range root.keys {
		if !slices.Contains([]string{"$schema", "$comment", "$defs"}, k) {
			return nil, fmt.Errorf("schemagen: %s: unexpected key %q; it holds only $defs (and $schema, $comment)", DefsFile, k)
		}
	}
	var bad error
	eachRef(defs, func(ref string) string {
		name, ok := strings.CutPrefix(ref, localRef)
		if !ok || defs.get(defName(name)) == nil {
			bad = firstErr(bad, fmt.Errorf("schemagen: %s: $ref %q: a shared definition may only refer to another, as %s<name>", DefsFile, ref, localRef))
		}
		return ref
	})
	return defs, bad
}

// generate builds one schema from its source.
func generate(name string, b []byte, shared *object, used map[string]bool) ([]byte, error) {
	doc, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("schemagen: %s: %w", name, err)
	}
	root, ok := doc.(*object)
	if !ok {
		return nil, fmt.Errorf("schemagen: %s: not a JSON object", name)
	}
	own, _ := root.get("$defs").(*object)
	if own == nil {
		own = &object{vals: map[string]any{}}
	}
	for _, k := range own.keys {
		if shared.get(k) != nil {
			return nil, fmt.Errorf("schemagen: %s: $defs/%s is defined in %s too; refer to the shared one as %s%s", name, k, DefsFile, sharedRef, k)
		}
	}
	// The shared definitions the schema needs, transitively.
	need := map[string]bool{}
	var add func(string)
	add = func(def string) {
		if need[def] {
			return
		}
		need[def] = true
		eachRef(shared.get(def), func(ref string) string {
			add(defName(strings.TrimPrefix(ref, localRef)))
			return ref
		})
	}
	var bad error
	eachRef(root, func(ref string) string {
		if rest, ok := strings.CutPrefix(ref, sharedRef); ok {
			def := defName(rest)
			if shared.get(def) == nil {
				bad = firstErr(bad, fmt.Errorf("schemagen: %s: $ref %q: %s defines no %s", name, ref, DefsFile, def))
				return ref
			}
			add(def)
			return localRef + rest
		}
		if rest, ok := strings.CutPrefix(ref, localRef); ok && own.get(defName(rest)) != nil {
			return ref
		}
		bad = firstErr(bad, fmt.Errorf("schemagen: %s: $ref %q points to nothing; use %s<name> for a definition of this schema, %s<name> for a shared one", name, ref, localRef, sharedRef))
		return ref
	})
	if bad != nil {
		return nil, bad
	}
	defs := &object{vals: map[string]any{}}
	for _, k := range shared.keys {
		if need[k] {
			used[k] = true
			defs.set(k, shared.vals[k])
		}
	}
	for _, k := range own.keys {
		defs.set(k, own.vals[k])
	}
	if len(defs.keys) > 0 {
		root.set("$defs", defs)
	}
	return encode(root)
}

// defName is the name of the definition a ref's pointer (after "$defs/")
// starts with.
func defName(ptr string) string {
	name, _, _ := strings.Cut(ptr, "/")
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// eachRef calls f with every "$ref" string under v and replaces it with what
// f returns. The $defs of a schema are visited too.
func eachRef(v any, f func(string) string) {
	switch v := v.(type) {
	case *object:
		for _, k := range v.keys {
			if s, ok := v.vals[k].(string); ok && k == "$ref" {
				v.vals[k] = f(s)
				continue
			}
			eachRef(v.vals[k], f)
		}
	case []any:
		for _, x := range v {
			eachRef(x, f)
		}
	}
}

// object is a JSON object that keeps its keys in source order.
type object struct {
	keys []string
	vals map[string]any // *object, []any, string, json.Number, bool or nil
}

func (o *object) get(k string) any {
	if o == nil {
		return nil
	}
	return o.vals[k]
}

// set replaces k's value in place, or adds k at the end.
func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		o := &object{vals: map[string]any{}}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if _, dup := o.vals[k]; dup {
				return nil, fmt.Errorf("duplicate key %q", k)
			}
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			o.set(k, v)
		}
		_, err := d.Token()
		return o, err
	case json.Delim('['):
		l := []any{}
		for d.More() {
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := d.Token()
		return l, err
	}
	return t, nil
}

// encode writes v indented by two spaces, without HTML escaping, ending
// with a newline: what encoding/json's Encoder writes with SetIndent("",
// "  ") and SetEscapeHTML(false), keys in their order.
func encode(v any) ([]byte, error) {
	var compact bytes.Buffer
	if err := encodeValue(&compact, v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func encodeValue(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encodeValue(b, v.vals[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, x); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		e := json.NewEncoder(b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
	}
	return nil
}
