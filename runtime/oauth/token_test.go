package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// Token responses as providers send them, read through the refresh grant
// from a loopback server that answers each case's own path.
func TestTokenResponses(t *testing.T) {
	t.Parallel()
	const (
		json = "application/json"
		form = "application/x-www-form-urlencoded"
	)
	cases := []struct {
		name    string
		status  int
		ctype   string
		body    string
		problem string // malformed: ErrMalformedResponse, saying this
		code    string // provider error
		expiry  time.Duration
		scope   string
	}{
		{name: "full", status: 200, ctype: json, body: `{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt","scope":"a b"}`, expiry: time.Hour, scope: "a b"},
		{name: "expires_in string", status: 200, ctype: json, body: `{"access_token":"at","expires_in":"120"}`, expiry: 2 * time.Minute},
		{name: "no expires_in", status: 200, ctype: json, body: `{"access_token":"at"}`},
		{name: "expires_in null", status: 200, ctype: json, body: `{"access_token":"at","expires_in":null}`},
		{name: "expires_in 0", status: 200, ctype: json, body: `{"access_token":"at","expires_in":0}`},
		{name: "scope list", status: 200, ctype: json, body: `{"access_token":"at","scope":["a","b"]}`, scope: "a b"},
		{name: "form", status: 200, ctype: form, body: `access_token=at&token_type=bearer&scope=repo&expires_in=60`, expiry: time.Minute, scope: "repo"},
		{name: "html", status: 200, ctype: "text/html", body: `<html>down</html>`, problem: "not a JSON object or form"},
		{name: "empty", status: 200, ctype: json, body: ``, problem: "not a JSON object or form"},
		{name: "array", status: 200, ctype: json, body: `[1]`, problem: "not a JSON object or form"},
		{name: "no access_token", status: 200, ctype: json, body: `{"token_type":"bearer"}`, problem: "no access_token"},
		{name: "expires_in NaN", status: 200, ctype: json, body: `{"access_token":"at","expires_in":"NaN"}`, problem: "wrong type"},
		{name: "expires_in object", status: 200, ctype: json, body: `{"access_token":"at","expires_in":{}}`, problem: "wrong type"},
		{name: "form expires_in word", status: 200, ctype: form, body: `access_token=at&expires_in=soon`, problem: "expires_in is not a number"},
		{name: "error 400", status: 400, ctype: json, body: `{"error":"invalid_request","error_description":"expired"}`, code: "invalid_request"},
		{name: "error 200 (GitHub)", status: 200, ctype: form, body: `error=bad_verification_code&error_description=gone`, code: "bad_verification_code"},
		{name: "error html", status: 502, ctype: "text/html", body: `<html>bad gateway</html>`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/case"))
		if err != nil || r.Method != http.MethodPost || r.FormValue("refresh_token") != "old-rt" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		c := cases[i]
		w.Header().Set("Content-Type", c.ctype)
		w.WriteHeader(c.status)
		io.WriteString(w, c.body)
	}))
	t.Cleanup(srv.Close)
	now := time.Unix(1_700_000_000, 0)
	store := NewMemStore()
	m, err := New(Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true}), Tokens: store, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Connector: "mock", Auth: compileAuth(t, srv.URL, codeAuth), ClientID: testkit.OAuthClientID, ClientSecret: testkit.OAuthClientSecret}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := "c" + strconv.Itoa(i)
			store.SaveToken(context.Background(), id, &Token{AccessToken: "old-at", RefreshToken: "old-rt", Expiry: now.Add(-time.Second)})
			_, err := tryAuthorize(m.NewAuthenticator(p, &engine.Connection{ID: id, Parameters: map[string]any{"tokenPath": "case" + strconv.Itoa(i)}}))
			var te *TokenError
			switch {
			case c.problem != "":
				if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), c.problem) {
					t.Fatalf("err = %v, want a malformed response: %s", err, c.problem)
				}
			case c.status >= 300 || c.code != "":
				if !errors.As(err, &te) || te.Code != c.code || te.Status != c.status {
					t.Fatalf("err = %v, want the provider's error %d %q", err, c.status, c.code)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				tok := stored(t, store, id)
				refresh := "old-rt" // kept when none comes back (RFC 6749 §6)
				if strings.Contains(c.body, "refresh_token") {
					refresh = "rt"
				}
				if tok.AccessToken != "at" || tok.RefreshToken != refresh || tok.Scope != c.scope || !tok.IssuedAt.Equal(now) {
					t.Fatalf("token %v, scope %q, issued %v", tok, tok.Scope, tok.IssuedAt)
				}
				if want := now.Add(c.expiry); c.expiry != 0 && !tok.Expiry.Equal(want) || c.expiry == 0 && !tok.Expiry.IsZero() {
					t.Fatalf("expiry = %v, want +%v", tok.Expiry, c.expiry)
				}
			}
		})
	}
}

func TestRefreshMargin(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		life, want time.Duration // lifetime; refreshed this long before expiry
	}{
		{time.Hour, time.Minute},            // capped at 60 s
		{5 * time.Minute, 30 * time.Second}, // 10%
		{5 * time.Second, 500 * time.Millisecond},
	} {
		tok := &Token{IssuedAt: now, Expiry: now.Add(c.life)}
		if got := tok.Expiry.Sub(tok.dueAt(DefaultRefreshMargin)); got != c.want {
			t.Errorf("lifetime %v: margin %v, want %v", c.life, got, c.want)
		}
	}
	if (&Token{}).due(now, time.Minute) {
		t.Error("a token without expiry is due")
	}
	if !(&Token{Expiry: now.Add(30 * time.Second)}).due(now, time.Minute) {
		t.Error("without IssuedAt the whole margin applies")
	}
}

// The challenge sent is the S256 of the verifier kept for the exchange
// (RFC 7636 §4.2), which is 43 characters of base64url (§4.1).
func TestPKCEChallenge(t *testing.T) {
	t.Parallel()
	testkit.EachOAuthPeer(t, func(t *testing.T, p testkit.OAuthPeer) {
		e := newEnv(t, p, codeAuth)
		rs := &recordStates{MemStore: e.store}
		m := e.manager(t, e.store)
		m.o.States = rs
		u, err := url.Parse(begin(t, m, "acme"))
		if err != nil {
			t.Fatal(err)
		}
		var pend pending
		if len(rs.saved) != 1 || json.Unmarshal(rs.saved[0], &pend) != nil {
			t.Fatalf("saved %d states", len(rs.saved))
		}
		sum := sha256.Sum256([]byte(pend.Verifier))
		if len(pend.Verifier) != 43 || u.Query().Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Fatalf("verifier %d characters, challenge %q", len(pend.Verifier), u.Query().Get("code_challenge"))
		}
		if m := u.Query().Get("code_challenge_method"); m != "S256" {
			t.Fatalf("method %q", m)
		}
	})
}

// recordStates keeps what is saved.
type recordStates struct {
	*MemStore
	saved [][]byte
}

func (s *recordStates) SaveState(ctx context.Context, state string, data []byte, exp time.Time) error {
	s.saved = append(s.saved, data)
	return s.MemStore.SaveState(ctx, state, data, exp)
}

func TestMemStoreLock(t *testing.T) {
	s := NewMemStore()
	ctx := context.Background()
	held := make(chan struct{})
	release := make(chan struct{})
	go s.WithLock(ctx, "c", func(context.Context) error {
		close(held)
		<-release
		return nil
	})
	<-held
	// Another connection is not blocked.
	if err := s.WithLock(ctx, "other", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The same one is, until the waiter gives up.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.WithLock(short, "c", func(context.Context) error { return errors.New("ran") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	close(release)
	if err := s.WithLock(ctx, "c", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestMemStoreState(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewMemStore()
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	s.SaveState(ctx, "a", []byte("x"), now.Add(time.Minute))
	s.SaveState(ctx, "b", []byte("y"), now.Add(-time.Second))
	if d, err := s.TakeState(ctx, "a"); err != nil || string(d) != "x" {
		t.Fatalf("take = %q %v", d, err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.TakeState(ctx, k); !errors.Is(err, ErrStateNotFound) {
			t.Errorf("take %s: %v, want ErrStateNotFound", k, err)
		}
	}
}
