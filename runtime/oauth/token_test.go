package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

// These tests need no server.

func TestReadToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	json := http.Header{"Content-Type": {"application/json"}}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, c := range []struct {
		name    string
		status  int
		header  http.Header
		body    string
		problem string // malformed
		code    string // provider error
		expiry  time.Duration
	}{
		{name: "full", status: 200, header: json, body: `{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt","scope":"a b"}`, expiry: time.Hour},
		{name: "expires_in string", status: 200, header: json, body: `{"access_token":"at","expires_in":"120"}`, expiry: 2 * time.Minute},
		{name: "no expires_in", status: 200, header: json, body: `{"access_token":"at"}`},
		{name: "expires_in null", status: 200, header: json, body: `{"access_token":"at","expires_in":null}`},
		{name: "expires_in 0", status: 200, header: json, body: `{"access_token":"at","expires_in":0}`},
		{name: "form", status: 200, header: form, body: `access_token=at&token_type=bearer&scope=repo`},
		{name: "html", status: 200, header: http.Header{"Content-Type": {"text/html"}}, body: `<html>down</html>`, problem: "not JSON"},
		{name: "empty", status: 200, header: json, body: ``, problem: "empty"},
		{name: "array", status: 200, header: json, body: `[1]`, problem: "not a JSON object"},
		{name: "no access_token", status: 200, header: json, body: `{"token_type":"bearer"}`, problem: "no access_token"},
		{name: "expires_in NaN", status: 200, header: json, body: `{"access_token":"at","expires_in":"NaN"}`, problem: "expires_in"},
		{name: "expires_in object", status: 200, header: json, body: `{"access_token":"at","expires_in":{}}`, problem: "expires_in"},
		{name: "error 400", status: 400, header: json, body: `{"error":"invalid_grant","error_description":"expired"}`, code: "invalid_grant"},
		{name: "error 200 (GitHub)", status: 200, header: form, body: `error=bad_verification_code&error_description=gone`, code: "bad_verification_code"},
		{name: "error html", status: 502, header: http.Header{"Content-Type": {"text/html"}}, body: `<html>bad gateway</html>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, te, problem := readToken(&httpx.Response{Status: c.status, Header: c.header, Body: []byte(c.body)}, now)
			switch {
			case c.problem != "":
				if !strings.Contains(problem, c.problem) || tok != nil || te != nil {
					t.Fatalf("got %v %v %q, want problem %q", tok, te, problem, c.problem)
				}
			case c.status >= 300 || c.code != "":
				if te == nil || te.Code != c.code || te.Status != c.status || tok != nil {
					t.Fatalf("got %v %v %q, want error %q", tok, te, problem, c.code)
				}
			default:
				if tok == nil || problem != "" || te != nil || tok.AccessToken != "at" {
					t.Fatalf("got %v %v %q", tok, te, problem)
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

// RFC 7636 appendix B.
func TestPKCEChallenge(t *testing.T) {
	if got := pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("challenge = %s", got)
	}
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
