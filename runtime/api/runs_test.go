package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func TestRunAndRunLogs(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
		wantStatus(t, r, http.StatusCreated)
		id := r.object(t)["id"].(string)
		run := func(action string, body any) *response {
			t.Helper()
			return c.post("/v1/connections/"+id+"/actions/"+action+"/run", acme, body)
		}

		// A run: its output and run log id; the log only when asked.
		r = run("create-contact", map[string]any{"input": map[string]any{"email": "ada@example.com", "firstName": "Ada"}})
		wantStatus(t, r, http.StatusOK)
		out := r.object(t)
		if out["output"].(map[string]any)["id"] != "c_1" || out["runId"] == "" {
			t.Fatalf("run %s", r.Body)
		}
		if _, ok := out["log"]; ok {
			t.Fatalf("a log nobody asked for: %s", r.Body)
		}
		okRun := out["runId"].(string)
		r = run("create-contact", map[string]any{"input": map[string]any{"email": "ada@example.com"}, "log": true})
		wantStatus(t, r, http.StatusOK)
		if log, _ := r.object(t)["log"].([]any); len(log) != 1 {
			t.Fatalf("log %s", r.Body)
		}
		// The universal key runs the implementation; an empty body is no input.
		wantStatus(t, run("get-contact", map[string]any{"input": map[string]any{"id": "c_1"}}), http.StatusOK)

		// Input that breaks the schema: 422 at /input pointers; nothing sent.
		calls := c.Upstream.Calls()
		p := wantProblem(t, run("get-contact", map[string]any{"input": map[string]any{"id": ""}}), http.StatusUnprocessableEntity, "run-invalid-input")
		if !slices.Equal(pointers(p), []string{"/input/id"}) || p["runId"] == nil || p["error"].(map[string]any)["type"] != "invalid-input" {
			t.Fatalf("invalid input %v", p)
		}
		p = wantProblem(t, run("create-contact", nil), http.StatusUnprocessableEntity, "run-invalid-input")
		for _, ptr := range pointers(p) {
			if !strings.HasPrefix(ptr, "/input") {
				t.Fatalf("pointer %q outside /input", ptr)
			}
		}
		if c.Upstream.Calls() != calls {
			t.Fatal("invalid input reached the API")
		}

		// Upstream failures, by engine error type.
		p = wantProblem(t, run("get-contact", map[string]any{"input": map[string]any{"id": "c_404"}}), http.StatusUnprocessableEntity, "run-not-found")
		if e := p["error"].(map[string]any); e["status"] != float64(404) || p["runId"] == nil {
			t.Fatalf("not found %v", p)
		}
		wantProblem(t, run("create-contact", map[string]any{"input": map[string]any{"email": "taken@example.com"}}), http.StatusConflict, "run-conflict")
		wantProblem(t, run("create-contact", map[string]any{"input": map[string]any{"email": "boom@example.com"}}), http.StatusBadGateway, "run-upstream")
		wantProblem(t, run("delete-contact", map[string]any{"input": map[string]any{}}), http.StatusNotFound, "unknown-action")
		wantProblem(t, c.post("/v1/connections/conn_nope/actions/create-contact/run", acme, map[string]any{}), http.StatusNotFound, "not-found")

		// The catalogue of the connection, and explain.
		var acts struct {
			Items []struct {
				Key         string         `json:"key"`
				InputSchema map[string]any `json:"inputSchema"`
			} `json:"items"`
		}
		c.get("/v1/connections/"+id+"/actions", acme).decode(t, &acts)
		if len(acts.Items) != 2 || acts.Items[0].Key != "create-contact" || acts.Items[0].InputSchema == nil {
			t.Fatalf("actions %+v", acts)
		}
		wantStatus(t, c.get("/v1/connections/"+id+"/actions/get-contact", acme), http.StatusOK)
		wantProblem(t, c.get("/v1/connections/"+id+"/actions/nope", acme), http.StatusNotFound, "unknown-action")
		r = c.get("/v1/connections/"+id+"/actions/create-contact/explain", acme)
		wantStatus(t, r, http.StatusOK)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") || !strings.Contains(r.String(), "create-contact.yaml:") {
			t.Fatalf("explain %s\n%s", r.Header.Get("Content-Type"), r.Body)
		}

		// Run logs: newest first, filtered, one by id.
		var logs struct {
			Items []map[string]any `json:"items"`
		}
		c.get("/v1/run-logs", acme).decode(t, &logs)
		if len(logs.Items) < 8 || logs.Items[len(logs.Items)-1]["id"] != okRun {
			t.Fatalf("run logs %+v", logs)
		}
		c.get("/v1/run-logs?status=conflict", acme).decode(t, &logs)
		if len(logs.Items) != 1 || logs.Items[0]["action"] != "create-contact" {
			t.Fatalf("conflict logs %+v", logs)
		}
		r = c.get("/v1/run-logs/"+okRun, acme)
		wantStatus(t, r, http.StatusOK)
		if r.object(t)["status"] != "ok" {
			t.Fatalf("run log %s", r.Body)
		}
		wantProblem(t, c.get("/v1/run-logs/run_nope", acme), http.StatusNotFound, "not-found")

		// A key the API stops taking: 502, and the connection says it is
		// disconnected.
		c.Upstream.Revoke(apitest.GoodKey)
		p = wantProblem(t, run("create-contact", map[string]any{"input": map[string]any{"email": "ada@example.com"}}), http.StatusBadGateway, "run-auth")
		if p["connectionState"] != "disconnected" || p["runId"] == nil {
			t.Fatalf("auth failure %v", p)
		}

		// The upstream echoed the key in bodies; no answer or log line has it.
		c.neverShown(apitest.GoodKey)
	})
}
