package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	gooauth2 "github.com/go-oauth2/oauth2/v4"
	gooauth2errors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
)

// goServer is go-oauth2 (github.com/go-oauth2/oauth2/v4), an OAuth2
// authorization server library, run in process on a loopback listener for
// one test. It issues, rotates and checks the codes and tokens; what is
// set here, through its own configuration and hooks, is what
// testdata/oauth-server.mjs adds to the Node server, so that the tests hold
// on both:
//   - one client, authenticated with HTTP basic or client_id/client_secret
//     in the body, refused with invalid_client on every grant (go-oauth2
//     checks the secret itself for a code or client credentials, not for a
//     refresh, so its ClientInfoHandler does it here);
//   - PKCE required, S256 only;
//   - refresh tokens single use (rotated, the old one removed, as
//     go-oauth2's refresh configuration says) and revocable, never
//     expiring on their own;
//   - access tokens living ttl seconds;
//   - consent given at once: GET /authorize redirects to the callback.
//
// Around go-oauth2's handlers it counts the token requests, answers a
// scripted failure in its place (next), and can hold token requests until
// released (slow).
type goServer struct {
	url     string
	manager *manage.Manager

	mu     sync.Mutex
	st     serverStats
	issued []string   // refresh tokens issued, live or not
	queue  []override // scripted answers of the next token requests
	gate   chan struct{}
}

// goTokens is go-oauth2's in-memory token store (buntdb), shared by every
// goServer of the test binary since it cannot be closed. Codes and tokens
// are random, so no server finds another's.
var goTokens = sync.OnceValues(store.NewMemoryTokenStore)

// callbackDomain is where the test client's redirect URIs are (go-oauth2
// checks a redirect URI against its client's domain).
const callbackDomain = "https://app.example.com"

func startGoServer(t *testing.T, ttl int) authServer {
	t.Helper()
	tokens, err := goTokens()
	if err != nil {
		t.Fatalf("go-oauth2 token store: %v", err)
	}
	clients := store.NewClientStore()
	if err := clients.Set(testClientID, &models.Client{ID: testClientID, Secret: testClientSecret, Domain: callbackDomain}); err != nil {
		t.Fatal(err)
	}
	life := time.Duration(ttl) * time.Second
	m := manage.NewDefaultManager()
	m.MapTokenStorage(tokens)
	m.MapClientStorage(clients)
	// A RefreshTokenExp of 0 is a refresh token that never expires.
	m.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: life, IsGenerateRefresh: true})
	m.SetClientTokenCfg(&manage.Config{AccessTokenExp: life})
	m.SetRefreshTokenCfg(&manage.RefreshingConfig{AccessTokenExp: life, IsGenerateRefresh: true, IsRemoveAccess: true, IsRemoveRefreshing: true})

	g := &goServer{manager: m, st: serverStats{Grants: map[string]int{}}}
	srv := server.NewServer(&server.Config{
		TokenType:                   "Bearer",
		AllowedResponseTypes:        []gooauth2.ResponseType{gooauth2.Code},
		AllowedGrantTypes:           []gooauth2.GrantType{gooauth2.AuthorizationCode, gooauth2.Refreshing, gooauth2.ClientCredentials},
		AllowedCodeChallengeMethods: []gooauth2.CodeChallengeMethod{gooauth2.CodeChallengeS256},
		ForcePKCE:                   true,
	}, m)
	srv.UserAuthorizationHandler = func(http.ResponseWriter, *http.Request) (string, error) { return "user-1", nil }
	srv.ClientInfoHandler = func(r *http.Request) (string, string, error) {
		id, secret, how := g.client(r)
		if how == "bad" {
			return "", "", gooauth2errors.ErrInvalidClient
		}
		return id, secret, nil
	}
	srv.ResponseTokenHandler = g.respond

	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		if err := srv.HandleAuthorizeRequest(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /token", g.token(srv))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	g.url = hs.URL
	return g
}

// token counts a token request and hands it to go-oauth2, or answers the
// scripted failure in its place.
func (g *goServer) token(srv *server.Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _, how := g.client(r)
		g.mu.Lock()
		g.st.TokenRequests++
		g.st.Grants[r.PostForm.Get("grant_type")]++
		g.st.ClientAuth = append(g.st.ClientAuth, how)
		var o *override
		if len(g.queue) > 0 {
			o = &g.queue[0]
			g.queue = g.queue[1:]
		}
		gate := g.gate
		g.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		if o != nil && o.Status >= 300 {
			writeJSON(w, o.Status, nil, o.Body)
			return
		}
		srv.HandleTokenRequest(&scripted{ResponseWriter: w, o: o}, r)
	}
}

// scripted carries a token request's override to respond.
type scripted struct {
	http.ResponseWriter
	o *override
}

// respond writes go-oauth2's token or error answer, noting the refresh
// token issued and applying the request's override.
func (g *goServer) respond(w http.ResponseWriter, data map[string]any, header http.Header, status ...int) error {
	code := http.StatusOK
	if len(status) > 0 && status[0] > 0 {
		code = status[0]
	}
	if rt, ok := data["refresh_token"].(string); ok && code == http.StatusOK {
		g.mu.Lock()
		g.issued = append(g.issued, rt)
		g.mu.Unlock()
	}
	var body any = data
	if s, ok := w.(*scripted); ok {
		w = s.ResponseWriter
		if o := s.o; o != nil {
			if o.Status != 0 {
				code = o.Status
			}
			if o.Body != nil {
				body = o.Body
			}
			if m, ok := body.(map[string]any); ok {
				for _, k := range o.Omit {
					delete(m, k)
				}
			}
		}
	}
	return writeJSON(w, code, header, body)
}

func writeJSON(w http.ResponseWriter, status int, header http.Header, body any) error {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(body)
}

// client is who a token request says it is, and how it authenticated:
// "basic", "body", or "bad" when the credentials are missing or wrong.
func (g *goServer) client(r *http.Request) (id, secret, how string) {
	if user, pass, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: both are form-encoded before basic encoding.
		id, _ = url.QueryUnescape(user)
		secret, _ = url.QueryUnescape(pass)
		how = "basic"
	} else if r.PostForm.Has("client_secret") {
		id, secret, how = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "body"
	} else {
		return "", "", "bad"
	}
	c, err := g.manager.GetClient(r.Context(), id)
	if err != nil || c.GetSecret() != secret {
		return "", "", "bad"
	}
	return id, secret, how
}

func (g *goServer) URL() string { return g.url }

func (g *goServer) stats(*testing.T) serverStats {
	g.mu.Lock()
	st := g.st
	st.Grants = make(map[string]int, len(g.st.Grants))
	for k, v := range g.st.Grants {
		st.Grants[k] = v
	}
	st.ClientAuth = append([]string(nil), g.st.ClientAuth...)
	issued := append([]string(nil), g.issued...)
	g.mu.Unlock()
	for _, rt := range issued {
		if _, err := g.manager.LoadRefreshToken(context.Background(), rt); err == nil {
			st.LiveRefreshTokens++
		}
	}
	return st
}

func (g *goServer) tokenRequests(*testing.T) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.TokenRequests
}

func (g *goServer) next(_ *testing.T, o override) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = append(g.queue, o)
}

func (g *goServer) slow(*testing.T) func() {
	gate := make(chan struct{})
	g.mu.Lock()
	g.gate = gate
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// revoke removes every refresh token issued from go-oauth2's store.
func (g *goServer) revoke(t *testing.T) {
	g.mu.Lock()
	issued := append([]string(nil), g.issued...)
	g.mu.Unlock()
	for _, rt := range issued {
		if err := g.manager.RemoveRefreshToken(context.Background(), rt); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}
}
