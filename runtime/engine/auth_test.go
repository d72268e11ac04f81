package engine_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

const getItems = `kind: Action
connector: test
key: items
request: {path: /items}
`

// assertHidden fails when a secret, or its URL- or base64-encoded form,
// shows anywhere in a run's result or error.
func assertHidden(t *testing.T, res *engine.Result, err error, secrets ...string) {
	t.Helper()
	all := everything(t, res, err)
	for _, s := range secrets {
		forms := []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s))}
		for i, form := range forms {
			if slices.Contains(forms[:i], form) {
				continue
			}
			if strings.Contains(all, form) {
				t.Errorf("secret %q shows (as %q) in the run's result or error:\n%s", s, form, all)
			}
		}
	}
}

func TestAPIKeyInHeader(t *testing.T) {
	const key = "sk_live_HeaderSecret123"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if got := r.Header.Get("X-Api-Key"); got != key {
			// An API that echoes the key back must not leak it through
			// the error or the log.
			writeJSON(w, 401, map[string]any{"error": "bad key " + got})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true, "echo": "key " + key})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: apiKey, in: header, name: X-Api-Key}\n"),
		"items.yaml":     getItems,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"apiKey": key}}
	res, err := e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.requests()[0].Header.Get("X-Api-Key") != key {
		t.Fatal("the key was not sent")
	}
	if len(res.Log) != 1 || res.Log[0].RequestHeaders.Get("X-Api-Key") == "" {
		t.Fatalf("log = %+v, want one exchange with its headers", res.Log)
	}
	assertHidden(t, res, err, key)

	const revoked = "sk_live_RevokedKey456"
	conn.Credentials = map[string]any{"apiKey": revoked}
	res, err = e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	got := mustType(t, err, engine.ErrAuth)
	if !strings.Contains(got.Body, "bad key [redacted]") {
		t.Errorf("body excerpt = %q", got.Body)
	}
	assertHidden(t, res, err, revoked)
}

func TestAPIKeyInQuery(t *testing.T) {
	// Characters that change when URL-encoded: the encoded form is the
	// secret too.
	const key = "sk+Query/Secret=42"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("api_key") != key {
			writeJSON(w, 401, map[string]any{"error": "bad key"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: apiKey, in: query, name: api_key}\n"),
		"items.yaml": `kind: Action
connector: test
key: items
request:
  path: /items
  query: {limit: 5}
`,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"apiKey": key}}
	res, err := e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	if err != nil {
		t.Fatal(err)
	}
	q := srv.requests()[0].Query
	if q.Get("api_key") != key || q.Get("limit") != "5" {
		t.Errorf("query = %v", q)
	}
	if srv.requests()[0].Header.Get("Authorization") != "" {
		t.Errorf("a query key also sent an Authorization header")
	}
	assertHidden(t, res, err, key)
}

func TestBasicAuth(t *testing.T) {
	const user, pass = "ada@example.com", "correct-horse-battery"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			writeJSON(w, 401, map[string]any{"error": "who are you"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: basic}\n"),
		"items.yaml":     getItems,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"username": user, "password": pass}}
	res, err := e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	if err != nil {
		t.Fatal(err)
	}
	assertHidden(t, res, err, pass, user+":"+pass)

	// Wrong password: the 401 is an auth error that does not repeat it.
	conn.Credentials = map[string]any{"username": user, "password": "wrong-password-123"}
	res, err = e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	got := mustType(t, err, engine.ErrAuth)
	if got.Status != 401 {
		t.Errorf("status = %d", got.Status)
	}
	assertHidden(t, res, err, "wrong-password-123")
}

func TestBearerAuth(t *testing.T) {
	const token = "tok_BearerSecret987"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			writeJSON(w, 401, map[string]any{"error": "no"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth:\n  type: bearer\n  credentials:\n    type: object\n    required: [apiKey]\n    properties: {apiKey: {type: string}}\n  token: ${ credentials.apiKey }\n"),
		"items.yaml":     getItems,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"apiKey": token}}
	res, err := e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Log[0].RequestHeaders.Get("Authorization") == "" {
		t.Errorf("the log lost the Authorization header instead of redacting it")
	}
	assertHidden(t, res, err, token)
}

// sessionAPI is an API with a login endpoint that hands out numbered
// session tokens and accepts only the newest one.
type sessionAPI struct {
	*api
	mu       sync.Mutex
	logins   int
	valid    string
	reject   bool // refuse every session
	itemsHit int
}

const sessionPassword = "hunter2-session-password"

func newSessionAPI(t *testing.T) *sessionAPI {
	s := &sessionAPI{}
	s.api = newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch r.URL.Path {
		case "/login":
			var creds map[string]string
			if json.NewDecoder(r.Body).Decode(&creds); creds["password"] != sessionPassword {
				writeJSON(w, 401, map[string]any{"error": "bad password " + creds["password"]})
				return
			}
			s.logins++
			s.valid = fmt.Sprintf("sess-token-%d", s.logins)
			writeJSON(w, 200, map[string]any{"token": s.valid})
		case "/items":
			s.itemsHit++
			if s.reject || r.Header.Get("X-Session") != s.valid {
				writeJSON(w, 401, map[string]any{"error": "session expired"})
				return
			}
			writeJSON(w, 200, map[string]any{"items": []int{1}, "session": r.Header.Get("X-Session")})
		}
	})
	return s
}

func (s *sessionAPI) set(f func(s *sessionAPI)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *sessionAPI) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

const sessionConnector = `auth:
  type: custom
  credentials:
    type: object
    required: [user, password]
    properties:
      user: {type: string}
      password: {type: string, writeOnly: true}
  login:
    request:
      method: POST
      path: /login
      body:
        user: ${ credentials.user }
        password: ${ credentials.password }
    token: ${ response.body.token }
  headers:
    X-Session: ${ session.token }
`

func TestCustomSessionLogin(t *testing.T) {
	s := newSessionAPI(t)
	e := load(t, s.URL, map[string]string{
		"connector.yaml": connector(sessionConnector),
		"items.yaml":     getItems,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"user": "ada", "password": sessionPassword}}
	runItems := func() (*engine.Result, error) {
		return e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	}

	// First run: one login, then the request with its token.
	res, err := runItems()
	if err != nil {
		t.Fatal(err)
	}
	if s.loginCount() != 1 {
		t.Fatalf("logins = %d, want 1", s.loginCount())
	}
	assertHidden(t, res, err, sessionPassword, "sess-token-1")

	// Second run on the same connection: the cached token, no login.
	res, err = runItems()
	if err != nil {
		t.Fatal(err)
	}
	if s.loginCount() != 1 {
		t.Errorf("logins = %d after a second run, want the cached session reused", s.loginCount())
	}
	assertHidden(t, res, err, sessionPassword, "sess-token-1")

	// The API drops the session: one 401, one new login, then success.
	s.set(func(s *sessionAPI) { s.valid = "nothing-valid" })
	before := s.n()
	res, err = runItems()
	if err != nil {
		t.Fatalf("re-login did not recover: %v", err)
	}
	if s.loginCount() != 2 {
		t.Errorf("logins = %d, want 2", s.loginCount())
	}
	if got := s.n() - before; got != 3 { // items 401, login, items 200
		t.Errorf("requests = %d, want 3 (401, login, retry)", got)
	}
	// The output maps the session token: a secret, hidden there too.
	if res.Output.(map[string]any)["session"] != "[redacted]" {
		t.Errorf("output = %v", res.Output)
	}
	assertHidden(t, res, err, sessionPassword, "sess-token-2")

	// The API refuses every session: one re-login, then an auth error.
	s.set(func(s *sessionAPI) { s.reject = true })
	before = s.n()
	res, err = runItems()
	got := mustType(t, err, engine.ErrAuth)
	if got.Status != 401 {
		t.Errorf("status = %d", got.Status)
	}
	if s.loginCount() != 3 || s.n()-before != 3 {
		t.Errorf("logins = %d, requests = %d; want one re-login and no loop", s.loginCount(), s.n()-before)
	}
	assertHidden(t, res, err, sessionPassword, "sess-token-2", "sess-token-3")

	// Another connection logs in on its own.
	s.set(func(s *sessionAPI) { s.reject = false })
	conn.ID = "c2"
	if _, err := runItems(); err != nil {
		t.Fatal(err)
	}
	if s.loginCount() != 4 {
		t.Errorf("logins = %d, want a login for the new connection", s.loginCount())
	}

	// The same connection given new credentials (reconnected, perhaps to
	// another account) logs in with them at once.
	conn.Credentials = map[string]any{"user": "grace", "password": sessionPassword}
	if _, err := runItems(); err != nil {
		t.Fatal(err)
	}
	if s.loginCount() != 5 {
		t.Errorf("logins = %d, want a login with the new credentials", s.loginCount())
	}
}

func TestCustomSessionLoginRefused(t *testing.T) {
	s := newSessionAPI(t)
	e := load(t, s.URL, map[string]string{
		"connector.yaml": connector(sessionConnector),
		"items.yaml":     getItems,
	})
	const wrong = "not-the-password-42"
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"user": "ada", "password": wrong}}
	res, err := e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	mustType(t, err, engine.ErrAuth)
	hits := -1
	if s.set(func(s *sessionAPI) { hits = s.itemsHit }); hits != 0 {
		t.Errorf("the action's request was sent without a session")
	}
	assertHidden(t, res, err, wrong)
}

func TestSecretCutByTheBodyExcerptIsHidden(t *testing.T) {
	const key = "SECRETKEY-0123456789abcdef"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		// The excerpt keeps 512 bytes: the key straddles the cut.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(400)
		fmt.Fprintf(w, "%s invalid key %s", strings.Repeat(".", 490), r.Header.Get("X-Api-Key"))
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: apiKey, in: header, name: X-Api-Key}\n"),
		"items.yaml":     getItems,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"apiKey": key}}
	res, err := e.run(t, membrane.RunRequest{Action: "items", Connection: conn, Options: engine.RunOptions{Log: true}})
	got := mustType(t, err, engine.ErrInvalidInput)
	if !strings.Contains(got.Body, "invalid key") {
		t.Fatalf("body excerpt = %q", got.Body)
	}
	if all := everything(t, res, err); strings.Contains(all, key[:8]) {
		t.Errorf("part of the key shows in the run's log or error:\n%s", all)
	}
}

func TestConcurrentItemsShareOneLogin(t *testing.T) {
	s := newSessionAPI(t)
	e := load(t, s.URL, map[string]string{
		"connector.yaml": connector(sessionConnector),
		"fan.yaml": `kind: Action
connector: test
key: fan
steps:
  - name: each
    forEach: ${ input.ids }
    concurrency: 4
    request: {path: /items, query: {id: "${ item }"}}
    output: ${ response.body.session }
`,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"user": "ada", "password": sessionPassword}}
	res, err := e.run(t, membrane.RunRequest{Action: "fan", Connection: conn, Input: map[string]any{"ids": []any{1, 2, 3, 4, 5, 6, 7, 8}}, Options: engine.RunOptions{Log: true}})
	if err != nil {
		t.Fatal(err)
	}
	if s.loginCount() != 1 {
		t.Errorf("logins = %d, want 1 shared by every item", s.loginCount())
	}
	if len(res.Log) != 9 {
		t.Errorf("log has %d exchanges, want 9 (a login and 8 items)", len(res.Log))
	}
	assertHidden(t, res, err, sessionPassword, "sess-token-1")
}

func TestSessionRenewedBeforeItExpires(t *testing.T) {
	s := newSessionAPI(t)
	var now atomic.Int64 // seconds past a fixed time
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sl := &sleeps{}
	client := httpx.New(httpx.Config{AllowPrivate: true, Sleep: sl.sleep})
	dir := writeWorkspace(t, s.URL, map[string]string{
		"connector.yaml": connector(strings.Replace(sessionConnector, "    token: ${ response.body.token }\n",
			"    token: ${ response.body.token }\n    expiresIn: '${ 120 }'\n", 1)),
		"items.yaml": getItems,
	})
	eng := engine.New(engine.Options{HTTP: client, Now: func() time.Time { return start.Add(time.Duration(now.Load()) * time.Second) }})
	ws, diags, err := membrane.Load(membrane.Options{Engine: eng}, dir)
	if err != nil {
		t.Fatalf("%v\n%v", err, diags)
	}
	t.Cleanup(client.CloseIdleConnections)
	e := &env{ws: ws, sleeps: sl}
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"user": "ada", "password": sessionPassword}}

	e.mustRun(t, membrane.RunRequest{Action: "items", Connection: conn})
	now.Store(60) // well within the 120s
	e.mustRun(t, membrane.RunRequest{Action: "items", Connection: conn})
	if s.loginCount() != 1 {
		t.Fatalf("logins = %d, want the session reused", s.loginCount())
	}
	now.Store(100) // within 30s of expiry: renewed first, no 401
	before := s.n()
	e.mustRun(t, membrane.RunRequest{Action: "items", Connection: conn})
	if s.loginCount() != 2 || s.n()-before != 2 {
		t.Errorf("logins = %d, requests = %d; want a login then the request", s.loginCount(), s.n()-before)
	}
}
