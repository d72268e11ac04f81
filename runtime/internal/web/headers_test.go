package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestHeaders(t *testing.T) {
	for _, c := range []struct {
		hs       Headers
		referrer string
	}{
		{Headers{}, "no-referrer"},
		{Headers{ReferrerPolicy: "no-referrer"}, "no-referrer"},
		{Headers{CSP: CSP{Scripts: true, Fetch: true}, ReferrerPolicy: "same-origin"}, "same-origin"},
	} {
		h := http.Header{}
		c.hs.Set(h)
		for k, want := range map[string]string{
			"Cache-Control": "no-store", "Referrer-Policy": c.referrer, "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Cross-Origin-Opener-Policy": "same-origin",
			"Cross-Origin-Resource-Policy": "same-origin", "Content-Security-Policy": c.hs.CSP.String(),
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%+v: %s = %q, want %q", c.hs, k, got, want)
			}
		}
	}
}

func TestCSP(t *testing.T) {
	base := []string{"default-src 'none'", "style-src 'self'", "img-src 'self'", "base-uri 'none'", "frame-ancestors 'none'"}
	for _, c := range []struct {
		p         CSP
		has, lack []string
	}{
		{CSP{}, []string{"form-action 'self'"}, []string{"script-src", "connect-src"}},
		{CSP{Scripts: true, Fetch: true}, []string{"script-src 'self'", "connect-src 'self'", "form-action 'self'"}, nil},
		{CSP{FormTargets: []string{"https://app.example", "https://provider.example"}},
			[]string{"form-action 'self' https://app.example https://provider.example;"}, []string{"script-src"}},
	} {
		s := c.p.String()
		for _, d := range append(base, c.has...) {
			if !strings.Contains(s, d) {
				t.Errorf("%+v: %q lacks %q", c.p, s, d)
			}
		}
		for _, d := range append(c.lack, "unsafe", "*") {
			if strings.Contains(s, d) {
				t.Errorf("%+v: %q has %q", c.p, s, d)
			}
		}
	}
}
