package web

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := NewToken()
		if len(tok) != 43 || strings.ContainsAny(tok, "+/=") || seen[tok] {
			t.Fatalf("token %q: want 43 base64url characters, never repeated", tok)
		}
		seen[tok] = true
	}
}

func TestValidCSRF(t *testing.T) {
	want := NewToken()
	for name, c := range map[string]struct {
		form url.Values
		want string
		ok   bool
	}{
		"the session's token": {url.Values{"csrf": {want}}, want, true},
		"no token":            {url.Values{"other": {"x"}}, want, false},
		"an empty token":      {url.Values{"csrf": {""}}, want, false},
		"another token":       {url.Values{"csrf": {NewToken()}}, want, false},
		"the token and more":  {url.Values{"csrf": {want + "x"}}, want, false},
		"a prefix of it":      {url.Values{"csrf": {want[:20]}}, want, false},
		"a session without":   {url.Values{"csrf": {""}}, "", false},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1/page", strings.NewReader(c.form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := ParseForm(httptest.NewRecorder(), r, 1<<10); err != nil {
			t.Fatal(err)
		}
		if got := ValidCSRF(r, c.want); got != c.ok {
			t.Errorf("%s: %v, want %v", name, got, c.ok)
		}
	}
	// A token in the URL's query does not count: only the posted form's.
	r := httptest.NewRequest("POST", "http://127.0.0.1/page?csrf="+want, strings.NewReader(""))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ParseForm(httptest.NewRecorder(), r, 1<<10)
	if ValidCSRF(r, want) {
		t.Error("a token in the query was taken")
	}
}

func TestParseFormBounded(t *testing.T) {
	r := httptest.NewRequest("POST", "http://127.0.0.1/page", strings.NewReader("csrf="+strings.Repeat("a", 2<<10)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := ParseForm(httptest.NewRecorder(), r, 1<<10); err == nil {
		t.Error("a form over the limit was read")
	}
}

func TestSameOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"":                        true, // not sent: the CSRF token decides
		"http://127.0.0.1:8080":   true,
		"https://127.0.0.1:8080":  true, // the host is what is compared
		"https://evil.example":    false,
		"http://127.0.0.1:9":      false,
		"null":                    false,
		"http://127.0.0.1:8080@x": false,
		"::bad":                   false,
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080/page", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := SameOrigin(r); got != want {
			t.Errorf("Origin %q: %v, want %v", origin, got, want)
		}
	}
}
