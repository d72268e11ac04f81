package schemaform

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/membrane-dev/membrane/spec/tree"
)

// Field is one control of the form, made from a property of a JSON Schema.
// Name is the JSON Pointer of the value in the request ("/credentials/apiKey"),
// which is also where the service places its violations.
type Field struct {
	ID       string
	Name     string
	Label    string
	Hint     string
	Control  string // input, select, checkbox, textarea, group
	Type     string // of an input: text, password, email, url, number
	Step     string // of a number input
	Required bool
	Secret   bool // never echoed back
	Options  []Option
	Value    string
	Checked  bool
	Error    string
	Auto     string // autocomplete
	Fields   []*Field

	kind  string // string, number, integer, boolean, enum, list, json, object
	items string // the item type of a list
	enum  []any
}

// Option is one choice of a select (an enum); Value is its index.
type Option struct {
	Value, Label string
	Selected     bool
}

// DescribedBy is the ids of the hint and the error, for aria-describedby.
func (f *Field) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// Builder numbers the fields of one form, so ids are unique and
// never derived from a schema's text.
type Builder struct{ n int }

// Fields makes the controls of an object schema's properties, in the
// schema's order, under the pointer prefix.
func (b *Builder) Fields(schema *tree.Value, prefix string) []*Field {
	props := schema.Get("properties")
	if props == nil || props.Kind != tree.Map {
		return nil
	}
	required := map[string]bool{}
	if req := schema.Get("required"); req != nil {
		for _, r := range req.Items {
			required[r.Str] = true
		}
	}
	var out []*Field
	for _, p := range props.Fields {
		if p.Value == nil || p.Value.Kind != tree.Map {
			continue
		}
		out = append(out, b.field(p.Key, p.Value, prefix+tree.Pointer(p.Key), required[p.Key]))
	}
	return out
}

func (b *Builder) field(key string, s *tree.Value, ptr string, required bool) *Field {
	b.n++
	f := &Field{ID: "f" + strconv.Itoa(b.n), Name: ptr, Required: required, Label: str(s, "title"), Hint: str(s, "description")}
	if f.Label == "" {
		f.Label = humanize(key)
	}
	typ := schemaType(s)
	format := str(s, "format")
	f.Secret = boolean(s, "writeOnly") || format == "password"
	if en := s.Get("enum"); en != nil && en.Kind == tree.List && len(en.Items) > 0 {
		f.kind, f.Control = "enum", "select"
		for i, it := range en.Items {
			v := it.Interface()
			f.enum = append(f.enum, v)
			f.Options = append(f.Options, Option{Value: strconv.Itoa(i), Label: display(v)})
		}
		f.setDefault(s.Get("default"))
		return f
	}
	switch typ {
	case "boolean":
		f.kind, f.Control = "boolean", "checkbox"
	case "integer", "number":
		f.kind, f.Control, f.Type, f.Step = typ, "input", "number", "any"
		if typ == "integer" {
			f.Step = "1"
		}
	case "object":
		if sub := b.Fields(s, ptr); len(sub) > 0 {
			f.kind, f.Control, f.Fields = "object", "group", sub
			return f
		}
		f.kind, f.Control = "json", "textarea"
	case "array":
		it := schemaType(s.Get("items"))
		if it == "string" || it == "number" || it == "integer" {
			f.kind, f.Control, f.items = "list", "textarea", it
			f.Hint = strings.TrimSpace(f.Hint + " One a line.")
		} else {
			f.kind, f.Control = "json", "textarea"
		}
	case "string", "":
		f.kind, f.Control, f.Type = "string", "input", "text"
		switch {
		case f.Secret:
			f.Type, f.Auto = "password", "off"
		case format == "email":
			f.Type, f.Auto = "email", "email"
		case format == "uri" || format == "url":
			f.Type = "url"
		case key == "username":
			f.Auto = "username"
		}
	default:
		f.kind, f.Control = "json", "textarea"
	}
	if f.kind == "json" {
		f.Hint = strings.TrimSpace(f.Hint + " A JSON value.")
	}
	if f.Secret && f.Control == "textarea" {
		// A secret is never shown: a password input holds one line.
		f.kind, f.Control, f.Type, f.Auto = "string", "input", "password", "off"
	}
	f.setDefault(s.Get("default"))
	return f
}

// setDefault shows the schema's default in a control the user has not
// filled in yet; a secret's default is never shown.
func (f *Field) setDefault(d *tree.Value) {
	if d == nil || f.Secret {
		return
	}
	switch f.kind {
	case "boolean":
		f.Checked = d.Kind == tree.Bool && d.Bool
	case "enum":
		f.selectValue(d.Interface())
	case "string", "number", "integer":
		f.Value = display(d.Interface())
	}
}

func (f *Field) selectValue(v any) {
	for i, e := range f.enum {
		f.Options[i].Selected = display(e) == display(v) && fmt.Sprintf("%T", e) == fmt.Sprintf("%T", v)
	}
}

// schemaType is a schema's type, the first that is not null of a list.
func schemaType(s *tree.Value) string {
	t := s.Get("type")
	if t == nil {
		return ""
	}
	if t.Kind == tree.List {
		for _, it := range t.Items {
			if it.Str != "null" {
				return it.Str
			}
		}
		return ""
	}
	return t.Str
}

func str(s *tree.Value, key string) string {
	if v := s.Get(key); v != nil && v.Kind == tree.String {
		return strings.TrimSpace(v.Str)
	}
	return ""
}

func boolean(s *tree.Value, key string) bool {
	v := s.Get(key)
	return v != nil && v.Kind == tree.Bool && v.Bool
}

func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "none"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// humanize turns a property key into a label: "clientSecret" → "Client secret".
func humanize(key string) string {
	var b strings.Builder
	prev := rune(0) // as written, before any change of case
	for i, r := range key {
		orig := r
		switch {
		case r == '_' || r == '-' || r == '.':
			r = ' '
		case i > 0 && unicode.IsUpper(r) && unicode.IsLower(prev):
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		case i > 0:
			r = unicode.ToLower(r)
		}
		if i == 0 {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
		prev = orig
	}
	return b.String()
}
