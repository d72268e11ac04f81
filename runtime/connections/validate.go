package connections

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/schema"
)

// connectorSchemas are a connector's parameters and credentials schemas,
// compiled once.
type connectorSchemas struct {
	params, creds *schema.Validator
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

// Bounds of what a connection keeps besides its secrets. Parameters are
// small values (a subdomain, a region) that every request of the
// connection evaluates; credentials are keys, maybe a PEM or a service
// account document. Both are stored with the connection and read on
// every run, so neither may grow without bound, in size or in nesting.
const (
	MaxParametersBytes  = 16 << 10
	MaxCredentialsBytes = 64 << 10
	MaxNesting          = 16
)

// params checks connection parameters against the connector's schema
// and returns them as JSON values (what the store and the engine see),
// with the violations placed under /parameters. A connector without a
// parameters schema takes none.
func (s *Service) params(c *spec.Connector, params map[string]any) (map[string]any, []schema.Violation, error) {
	cs := s.schemasOf(c)
	if cs.err != nil {
		return nil, nil, cs.err
	}
	p, err := jsonObject(params)
	if err != nil {
		return nil, []schema.Violation{{Pointer: "/parameters", Message: err.Error()}}, nil
	}
	if v := bounded("/parameters", p, MaxParametersBytes); v != nil {
		return nil, v, nil
	}
	var out []schema.Violation
	if cs.params == nil {
		for _, k := range slices.Sorted(maps.Keys(p)) {
			out = append(out, schema.Violation{Pointer: "/parameters/" + escapePointer(k),
				Message: fmt.Sprintf("connector %q takes no parameters (its file declares no parameters schema); remove this one", c.Key)})
		}
		return p, out, nil
	}
	if err := cs.params.Validate(orEmpty(p)); err != nil {
		for _, v := range schema.Violations(err) {
			out = append(out, schema.Violation{Pointer: "/parameters" + v.Pointer, Message: v.Message})
		}
	}
	return p, out, nil
}

// credentials checks credentials against spec.CredentialsSchema of the
// connector's auth, as params does; no message holds a credential.
func (s *Service) credentials(c *spec.Connector, creds map[string]any) (map[string]any, []schema.Violation, error) {
	cs := s.schemasOf(c)
	if cs.err != nil {
		return nil, nil, cs.err
	}
	cr, err := jsonObject(creds)
	if err != nil {
		// Its message names a Go type, never a value.
		return nil, []schema.Violation{{Pointer: "/credentials", Message: err.Error()}}, nil
	}
	if v := bounded("/credentials", cr, MaxCredentialsBytes); v != nil {
		return nil, v, nil
	}
	var out []schema.Violation
	if cs.creds != nil {
		if err := cs.creds.Validate(orEmpty(cr)); err != nil {
			out = credentialViolations(err, cr)
		}
	}
	return cr, out, nil
}

// invalid is the error of a request with violations, nil without any.
func invalid(c *spec.Connector, violations []schema.Violation) error {
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

// bounded refuses an object over maxBytes of JSON, or nested deeper than
// MaxNesting, with the violation at where the limit is passed (never a
// value: it may be a credential).
func bounded(at string, m map[string]any, maxBytes int) []schema.Violation {
	if m == nil {
		return nil
	}
	if ptr, deep := tooDeep(m, at, 1); deep {
		return []schema.Violation{{Pointer: ptr, Message: fmt.Sprintf("is nested deeper than %d levels, the limit; flatten it", MaxNesting)}}
	}
	b, _ := json.Marshal(m) // it was just decoded from JSON
	if len(b) > maxBytes {
		return []schema.Violation{{Pointer: at, Message: fmt.Sprintf("is %d bytes of JSON; at most %d are kept with a connection", len(b), maxBytes)}}
	}
	return nil
}

// tooDeep finds the first value of v nested more than MaxNesting levels
// deep; v itself is at level depth.
func tooDeep(v any, at string, depth int) (string, bool) {
	var kids func(yield func(string, any) bool)
	switch t := v.(type) {
	case map[string]any:
		kids = func(yield func(string, any) bool) {
			for _, k := range slices.Sorted(maps.Keys(t)) {
				if !yield(escapePointer(k), t[k]) {
					return
				}
			}
		}
	case []any:
		kids = func(yield func(string, any) bool) {
			for i, x := range t {
				if !yield(strconv.Itoa(i), x) {
					return
				}
			}
		}
	default:
		return "", false
	}
	if depth > MaxNesting {
		return at, true
	}
	for k, x := range kids {
		if ptr, deep := tooDeep(x, at+"/"+k, depth+1); deep {
			return ptr, true
		}
	}
	return "", false
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// credentialViolations words the violations of the credentials schema
// without their values: a key that fails a pattern is still a key. Only
// the keywords whose messages name no value (required, type, lengths,
// unknown properties) keep the library's message.
func credentialViolations(err error, creds map[string]any) []schema.Violation {
	leaves := schema.Leaves(err)
	if leaves == nil {
		return []schema.Violation{{Pointer: "/credentials", Message: "the credentials are not valid"}}
	}
	secrets := engine.SecretsOf(creds, nil)
	var out []schema.Violation
	for _, leaf := range leaves {
		msg := ""
		if leaf.ValueFree {
			msg = leaf.Message
		}
		if msg == "" || containsAny(msg, secrets) {
			name := "the schema"
			if leaf.Keyword != "" {
				name = fmt.Sprintf("%q", leaf.Keyword)
			}
			msg = fmt.Sprintf("does not satisfy %s (the value is a credential, so it is not shown)", name)
		}
		out = append(out, schema.Violation{Pointer: "/credentials" + leaf.Pointer, Message: msg})
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
