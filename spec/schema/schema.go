package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

var printer = message.NewPrinter(language.English)

// Validator checks values against a compiled JSON Schema. It is safe for
// concurrent use.
type Validator struct{ s *jsonschema.Schema }

// Validate checks a value given as decoded JSON (nil, bool, a number,
// string, []any, map[string]any). Its error, when the value breaks the
// schema, lists the violations; Violations and Leaves read them.
func (v *Validator) Validate(x any) error { return v.s.Validate(x) }

// FormatCheck returns the validator's own check of the schema's `format`,
// or nil when the schema names no format the validator knows: a caller
// that vouches for simple values by itself judges a format exactly as
// Validate would.
func (v *Validator) FormatCheck() func(any) error {
	if v.s.Format == nil {
		return nil
	}
	return v.s.Format.Validate
}

// Compile checks an inline JSON Schema against the draft 2020-12 metaschema
// and compiles it for validating values. Problems are reported at the
// offending keyword of the schema; a schema with problems, or none (nil),
// gives nil.
//
// The compiled schema asserts `format` (draft 2020-12 makes it an
// annotation unless asked): `format: email` refuses "not-an-email", as the
// connect page's and the console's forms do. A format the validator does
// not know (such as password) stays an annotation.
func Compile(v *tree.Value, diags *diag.List) *Validator {
	if v == nil {
		return nil
	}
	const url = "mem:///schema.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noRemoteRefs{})
	doc := v.Interface()
	if err := c.AddResource(url, doc); err != nil {
		diags.Errorf(v.Pos, "invalid-schema", "not a JSON Schema: %v", err)
		return nil
	}
	sch, err := c.Compile(url)
	if err == nil {
		return &Validator{s: sch}
	}
	var sve *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &sve) && errors.As(sve.Err, &verr) {
		for _, leaf := range leaves(verr, nil) {
			node := v.Lookup(tree.Pointer(leaf.InstanceLocation...))
			if node == nil {
				node = v
			}
			diags.Errorf(node.Pos, "invalid-schema", "invalid JSON Schema at %q: %s", "#"+tree.Pointer(leaf.InstanceLocation...), metaschemaMessage(leaf))
		}
		return nil
	}
	pos, msg := v.Pos, "invalid JSON Schema: "+trimURL(err.Error(), url)
	var le *jsonschema.LoadURLError
	var pe *jsonschema.JSONPointerNotFoundError
	var ae *jsonschema.AnchorNotFoundError
	var re *jsonschema.InvalidRegexError
	switch {
	case errors.As(err, &le):
		if ref := findRef(v, func(r string) bool { return !strings.HasPrefix(r, "#") }); ref != nil {
			pos, msg = ref.Pos, fmt.Sprintf("$ref %q points outside this schema; an inline schema may only use local refs such as #/$defs/name", ref.Str)
		}
	case errors.As(err, &pe):
		_, frag, _ := strings.Cut(pe.URL, "#")
		if ref := findRef(v, func(r string) bool { return r == "#"+frag }); ref != nil {
			pos, msg = ref.Pos, fmt.Sprintf("$ref %q points to nothing in this schema; define it (e.g. under $defs) or fix the pointer", ref.Str)
		}
	case errors.As(err, &ae):
		if ref := findRef(v, func(r string) bool { return strings.HasSuffix(ae.Reference, r) }); ref != nil {
			pos, msg = ref.Pos, fmt.Sprintf("$ref %q names an anchor this schema does not define", ref.Str)
		}
	case errors.As(err, &re):
		_, frag, _ := strings.Cut(re.URL, "#")
		if node := v.Lookup(frag); node != nil {
			pos = node.Pos
		}
		msg = fmt.Sprintf("pattern %q is not a valid regular expression: %v", re.Regex, re.Err)
	}
	diags.Errorf(pos, "invalid-schema", "%s", msg)
	return nil
}

// findRef returns the first `$ref` string of a schema whose value matches.
func findRef(schema *tree.Value, match func(string) bool) *tree.Value {
	var found *tree.Value
	schema.Walk(func(_ string, v *tree.Value) bool {
		if found != nil {
			return false
		}
		if r := v.Get("$ref"); r != nil && r.Kind == tree.String && match(r.Str) {
			found = r
		}
		return true
	})
	return found
}

// metaschemaMessage words a violation of the JSON Schema metaschema. For
// `type: strin` the library only says that an anyOf failed; one of its
// alternatives is the list of type names, which gives a better message.
func metaschemaMessage(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		return enumMessage(k)
	case *kind.AnyOf, *kind.OneOf:
		if en := findEnum(e); en != nil {
			return enumMessage(en)
		}
	}
	return e.ErrorKind.LocalizedString(printer)
}

// findEnum returns the first enum violation below e, at e's own instance.
func findEnum(e *jsonschema.ValidationError) *kind.Enum {
	for _, c := range e.Causes {
		if len(c.InstanceLocation) != len(e.InstanceLocation) {
			continue
		}
		if en, ok := c.ErrorKind.(*kind.Enum); ok {
			return en
		}
		if en := findEnum(c); en != nil {
			return en
		}
	}
	return nil
}

func enumMessage(k *kind.Enum) string {
	want := make([]string, 0, len(k.Want))
	for _, w := range k.Want {
		if s, ok := w.(string); ok {
			want = append(want, s)
		}
	}
	got, _ := k.Got.(string)
	msg := fmt.Sprintf("%v is not one of %s", k.Got, strings.Join(want, ", "))
	if got != "" {
		msg = fmt.Sprintf("%q is not one of %s%s", got, strings.Join(want, ", "), suggest.DidYouMean(got, want))
	}
	return msg
}

func trimURL(msg, url string) string { return strings.ReplaceAll(msg, url, "") }

// noRemoteRefs refuses $refs to other documents: an inline schema must be
// self-contained, and loading never touches the network.
type noRemoteRefs struct{}

func (noRemoteRefs) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref %q points outside this schema; inline schemas may only use local refs such as #/$defs/name", url)
}

// Violation is one way a value breaks a JSON Schema.
type Violation struct {
	// Pointer is the JSON Pointer (RFC 6901) of the offending value.
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// Violations lists every way a validation error says a value is wrong,
// each at its JSON Pointer.
func Violations(err error) []Violation {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		if err == nil {
			return nil
		}
		return []Violation{{Message: err.Error()}}
	}
	var out []Violation
	for _, leaf := range leaves(verr, nil) {
		out = append(out, Violation{Pointer: tree.Pointer(leaf.InstanceLocation...), Message: leaf.ErrorKind.LocalizedString(printer)})
	}
	return out
}

// Leaf is one violation a user can act on, with what a caller needs to
// word it its own way: for a value that is a secret, say, whose message
// must not quote it.
type Leaf struct {
	// Pointer is the JSON Pointer (RFC 6901) of the offending value.
	Pointer string
	// Keyword is the keyword the value breaks ("pattern", "required"),
	// or "" when the whole schema is false.
	Keyword string
	// Message is the validator's wording, which may quote the value.
	Message string
	// ValueFree says Message neither quotes nor describes the value: it
	// is one of required, type, minLength, maxLength,
	// additionalProperties, minProperties, maxProperties,
	// dependentRequired, or a false schema.
	ValueFree bool
}

// Leaves lists the violations a validation error holds, as Violations
// does; nil when err is not a validation error.
func Leaves(err error) []Leaf {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var out []Leaf
	for _, leaf := range leaves(verr, nil) {
		l := Leaf{Pointer: tree.Pointer(leaf.InstanceLocation...), Message: leaf.ErrorKind.LocalizedString(printer)}
		if kw := leaf.ErrorKind.KeywordPath(); len(kw) > 0 {
			l.Keyword = kw[len(kw)-1]
		}
		switch leaf.ErrorKind.(type) {
		case *kind.Required, *kind.Type, *kind.MinLength, *kind.MaxLength, *kind.AdditionalProperties,
			*kind.MinProperties, *kind.MaxProperties, *kind.DependentRequired, *kind.FalseSchema:
			l.ValueFree = true
		}
		out = append(out, l)
	}
	return out
}

// leaves flattens the error tree to the violations a user can act on. The
// causes of anyOf/oneOf are alternatives, not problems, so those report
// themselves.
func leaves(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		return append(out, e)
	}
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, c := range e.Causes {
		out = leaves(c, out)
	}
	return out
}
