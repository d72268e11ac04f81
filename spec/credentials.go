package spec

import (
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// CredentialsSchema is the JSON Schema of what a user gives to connect: the
// auth's own `credentials:`, or the default of its type.
func CredentialsSchema(a *Auth) *tree.Value {
	if a == nil {
		return emptyObjectSchema()
	}
	if !a.Credentials.IsZero() {
		return a.Credentials.Value
	}
	props := map[string]any{}
	var required []any
	str := func(name, title string, secret bool) {
		p := map[string]any{"type": "string", "title": title, "minLength": 1}
		if secret {
			p["writeOnly"] = true
		}
		props[name] = p
		required = append(required, name)
	}
	switch a.Type {
	case AuthAPIKey:
		str("apiKey", "API key", true)
	case AuthBasic:
		str("username", "Username", false)
		str("password", "Password", true)
	case AuthBearer:
		str("token", "Access token", true)
	case AuthOAuth2:
		props["accessToken"] = map[string]any{"type": "string"}
	}
	schema := map[string]any{"type": "object", "properties": props}
	if required != nil {
		schema["required"] = required
	}
	v, _ := tree.FromInterface(schema, a.Test.posOrZero())
	return v
}

func (r *Request) posOrZero() diag.Pos {
	if r == nil {
		return diag.Pos{}
	}
	return r.Pos
}

func emptyObjectSchema() *tree.Value {
	v, _ := tree.FromInterface(map[string]any{"type": "object"}, diag.Pos{})
	return v
}
