package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// withKey is a JSON request carrying an Idempotency-Key.
func withKey(method, path, token, key string, body any) req {
	return req{method: method, path: path, token: token, body: body, header: map[string]string{"Idempotency-Key": key}}
}

// A create retried with its Idempotency-Key gets the first answer, byte
// for byte, and makes no second connection; the same key with another
// request is refused; a failure that says "retry" does not hold the key.
func TestIdempotentCreate(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		body := map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.GoodKey}}
		first := c.do(withKey("POST", "/v1/connections", acme, "create-1", body))
		wantStatus(t, first, http.StatusCreated)
		calls := c.Upstream.Calls()
		again := c.do(withKey("POST", "/v1/connections", acme, "create-1", body))
		wantStatus(t, again, http.StatusCreated)
		if !bytes.Equal(again.Body, first.Body) || again.Header.Get("Location") != first.Header.Get("Location") ||
			again.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("replay differs:\n%s %v\n%s %v", first.Body, first.Header, again.Body, again.Header)
		}
		if c.Upstream.Calls() != calls {
			t.Fatal("the retry tested the credentials again")
		}
		var page struct{ Items []map[string]any }
		c.get("/v1/connections", acme).decode(t, &page)
		if len(page.Items) != 1 {
			t.Fatalf("%d connections after a retried create, want 1", len(page.Items))
		}

		// The same key with another body, or on another route: refused.
		other := map[string]any{"connector": "crm", "name": "Other", "parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.GoodKey}}
		p := wantProblem(t, c.do(withKey("POST", "/v1/connections", acme, "create-1", other)), http.StatusUnprocessableEntity, "idempotency-key-reused")
		if p["errors"].([]any)[0].(map[string]any)["parameter"] != "Idempotency-Key" {
			t.Errorf("reused key: %v", p)
		}
		id := first.object(t)["id"].(string)
		wantProblem(t, c.do(withKey("POST", "/v1/connections/"+id+"/actions/create-contact/run", acme, "create-1", map[string]any{"input": map[string]any{"email": "a@example.com"}})),
			http.StatusUnprocessableEntity, "idempotency-key-reused")

		// Keys are per tenant.
		wantStatus(t, c.do(withKey("POST", "/v1/connections", c.Token("globex"), "create-1", body)), http.StatusCreated)

		// A refusal is an answer, kept like a success.
		bad := map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.BadKey}}
		r1 := c.do(withKey("POST", "/v1/connections", acme, "create-2", bad))
		wantProblem(t, r1, http.StatusUnprocessableEntity, "credentials-refused")
		r2 := c.do(withKey("POST", "/v1/connections", acme, "create-2", bad))
		if !bytes.Equal(r1.Body, r2.Body) || r2.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("refusal not replayed: %s", r2.Body)
		}

		// Malformed keys.
		for _, k := range []string{strings.Repeat("k", 256), "two words", "ключ"} {
			p := wantProblem(t, c.do(withKey("POST", "/v1/connections", acme, k, body)), http.StatusBadRequest, "invalid-request")
			if p["errors"].([]any)[0].(map[string]any)["parameter"] != "Idempotency-Key" {
				t.Errorf("key %q: %v", k, p)
			}
		}
		// A quoted key (a structured-field string) is the same key.
		wantStatus(t, c.do(withKey("POST", "/v1/connections", acme, `"create-1"`, body)), http.StatusCreated)
		c.neverShown(apitest.GoodKey, apitest.BadKey)
	})
}

// A run retried with its key gets the first answer and runs once; a
// retry while the first is in flight is told to wait; an upstream
// failure does not hold the key, so a retry runs again.
func TestIdempotentRun(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		conn := createConn(t, c, acme)
		path := "/v1/connections/" + conn + "/actions/create-contact/run"
		in := map[string]any{"input": map[string]any{"email": "ada@example.com"}}

		arrived, release := c.Upstream.HoldNext()
		done := make(chan *response, 1)
		go func() { done <- c.do(withKey("POST", path, acme, "run-1", in)) }()
		<-arrived
		busy := c.do(withKey("POST", path, acme, "run-1", in))
		wantProblem(t, busy, http.StatusConflict, "idempotency-key-in-flight")
		if busy.Header.Get("Retry-After") != "1" {
			t.Errorf("in flight: Retry-After %q", busy.Header.Get("Retry-After"))
		}
		calls := c.Upstream.Calls()
		release()
		first := <-done
		wantStatus(t, first, http.StatusOK)
		out := first.object(t)
		if out["runId"] == "" {
			t.Fatalf("run %s", first.Body)
		}
		again := c.do(withKey("POST", path, acme, "run-1", in))
		if !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" || c.Upstream.Calls() != calls {
			t.Fatalf("the retry ran again or differs: %s", again.Body)
		}
		var logs struct{ Items []any }
		c.get("/v1/run-logs", acme).decode(t, &logs)
		if len(logs.Items) != 1 {
			t.Fatalf("%d run logs, want 1", len(logs.Items))
		}

		// An upstream failure (502) is not kept: the retry runs again.
		boom := map[string]any{"input": map[string]any{"email": "boom@example.com"}}
		wantProblem(t, c.do(withKey("POST", path, acme, "run-2", boom)), http.StatusBadGateway, "run-upstream")
		calls = c.Upstream.Calls()
		wantProblem(t, c.do(withKey("POST", path, acme, "run-2", boom)), http.StatusBadGateway, "run-upstream")
		if c.Upstream.Calls() != calls+1 {
			t.Fatal("a retry after a 502 was not run")
		}
		// Without a key every request runs.
		calls = c.Upstream.Calls()
		wantStatus(t, c.post(path, acme, in), http.StatusOK)
		wantStatus(t, c.post(path, acme, in), http.StatusOK)
		if c.Upstream.Calls() != calls+2 {
			t.Fatal("requests without a key were deduplicated")
		}
	})
}

// createConn creates a crm connection and returns its id.
func createConn(t *testing.T, c *tc, token string) string {
	t.Helper()
	r := c.post("/v1/connections", token, map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"},
		"credentials": map[string]any{"apiKey": apitest.GoodKey}})
	wantStatus(t, r, http.StatusCreated)
	return r.object(t)["id"].(string)
}
