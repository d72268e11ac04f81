package layers_test

import (
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

// TestAuthModes resolves a connector that offers OAuth2 and a personal
// access token as each mode makes it: a connection's requests use the
// auth of the mode it was created with, and nothing else.
func TestAuthModes(t *testing.T) {
	ws := loadWorkspace(t, "../spec/testdata/good")
	byMode := func(mode string) *spec.ConnectionOverride {
		return &spec.ConnectionOverride{Connector: "desk", AuthMode: mode}
	}

	def, diags := layers.ResolveConnector(ws, "desk")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := def.Connector.Auth.Type; got != spec.AuthOAuth2 {
		t.Errorf("without a mode, the auth is %q, want the first mode's oauth2", got)
	}

	tok, diags := layers.ResolveConnector(ws, "desk", byMode("token"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if a := tok.Connector.Auth; a.Type != spec.AuthBearer || a.Key != "token" {
		t.Fatalf("mode token resolves to auth %+v, want the bearer mode", a)
	}
	if tok.Compiled.Auth.Token == nil {
		t.Error("the token mode's token expression is not compiled")
	}
	if got := spec.CredentialsSchema(tok.Connector.Auth).Get("required"); got == nil || got.Items[0].Str != "accessToken" {
		t.Errorf("the token mode asks for credentials %v, want its own accessToken", got)
	}

	// An action runs with the connector as the connection's mode makes it.
	act, diags := layers.ResolveConnector(ws, "desk", byMode("oauth"))
	if diags.HasErrors() || act.Connector.Auth.Type != spec.AuthOAuth2 {
		t.Errorf("mode oauth: %v, %+v", diags, act)
	}

	// A connector patch of a file override applies to the chosen mode.
	patch := &spec.ConnectionOverride{Connector: "desk", ConnectorPatch: mapOf("auth", mapOf("token", &tree.Value{Kind: tree.String, Str: "${ credentials.accessToken + '-sandbox' }"}))}
	patched, diags := layers.ResolveConnector(ws, "desk", byMode("token"), patch)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := patched.Connector.Auth.Token.Source; !strings.Contains(got, "-sandbox") || patched.Connector.Auth.Type != spec.AuthBearer {
		t.Errorf("a patch of the token mode gives token %q (type %s)", got, patched.Connector.Auth.Type)
	}

	if _, diags := layers.ResolveConnector(ws, "desk", byMode("password")); !strings.Contains(diags.Err().Error(), `connector "desk" has no auth mode "password"; its modes are oauth, token`) {
		t.Errorf("an unknown mode reports %v", diags)
	}

	// The workspace's file override picks the token mode for acme.
	var file *spec.ConnectionOverride
	for _, o := range ws.Overrides {
		if o.Connector == "desk" {
			file = o
		}
	}
	if file == nil || file.AuthMode != "token" {
		t.Fatalf("the desk override file reads as %+v", file)
	}
	if r, _ := layers.ResolveConnector(ws, "desk", file); r == nil || r.Connector.Auth.Key != "token" {
		t.Errorf("the file's authMode does not pick the token mode: %+v", r)
	}
}

func mapOf(key string, v *tree.Value) *tree.Value {
	return &tree.Value{Kind: tree.Map, Fields: []tree.Field{{Key: key, Value: v}}}
}
