package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// A token response over the size limit is the upstream's fault, typed as
// the engine types an oversized answer (httpx.Kind.ErrorType), not a
// network failure.
func TestTokenResponseTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"` + strings.Repeat("a", 4096) + `"}`))
	}))
	t.Cleanup(srv.Close)
	m, _ := New(Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true, MaxResponseBytes: 256}), Tokens: NewMemStore()})
	p := &Provider{Connector: "mock", Auth: compileAuth(t, srv.URL, ccAuth), ClientID: "id", ClientSecret: "secret"}
	_, err := tryAuthorize(m.NewAuthenticator(p, &engine.Connection{ID: "x"}))
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Type != engine.ErrUpstream {
		t.Fatalf("err = %v, want an upstream error", err)
	}
	if !strings.Contains(ee.Message, "token endpoint's answer is too large") || strings.Contains(ee.Message, "could not be reached") {
		t.Errorf("the message does not say the token endpoint's answer was too large: %s", ee.Message)
	}
}
