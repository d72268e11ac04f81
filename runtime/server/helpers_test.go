package server_test

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
	apiKey     = "key_live_0123456789abcdef"
)

// upstream is the connected app: GET /me accepts apiKey; POST /contacts
// answers with an id, holding the request while hold is set.
type upstream struct {
	srv *httptest.Server

	mu      sync.Mutex
	hold    chan struct{} // a POST waits until it is closed
	arrived chan struct{} // closed when a held POST arrives
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Api-Key") != apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/me":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"me_1"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/contacts":
		u.mu.Lock()
		hold, arrived := u.hold, u.arrived
		u.hold, u.arrived = nil, nil
		u.mu.Unlock()
		if hold != nil {
			close(arrived)
			<-hold
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "c_1", "email": in["email"]})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// holdNext makes the next POST wait; it returns a channel closed when it
// arrives and a function releasing it.
func (u *upstream) holdNext() (arrived <-chan struct{}, release func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	hold, arr := make(chan struct{}), make(chan struct{})
	u.hold, u.arrived = hold, arr
	return arr, sync.OnceFunc(func() { close(hold) })
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

const workspaceYAML = `kind: Workspace
key: servertest
store: {{STORE}}
`

// workspace writes a workspace whose connector talks to api; store is
// membrane.yaml's store line (empty leaves it out).
func workspace(t testing.TB, api, store string) string {
	files := map[string]string{
		"connectors/crm/connector.yaml":              connectorYAML,
		"connectors/crm/actions/create-contact.yaml": actionYAML,
	}
	if store != "" {
		files["membrane.yaml"] = workspaceYAML
	}
	return testkit.Workspace(t, files, map[string]string{"{{API}}": api, "{{STORE}}": store})
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// running is a server serving on a loopback port.
type running struct {
	*server.Server
	URL  string
	stop context.CancelFunc
	// wait returns what Serve returned, once it has.
	wait   func() error
	served chan error
}

func start(t testing.TB, cfg server.Config) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, cfg, ln)
}

// startPublic is start with the server's public URL on its own address,
// for a browser that follows the links it hands out.
func startPublic(t testing.TB, cfg server.Config) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	return serveOn(t, cfg, ln)
}

func serveOn(t testing.TB, cfg server.Config, ln net.Listener) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, storetest.Quiet())
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	r := &running{Server: s, URL: "http://" + ln.Addr().String(), stop: cancel, served: make(chan error, 1)}
	go func() { r.served <- s.Serve(ctx, ln) }()
	r.wait = sync.OnceValue(func() error { return <-r.served })
	t.Cleanup(func() {
		cancel()
		r.wait()
		s.Close()
	})
	return r
}

func token(t testing.TB, workspace, secret, tenant string) string {
	t.Helper()
	m, err := tenancy.NewMinter(workspace, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(tenancy.Claims{Tenant: tenant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a JSON request and decodes a JSON answer into out.
func call(t testing.TB, c *http.Client, method, url, tok string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}
