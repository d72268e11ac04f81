package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// ccAuth is a client credentials connector on the test server, its client
// authenticated in the form body.
const ccAuth = `  type: oauth2
  grant: clientCredentials
  tokenUrl: "{{URL}}/token"
  scopes: [reports.read]
  clientAuth: body
`

func (e *env) auth(connID string) engine.Authenticator {
	return e.m.NewAuthenticator(e.p, &engine.Connection{ID: connID, Tenant: "acme", Parameters: codeParams})
}

// authorize runs Authorize and returns the bearer token it set.
func authorize(t *testing.T, a engine.Authenticator) string {
	t.Helper()
	tok, err := tryAuthorize(a)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return tok
}

func tryAuthorize(a engine.Authenticator) (string, error) {
	req := &httpx.Request{URL: "https://api.example.com/v1/x"}
	if err := a.Authorize(context.Background(), req); err != nil {
		if req.Header.Get("Authorization") != "" {
			return "", fmt.Errorf("Authorize failed but set a header: %w", err)
		}
		return "", err
	}
	h := req.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", fmt.Errorf("Authorization = %q", h)
	}
	return tok, nil
}

func stored(t *testing.T, s TokenStore, connID string) *Token {
	t.Helper()
	tok, err := s.LoadToken(context.Background(), connID)
	if err != nil || tok == nil {
		t.Fatalf("LoadToken: %v, %v", tok, err)
	}
	return tok
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, ccAuth)
		a := e.auth("cc-1")
		tok := authorize(t, a)
		st := e.srv.Stats(t)
		if st.TokenRequests != 1 || st.Grants["client_credentials"] != 1 || strings.Join(st.ClientAuth, ",") != "body" {
			t.Fatalf("server saw %+v, want one client_credentials request authenticated in the body", st)
		}
		if s := stored(t, e.store, "cc-1"); s.AccessToken != tok {
			t.Fatal("the token is not cached in the TokenStore")
		}
		// Cached: the same run, another run and another replica reuse it.
		if authorize(t, a) != tok || authorize(t, e.auth("cc-1")) != tok {
			t.Fatal("the cached token was not reused")
		}
		other := e.manager(t, e.store)
		if authorize(t, other.NewAuthenticator(e.p, &engine.Connection{ID: "cc-1"})) != tok {
			t.Fatal("another replica did not reuse the stored token")
		}
		if n := e.srv.TokenRequests(t); n != 1 {
			t.Fatalf("token requests = %d, want 1", n)
		}
		// Near expiry (5 s lifetime, 0.5 s margin): a new one.
		e.clock.Add(4600 * time.Millisecond)
		tok2 := authorize(t, a)
		if tok2 == tok || e.srv.TokenRequests(t) != 2 {
			t.Fatalf("no new token near expiry (%d requests)", e.srv.TokenRequests(t))
		}
		// After a 401: one more.
		if ok, err := a.Refresh(context.Background()); !ok || err != nil {
			t.Fatalf("Refresh = %v, %v", ok, err)
		}
		if authorize(t, a) == tok2 || e.srv.TokenRequests(t) != 3 {
			t.Fatal("Refresh did not get a new token")
		}
	})
}

// The connection's own clientId and clientSecret replace the provider's;
// a wrong secret is refused, and that is not a disconnection.
func TestClientCredentialsOfTheConnection(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, ccAuth)
		e.p.ClientSecret = "not-the-one"
		a := e.m.NewAuthenticator(e.p, &engine.Connection{ID: "cc-2", Credentials: map[string]any{"clientId": testkit.OAuthClientID, "clientSecret": testkit.OAuthClientSecret}})
		authorize(t, a)

		bad := e.m.NewAuthenticator(e.p, &engine.Connection{ID: "cc-3", Credentials: map[string]any{"clientId": testkit.OAuthClientID, "clientSecret": "wrong-secret"}})
		_, err := tryAuthorize(bad)
		var ee *engine.Error
		var te *TokenError
		if !errors.As(err, &ee) || ee.Type != engine.ErrAuth || ee.Retryable || !errors.As(err, &te) || te.Code != "invalid_client" {
			t.Fatalf("err = %v, want a non-retryable invalid_client", err)
		}
		if strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("the error shows the secret: %v", err)
		}
		if _, ok := e.store.Disconnected("cc-3"); ok {
			t.Error("a client credentials refusal marked the connection disconnected")
		}
		// The refused request was not sent again with the secret the other
		// way (x/oauth2's auto-detection): the client authentication is fixed.
		if st := e.srv.Stats(t); strings.Join(st.ClientAuth, ",") != "body,bad" {
			t.Errorf("client auth of the requests = %v, want body then one refused", st.ClientAuth)
		}
	})
}

// Token requests go through the guarded outbound client: one that does
// not allow private addresses refuses the loopback token endpoint before
// anything is sent.
func TestTokenRequestsAreGuarded(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, ccAuth)
		m, err := New(Options{HTTP: httpx.New(httpx.Config{}), Tokens: NewMemStore()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tryAuthorize(m.NewAuthenticator(e.p, &engine.Connection{ID: "x"}))
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Type != engine.ErrRefused || ee.Retryable {
			t.Fatalf("err = %v, want the outbound guard's refusal", err)
		}
		if n := e.srv.TokenRequests(t); n != 0 {
			t.Fatalf("token requests = %d, want 0", n)
		}
	})
}

func TestRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		first := connect(t, e, "c1")
		a := e.auth("c1")
		if authorize(t, a) != first.AccessToken {
			t.Fatal("Authorize did not send the stored token")
		}
		// Lifetime 5 s: refreshed from 0.5 s before expiry (10%), not before.
		// The refresh authenticates the client as the code exchange did.
		e.clock.Add(4400 * time.Millisecond)
		if authorize(t, a) != first.AccessToken || e.srv.TokenRequests(t) != 1 {
			t.Fatal("refreshed too early")
		}
		e.clock.Add(200 * time.Millisecond)
		tok := authorize(t, a)
		st := e.srv.Stats(t)
		if tok == first.AccessToken || st.TokenRequests != 2 || st.Grants["refresh_token"] != 1 {
			t.Fatalf("no refresh near expiry: %+v", st)
		}
		if strings.Join(st.ClientAuth, ",") != "basic,basic" {
			t.Errorf("client auth = %v, want HTTP basic for both", st.ClientAuth)
		}
		s := stored(t, e.store, "c1")
		if s.AccessToken != tok || s.RefreshToken == first.RefreshToken || s.RefreshToken == "" {
			t.Fatal("the rotated token was not stored")
		}
		// The server's only live refresh token is the stored one.
		if st.LiveRefreshTokens != 1 {
			t.Errorf("live refresh tokens = %d, want 1", st.LiveRefreshTokens)
		}
		e.clock.Add(5 * time.Second)
		authorize(t, a) // works with the stored rotated refresh token
		if n := e.srv.TokenRequests(t); n != 3 {
			t.Errorf("token requests = %d, want 3", n)
		}
	})
}

// 50 concurrent Authorize calls on one connection whose token just expired,
// on two replicas sharing the store, send exactly one token request; then
// 50 concurrent Refresh calls after a 401 on the new token, one more.
func TestConcurrentRefreshSendsOneRequest(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		old := connect(t, e, "c1")
		replicas := []*Manager{e.m, e.manager(t, e.store)}
		e.clock.Add(6 * time.Second)
		before := e.srv.TokenRequests(t)

		const n = 50
		auths := make([]engine.Authenticator, n)
		for i := range auths {
			auths[i] = replicas[i%2].NewAuthenticator(e.p, &engine.Connection{ID: "c1", Parameters: codeParams})
		}
		// The token endpoint is slowed down until every call has started,
		// so that latecomers arrive mid-refresh.
		run := func(f func(i int) (string, error)) []string {
			got := make([]string, n)
			errs := make([]error, n)
			release := e.srv.Slow(t)
			start := make(chan struct{})
			var started, wg sync.WaitGroup
			started.Add(n)
			for i := range n {
				wg.Go(func() {
					<-start
					started.Done()
					got[i], errs[i] = f(i)
				})
			}
			close(start)
			started.Wait()
			release()
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			return got
		}

		tokens := run(func(i int) (string, error) { return tryAuthorize(auths[i]) })
		for _, tok := range tokens {
			if tok != tokens[0] || tok == old.AccessToken {
				t.Fatal("the calls did not all get the one new token")
			}
		}
		if got := e.srv.TokenRequests(t) - before; got != 1 {
			t.Fatalf("token requests = %d, want exactly 1", got)
		}

		run(func(i int) (string, error) {
			ok, err := auths[i].Refresh(context.Background())
			if !ok && err == nil {
				err = errors.New("Refresh renewed nothing")
			}
			return "", err
		})
		if got := e.srv.TokenRequests(t) - before; got != 2 {
			t.Fatalf("token requests = %d, want exactly 2", got)
		}
		if s := stored(t, e.store, "c1"); s.AccessToken == tokens[0] {
			t.Fatal("Refresh did not replace the refused token")
		}
	})
}

// A 401 on a token another refresher already replaced is retried with that
// one, without a token request.
func TestRefreshAfter401SkipsWhenAlreadyRefreshed(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		first := connect(t, e, "c1")
		a1, a2 := e.auth("c1"), e.auth("c1")
		authorize(t, a1)
		authorize(t, a2)
		for _, a := range []engine.Authenticator{a1, a2} {
			if ok, err := a.Refresh(context.Background()); !ok || err != nil {
				t.Fatalf("Refresh = %v, %v", ok, err)
			}
		}
		if n := e.srv.TokenRequests(t); n != 2 { // the code, one refresh
			t.Fatalf("token requests = %d, want 2", n)
		}
		if tok := authorize(t, a2); tok == first.AccessToken || tok != stored(t, e.store, "c1").AccessToken {
			t.Fatal("a2 does not send the refreshed token")
		}
	})
}

// orderStore records when tokens are saved, to check that a refreshed
// token is persisted before it is used.
type orderStore struct {
	*MemStore
	mu     sync.Mutex
	events []string
	fail   int // SaveToken fails this many times
}

func (s *orderStore) record(ev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *orderStore) SaveToken(ctx context.Context, connID string, t *Token) error {
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		return errors.New("database is down")
	}
	s.mu.Unlock()
	s.record("save " + t.AccessToken + " " + t.RefreshToken)
	return s.MemStore.SaveToken(ctx, connID, t)
}

func TestRotatedRefreshTokenPersistedBeforeUse(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		first := connect(t, e, "c1")
		os := &orderStore{MemStore: e.store}
		m := e.manager(t, os)
		a := m.NewAuthenticator(e.p, &engine.Connection{ID: "c1", Parameters: codeParams})
		e.clock.Add(6 * time.Second)

		tok := authorize(t, a)
		os.record("use " + tok)
		s := stored(t, e.store, "c1")
		if s.RefreshToken == first.RefreshToken {
			t.Fatal("the refresh token was not rotated")
		}
		want := []string{"save " + tok + " " + s.RefreshToken, "use " + tok}
		if strings.Join(os.events, "\n") != strings.Join(want, "\n") {
			t.Fatalf("events:\n%s\nwant the save of the rotated token, then its use", strings.Join(os.events, "\n"))
		}

		// One failed save is retried.
		os.fail = 1
		e.clock.Add(6 * time.Second)
		if authorize(t, a) == tok {
			t.Fatal("no refresh")
		}

		// A save that keeps failing: the new token is not used.
		os.fail = 100
		e.clock.Add(6 * time.Second)
		before := stored(t, e.store, "c1")
		_, err := tryAuthorize(a)
		if err == nil || !strings.Contains(err.Error(), "database is down") {
			t.Fatalf("err = %v, want the save failure", err)
		}
		if s := stored(t, e.store, "c1"); s.AccessToken != before.AccessToken {
			t.Fatal("the store changed")
		}
	})
}

func TestInvalidGrantDisconnects(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		first := connect(t, e, "c1")
		a := e.auth("c1")
		e.srv.Revoke(t) // the user revoked the app at the provider
		e.clock.Add(6 * time.Second)

		_, err := tryAuthorize(a)
		var ee *engine.Error
		if !errors.Is(err, ErrReauthorize) || !errors.As(err, &ee) || ee.Type != engine.ErrAuth || ee.Retryable {
			t.Fatalf("err = %v, want a non-retryable auth error wrapping ErrReauthorize", err)
		}
		for _, secret := range []string{first.AccessToken, first.RefreshToken} {
			if strings.Contains(err.Error(), secret) {
				t.Fatal("the error shows a token")
			}
		}
		reason, ok := e.store.Disconnected("c1")
		if !ok || !strings.Contains(reason, "invalid_grant") {
			t.Fatalf("disconnected = %v %q", ok, reason)
		}
		if n := e.srv.TokenRequests(t); n != 2 {
			t.Fatalf("token requests = %d, want 2", n)
		}
		// The refused refresh token is not sent again.
		if _, err := tryAuthorize(e.auth("c1")); !errors.Is(err, ErrReauthorize) {
			t.Fatalf("err = %v", err)
		}
		if n := e.srv.TokenRequests(t); n != 2 {
			t.Fatalf("token requests = %d, want still 2", n)
		}
		// Reconnecting brings it back.
		connect(t, e, "c1")
		authorize(t, a)
		if _, ok := e.store.Disconnected("c1"); ok {
			t.Error("still disconnected after reconnecting")
		}
	})
}

func TestTransientFailureKeepsConnection(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		first := connect(t, e, "c1")
		a := e.auth("c1")
		// Due for refresh but not expired: the failed refresh does not stop
		// the token from being used.
		e.srv.Next(t, testkit.OAuthOverride{Status: 503, Body: map[string]any{"error": "temporarily_unavailable"}})
		e.clock.Add(4800 * time.Millisecond)
		if authorize(t, a) != first.AccessToken {
			t.Fatal("the still valid token was not used")
		}
		authorize(t, a) // not retried at once
		if n := e.srv.TokenRequests(t); n != 2 {
			t.Fatalf("token requests = %d, want 2", n)
		}
		// Expired: the failure is the caller's, and retryable.
		e.srv.Next(t, testkit.OAuthOverride{Status: 503, Body: map[string]any{"error": "temporarily_unavailable"}})
		e.clock.Add(time.Second)

		_, err := tryAuthorize(a)
		var ee *engine.Error
		if !errors.As(err, &ee) || !ee.Retryable || ee.Type != engine.ErrUpstream || errors.Is(err, ErrReauthorize) {
			t.Fatalf("err = %v, want a retryable upstream error", err)
		}
		if _, ok := e.store.Disconnected("c1"); ok {
			t.Fatal("a 503 disconnected the connection")
		}
		// A POST with a refresh token is not resent blindly: one request each.
		if n := e.srv.TokenRequests(t); n != 3 {
			t.Fatalf("token requests = %d, want 3", n)
		}
		authorize(t, a) // the refresh token is still good
		if n := e.srv.TokenRequests(t); n != 4 {
			t.Fatalf("token requests = %d, want 4", n)
		}
	})
}

func TestTokenEndpointUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	m, _ := New(Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true}), Tokens: NewMemStore()})
	p := &Provider{Connector: "mock", Auth: compileAuth(t, dead, ccAuth), ClientID: "id", ClientSecret: "secret"}
	_, err = tryAuthorize(m.NewAuthenticator(p, &engine.Connection{ID: "x"}))
	var ee *engine.Error
	if !errors.As(err, &ee) || !ee.Retryable || ee.Type != engine.ErrNetwork {
		t.Fatalf("err = %v, want a retryable network error", err)
	}
}

func TestMalformedTokenResponses(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, ccAuth)
		for name, body := range map[string]any{
			"no access_token":     map[string]any{"token_type": "Bearer", "expires_in": 60},
			"not an object":       "<html>maintenance</html>",
			"bad expires_in":      map[string]any{"access_token": "SECRET-AT-0123456789", "expires_in": "soon"},
			"access_token number": map[string]any{"access_token": 42},
			"refresh_token list":  map[string]any{"access_token": "SECRET-AT-0123456789", "refresh_token": []any{"x"}},
		} {
			t.Run(name, func(t *testing.T) {
				e.srv.Next(t, testkit.OAuthOverride{Status: 200, Body: body})
				_, err := tryAuthorize(e.auth("cc-" + name))
				var ee *engine.Error
				if !errors.Is(err, ErrMalformedResponse) || !errors.As(err, &ee) || ee.Type != engine.ErrUpstream {
					t.Fatalf("err = %v, want ErrMalformedResponse", err)
				}
				if strings.Contains(err.Error(), "SECRET-AT") {
					t.Errorf("the error shows the token: %v", err)
				}
			})
		}
	})
}

// Without expires_in a token is used until the API refuses it; then it is
// refreshed once.
func TestNoExpiresIn(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		e.srv.Next(t, testkit.OAuthOverride{Omit: []string{"expires_in"}})
		first := connect(t, e, "c1")
		if !first.Expiry.IsZero() {
			t.Fatalf("expiry = %v, want none", first.Expiry)
		}
		a := e.auth("c1")
		authorize(t, a)
		e.clock.Add(365 * 24 * time.Hour)
		if authorize(t, a) != first.AccessToken || e.srv.TokenRequests(t) != 1 {
			t.Fatal("a token without expiry was refreshed before a 401")
		}
		if ok, err := a.Refresh(context.Background()); !ok || err != nil {
			t.Fatalf("Refresh after 401 = %v, %v", ok, err)
		}
		if authorize(t, a) == first.AccessToken || e.srv.TokenRequests(t) != 2 {
			t.Fatal("Refresh did not renew the token once")
		}
	})
}

// A token without a refresh token is sent until refused; Refresh then says
// there is nothing to renew.
func TestNoRefreshToken(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		e.srv.Next(t, testkit.OAuthOverride{Omit: []string{"refresh_token"}})
		connect(t, e, "c1")
		a := e.auth("c1")
		e.clock.Add(time.Hour)
		authorize(t, a)
		if ok, err := a.Refresh(context.Background()); ok || err != nil {
			t.Fatalf("Refresh = %v, %v; want false, nil", ok, err)
		}
		if n := e.srv.TokenRequests(t); n != 1 {
			t.Fatalf("token requests = %d, want 1", n)
		}
	})
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		tok := connect(t, e, "c1")
		s := strings.Join(e.auth("c1").Secrets(), "\n")
		for _, want := range []string{tok.AccessToken, tok.RefreshToken, testkit.OAuthClientSecret} {
			if !strings.Contains(s, want) {
				t.Errorf("Secrets misses a value")
			}
		}
		for _, out := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", *tok), fmt.Sprintf("%#v", tok)} {
			if strings.Contains(out, tok.AccessToken) || strings.Contains(out, tok.RefreshToken) {
				t.Errorf("printing a Token shows it: %s", out)
			}
		}
	})
}

func TestNotConnected(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		_, err := tryAuthorize(e.auth("nobody"))
		if !errors.Is(err, ErrNoToken) {
			t.Fatalf("err = %v, want ErrNoToken", err)
		}
		if n := e.srv.TokenRequests(t); n != 0 {
			t.Fatalf("token requests = %d", n)
		}
	})
}
