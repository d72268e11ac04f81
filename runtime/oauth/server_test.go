package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

// The client the test server expects (testdata/oauth-server.mjs).
const (
	testClientID     = "membrane-test"
	testClientSecret = "membrane-test-secret"
)

// authServer is oauth2-mock-server, from npm, started by
// testdata/oauth-server.mjs for one test.
type authServer struct {
	URL string
}

// skipOrFail skips a test that needs the server when it cannot run here,
// but fails it in CI, where the setup script installs it.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the test setup must install it with runtime/oauth/testdata/install.sh)", why)
	}
	t.Skipf("%s; run runtime/oauth/testdata/install.sh", why)
}

// startAuthServer starts the server with a token lifetime of ttl seconds and
// waits for its ready line (its URL).
func startAuthServer(t *testing.T, ttl int) *authServer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not on PATH")
	}
	if _, err := os.Stat("testdata/node_modules/oauth2-mock-server/package.json"); err != nil {
		skipOrFail(t, "oauth2-mock-server is not installed")
	}
	cmd := exec.Command(node, "oauth-server.mjs")
	cmd.Dir = "testdata"
	cmd.Env = append(os.Environ(), "TOKEN_TTL="+itoa(ttl), "CLIENT_ID="+testClientID, "CLIENT_SECRET="+testClientSecret)
	out := &firstLine{ready: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe() // the server exits when it closes
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the OAuth2 server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("OAuth2 server output:\n%s", out.String())
		}
	})
	select {
	case u := <-out.ready:
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("OAuth2 server: unexpected ready line %q", u)
		}
		return &authServer{URL: u}
	case err := <-exited:
		t.Fatalf("the OAuth2 server exited before it was ready (%v):\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the OAuth2 server printed no ready line:\n%s", out.String())
	}
	return nil
}

// firstLine collects a process's output and hands over its first line.
type firstLine struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	sent  bool
	ready chan string
}

func (w *firstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok {
			w.sent = true
			w.ready <- strings.TrimSpace(line)
		}
	}
	return len(p), nil
}

func (w *firstLine) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// serverStats is what the server counted (GET /__control/stats).
type serverStats struct {
	TokenRequests     int            `json:"tokenRequests"`
	Grants            map[string]int `json:"grants"`
	ClientAuth        []string       `json:"clientAuth"`
	LiveRefreshTokens int            `json:"liveRefreshTokens"`
}

func (s *authServer) stats(t *testing.T) serverStats {
	t.Helper()
	var st serverStats
	s.control(t, http.MethodGet, "stats", nil, &st)
	return st
}

// tokenRequests is how many requests reached POST /token.
func (s *authServer) tokenRequests(t *testing.T) int {
	t.Helper()
	return s.stats(t).TokenRequests
}

// next changes the server's next token response: status, body, omit.
func (s *authServer) next(t *testing.T, override map[string]any) {
	t.Helper()
	s.control(t, http.MethodPost, "next", override, nil)
}

// configure sets the token lifetime (ttl) and a delay (delayMs).
func (s *authServer) configure(t *testing.T, cfg map[string]any) {
	t.Helper()
	s.control(t, http.MethodPost, "config", cfg, nil)
}

// revoke invalidates every refresh token the server issued.
func (s *authServer) revoke(t *testing.T) {
	t.Helper()
	s.control(t, http.MethodPost, "revoke", map[string]any{}, nil)
}

func (s *authServer) control(t *testing.T, method, name string, in, out any) {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, s.URL+"/__control/"+name, &body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("control %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("control %s: status %d", name, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("control %s: %v", name, err)
		}
	}
}

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// compileAuth compiles the auth block of a connector whose YAML is given
// (auth only, indented by two spaces), with {{URL}} replaced by url.
func compileAuth(t *testing.T, url, auth string) *spec.CompiledAuth {
	t.Helper()
	src := "kind: Connector\nkey: mock\nbaseUrl: https://api.example.com\n" +
		"parameters: {type: object, properties: {tokenPath: {type: string}}}\n" +
		"auth:\n" + strings.ReplaceAll(auth, "{{URL}}", url)
	els, diags := spec.LoadFile("connector.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("connector: %v", diags)
	}
	c, ok := els[0].(*spec.Connector)
	if !ok {
		t.Fatalf("connector: got %T", els[0])
	}
	cc := spec.CompileConnector(c, &diags)
	if diags.HasErrors() {
		t.Fatalf("connector: %v", diags)
	}
	return cc.Auth
}

// codeAuth is an authorization code connector on the test server; its
// token URL uses a connection parameter (tokenPath: token).
const codeAuth = `  type: oauth2
  grant: authorizationCode
  authorizationUrl: "{{URL}}/authorize"
  tokenUrl: "{{URL}}/${ connection.parameters.tokenPath }"
  scopes: [openid, contacts.read]
  scopeSeparator: ","
  authorizationParams: {prompt: consent, state: not-this-one}
`

var codeParams = map[string]any{"tokenPath": "token"}

// env is one test's manager, store and provider.
type env struct {
	srv   *authServer
	clock *clock
	store *MemStore
	m     *Manager
	p     *Provider
}

// newEnv starts a server and a manager for the auth block given.
func newEnv(t *testing.T, auth string) *env {
	t.Helper()
	srv := startAuthServer(t, 5)
	e := &env{srv: srv, clock: newClock(), store: NewMemStore()}
	e.store.Now = e.clock.Now
	e.p = &Provider{Connector: "mock", Auth: compileAuth(t, srv.URL, auth), ClientID: testClientID, ClientSecret: testClientSecret}
	e.m = e.manager(t, e.store)
	return e
}

// manager is another Manager on the same store: another replica.
func (e *env) manager(t *testing.T, store TokenStore) *Manager {
	t.Helper()
	m, err := New(Options{
		HTTP:        httpx.New(httpx.Config{AllowPrivate: true}), // the server is on loopback
		Tokens:      store,
		States:      e.store,
		StateSecret: []byte(strings.Repeat("k", 32)),
		Providers: func(_ context.Context, key string) (*Provider, error) {
			if key != e.p.Connector {
				return nil, nil
			}
			return e.p, nil
		},
		Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
