package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// forEachStore runs fn on SQLite, and on PostgreSQL when it is reachable
// (storetest skips it otherwise, and fails it in CI).
func forEachStore(t *testing.T, fn func(t *testing.T, newDB storetest.NewDB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.Postgres(t)) })
}

// tc is one test's API: a running server and its OpenAPI checker.
type tc struct {
	*apitest.Env
	t *testing.T

	mu     sync.Mutex
	bodies [][]byte // every response body, to look for secrets in
}

func newTC(t *testing.T, newDB storetest.NewDB) *tc {
	return &tc{Env: apitest.New(t, newDB(t)), t: t}
}

// response is an answer, read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string { return string(r.Body) }

// decode reads the body as JSON into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// object is the body as a JSON object.
func (r *response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// req is a request to send: body is nil, raw bytes (with a Content-Type
// in header), or a value sent as JSON.
type req struct {
	method, path, token string
	body                any
	header              map[string]string
}

// do sends a request and checks the answer against openapi.json: its
// status must be documented for the route, and its body must validate
// against the documented schema.
func (c *tc) do(r req) *response {
	c.t.Helper()
	var body io.Reader
	ctype := ""
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		body, ctype = bytes.NewReader(j), "application/json"
	}
	hr, err := http.NewRequestWithContext(c.t.Context(), r.method, c.URL+r.path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	out := &response{Status: res.StatusCode, Header: res.Header, Body: b}
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	checkDocumented(c.t, hr, out)
	return out
}

func (c *tc) get(path, token string) *response {
	c.t.Helper()
	return c.do(req{method: "GET", path: path, token: token})
}

func (c *tc) post(path, token string, body any) *response {
	c.t.Helper()
	return c.do(req{method: "POST", path: path, token: token, body: body})
}

// wantStatus fails unless r has status.
func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// wantProblem fails unless r is a problem of status and slug.
func wantProblem(t *testing.T, r *response, status int, slug string) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.Body)
	}
	p := r.object(t)
	if p["type"] != "https://membrane.dev/problems/"+slug {
		t.Fatalf("problem type %v, want %s: %s", p["type"], slug, r.Body)
	}
	if d, _ := p["detail"].(string); len(d) < 20 {
		t.Fatalf("problem without a useful detail: %s", r.Body)
	}
	return p
}

// pointers lists the errors[] pointers of a problem.
func pointers(p map[string]any) []string {
	var out []string
	errs, _ := p["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		if s, ok := m["pointer"].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// sqliteOnly is the store of tests about the HTTP layer alone.
func sqliteOnly(t *testing.T) storetest.NewDB { return storetest.SQLite(t) }

// neverShown fails if a secret is in any response body or log line so far.
func (c *tc) neverShown(secrets ...string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	logs := c.Logs()
	for _, s := range secrets {
		for _, b := range c.bodies {
			if bytes.Contains(b, []byte(s)) {
				c.t.Errorf("a response shows the secret %q: %s", s, b)
			}
		}
		if strings.Contains(logs, s) {
			c.t.Errorf("the log shows the secret %q", s)
		}
	}
}
