package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

const connectorYAML = `kind: Connector
key: mock
baseUrl: {{API}}
auth:
  type: oauth2
  grant: clientCredentials
  tokenUrl: {{TOKEN}}/token
`

const actionYAML = `kind: Action
connector: mock
key: me
request: {method: GET, path: /me}
output:
  id: ${ response.body.id }
`

// An action run through the engine: the authenticator sends the token; the
// API refuses it (401); the engine calls Refresh once and retries with the
// new token; the run log shows neither token.
func TestEngineRefreshesAfter401(t *testing.T) {
	for _, peer := range testkit.OAuthPeers() {
		t.Run(peer.Name, func(t *testing.T) {
			srv := peer.Start(t, 3600)
			var (
				mu      sync.Mutex
				seen    []string
				refused string
			)
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, tok)
				if refused == "" {
					refused = tok // the API revokes the first token it sees
				}
				w.Header().Set("Content-Type", "application/json")
				if tok == refused {
					w.WriteHeader(http.StatusUnauthorized)
					json.NewEncoder(w).Encode(map[string]any{"error": "token " + tok + " revoked"})
					return
				}
				json.NewEncoder(w).Encode(map[string]any{"id": "me"})
			}))
			t.Cleanup(api.Close)

			conn := strings.NewReplacer("{{API}}", api.URL, "{{TOKEN}}", srv.URL()).Replace(connectorYAML)
			dir := t.TempDir()
			for name, text := range map[string]string{"connector.yaml": conn, "actions/me.yaml": actionYAML} {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			client := httpx.New(httpx.Config{AllowPrivate: true})
			ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
			if err != nil {
				t.Fatalf("load: %v\n%v", err, diags)
			}

			els, _ := spec.LoadFile("connector.yaml", []byte(conn))
			cc := compile.NewConnector(els[0].(*spec.Connector), &diags)
			m, err := oauth.New(oauth.Options{HTTP: client, Tokens: oauth.NewMemStore()})
			if err != nil {
				t.Fatal(err)
			}
			p := &oauth.Provider{Connector: "mock", Auth: cc.Auth, ClientID: testkit.OAuthClientID, ClientSecret: testkit.OAuthClientSecret}
			c := engine.Connection{ID: "c1", Tenant: "acme"}
			c.Auth = m.NewAuthenticator(p, &c)

			ctx := t.Context() // a hang is left to go test's -timeout
			// The connection has a token before the run, as it would: the engine
			// asks for Secrets once, when the run starts, so a token first learnt
			// during the run is hidden only in the Authorization header.
			if err := c.Auth.Authorize(ctx, &httpx.Request{}); err != nil {
				t.Fatal(err)
			}
			res, err := ws.Run(ctx, membrane.RunRequest{Connector: "mock", Action: "me", Connection: c, Options: engine.RunOptions{Log: true}})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if out, _ := res.Output.(map[string]any); out["id"] != "me" {
				t.Fatalf("output = %#v", res.Output)
			}
			if len(seen) != 2 || seen[0] == seen[1] {
				t.Fatalf("the API saw %d requests; want the refused token, then a new one", len(seen))
			}
			if n := srv.TokenRequests(t); n != 2 {
				t.Fatalf("token requests = %d, want 2 (the first token, one refresh)", n)
			}
			// The API echoed the refused token in its 401 body.
			log, _ := json.Marshal(res.Log)
			for _, tok := range seen {
				if strings.Contains(string(log), tok) {
					t.Errorf("the run log shows a token: %s", log)
				}
			}
		})
	}
}
