package schemaform

import (
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/membrane-dev/membrane/spec/schema"
)

// Read fills the fields from a submitted form (secrets excepted) and
// returns the values as the service takes them, by top-level key
// ("parameters", "credentials"). A value that does not parse gets an
// error on its field and is passed on as typed, so the service refuses it
// too and nothing is created.
func Read(fields []*Field, form url.Values) map[string]map[string]any {
	out := map[string]map[string]any{}
	WalkLeaves(fields, func(f *Field) {
		v, ok := f.read(form)
		if ok {
			put(out, f.Name, v)
		}
	})
	return out
}

// WalkLeaves calls fn on every control that holds a value (groups are
// walked into).
func WalkLeaves(fields []*Field, fn func(*Field)) {
	for _, f := range fields {
		if f.Control == "group" {
			WalkLeaves(f.Fields, fn)
			continue
		}
		fn(f)
	}
}

func (f *Field) read(form url.Values) (any, bool) {
	if f.kind == "boolean" {
		f.Checked = form.Get(f.Name) != ""
		return f.Checked, true
	}
	raw := strings.TrimSpace(form.Get(f.Name))
	if !f.Secret {
		f.Value = raw
	}
	if raw == "" {
		if f.kind == "enum" {
			f.selectValue(struct{}{})
		}
		return nil, false
	}
	switch f.kind {
	case "number", "integer":
		n, err := strconv.ParseFloat(raw, 64)
		switch {
		case err != nil || math.IsInf(n, 0) || math.IsNaN(n):
			f.Error = "Enter a number."
			return raw, true
		case f.kind == "integer" && n != math.Trunc(n):
			f.Error = "Enter a whole number."
			return raw, true
		}
		return n, true
	case "enum":
		i, err := strconv.Atoi(raw)
		if err != nil || i < 0 || i >= len(f.enum) {
			f.Error = "Choose one of the options."
			return raw, true
		}
		f.selectValue(f.enum[i])
		return f.enum[i], true
	case "list":
		var items []any
		for _, line := range strings.Split(raw, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if f.items == "string" {
				items = append(items, line)
				continue
			}
			n, err := strconv.ParseFloat(line, 64)
			if err != nil || (f.items == "integer" && n != math.Trunc(n)) {
				f.Error = "Enter one number a line."
				return raw, true
			}
			items = append(items, n)
		}
		return items, true
	case "json":
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			f.Error = "Enter a valid JSON value."
			return raw, true
		}
		return v, true
	}
	return raw, true
}

// put sets a value at a JSON Pointer ("/credentials/apiKey", or deeper
// for a nested object), making the objects on the way.
func put(out map[string]map[string]any, ptr string, v any) {
	toks := tokens(ptr)
	if len(toks) < 2 {
		return
	}
	m := out[toks[0]]
	if m == nil {
		m = map[string]any{}
		out[toks[0]] = m
	}
	for _, t := range toks[1 : len(toks)-1] {
		next, _ := m[t].(map[string]any)
		if next == nil {
			next = map[string]any{}
			m[t] = next
		}
		m = next
	}
	m[toks[len(toks)-1]] = v
}

// tokens splits a JSON Pointer into its unescaped reference tokens.
func tokens(ptr string) []string {
	if ptr == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

// PlaceViolations puts each of the service's violations on its field; a
// missing required property, which the schema reports on its object, goes
// on the property's own field. What has no field is returned, for the top
// of the form. An error the form found first is kept.
func PlaceViolations(fields []*Field, vs []schema.Violation, submitted map[string]map[string]any) []string {
	byName := map[string]*Field{}
	var index func([]*Field)
	index = func(fs []*Field) {
		for _, f := range fs {
			byName[f.Name] = f
			index(f.Fields)
		}
	}
	index(fields)
	var rest []string
	for _, v := range vs {
		if strings.HasPrefix(v.Message, "missing propert") {
			if placed := markMissing(byName, fields, v.Pointer, submitted); placed {
				continue
			}
		}
		if f := byName[v.Pointer]; f != nil && f.Control != "group" {
			if f.Error == "" {
				f.Error = Sentence(v.Message)
			}
			continue
		}
		if f := byName[v.Pointer]; f != nil {
			f.Error = Sentence(v.Message)
			continue
		}
		rest = append(rest, Sentence(v.Message))
	}
	return rest
}

// markMissing marks the required fields directly under the object at ptr
// that were not given.
func markMissing(byName map[string]*Field, fields []*Field, ptr string, submitted map[string]map[string]any) bool {
	children := fields
	if g := byName[ptr]; g != nil {
		children = g.Fields
	}
	placed := false
	for _, f := range children {
		if !f.Required || parent(f.Name) != ptr || given(submitted, f.Name) {
			continue
		}
		if f.Error == "" {
			f.Error = f.Label + " is required."
			if f.Control == "select" {
				f.Error = "Choose " + lowerFirst(f.Label) + "."
			}
		}
		placed = true
	}
	return placed
}

func parent(ptr string) string {
	if i := strings.LastIndexByte(ptr, '/'); i >= 0 {
		return ptr[:i]
	}
	return ""
}

func given(submitted map[string]map[string]any, ptr string) bool {
	toks := tokens(ptr)
	if len(toks) < 2 {
		return false
	}
	var cur any = submitted[toks[0]]
	for _, t := range toks[1:] {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[t]; !ok {
			return false
		}
	}
	return true
}

// Sentence capitalises a message and ends it with a full stop.
func Sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func lowerFirst(s string) string {
	if s == "" || (len(s) > 1 && strings.ToUpper(s[:2]) == s[:2]) {
		return s // an acronym: "API key"
	}
	return strings.ToLower(s[:1]) + s[1:]
}
