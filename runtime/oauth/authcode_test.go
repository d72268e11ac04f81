package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/engine"
)

const callback = "https://app.example.com/oauth/callback"

func begin(t *testing.T, m *Manager, tenant string) string {
	t.Helper()
	u, err := m.Begin(context.Background(), BeginRequest{
		Tenant: tenant, Connector: "mock", Parameters: codeParams,
		RedirectURI: callback, ReturnURL: "/connected",
	})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return u
}

// consent plays the browser: it opens the consent URL without following
// redirects; the server approves at once and redirects to the callback.
func consent(t *testing.T, authURL string) (code, state string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("consent: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %s, want the callback", got)
	}
	return loc.Query().Get("code"), loc.Query().Get("state")
}

// connect runs the whole authorization code flow and stores the token for
// connID.
func connect(t *testing.T, e *env, connID string) *Token {
	t.Helper()
	code, state := consent(t, begin(t, e.m, "acme"))
	a, err := e.m.Complete(context.Background(), CompleteRequest{State: state, Code: code, Tenant: "acme", Connector: "mock"})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := e.store.SaveToken(context.Background(), connID, a.Token); err != nil {
		t.Fatal(err)
	}
	e.m.Forget(connID)
	return a.Token
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		authURL := begin(t, e.m, "acme")

		u, _ := url.Parse(authURL)
		q := u.Query()
		want := map[string]string{
			"response_type":         "code",
			"client_id":             testkit.OAuthClientID,
			"redirect_uri":          callback,
			"scope":                 "openid,contacts.read", // scopeSeparator
			"prompt":                "consent",              // authorizationParams
			"code_challenge_method": "S256",
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, q.Get(k), v)
			}
		}
		if s := q.Get("state"); s == "" || s == "not-this-one" {
			t.Errorf("state = %q: authorizationParams must not set it", s)
		}
		if len(q.Get("code_challenge")) != 43 {
			t.Errorf("code_challenge = %q, want 43 characters of base64url SHA-256", q.Get("code_challenge"))
		}

		code, state := consent(t, authURL)
		if state != q.Get("state") || code == "" {
			t.Fatalf("callback: code %q, state %q", code, state)
		}
		a, err := e.m.Complete(context.Background(), CompleteRequest{State: state, Code: code, Tenant: "acme", Connector: "mock"})
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if a.Tenant != "acme" || a.Connector != "mock" || a.ReturnURL != "/connected" || a.Parameters["tokenPath"] != "token" {
			t.Errorf("authorization = %+v", a)
		}
		tok := a.Token
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
			t.Fatalf("token = %v (type %q)", tok, tok.TokenType)
		}
		if want := e.clock.Now().Add(5 * time.Second); !tok.Expiry.Equal(want) {
			t.Errorf("expiry = %v, want %v (expires_in 5)", tok.Expiry, want)
		}

		// The server required a code_verifier and checked it against the
		// challenge; one request, authenticated with HTTP basic (the default).
		st := e.srv.Stats(t)
		if st.TokenRequests != 1 || st.Grants["authorization_code"] != 1 {
			t.Errorf("token requests = %d %v, want 1 authorization_code", st.TokenRequests, st.Grants)
		}
		if strings.Join(st.ClientAuth, ",") != "basic" {
			t.Errorf("client auth = %v, want basic", st.ClientAuth)
		}
	})
}

// A verifier that does not match the challenge is refused by the server:
// the PKCE check is real.
func TestPKCEVerifierCheckedByServer(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		m := e.manager(t, e.store)
		m.o.States = tamperStates{e.store}
		code, state := consent(t, begin(t, m, "acme"))
		_, err := m.Complete(context.Background(), CompleteRequest{State: state, Code: code, Tenant: "acme", Connector: "mock"})
		var te *TokenError
		if !errors.As(err, &te) || te.Code != p.PKCEError || !strings.Contains(te.Description, p.PKCESays) {
			t.Fatalf("err = %v, want the server's code_verifier refusal", err)
		}
		if n := e.srv.TokenRequests(t); n != 1 {
			t.Errorf("token requests = %d, want 1", n)
		}
	})
}

// tamperStates swaps the PKCE verifier for another valid one on the way out.
type tamperStates struct{ *MemStore }

func (s tamperStates) TakeState(ctx context.Context, state string) ([]byte, error) {
	data, err := s.MemStore.TakeState(ctx, state)
	if err != nil {
		return nil, err
	}
	var p pending
	json.Unmarshal(data, &p)
	p.Verifier = randomString(32)
	return json.Marshal(p)
}

func TestStateRefused(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		ctx := context.Background()
		complete := func(state, code, tenant, connector string) error {
			_, err := e.m.Complete(ctx, CompleteRequest{State: state, Code: code, Tenant: tenant, Connector: connector})
			return err
		}
		refused := func(t *testing.T, err error) {
			t.Helper()
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("err = %v, want ErrInvalidState", err)
			}
		}
		sent := 0 // token requests the test expects the server to have seen

		t.Run("forged signature", func(t *testing.T) {
			code, state := consent(t, begin(t, e.m, "acme"))
			flip := []byte(state)
			flip[len(flip)-2] ^= 1
			refused(t, complete(string(flip), code, "acme", "mock"))
		})
		t.Run("forged payload", func(t *testing.T) {
			code, state := consent(t, begin(t, e.m, "acme"))
			enc, sig, _ := strings.Cut(state, ".")
			raw, _ := b64.DecodeString(enc)
			var p statePayload
			json.Unmarshal(raw, &p)
			p.Tenant = "evil"
			raw, _ = json.Marshal(p)
			refused(t, complete(b64.EncodeToString(raw)+"."+sig, code, "", ""))
		})
		t.Run("another server's secret", func(t *testing.T) {
			other, err := New(Options{States: e.store, Providers: e.m.o.Providers, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			code, state := consent(t, begin(t, other, "acme"))
			refused(t, complete(state, code, "acme", "mock"))
		})
		t.Run("garbage", func(t *testing.T) {
			for _, s := range []string{"", "abc", "a.b", "..", strings.Repeat("x", 5000)} {
				refused(t, complete(s, "code", "acme", "mock"))
			}
		})
		t.Run("expired", func(t *testing.T) {
			code, state := consent(t, begin(t, e.m, "acme"))
			e.clock.Add(10*time.Minute + time.Second)
			refused(t, complete(state, code, "acme", "mock"))
		})
		t.Run("replayed", func(t *testing.T) {
			code, state := consent(t, begin(t, e.m, "acme"))
			if err := complete(state, code, "acme", "mock"); err != nil {
				t.Fatal(err)
			}
			sent++
			refused(t, complete(state, code, "acme", "mock"))
		})
		t.Run("another tenant or connector", func(t *testing.T) {
			code, state := consent(t, begin(t, e.m, "acme"))
			refused(t, complete(state, code, "globex", "mock"))
			refused(t, complete(state, code, "acme", "other"))
			// The mismatches did not use the state up: its own session still can.
			if err := complete(state, code, "acme", "mock"); err != nil {
				t.Fatal(err)
			}
			sent++
		})
		if n := e.srv.TokenRequests(t); n != sent {
			t.Errorf("token requests = %d, want %d: a refused state must send none", n, sent)
		}
	})
}

func TestConsentDenied(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		_, state := consent(t, begin(t, e.m, "acme"))
		a, err := e.m.Complete(context.Background(), CompleteRequest{State: state, Error: "access_denied", Tenant: "acme", Connector: "mock"})
		var ae *AuthorizationError
		if !errors.As(err, &ae) || ae.Code != "access_denied" || a == nil || a.ReturnURL != "/connected" || a.Token != nil {
			t.Fatalf("Complete = %+v, %v", a, err)
		}
		if n := e.srv.TokenRequests(t); n != 0 {
			t.Errorf("token requests = %d, want 0", n)
		}
	})
}

func TestBeginRefusesClientCredentials(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, ccAuth)
		if _, err := e.m.Begin(context.Background(), BeginRequest{Tenant: "acme", Connector: "mock", RedirectURI: callback}); err == nil {
			t.Fatal("Begin accepted a client credentials connector")
		}
	})
}

// A code used twice is refused by the server; it is the caller's error,
// not a disconnection.
func TestCodeExchangeRefused(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		code, state := consent(t, begin(t, e.m, "acme"))
		e.srv.Next(t, testkit.OAuthOverride{Status: 400, Body: map[string]any{"error": "invalid_grant", "error_description": "code " + code + " expired"}})
		_, err := e.m.Complete(context.Background(), CompleteRequest{State: state, Code: code, Tenant: "acme", Connector: "mock"})
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Type != engine.ErrAuth || errors.Is(err, ErrReauthorize) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), code) {
			t.Errorf("the error shows the code: %v", err)
		}
	})
}

// The connector's authorization URL keeps its own query, but not a
// parameter this package sets nor one authorizationParams replaces; a
// fragment is dropped. Public clients still send PKCE.
func TestAuthorizationURLComposition(t *testing.T) {
	t.Parallel()
	auth := `  type: oauth2
  grant: authorizationCode
  authorizationUrl: "https://auth.example.com/o/authorize?audience=api&client_id=evil&prompt=none&state=x#frag"
  tokenUrl: "https://auth.example.com/o/token"
  authorizationParams: {prompt: consent}
`
	store := NewMemStore()
	p := &Provider{Connector: "mock", Auth: compileAuth(t, "", auth), ClientID: testkit.OAuthClientID}
	m, err := New(Options{States: store, Providers: func(context.Context, ProviderRequest) (*Provider, error) { return p, nil }})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.Begin(context.Background(), BeginRequest{Tenant: "acme", Connector: "mock", RedirectURI: callback})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != "https://auth.example.com/o/authorize" || u.Fragment != "" || strings.Contains(raw, "#") {
		t.Errorf("URL %s", raw)
	}
	for k, want := range map[string][]string{
		"audience": {"api"}, "client_id": {testkit.OAuthClientID}, "prompt": {"consent"},
		"response_type": {"code"}, "redirect_uri": {callback}, "code_challenge_method": {"S256"},
	} {
		if got := q[k]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if s := q["state"]; len(s) != 1 || s[0] == "x" {
		t.Errorf("state = %q", s)
	}
}
