package spec

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec/diag"
)

// The file kinds' schemas are compiled once per process.
var kindSchemas = sync.OnceValues(schemas.Compile)

var printer = message.NewPrinter(language.English)

// checkShape validates a document against its kind's JSON Schema and reports
// each violation at the key or value it concerns.
func checkShape(kindName string, doc *Value, diags *diag.List) {
	all, err := kindSchemas()
	if err != nil {
		diags.Errorf(doc.Pos, "internal", "the %s schema does not compile: %v", kindName, err)
		return
	}
	sch := all[kindName]
	if sch == nil {
		return
	}
	err = sch.Validate(doc.Interface())
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return
	}
	for _, leaf := range leaves(verr, nil) {
		reportViolation(kindName, doc, leaf, diags)
	}
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

func reportViolation(kindName string, doc *Value, e *jsonschema.ValidationError, diags *diag.List) {
	ptr := Pointer(e.InstanceLocation...)
	node := doc.Lookup(ptr)
	if node == nil {
		node = doc
	}
	where := ""
	if ptr != "" {
		where = " at " + ptr
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := schemas.PropertiesAt(kindName, e.SchemaURL+"/additionalProperties")
		for _, p := range k.Properties {
			reportUnknownField(node, p, allowed, diags)
		}
	case *kind.FalseSchema:
		// unevaluatedProperties: false reports the property itself.
		if n := len(e.InstanceLocation); n > 0 && strings.HasSuffix(e.SchemaURL, "Properties") {
			parent := doc.Lookup(Pointer(e.InstanceLocation[:n-1]...))
			allowed := schemas.PropertiesAt(kindName, e.SchemaURL)
			reportUnknownField(parent, e.InstanceLocation[n-1], allowed, diags)
			return
		}
		diags.Errorf(node.Pos, "schema", "value%s is not allowed here", where)
	case *kind.Required:
		for _, m := range k.Missing {
			diags.Errorf(node.Pos, "missing-field", "missing required field %q%s", m, where)
		}
	case *kind.Type:
		diags.Errorf(node.Pos, "wrong-type", "%s must be %s, not %s", fieldName(e.InstanceLocation), strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		diags.Errorf(node.Pos, "invalid-value", "%s is %s; use one of %s%s", fieldName(e.InstanceLocation), jsonText(k.Got), enumText(k.Want), didYouMean(fmt.Sprint(k.Got), enumStrings(k.Want)))
	case *kind.Const:
		diags.Errorf(node.Pos, "invalid-value", "%s must be %s, not %s", fieldName(e.InstanceLocation), jsonText(k.Want), jsonText(k.Got))
	default:
		diags.Errorf(node.Pos, "schema", "%s: %s", fieldName(e.InstanceLocation), e.ErrorKind.LocalizedString(printer))
	}
}

func reportUnknownField(obj *Value, name string, allowed []string, diags *diag.List) {
	pos := obj.Pos
	if f := obj.Field(name); f != nil {
		pos = f.KeyPos
	}
	hint := didYouMean(name, allowed)
	if hint == "" && len(allowed) > 0 && len(allowed) <= 12 {
		sorted := slices.Sorted(slices.Values(allowed))
		hint = "; allowed here: " + strings.Join(sorted, ", ")
	}
	diags.Errorf(pos, "unknown-field", "unknown field %q%s", name, hint)
}

// fieldName names the instance location for a message: its last key, or
// "the document".
func fieldName(loc []string) string {
	if len(loc) == 0 {
		return "the document"
	}
	return quote(strings.Join(loc, "."))
}

func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return quote(s)
	}
	return fmt.Sprint(v)
}

func enumText(want []any) string {
	parts := make([]string, len(want))
	for i, w := range want {
		parts[i] = jsonText(w)
	}
	return strings.Join(parts, ", ")
}

func enumStrings(want []any) []string {
	var out []string
	for _, w := range want {
		if s, ok := w.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
