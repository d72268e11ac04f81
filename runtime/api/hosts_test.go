package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// attacker is a loopback server that counts what reaches it: the host a
// tenant's override tries to send the workspace's secrets to.
func attacker(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"stolen","token_type":"bearer","id":"c_1"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// wantFileOnly checks a problem's diagnostics: one file-only error for
// field at line:col of the document.
func wantFileOnly(t *testing.T, p map[string]any, field string, line, col int) {
	t.Helper()
	diags, _ := p["diagnostics"].([]any)
	for _, d := range diags {
		m := d.(map[string]any)
		pos := m["pos"].(map[string]any)
		msg, _ := m["message"].(string)
		if m["rule"] == "file-only" && strings.Contains(msg, "connectorPatch."+field+":") && strings.Contains(msg, "only a workspace file") &&
			pos["line"] == float64(line) && pos["column"] == float64(col) {
			return
		}
	}
	t.Fatalf("no file-only diagnostic for connectorPatch.%s at %d:%d in %v", field, line, col, diags)
}

// TestOverrideCannotMoveSecrets: a tenant's stored override may not
// change where requests and secrets go: the token URL, the base URL, the
// servers, the hosts, the hosts a redirect is followed to. The PUT is refused with the field and its place, and nothing is
// stored.
func TestOverrideCannotMoveSecrets(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		evil, hits := attacker(t)
		r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
		wantStatus(t, r, http.StatusCreated)
		id := r.object(t)["id"].(string)

		tokenURL := "kind: ConnectionOverride\nconnector: oauthcrm\nconnectorPatch:\n  auth:\n    tokenUrl: " + evil.URL + "/token\n"
		p := wantProblem(t, c.do(yamlPut("/v1/connectors/oauthcrm/override", acme, tokenURL)), http.StatusUnprocessableEntity, "invalid-override")
		wantFileOnly(t, p, "auth.tokenUrl", 5, 5)
		if !strings.Contains(p["detail"].(string), "stored override oauthcrm/*") {
			t.Errorf("the problem does not name the override: %v", p["detail"])
		}
		wantProblem(t, c.get("/v1/connectors/oauthcrm/override", acme), http.StatusNotFound, "not-found")

		// The same for one connection, for each field, whatever else the
		// document holds.
		path := "/v1/connections/" + id + "/override"
		for field, doc := range map[string]string{
			"baseUrl":       "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  headers: {X-Team: a}\n  baseUrl: " + evil.URL + "\n",
			"hosts":         "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  headers: {X-Team: a}\n  hosts: [\"127.0.0.1\"]\n",
			"servers":       "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  headers: {X-Team: a}\n  servers: {upload: " + evil.URL + "}\n",
			"redirectHosts": "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  headers: {X-Team: a}\n  redirectHosts: [\"127.0.0.1\"]\n",
			"auth.in":       "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  headers: {X-Team: a}\n  auth: {in: query}\n",
		} {
			p := wantProblem(t, c.do(yamlPut(path, acme, doc)), http.StatusUnprocessableEntity, "invalid-override")
			col := 3
			if field == "auth.in" {
				col = 10
			}
			wantFileOnly(t, p, field, 5, col)

			var check struct {
				Valid       bool             `json:"valid"`
				Diagnostics []map[string]any `json:"diagnostics"`
			}
			c.do(req{method: "POST", path: path + "/check", token: acme, body: doc, header: map[string]string{"Content-Type": "application/yaml"}}).decode(t, &check)
			if check.Valid || len(check.Diagnostics) == 0 || check.Diagnostics[0]["rule"] != "file-only" {
				t.Errorf("%s: check %+v", field, check)
			}
		}
		wantProblem(t, c.get(path, acme), http.StatusNotFound, "not-found")

		// Headers, mappings and request fields on the same host are the
		// tenant's to change.
		ok := "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  headers: {X-Team: a}\nactions:\n  create-contact:\n    request: {body: {source: api}}\n"
		wantStatus(t, c.do(yamlPut(path, acme, ok)), http.StatusOK)
		if hits.Load() != 0 {
			t.Errorf("the attacker's server received %d requests", hits.Load())
		}
	})
}

// TestStoredOverrideFromBeforeRefusedAtRunTime: an override stored before
// these fields were refused (written into the store here) is neither
// applied nor a crash: runs and explain fail naming it and the field,
// nothing is sent, and deleting it puts the connection back to work.
func TestStoredOverrideFromBeforeRefusedAtRunTime(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		evil, hits := attacker(t)
		r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
		wantStatus(t, r, http.StatusCreated)
		id := r.object(t)["id"].(string)
		ovs := c.Store.Tenant("acme").Overrides()
		run := func() *response {
			return c.post("/v1/connections/"+id+"/actions/create-contact/run", acme, map[string]any{"input": map[string]any{"email": "ada@example.com"}})
		}
		for _, o := range []struct {
			connID, field string
			doc           string
			line, col     int
		}{
			{"", "auth.tokenUrl", "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  auth:\n    tokenUrl: " + evil.URL + "/token\n", 5, 5},
			{id, "baseUrl", "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  baseUrl: " + evil.URL + "\n", 4, 3},
		} {
			if _, err := ovs.Put(t.Context(), store.Override{Connector: "crm", ConnectionID: o.connID, Doc: []byte(o.doc)}); err != nil {
				t.Fatal(err)
			}
			name := "crm/*"
			if o.connID != "" {
				name = "crm/" + o.connID
			}
			for _, resp := range []*response{run(), c.get("/v1/connections/"+id+"/actions/create-contact/explain", acme)} {
				p := wantProblem(t, resp, http.StatusUnprocessableEntity, "invalid-override")
				wantFileOnly(t, p, o.field, o.line, o.col)
				if !strings.Contains(p["detail"].(string), "stored override "+name+" rev") {
					t.Errorf("the problem does not name the stored override %s: %v", name, p["detail"])
				}
			}
			wantStatus(t, c.do(req{method: "DELETE", path: overridePath(o.connID, id), token: acme}), http.StatusNoContent)
		}
		if hits.Load() != 0 {
			t.Errorf("the attacker's server received %d requests", hits.Load())
		}
		wantStatus(t, run(), http.StatusOK)
		c.neverShown(apitest.GoodKey)
	})
}

func overridePath(connID, id string) string {
	if connID == "" {
		return "/v1/connectors/crm/override"
	}
	return fmt.Sprintf("/v1/connections/%s/override", id)
}

// TestRunRefusesAHostFromParameters: a connection whose stored region
// (saved before the host policy, so past today's checks) names another
// host runs into a 422 run-host-not-allowed naming the connector, the
// field and the parameter, with the run's log id; nothing is sent.
func TestRunRefusesAHostFromParameters(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		tok := c.Token(apitest.RegionalTenant)
		evil, hits := attacker(t)
		_, port, _ := strings.Cut(strings.TrimPrefix(evil.URL, "http://"), ":")
		conn, err := c.Store.Tenant(apitest.RegionalTenant).Connections().Create(t.Context(), store.Connection{
			Connector: "crm", Name: "legacy", State: store.Connected,
			Parameters: map[string]any{"region": "127.0.0.1:" + port + "#"}, Credentials: map[string]any{"apiKey": apitest.GoodKey}})
		if err != nil {
			t.Fatal(err)
		}
		r := c.post("/v1/connections/"+conn.ID+"/actions/create-contact/run", tok, map[string]any{"input": map[string]any{"email": "ada@example.com"}})
		p := wantProblem(t, r, http.StatusUnprocessableEntity, "run-host-not-allowed")
		e, _ := p["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if e["type"] != "host-not-allowed" || !strings.Contains(msg, `connector "crm", baseUrl`) || !strings.Contains(msg, `"region" parameter`) {
			t.Errorf("error %v", e)
		}
		if id, _ := p["runId"].(string); id == "" {
			t.Errorf("no runId: %s", r.Body)
		}
		// The connection's test says the same, and sends nothing either.
		r = c.post("/v1/connections/"+conn.ID+"/test", tok, nil)
		wantStatus(t, r, http.StatusOK)
		if e, _ := r.object(t)["error"].(map[string]any); e["type"] != "host-not-allowed" {
			t.Errorf("test: %s", r.Body)
		}
		if hits.Load() != 0 || c.Upstream.Calls() != 0 {
			t.Errorf("requests were sent: attacker %d, upstream %d", hits.Load(), c.Upstream.Calls())
		}
		c.neverShown(apitest.GoodKey)
	})
}
