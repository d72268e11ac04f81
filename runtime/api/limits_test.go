package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// wantLimitRaised checks a problem's diagnostics: one limit-raised error
// for field at line:col of the document, naming both values.
func wantLimitRaised(t *testing.T, p map[string]any, field, got, ceiling string, line, col int) {
	t.Helper()
	diags, _ := p["diagnostics"].([]any)
	for _, d := range diags {
		m := d.(map[string]any)
		pos := m["pos"].(map[string]any)
		msg, _ := m["message"].(string)
		if m["rule"] == "limit-raised" && strings.HasPrefix(msg, field+": "+got+" is above this connection's limit of "+ceiling) &&
			pos["line"] == float64(line) && pos["column"] == float64(col) {
			return
		}
	}
	t.Fatalf("no limit-raised diagnostic for %s (%s above %s) at %d:%d in %v", field, got, ceiling, line, col, diags)
}

// TestOverrideCannotRaiseLimits: a tenant's stored override may lower the
// limits that bound what one request costs the server (the response size
// read into memory, the timeouts, the attempts), never raise them above
// what the workspace's files give; a document stored before the rule is
// refused at run time, naming the field, with nothing sent.
func TestOverrideCannotRaiseLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
		wantStatus(t, r, http.StatusCreated)
		id := r.object(t)["id"].(string)
		path := "/v1/connections/" + id + "/override"

		for _, tc := range []struct {
			doc, field, got, ceiling string
			line, col                int
		}{
			{"kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  http:\n    maxResponseBytes: 1073741824\n",
				"connectorPatch.http.maxResponseBytes", "1073741824 bytes", "16777216 bytes", 5, 5},
			{"kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  http: {readTimeout: 1h}\n",
				"connectorPatch.http.readTimeout", "1h0m0s", "30s", 4, 10},
			{"kind: ConnectionOverride\nconnector: crm\nactions:\n  create-contact:\n    retry: {maxAttempts: 50}\n",
				"actions.create-contact.retry.maxAttempts", "50 attempts", "1 attempt", 5, 13},
		} {
			p := wantProblem(t, c.do(yamlPut(path, acme, tc.doc)), http.StatusUnprocessableEntity, "invalid-override")
			wantLimitRaised(t, p, tc.field, tc.got, tc.ceiling, tc.line, tc.col)
		}
		wantProblem(t, c.get(path, acme), http.StatusNotFound, "not-found")

		// Lowering is the tenant's to choose.
		lower := "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  http: {maxResponseBytes: 65536, readTimeout: 5s}\nactions:\n  create-contact:\n    retry: {maxAttempts: 1, maxBackoff: 1s}\n"
		wantStatus(t, c.do(yamlPut(path, acme, lower)), http.StatusOK)
		run := func() *response {
			return c.post("/v1/connections/"+id+"/actions/create-contact/run", acme, map[string]any{"input": map[string]any{"email": "ada@example.com"}})
		}
		wantStatus(t, run(), http.StatusOK)
		wantStatus(t, c.do(req{method: "DELETE", path: path, token: acme}), http.StatusNoContent)

		// Stored before the rule: refused when read for a run.
		calls := c.Upstream.Calls()
		raised := "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  http:\n    maxResponseBytes: 1073741824\n"
		if _, err := c.Store.Tenant("acme").Overrides().Put(t.Context(), store.Override{Connector: "crm", ConnectionID: id, Doc: []byte(raised)}); err != nil {
			t.Fatal(err)
		}
		p := wantProblem(t, run(), http.StatusUnprocessableEntity, "invalid-override")
		wantLimitRaised(t, p, "connectorPatch.http.maxResponseBytes", "1073741824 bytes", "16777216 bytes", 5, 5)
		if n := c.Upstream.Calls() - calls; n != 0 {
			t.Errorf("%d requests were sent with the raised limit", n)
		}
		wantStatus(t, c.do(req{method: "DELETE", path: path, token: acme}), http.StatusNoContent)
		wantStatus(t, run(), http.StatusOK)
	})
}
