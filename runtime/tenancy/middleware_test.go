package tenancy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tenantEcho answers 200 with the tenant the middleware put in the context.
var tenantEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	w.Write([]byte(c.Tenant))
})

func do(h http.Handler, target, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestTokenMiddlewareRefusals(t *testing.T) {
	testKeys(t)
	pubPEM := pemPublic(t, &rsaKey.PublicKey)
	rsaOnly := Middleware(newTestVerifier(t, Keys{PublicKeysPEM: pubPEM}), tenantEcho)
	hmac := Middleware(newTestVerifier(t, Keys{HMACSecret: testSecret}), tenantEcho)

	expired := goodClaims()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	other := goodClaims()
	other["iss"] = "other-workspace"
	stringExp := goodClaims()
	stringExp["exp"] = "99999999999"

	cases := []struct {
		name string
		h    http.Handler
		auth string
	}{
		{"missing token", hmac, ""},
		{"empty bearer", hmac, "Bearer "},
		{"basic scheme", hmac, "Basic YTpi"},
		{"expired", hmac, "Bearer " + hs256(t, expired)},
		{"alg none", hmac, "Bearer " + sign(t, jwt.SigningMethodNone, goodClaims(), jwt.UnsafeAllowNoneSignatureType)},
		{"wrong key", hmac, "Bearer " + sign(t, jwt.SigningMethodHS256, goodClaims(), []byte("not-the-workspace-secret-at-all!!"))},
		{"other issuer", hmac, "Bearer " + hs256(t, other)},
		{"exp a string", hmac, "Bearer " + hs256(t, stringExp)},
		{"RS256/HS256 confusion", rsaOnly, "Bearer " + sign(t, jwt.SigningMethodHS256, goodClaims(), pubPEM)},
		{"garbage", hmac, "Bearer not.a.jwt"},
	}
	var first []byte
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.h, "/v1/connections", tc.auth)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type %q", got)
			}
			var p problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != 401 || p.Title == "" || p.Type == "" || p.Detail == "" {
				t.Errorf("problem %+v", p)
			}
			// No oracle: every refusal reads the same.
			if first == nil {
				first = w.Body.Bytes()
			} else if !bytes.Equal(first, w.Body.Bytes()) {
				t.Errorf("body differs from the first refusal:\n%s\n%s", first, w.Body.Bytes())
			}
		})
	}
}

func TestTokenMiddlewareValid(t *testing.T) {
	h := Middleware(newTestVerifier(t, Keys{HMACSecret: testSecret}), tenantEcho)
	tok := hs256(t, goodClaims())
	for _, auth := range []string{"Bearer " + tok, "bearer " + tok, "BEARER  " + tok + " "} {
		w := do(h, "/v1/connections", auth)
		if w.Code != http.StatusOK || w.Body.String() != "acme" {
			t.Fatalf("%q: %d %s", auth[:8], w.Code, w.Body)
		}
	}
}

func TestTokenMiddlewareTwoHeaders(t *testing.T) {
	h := Middleware(newTestVerifier(t, Keys{HMACSecret: testSecret}), tenantEcho)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Add("Authorization", "Bearer "+hs256(t, goodClaims()))
	r.Header.Add("Authorization", "Bearer x")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", w.Code)
	}
}

func TestTokenMiddlewareQuery(t *testing.T) {
	v := newTestVerifier(t, Keys{HMACSecret: testSecret})
	tok := hs256(t, goodClaims())
	target := "/connect/hubspot?token=" + tok + "&state=xyz"

	if w := do(Middleware(v, tenantEcho), target, ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("query token accepted without AllowQueryToken: %d", w.Code)
	}

	var seen *http.Request
	h := Middleware(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		tenantEcho(w, r)
	}), AllowQueryToken())
	w := do(h, target, "")
	if w.Code != http.StatusOK || w.Body.String() != "acme" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if strings.Contains(seen.URL.String(), tok) || strings.Contains(seen.RequestURI, tok) {
		t.Errorf("the handler sees the token in its URL: %s", seen.RequestURI)
	}
	if seen.URL.Query().Get("state") != "xyz" {
		t.Errorf("other parameters lost: %s", seen.URL)
	}
	if w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy %q", w.Header().Get("Referrer-Policy"))
	}
	if w := do(h, "/connect/hubspot?token=a&token=b", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("two token parameters: %d", w.Code)
	}
}

func TestTokenMiddlewareLogsReasonNotToken(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := Middleware(newTestVerifier(t, Keys{HMACSecret: testSecret}), tenantEcho, WithLogger(log), AllowQueryToken())
	expired := goodClaims()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	tok := hs256(t, expired)
	do(h, "/connect/x?token="+tok, "")
	out := buf.String()
	if !strings.Contains(out, reasonExpired) {
		t.Errorf("log lacks the reason: %s", out)
	}
	for _, p := range strings.Split(tok, ".") {
		if strings.Contains(out, p) {
			t.Fatalf("log holds part of the token: %s", out)
		}
	}
}

func TestTokenRequireAdmin(t *testing.T) {
	v := newTestVerifier(t, Keys{HMACSecret: testSecret})
	h := Middleware(v, RequireAdmin(tenantEcho))
	admin := goodClaims()
	admin["isAdmin"] = true

	if w := do(h, "/v1/admin", "Bearer "+hs256(t, admin)); w.Code != http.StatusOK {
		t.Errorf("admin: %d %s", w.Code, w.Body)
	}
	w := do(h, "/v1/admin", "Bearer "+hs256(t, goodClaims()))
	if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("non-admin: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 403 {
		t.Errorf("problem %s: %v", w.Body, err)
	}
	// Outside Middleware nobody is an admin.
	if w := do(RequireAdmin(tenantEcho), "/v1/admin", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("without Middleware: %d", w.Code)
	}
}

func TestTokenContext(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := FromContext(r.Context()); ok {
		t.Fatal("claims in a bare context")
	}
	ctx := NewContext(r.Context(), Claims{Tenant: "acme"})
	if c, ok := FromContext(ctx); !ok || c.Tenant != "acme" {
		t.Fatalf("got %+v %v", c, ok)
	}
}
