package spec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Compile checks an inline JSON Schema against the draft 2020-12 metaschema
// and compiles it for validating values. Problems are reported at the
// offending keyword of the schema.
func (s *Schema) Compile(diags *diag.List) *jsonschema.Schema {
	if s.IsZero() {
		return nil
	}
	const url = "mem:///schema.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noRemoteRefs{})
	doc := s.Value.Interface()
	if err := c.AddResource(url, doc); err != nil {
		diags.Errorf(s.Value.Pos, "invalid-schema", "not a JSON Schema: %v", err)
		return nil
	}
	sch, err := c.Compile(url)
	if err == nil {
		return sch
	}
	var sve *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &sve) && errors.As(sve.Err, &verr) {
		for _, leaf := range leaves(verr, nil) {
			node := s.Value.Lookup(Pointer(leaf.InstanceLocation...))
			if node == nil {
				node = s.Value
			}
			msg := leaf.ErrorKind.LocalizedString(printer)
			if t, ok := leaf.ErrorKind.(*kind.Type); ok {
				msg = fmt.Sprintf("must be %s, not %s", strings.Join(t.Want, " or "), t.Got)
			}
			diags.Errorf(node.Pos, "invalid-schema", "invalid JSON Schema at %q: %s", "#"+Pointer(leaf.InstanceLocation...), msg)
		}
		return nil
	}
	diags.Errorf(s.Value.Pos, "invalid-schema", "invalid JSON Schema: %s", trimURL(err.Error(), url))
	return nil
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
		out = append(out, Violation{Pointer: Pointer(leaf.InstanceLocation...), Message: leaf.ErrorKind.LocalizedString(printer)})
	}
	return out
}
