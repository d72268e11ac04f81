// Package schemas holds the JSON Schemas (draft 2020-12) of Membrane's file
// kinds, embedded in the binary.
//
// Each schema is one self-contained file (no cross-file $ref), so that an
// editor can use it straight from disk or from its $id through
//
//	# yaml-language-server: $schema=https://membrane.dev/schemas/action.schema.json
//
// The files are generated: each from its source in src/, with the shapes
// several kinds share (request, pagination, retry policy…) written once in
// src/defs.json and copied into the $defs of each file that refers to them.
// Edit src/ and run `go generate ./schemas/...`; a test fails while a file
// is stale.
//
// The schemas keep error messages of github.com/santhosh-tekuri/jsonschema/v6
// readable: discriminated unions (auth by type, pagination by type) are
// `allOf` of `if`/`then` branches, each with its own `additionalProperties:
// false`; "exactly one of" is an `anyOf` of `required` plus
// `dependentSchemas` that forbid the other key. Issues turns a validation
// error into flat, located messages an author can act on.
package schemas

//go:generate go run ./internal/cmd/schemagen

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// BaseURL is the prefix of every schema's $id.
const BaseURL = "https://membrane.dev/schemas/"

// The file kinds, in the order they are documented, with their file names.
var kinds = []struct{ kind, file string }{
	{"Connector", "connector.schema.json"},
	{"UniversalAction", "universal-action.schema.json"},
	{"UniversalEvent", "universal-event.schema.json"},
	{"Action", "action.schema.json"},
	{"Event", "event.schema.json"},
	{"ConnectionOverride", "connection-override.schema.json"},
	{"Workspace", "workspace.schema.json"},
	{"ConnectorTest", "connector-test.schema.json"},
}

// Kinds lists the file kinds that have a schema, in documentation order.
func Kinds() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind
	}
	return out
}

// FileName returns the schema's file name for a kind ("Action" →
// "action.schema.json"), or "" for an unknown kind.
func FileName(kind string) string {
	for _, k := range kinds {
		if k.kind == kind {
			return k.file
		}
	}
	return ""
}

// URL returns the $id of a kind's schema, or "" for an unknown kind.
func URL(kind string) string {
	if f := FileName(kind); f != "" {
		return BaseURL + f
	}
	return ""
}

// Get returns the JSON text of a kind's schema.
func Get(kind string) ([]byte, bool) {
	f := FileName(kind)
	if f == "" {
		return nil, false
	}
	b, err := files.ReadFile(f)
	if err != nil {
		return nil, false
	}
	return b, true
}

// kindOfURL returns the kind whose schema has the given $id (a fragment is
// ignored), or "".
func kindOfURL(u string) string {
	u, _, _ = strings.Cut(u, "#")
	for _, k := range kinds {
		if BaseURL+k.file == u {
			return k.kind
		}
	}
	return ""
}

var compiled = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats stay annotations: templates make "uri" and the like unassertable.
	for _, k := range kinds {
		b, _ := files.ReadFile(k.file)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", k.file, err)
		}
		if err := c.AddResource(BaseURL+k.file, doc); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", k.file, err)
		}
	}
	out := make(map[string]*jsonschema.Schema, len(kinds))
	for _, k := range kinds {
		s, err := c.Compile(BaseURL + k.file)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", k.file, err)
		}
		out[k.kind] = s
	}
	return out, nil
})

// Compile compiles every schema (once per process; later calls return the
// same schemas) and returns them by kind. A *jsonschema.Schema is safe for
// concurrent use. Instances given to Validate must be of the JSON types
// jsonschema expects (map[string]any, []any, string, bool, nil, float64,
// json.Number or the integer types).
func Compile() (map[string]*jsonschema.Schema, error) {
	m, err := compiled()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*jsonschema.Schema, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

// Validate checks one document against its kind's schema and returns its
// issues (nil when it is valid). doc holds the decoded shapes: map[string]any,
// []any, string, bool, nil and Go numbers (int, float64, json.Number…). The
// error is for an unknown kind or schemas that do not compile.
func Validate(kind string, doc any) ([]Issue, error) {
	m, err := compiled()
	if err != nil {
		return nil, err
	}
	sch := m[kind]
	if sch == nil {
		return nil, fmt.Errorf("schemas: unknown kind %q", kind)
	}
	return Issues(sch.Validate(doc)), nil
}

// --- the raw schemas, in document order ---

// node is a JSON object that keeps its keys in document order.
type node struct {
	keys []string
	vals map[string]any // *node, []any, string, float64, bool or nil
}

func (n *node) get(k string) any {
	if n == nil {
		return nil
	}
	return n.vals[k]
}

func (n *node) obj(k string) *node {
	o, _ := n.get(k).(*node)
	return o
}

var raws = sync.OnceValue(func() map[string]*node {
	out := map[string]*node{}
	for _, k := range kinds {
		b, _ := files.ReadFile(k.file)
		d := json.NewDecoder(bytes.NewReader(b))
		v, err := decodeOrdered(d)
		if err != nil {
			panic(fmt.Sprintf("schemas: %s: %v", k.file, err))
		}
		out[k.kind], _ = v.(*node)
	}
	return out
})

func decodeOrdered(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		n := &node{vals: map[string]any{}}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := decodeOrdered(d)
			if err != nil {
				return nil, err
			}
			if _, dup := n.vals[k]; !dup {
				n.keys = append(n.keys, k)
			}
			n.vals[k] = v
		}
		_, err := d.Token()
		return n, err
	case json.Delim('['):
		var l []any
		for d.More() {
			v, err := decodeOrdered(d)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := d.Token()
		return l, err
	case nil:
		return nil, nil
	}
	if _, ok := t.(json.Delim); ok {
		return nil, io.ErrUnexpectedEOF
	}
	return t, nil
}

// resolve returns the raw schema of a location and the tokens of its JSON
// pointer. The location is an absolute schema URL
// (https://membrane.dev/schemas/x.schema.json#/json/pointer), a fragment
// ("#/…") or a bare JSON pointer ("/…"); a URL names its own file, otherwise
// kind says which.
func resolve(kind, loc string) (*node, []string, bool) {
	u, frag, hasHash := strings.Cut(loc, "#")
	if !hasHash {
		u, frag = "", loc
	}
	if u != "" {
		if kind = kindOfURL(u); kind == "" {
			return nil, nil, false
		}
	}
	root := raws()[kind]
	toks, ok := pointerTokens(frag)
	if root == nil || !ok {
		return nil, nil, false
	}
	return root, toks, true
}

// pointerTokens splits a JSON pointer, possibly percent-encoded as in a URL
// fragment, into its unescaped reference tokens.
func pointerTokens(ptr string) ([]string, bool) {
	if ptr == "" {
		return nil, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	var toks []string
	for _, t := range strings.Split(ptr[1:], "/") {
		if ut, err := url.PathUnescape(t); err == nil {
			t = ut
		}
		toks = append(toks, strings.NewReplacer("~1", "/", "~0", "~").Replace(t))
	}
	return toks, true
}

// walk follows tokens from root and returns the value there.
func walk(root any, toks []string) any {
	cur := root
	for _, t := range toks {
		switch c := cur.(type) {
		case *node:
			v, ok := c.vals[t]
			if !ok {
				return nil
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// Raw returns a kind's schema as a tree of map[string]any and []any (the
// encoding/json shapes), or nil for an unknown kind.
func Raw(kind string) map[string]any {
	b, ok := Get(kind)
	if !ok {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// objectKeywords end a keyword location that is about an object's own
// properties; PropertiesAt steps over them to the object's schema.
var objectKeywords = []string{"additionalProperties", "unevaluatedProperties", "propertyNames", "required", "dependentRequired", "minProperties", "maxProperties"}

// schemaTokens strips, from the tokens of a keyword location, the keyword
// that failed, leaving the schema object it belongs to: ".../additionalProperties"
// → "...", ".../properties/x" (a false schema) → "...".
func schemaTokens(toks []string) []string {
	n := len(toks)
	switch {
	case n >= 1 && slices.Contains(objectKeywords, toks[n-1]):
		return toks[:n-1]
	case n >= 2 && (toks[n-2] == "properties" || toks[n-2] == "patternProperties"):
		return toks[:n-2]
	}
	return toks
}

// PropertiesAt returns the property names allowed at the object whose schema
// reported an error, given the error's keyword location (or its schema URL):
// for example, for
//
//	https://membrane.dev/schemas/connector.schema.json#/$defs/auth/allOf/1/then/additionalProperties
//
// it returns the properties of that branch, the fields of apiKey auth:
// [type credentials in name value test]. The keyword at the end of the
// location (additionalProperties, unevaluatedProperties, propertyNames,
// required, or properties/<name>) is stepped over. Properties of allOf, anyOf,
// oneOf, if/then/else and dependentSchemas subschemas at that level, and of
// local $ref targets, are included; names whose schema is `false` (forbidden)
// are not. Names come in schema order, without duplicates. kind is used when
// location is a bare pointer or fragment; a full URL names its own file.
func PropertiesAt(kind string, location string) []string {
	root, toks, ok := resolve(kind, location)
	if !ok {
		return nil
	}
	sch, _ := walk(root, schemaTokens(toks)).(*node)
	if sch == nil {
		return nil
	}
	var out []string
	collectProps(root, sch, &out, map[*node]bool{})
	return out
}

func collectProps(root *node, sch *node, out *[]string, seen map[*node]bool) {
	if sch == nil || seen[sch] {
		return
	}
	seen[sch] = true
	if props := sch.obj("properties"); props != nil {
		for _, k := range props.keys {
			if b, ok := props.vals[k].(bool); ok && !b {
				continue
			}
			if !slices.Contains(*out, k) {
				*out = append(*out, k)
			}
		}
	}
	if ref, ok := sch.get("$ref").(string); ok && strings.HasPrefix(ref, "#") {
		if toks, ok := pointerTokens(ref[1:]); ok {
			t, _ := walk(root, toks).(*node)
			collectProps(root, t, out, seen)
		}
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		if l, ok := sch.get(kw).([]any); ok {
			for _, s := range l {
				sub, _ := s.(*node)
				collectProps(root, sub, out, seen)
			}
		}
	}
	for _, kw := range []string{"if", "then", "else"} {
		collectProps(root, sch.obj(kw), out, seen)
	}
	if ds := sch.obj("dependentSchemas"); ds != nil {
		for _, k := range ds.keys {
			sub, _ := ds.vals[k].(*node)
			collectProps(root, sub, out, seen)
		}
	}
}
