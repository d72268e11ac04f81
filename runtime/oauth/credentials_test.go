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

// An API that wants the OAuth2 access token in the body and in a header
// of its own as well as in Authorization: credentials.accessToken is the
// token Authorize sends, and after a refresh the retried request carries
// the new one everywhere, never the refused one.
func TestAccessTokenInBodyFollowsRefresh(t *testing.T) {
	for _, peer := range testkit.OAuthPeers() {
		t.Run(peer.Name, func(t *testing.T) {
			srv := peer.Start(t, 3600)
			var (
				mu      sync.Mutex
				bodies  []string
				refused string
			)
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				var body struct{ Token string }
				_ = json.NewDecoder(r.Body).Decode(&body)
				mu.Lock()
				defer mu.Unlock()
				bodies = append(bodies, body.Token)
				if refused == "" {
					refused = tok
				}
				w.Header().Set("Content-Type", "application/json")
				if tok == refused || body.Token != tok || r.Header.Get("X-Token") != tok {
					w.WriteHeader(http.StatusUnauthorized)
					json.NewEncoder(w).Encode(map[string]any{"error": "token " + body.Token + " refused"})
					return
				}
				json.NewEncoder(w).Encode(map[string]any{"id": "me"})
			}))
			t.Cleanup(api.Close)

			conn := strings.NewReplacer("{{API}}", api.URL, "{{TOKEN}}", srv.URL()).Replace(connectorYAML + "headers: {X-Token: \"${ credentials.accessToken }\"}\n")
			action := `kind: Action
connector: mock
key: me
request:
  method: POST
  path: /me
  body: {token: "${ credentials.accessToken }"}
output:
  id: ${ response.body.id }
`
			dir := t.TempDir()
			for name, text := range map[string]string{"connector.yaml": conn, "actions/me.yaml": action} {
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

			res, err := ws.Run(t.Context(), membrane.RunRequest{Connector: "mock", Action: "me", Connection: c, Options: engine.RunOptions{Log: true}})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if out, _ := res.Output.(map[string]any); out["id"] != "me" {
				t.Fatalf("output = %#v", res.Output)
			}
			if len(bodies) != 2 || bodies[0] != refused || bodies[1] == refused || bodies[1] == "" {
				t.Fatalf("body tokens = %q, want the refused token, then the new one", bodies)
			}
			log, _ := json.Marshal(res.Log)
			for _, tok := range bodies {
				if strings.Contains(string(log), tok) {
					t.Errorf("the run log shows a token: %s", log)
				}
			}
		})
	}
}
