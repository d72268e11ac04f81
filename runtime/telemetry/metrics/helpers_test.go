package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

const (
	testSecret = "a-workspace-secret-of-forty-bytes-or-so!!"
	goodKey    = "key_live_0123456789abcdef"
)

// upstream is the connected app on loopback: POST /contacts answers with
// an id, or 500 for an email starting with "fail"; a key it was told to
// revoke gets 401 (the connection is then disconnected).
type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	revoked map[string]bool
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{revoked: map[string]bool{}}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) revoke(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.revoked[key] = true
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Api-Key")
	u.mu.Lock()
	revoked := u.revoked[key]
	u.mu.Unlock()
	if len(key) < 8 || revoked {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/me":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"me_1"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/contacts":
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		if e, _ := in["email"].(string); len(e) >= 4 && e[:4] == "fail" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "c_1"})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

const connectorYAML = `kind: Connector
key: crm
name: CRM
baseUrl: {{API}}
auth:
  type: apiKey
  in: header
  name: X-Api-Key
  credentials:
    type: object
    required: [apiKey]
    properties:
      apiKey: {type: string, writeOnly: true}
  test: {method: GET, path: /me}
retry: {maxAttempts: 1}
`

const actionYAML = `kind: Action
connector: crm
key: create-contact
inputSchema:
  type: object
  required: [email]
  properties:
    email: {type: string}
outputSchema:
  type: object
  required: [id]
  properties:
    id: {type: string}
request:
  method: POST
  path: /contacts
  body:
    email: ${ input.email }
output:
  id: ${ response.body.id }
`

// membrane is a real server on loopback, /metrics on a port of its own.
type membrane struct {
	*server.Server
	URL string
	tok string
}

func startMembrane(t testing.TB, up *upstream) *membrane {
	t.Helper()
	dir := testkit.Workspace(t, map[string]string{
		"connectors/crm/connector.yaml":              connectorYAML,
		"connectors/crm/actions/create-contact.yaml": actionYAML,
	}, map[string]string{"{{API}}": up.srv.URL})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Config{
		Dir: dir, AllowPrivate: true, MetricsAddr: "127.0.0.1:0", PublicURL: "http://" + ln.Addr().String(),
		LookupEnv: func(k string) (string, bool) {
			if k == "MEMBRANE_WORKSPACE_SECRET" {
				return testSecret, true
			}
			return "", false
		},
	}, storetest.Quiet())
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		s.Close()
	})
	m, err := tenancy.NewMinter("default", []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(tenancy.Claims{Tenant: "acme"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &membrane{Server: s, URL: "http://" + ln.Addr().String(), tok: tok}
}

// call sends a JSON request with the tenant token and decodes the answer.
func (m *membrane) call(t testing.TB, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, m.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// connect makes a connection of the tenant with apiKey.
func (m *membrane) connect(t testing.TB, apiKey string) string {
	t.Helper()
	var conn struct{ ID, State string }
	if code := m.call(t, "POST", "/v1/connections", map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn); code != http.StatusCreated {
		t.Fatalf("create a connection: %d %+v", code, conn)
	}
	return conn.ID
}

// run runs create-contact and returns the status of the API's answer.
func (m *membrane) run(t testing.TB, conn, email string) int {
	t.Helper()
	return m.call(t, "POST", "/v1/connections/"+conn+"/actions/create-contact/run", map[string]any{"input": map[string]any{"email": email}}, nil)
}
