package testkit

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
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
	"github.com/golang-jwt/jwt/v5"
)

// goOAuth2 is go-oauth2 (github.com/go-oauth2/oauth2/v4), an OAuth2
// authorization server library, run in process on a loopback listener for
// one test. It issues, rotates and checks the codes and tokens; what is
// set here, through its own configuration and hooks, is what
// runtime/oauth/testdata/oauth-server.mjs adds to the Node server, and
// what that server does itself, so that a test holds on both:
//   - one client, OAuthClientID, authenticated with HTTP basic or
//     client_id/client_secret in the body, refused with invalid_client on
//     every grant (go-oauth2 checks the secret itself for a code or client
//     credentials, not for a refresh, so its ClientInfoHandler does it);
//   - any absolute redirect URI (the client has none registered; the
//     tests' callbacks are on ports chosen as they run), the code bound to
//     the one it was issued for;
//   - PKCE required, S256 only;
//   - refresh tokens single use (rotated, the old one removed, as
//     go-oauth2's refresh configuration says) and revocable, never
//     expiring on their own;
//   - access tokens living ttl seconds: JWTs signed RS256 with a key
//     published at GET /jwks, for OAuthSubject (the user consenting),
//     each with its own jti;
//   - consent given at once: GET /authorize redirects to the callback.
//
// Around go-oauth2's handlers it counts the token requests, answers a
// scripted failure in its place (Next), and can hold token requests until
// released (Slow).
type goOAuth2 struct {
	url     string
	manager *manage.Manager

	mu     sync.Mutex
	st     OAuthStats
	issued []string        // refresh tokens issued, live or not
	queue  []OAuthOverride // scripted answers of the next token requests
	gate   chan struct{}
}

// goTokens is go-oauth2's in-memory token store (buntdb), shared by every
// server of the test binary since it cannot be closed. Codes and tokens
// are random, so no server finds another's.
var goTokens = sync.OnceValues(store.NewMemoryTokenStore)

// signingKey signs every server's access tokens: made once, as making one
// takes long under the race detector.
var signingKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// signingKeyID is signingKey's kid.
const signingKeyID = "membrane-test-key"

func startGoOAuth2(t testing.TB, ttl int) OAuthServer {
	t.Helper()
	tokens, err := goTokens()
	if err != nil {
		t.Fatalf("go-oauth2 token store: %v", err)
	}
	key, err := signingKey()
	if err != nil {
		t.Fatalf("go-oauth2 signing key: %v", err)
	}
	clients := store.NewClientStore()
	if err := clients.Set(OAuthClientID, &models.Client{ID: OAuthClientID, Secret: OAuthClientSecret}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	g := &goOAuth2{url: "http://" + hs.Listener.Addr().String(), st: OAuthStats{Grants: map[string]int{}}}

	life := time.Duration(ttl) * time.Second
	m := manage.NewDefaultManager()
	m.MapTokenStorage(tokens)
	m.MapClientStorage(clients)
	m.MapAccessGenerate(&jwtAccess{issuer: g.url, key: key})
	m.SetValidateURIHandler(absoluteURI)
	// A RefreshTokenExp of 0 is a refresh token that never expires.
	m.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: life, IsGenerateRefresh: true})
	m.SetClientTokenCfg(&manage.Config{AccessTokenExp: life})
	m.SetRefreshTokenCfg(&manage.RefreshingConfig{AccessTokenExp: life, IsGenerateRefresh: true, IsRemoveAccess: true, IsRemoveRefreshing: true})
	g.manager = m

	srv := server.NewServer(&server.Config{
		TokenType:                   "Bearer",
		AllowedResponseTypes:        []gooauth2.ResponseType{gooauth2.Code},
		AllowedGrantTypes:           []gooauth2.GrantType{gooauth2.AuthorizationCode, gooauth2.Refreshing, gooauth2.ClientCredentials},
		AllowedCodeChallengeMethods: []gooauth2.CodeChallengeMethod{gooauth2.CodeChallengeS256},
		ForcePKCE:                   true,
	}, m)
	srv.UserAuthorizationHandler = func(http.ResponseWriter, *http.Request) (string, error) { return OAuthSubject, nil }
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
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, nil, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": signingKeyID,
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	hs.Config.Handler = mux
	hs.Start()
	t.Cleanup(hs.Close)
	return g
}

// absoluteURI accepts a redirect URI that is an absolute http or https
// URL, as a server with no redirect URI registered for the client does.
func absoluteURI(_, redirect string) error {
	u, err := url.Parse(redirect)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return gooauth2errors.ErrInvalidRedirectURI
	}
	return nil
}

// jwtAccess makes go-oauth2's access tokens JWTs, as the Node server's
// are: signed RS256, for the consenting user and the client, with a jti
// so that two minted in the same second differ; the refresh token is
// random.
type jwtAccess struct {
	issuer string
	key    *rsa.PrivateKey
}

func (a *jwtAccess) Token(_ context.Context, data *gooauth2.GenerateBasic, refresh bool) (string, string, error) {
	issued := data.TokenInfo.GetAccessCreateAt()
	claims := jwt.MapClaims{
		"iss": a.issuer,
		"aud": data.Client.GetID(),
		"iat": issued.Unix(),
		"exp": issued.Add(data.TokenInfo.GetAccessExpiresIn()).Unix(),
		"jti": rand.Text(),
	}
	if data.UserID != "" {
		claims["sub"] = data.UserID
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = signingKeyID
	access, err := tok.SignedString(a.key)
	if err != nil {
		return "", "", fmt.Errorf("signing an access token: %w", err)
	}
	if !refresh {
		return access, "", nil
	}
	return access, rand.Text(), nil
}

// token counts a token request and hands it to go-oauth2, or answers the
// scripted failure in its place.
func (g *goOAuth2) token(srv *server.Server) http.HandlerFunc {
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
		var o *OAuthOverride
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
	o *OAuthOverride
}

// respond writes go-oauth2's token or error answer, noting the refresh
// token issued and applying the request's override.
func (g *goOAuth2) respond(w http.ResponseWriter, data map[string]any, header http.Header, status ...int) error {
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
func (g *goOAuth2) client(r *http.Request) (id, secret, how string) {
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

func (g *goOAuth2) URL() string { return g.url }

func (g *goOAuth2) Stats(testing.TB) OAuthStats {
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

func (g *goOAuth2) TokenRequests(testing.TB) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.TokenRequests
}

func (g *goOAuth2) Next(_ testing.TB, o OAuthOverride) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = append(g.queue, o)
}

func (g *goOAuth2) Slow(testing.TB) func() {
	gate := make(chan struct{})
	g.mu.Lock()
	g.gate = gate
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// Revoke removes every refresh token issued from go-oauth2's store.
func (g *goOAuth2) Revoke(t testing.TB) {
	t.Helper()
	g.mu.Lock()
	issued := append([]string(nil), g.issued...)
	g.mu.Unlock()
	for _, rt := range issued {
		if err := g.manager.RemoveRefreshToken(context.Background(), rt); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}
}
