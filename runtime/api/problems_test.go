package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/api"
)

func TestProblems(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	acme := c.Token("acme")
	post := func(body, ctype string) *response {
		return c.do(req{method: "POST", path: "/v1/connections", token: acme, body: body, header: map[string]string{"Content-Type": ctype}})
	}

	t.Run("unknown route", func(t *testing.T) {
		p := wantProblem(t, c.get("/v1/nothing-here", ""), http.StatusNotFound, "not-found")
		if !strings.Contains(p["detail"].(string), "/openapi.json") {
			t.Errorf("detail %v", p["detail"])
		}
		wantProblem(t, c.get("/v2/connections", acme), http.StatusNotFound, "not-found")
	})
	t.Run("method not allowed", func(t *testing.T) {
		for path, allow := range map[string]string{"/v1/connections": "GET, POST", "/v1/connectors": "GET", "/v1/connections/conn_x": "GET, DELETE"} {
			r := c.do(req{method: "PATCH", path: path, token: acme})
			wantProblem(t, r, http.StatusMethodNotAllowed, "method-not-allowed")
			if r.Header.Get("Allow") != allow {
				t.Errorf("%s: Allow %q, want %q", path, r.Header.Get("Allow"), allow)
			}
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		p := wantProblem(t, post("{\n  \"connector\": \"crm\",\n  }", "application/json"), http.StatusBadRequest, "malformed-json")
		if d := p["detail"].(string); !strings.Contains(d, "byte 27") || !strings.Contains(d, "line 3, column 3") {
			t.Errorf("detail %q", d)
		}
		p = wantProblem(t, post(`{"connector": 5}`, "application/json"), http.StatusBadRequest, "malformed-json")
		if !slices.Equal(pointers(p), []string{"/connector"}) {
			t.Errorf("pointers %v", pointers(p))
		}
		p = wantProblem(t, post(`{"connector": "crm", "parameters": {"region": "eu"}, "secret": 1}`, "application/json"), http.StatusBadRequest, "malformed-json")
		if !slices.Equal(pointers(p), []string{"/secret"}) {
			t.Errorf("pointers %v", pointers(p))
		}
		wantProblem(t, post(`{"connector": "crm"} {}`, "application/json"), http.StatusBadRequest, "malformed-json")
		wantProblem(t, post(`{"connector": "cr`, "application/json"), http.StatusBadRequest, "malformed-json")
		wantProblem(t, post(``, "application/json"), http.StatusBadRequest, "malformed-json")
		wantProblem(t, post(`[]`, "application/json"), http.StatusBadRequest, "malformed-json")
	})
	t.Run("media type", func(t *testing.T) {
		wantProblem(t, post(`{"connector": "crm"}`, "text/plain"), http.StatusUnsupportedMediaType, "unsupported-media-type")
		wantProblem(t, post(`{"connector": "crm"}`, ""), http.StatusUnsupportedMediaType, "unsupported-media-type")
		r := post(`{"connector": "oauthcrm"}`, "application/json; charset=utf-8")
		wantProblem(t, r, http.StatusConflict, "oauth-required")
	})
	t.Run("too large", func(t *testing.T) {
		big, _ := json.Marshal(map[string]any{"connector": "crm", "name": strings.Repeat("x", api.MaxBodyBytes)})
		wantProblem(t, post(string(big), "application/json"), http.StatusRequestEntityTooLarge, "body-too-large")
		doc := overrideDoc + "# " + strings.Repeat("x", api.MaxBodyBytes) + "\n"
		wantProblem(t, c.do(yamlPut("/v1/connectors/crm/override", acme, doc)), http.StatusRequestEntityTooLarge, "body-too-large")
	})
	t.Run("too deep", func(t *testing.T) {
		deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
		p := wantProblem(t, post(`{"connector": "crm", "parameters": {"x": `+deep(api.MaxJSONDepth)+`}}`, "application/json"), http.StatusBadRequest, "json-too-deep")
		if d := p["detail"].(string); !strings.Contains(d, "deeper than 64 levels") || !strings.Contains(d, "byte 104 (line 1, column 104) opens level 65") {
			t.Errorf("detail %q", d)
		}
		// Brackets inside strings do not count; 64 levels are fine.
		wantProblem(t, post(`{"connector": "crm", "name": "`+strings.Repeat("[{", 100)+`\"", "parameters": {"x": `+deep(api.MaxJSONDepth-2)+`}}`, "application/json"),
			http.StatusUnprocessableEntity, "validation")
		conn := c.post("/v1/connections", acme, map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"},
			"credentials": map[string]any{"apiKey": apitest.GoodKey}}).object(t)["id"].(string)
		r := c.do(req{method: "POST", path: "/v1/connections/" + conn + "/actions/create-contact/run", token: acme,
			body: `{"input": {"email": "a@example.com", "x": ` + deep(9990) + `}}`, header: map[string]string{"Content-Type": "application/json"}})
		wantProblem(t, r, http.StatusBadRequest, "json-too-deep")
	})
	t.Run("paging", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=1001", "limit=ten", "limit=-1"} {
			p := wantProblem(t, c.get("/v1/connections?"+q, acme), http.StatusBadRequest, "invalid-query")
			if p["errors"].([]any)[0].(map[string]any)["parameter"] != "limit" {
				t.Errorf("%s: %v", q, p)
			}
		}
		for _, path := range []string{"/v1/connections", "/v1/overrides", "/v1/run-logs"} {
			p := wantProblem(t, c.get(path+"?cursor=not-a-cursor", acme), http.StatusBadRequest, "invalid-query")
			if p["errors"].([]any)[0].(map[string]any)["parameter"] != "cursor" {
				t.Errorf("%s: %v", path, p)
			}
		}
		wantProblem(t, c.get("/v1/tenants?cursor=bm9wZQ", c.AdminToken("ops")), http.StatusBadRequest, "invalid-query")
	})
	t.Run("headers", func(t *testing.T) {
		r := c.get("/v1/connectors", acme)
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", r.Header)
		}
	})
}

// TestRequestLog: one line per request with its route pattern, status,
// duration and tenant, and never the query string.
func TestRequestLog(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	acme := c.Token("acme")
	before := strings.Count(c.Logs(), `"msg":"api request"`)
	c.get("/v1/connections?connector=c2VjcmV0LWNvbm5lY3Rvcg", acme)
	c.get("/v1/connections", "")
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(c.Logs()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "api request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != before+2 {
		t.Fatalf("%d request lines, want %d", len(lines), before+2)
	}
	got, refused := lines[len(lines)-2], lines[len(lines)-1]
	if got["method"] != "GET" || got["route"] != "GET /v1/connections" || got["status"] != float64(200) || got["tenant"] != "acme" || got["durationMs"] == nil {
		t.Errorf("line %v", got)
	}
	if refused["status"] != float64(401) || refused["tenant"] != "" {
		t.Errorf("line %v", refused)
	}
	c.get("/v1/tenants", acme)
	if l := c.Logs(); !strings.Contains(l, `"route":"GET /v1/tenants","status":403`) || !strings.Contains(l[strings.LastIndex(l, "GET /v1/tenants"):], `"tenant":"acme"`) {
		t.Errorf("no tenant on the 403 line:\n%s", l)
	}
	if logs := c.Logs(); strings.Contains(logs, "c2VjcmV0LWNvbm5lY3Rvcg") || strings.Contains(logs, acme) {
		t.Errorf("the log holds the query or the token:\n%s", logs)
	}
}

// A run's body takes the fast path when it is the usual one; anything
// else gets the same precise problems as every other body.
func TestRunBody(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	acme := c.Token("acme")
	f := newFixture(t, c)
	run := func(body string) *response {
		return c.do(req{method: "POST", path: "/v1/connections/" + f.conn + "/actions/create-contact/run", token: acme, body: body,
			header: map[string]string{"Content-Type": "application/json"}})
	}
	r := run(`{"input": {"email": "ada@example.com"}, "log": true}`)
	wantStatus(t, r, http.StatusOK)
	if got := r.object(t); got["log"] == nil || got["output"] == nil {
		t.Fatalf("run with log: %s", r)
	}
	if got := run(`{"input": {"email": "ada@example.com"}}`).object(t); got["log"] != nil {
		t.Fatalf("a run without log answered its log: %v", got)
	}
	p := wantProblem(t, run(`{"input": {"email": "ada@example.com"}, "log": "yes"}`), http.StatusBadRequest, "malformed-json")
	if !slices.Equal(pointers(p), []string{"/log"}) {
		t.Errorf("pointers %v", pointers(p))
	}
	p = wantProblem(t, run(`{"input": {"email": "ada@example.com"}, "inputs": {}}`), http.StatusBadRequest, "malformed-json")
	if !slices.Equal(pointers(p), []string{"/inputs"}) {
		t.Errorf("pointers %v", pointers(p))
	}
	wantProblem(t, run(`{"input": {"email": "ada@example.com"}} {}`), http.StatusBadRequest, "malformed-json")
	wantProblem(t, run(`[1]`), http.StatusBadRequest, "malformed-json")
	// No body is an empty input, checked against the action's schema.
	p = wantProblem(t, run(``), http.StatusUnprocessableEntity, "run-invalid-input")
	if len(pointers(p)) == 0 {
		t.Errorf("invalid input without pointers: %v", p)
	}
}
