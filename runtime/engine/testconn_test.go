package engine_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/engine"
)

// A connection's credentials are checked with the connector's auth.test
// request: accepted → nil; refused → an auth error, with the key hidden.
func TestTestConnection(t *testing.T) {
	const good, bad = "key-accepted-123", "key-refused-456"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path != "/me" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("X-Api-Key") != good {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid key ` + r.Header.Get("X-Api-Key") + `"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: apiKey, in: header, name: X-Api-Key, test: {path: /me}}\n"),
	})
	ctx := context.Background()
	conn := func(key string) engine.Connection {
		return engine.Connection{ID: "c-" + key, Credentials: map[string]any{"apiKey": key}}
	}

	if _, err := e.ws.TestConnection(ctx, "test", conn(good)); err != nil {
		t.Fatalf("accepted key: %v", err)
	}
	res, err := e.ws.TestConnection(ctx, "test", conn(bad))
	ee := mustType(t, err, engine.ErrAuth)
	if ee.Status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", ee.Status)
	}
	if text := everything(t, res, err); strings.Contains(text, bad) {
		t.Errorf("the refused key shows in the result or error: %s", text)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[0].Path != "/me" || reqs[1].Path != "/me" {
		t.Errorf("the API saw %+v, want two GET /me", reqs)
	}
}

// A connector without a test request says so rather than pretending the
// credentials were checked.
func TestTestConnectionWithoutTestRequest(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: bearer}\n"),
	})
	_, err := e.ws.TestConnection(context.Background(), "test", engine.Connection{ID: "c1", Credentials: map[string]any{"token": "t-123456"}})
	if !errors.Is(err, engine.ErrNoTestRequest) {
		t.Fatalf("err = %v, want ErrNoTestRequest", err)
	}
	if n := srv.count.Load(); n != 0 {
		t.Errorf("the API saw %d requests, want none", n)
	}
}

// auth.info maps the test's response to what the connection learns of
// its account; a credential the API echoes is hidden in it.
func TestTestConnectionInfo(t *testing.T) {
	const key = "key-accepted-123"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"ok": true, "team_id": "T042", "team": "Acme", "echo": "used " + r.Header.Get("X-Api-Key")})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`auth:
  type: apiKey
  in: header
  name: X-Api-Key
  test: {path: /auth.test}
  info:
    teamId: ${ response.body.team_id }
    team: ${ response.body.team }
    echo: ${ response.body.echo }
`),
	})
	res, err := e.ws.TestConnection(context.Background(), "test", engine.Connection{ID: "c", Credentials: map[string]any{"apiKey": key}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info["teamId"] != "T042" || res.Info["team"] != "Acme" {
		t.Errorf("info = %v", res.Info)
	}
	if echo, _ := res.Info["echo"].(string); strings.Contains(echo, key) || !strings.HasPrefix(echo, "used ") {
		t.Errorf("the key shows in the info: %q", echo)
	}
}
