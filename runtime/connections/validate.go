package connections

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// connectorSchemas are a connector's parameters and credentials schemas,
// compiled once.
type connectorSchemas struct {
	params, creds *jsonschema.Schema
	err           error
}

// schemasOf compiles a connector's schemas on first use. The cache is
// keyed by the connector itself, so a reloaded workspace compiles anew.
func (s *Service) schemasOf(c *spec.Connector) *connectorSchemas {
	if v, ok := s.schemas.Load(c); ok {
		return v.(*connectorSchemas)
	}
	var diags diag.List
	cs := &connectorSchemas{params: c.Parameters.Compile(&diags)}
	creds := spec.CredentialsSchema(c.Auth)
	cs.creds = (&spec.Schema{Value: creds}).Compile(&diags)
	if err := diags.Err(); err != nil {
		cs.err = fmt.Errorf("connector %q has a schema that does not compile: %w", c.Key, err)
	}
	v, _ := s.schemas.LoadOrStore(c, cs)
	return v.(*connectorSchemas)
}

// params checks connection parameters against the connector's schema
// and returns them as JSON values (what the store and the engine see),
// with the violations placed under /parameters.
func (s *Service) params(c *spec.Connector, params map[string]any) (map[string]any, []spec.Violation, error) {
	cs := s.schemasOf(c)
	if cs.err != nil {
		return nil, nil, cs.err
	}
	p, err := jsonObject(params)
	if err != nil {
		return nil, []spec.Violation{{Pointer: "/parameters", Message: err.Error()}}, nil
	}
	var out []spec.Violation
	if cs.params != nil {
		if err := cs.params.Validate(orEmpty(p)); err != nil {
			for _, v := range spec.Violations(err) {
				out = append(out, spec.Violation{Pointer: "/parameters" + v.Pointer, Message: v.Message})
			}
		}
	}
	return p, out, nil
}

// credentials checks credentials against spec.CredentialsSchema of the
// connector's auth, as params does; no message holds a credential.
func (s *Service) credentials(c *spec.Connector, creds map[string]any) (map[string]any, []spec.Violation, error) {
	cs := s.schemasOf(c)
	if cs.err != nil {
		return nil, nil, cs.err
	}
	cr, err := jsonObject(creds)
	if err != nil {
		// Its message names a Go type, never a value.
		return nil, []spec.Violation{{Pointer: "/credentials", Message: err.Error()}}, nil
	}
	var out []spec.Violation
	if cs.creds != nil {
		if err := cs.creds.Validate(orEmpty(cr)); err != nil {
			out = credentialViolations(err, cr)
		}
	}
	return cr, out, nil
}

// invalid is the error of a request with violations, nil without any.
func invalid(c *spec.Connector, violations []spec.Violation) error {
	if len(violations) == 0 {
		return nil
	}
	return &ValidationError{Message: fmt.Sprintf("the connection does not match what connector %q asks for", c.Key), Violations: violations}
}

// jsonObject returns m as JSON decodes it (numbers as float64, no Go
// types), so that it validates, stores and evaluates the same way.
func jsonObject(m map[string]any) (map[string]any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		var ue *json.UnsupportedTypeError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("holds a %s, which is not a JSON value", ue.Type)
		}
		return nil, errors.New("is not a JSON object")
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, errors.New("is not a JSON object")
	}
	return out, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

var printer = message.NewPrinter(language.English)

// credentialViolations words the violations of the credentials schema
// without their values: a key that fails a pattern is still a key. Only
// the keywords whose messages name no value (required, type, lengths,
// unknown properties) keep the library's message.
func credentialViolations(err error, creds map[string]any) []spec.Violation {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []spec.Violation{{Pointer: "/credentials", Message: "the credentials are not valid"}}
	}
	secrets := engine.SecretsOf(creds, nil)
	var out []spec.Violation
	for _, leaf := range spec.SchemaLeaves(verr) {
		msg := ""
		switch leaf.ErrorKind.(type) {
		case *kind.Required, *kind.Type, *kind.MinLength, *kind.MaxLength, *kind.AdditionalProperties,
			*kind.MinProperties, *kind.MaxProperties, *kind.DependentRequired, *kind.FalseSchema:
			msg = leaf.ErrorKind.LocalizedString(printer)
		}
		if msg == "" || containsAny(msg, secrets) {
			kw := leaf.ErrorKind.KeywordPath()
			name := "the schema"
			if len(kw) > 0 {
				name = fmt.Sprintf("%q", kw[len(kw)-1])
			}
			msg = fmt.Sprintf("does not satisfy %s (the value is a credential, so it is not shown)", name)
		}
		out = append(out, spec.Violation{Pointer: "/credentials" + spec.Pointer(leaf.InstanceLocation...), Message: msg})
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// sameSecrets reports whether two versions of a connection carry the same
// credentials and token.
func sameSecrets(a, b *store.Connection) bool {
	return reflect.DeepEqual(a.Credentials, b.Credentials) && reflect.DeepEqual(a.Token, b.Token)
}
