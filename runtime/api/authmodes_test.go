package api_test

import (
	"net/http"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
)

// TestAuthModes creates connections to a connector that offers OAuth2
// consent and an API key: the caller picks the mode, the connection keeps
// it, and its runs authenticate the way that mode says.
func TestAuthModes(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	tok := c.Token("acme")

	info := c.get("/v1/connectors/deskcrm", tok)
	wantStatus(t, info, http.StatusOK)
	var ci struct {
		Auth      struct{ Type string }
		AuthModes []struct {
			Key, Label, Type  string
			CredentialsSchema map[string]any
		}
	}
	info.decode(t, &ci)
	if len(ci.AuthModes) != 2 || ci.AuthModes[0].Key != "oauth" || ci.AuthModes[1].Key != "api-key" || ci.AuthModes[1].Label != "API key" || ci.Auth.Type != "oauth2" {
		t.Fatalf("the connector's modes: %s", info)
	}
	if ci.AuthModes[1].CredentialsSchema == nil || ci.AuthModes[0].CredentialsSchema["required"] != nil {
		t.Errorf("each mode asks for its own credentials: %s", info)
	}

	// Without a mode, the first (OAuth2 consent) cannot be created here.
	r := c.post("/v1/connections", tok, map[string]any{"connector": "deskcrm", "credentials": map[string]any{"apiKey": apitest.GoodKey}})
	if r.Status == http.StatusCreated {
		t.Fatalf("the OAuth2 mode connected without consent: %s", r)
	}
	// An unknown mode names the modes there are, at /authMode.
	p := wantProblem(t, c.post("/v1/connections", tok, map[string]any{"connector": "deskcrm", "authMode": "password"}), http.StatusUnprocessableEntity, "validation")
	if ptrs := pointers(p); len(ptrs) != 1 || ptrs[0] != "/authMode" {
		t.Errorf("an unknown mode is reported at %v: %v", ptrs, p)
	}

	// The API key mode: its credentials are checked against its own
	// schema, proven by its test request, and used by its runs.
	bad := wantProblem(t, c.post("/v1/connections", tok, map[string]any{"connector": "deskcrm", "authMode": "api-key", "credentials": map[string]any{"apiKey": "nope"}}), http.StatusUnprocessableEntity, "validation")
	if ptrs := pointers(bad); len(ptrs) != 1 || ptrs[0] != "/credentials/apiKey" {
		t.Errorf("a malformed key of the api-key mode is reported at %v", ptrs)
	}
	r = c.post("/v1/connections", tok, map[string]any{"connector": "deskcrm", "authMode": "api-key", "credentials": map[string]any{"apiKey": apitest.GoodKey}})
	wantStatus(t, r, http.StatusCreated)
	conn := r.object(t)
	if conn["authMode"] != "api-key" {
		t.Fatalf("the connection does not say its mode: %s", r)
	}
	id := conn["id"].(string)
	got := c.get("/v1/connections/"+id, tok).object(t)
	if got["authMode"] != "api-key" {
		t.Errorf("the stored connection lost its mode: %v", got)
	}
	before := c.Upstream.Calls()
	run := c.post("/v1/connections/"+id+"/actions/create-contact/run", tok, map[string]any{"input": map[string]any{"email": "ada@example.com"}})
	wantStatus(t, run, http.StatusOK)
	if out := run.object(t)["output"].(map[string]any); out["id"] != "c_1" || c.Upstream.Calls() != before+1 {
		t.Errorf("a run with the api-key mode: %s", run)
	}
	c.neverShown(apitest.GoodKey)

	// Consent for the OAuth2 mode starts when asked with it, and is
	// refused for the API key mode.
	wantProblem(t, c.post("/v1/oauth/authorize", tok, map[string]any{"connector": "deskcrm", "authMode": "api-key"}), http.StatusUnprocessableEntity, "invalid-request")
}
