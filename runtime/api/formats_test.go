package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
)

// TestRunRefusesABadFormat: a value that breaks the input schema's format
// (email here) is a 422 run-invalid-input at the field's pointer, as the
// connect page's and the console's forms refuse it, and nothing is sent.
func TestRunRefusesABadFormat(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	acme := c.Token("acme")
	r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
	wantStatus(t, r, http.StatusCreated)
	id := r.object(t)["id"].(string)
	calls := c.Upstream.Calls()
	p := wantProblem(t, c.post("/v1/connections/"+id+"/actions/create-contact/run", acme, map[string]any{"input": map[string]any{"email": "not-an-email"}}),
		http.StatusUnprocessableEntity, "run-invalid-input")
	if !slices.Equal(pointers(p), []string{"/input/email"}) {
		t.Fatalf("pointers %v in %v", pointers(p), p)
	}
	if errs, _ := p["errors"].([]any); !strings.Contains(errs[0].(map[string]any)["detail"].(string), "email") {
		t.Errorf("the violation does not name the format: %v", errs[0])
	}
	if c.Upstream.Calls() != calls {
		t.Error("an input with a bad email reached the API")
	}
}
