package web

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testCookie(c *clock, site http.SameSite) *Cookie {
	return &Cookie{Name: "membrane_test", Path: "/test", SameSite: site, Signer: NewSigner(testKey, "membrane test v1"), Now: c.now}
}

func setCookie(t *testing.T, ck *Cookie, r *http.Request, v Value, exp time.Time) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := ck.Set(rec, r, v, exp); err != nil {
		t.Fatal(err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies %v", cs)
	}
	return cs[0]
}

func withCookie(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "http://127.0.0.1/test", nil)
	r.AddCookie(c)
	return r
}

func TestCookie(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 500_000_000)}
	for _, site := range []http.SameSite{http.SameSiteLaxMode, http.SameSiteStrictMode} {
		ck := testCookie(c, site)
		got := setCookie(t, ck, httptest.NewRequest("GET", "http://127.0.0.1/test", nil), &testValue{Who: "ada"}, c.t.Add(30*time.Minute))
		if got.Name != "membrane_test" || got.Path != "/test" || !got.HttpOnly || got.Secure || got.SameSite != site || got.MaxAge != 1800 {
			t.Errorf("cookie %+v: want HttpOnly, Path=/test, SameSite=%v, Max-Age=1800, not Secure over http", got, site)
		}
		var v testValue
		if err := ck.Read(withCookie(got), &v); err != nil || v.Who != "ada" {
			t.Errorf("read back: %+v %v", v, err)
		}
		// Tampered with: no session.
		bad := *got
		bad.Value = got.Value[:len(got.Value)-2] + "AA"
		if err := ck.Read(withCookie(&bad), &v); !errors.Is(err, ErrInvalid) {
			t.Errorf("a tampered cookie: %v", err)
		}
		// None at all.
		if err := ck.Read(httptest.NewRequest("GET", "http://127.0.0.1/test", nil), &v); !errors.Is(err, ErrInvalid) {
			t.Errorf("no cookie: %v", err)
		}
		// Kept past its expiry (the browser's clock, or a copy of it).
		later := &clock{c.t.Add(31 * time.Minute)}
		expired := testCookie(later, site)
		if err := expired.Read(withCookie(got), &v); !errors.Is(err, ErrExpired) {
			t.Errorf("an expired cookie: %v", err)
		}
		// Cleared with the same attributes, or the browser keeps it.
		rec := httptest.NewRecorder()
		ck.Clear(rec, httptest.NewRequest("GET", "http://127.0.0.1/test", nil))
		cl := rec.Result().Cookies()
		if len(cl) != 1 || cl[0].MaxAge != -1 || cl[0].Value != "" || cl[0].Path != "/test" || cl[0].SameSite != site || !cl[0].HttpOnly {
			t.Errorf("clear: %+v", cl)
		}
	}
}

// Over https, or when the page says it is reached over https, the cookie
// is never sent in clear.
func TestCookieSecure(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	ck := testCookie(c, http.SameSiteLaxMode)
	tlsReq := httptest.NewRequest("GET", "https://connect.example.com/test", nil)
	tlsReq.TLS = &tls.ConnectionState{}
	if got := setCookie(t, ck, tlsReq, &testValue{Who: "ada"}, c.t.Add(time.Hour)); !got.Secure {
		t.Error("over TLS: not Secure")
	}
	ck.Secure = true
	plain := httptest.NewRequest("GET", "http://connect.example.com/test", nil)
	if got := setCookie(t, ck, plain, &testValue{Who: "ada"}, c.t.Add(time.Hour)); !got.Secure {
		t.Error("Secure set, behind a proxy: not Secure")
	}
	rec := httptest.NewRecorder()
	ck.Clear(rec, plain)
	if cl := rec.Result().Cookies(); len(cl) != 1 || !cl[0].Secure {
		t.Errorf("clear: %+v", cl)
	}
}

// The browser keeps the cookie as long as the signature allows, to the
// second, on the page's clock (not the wall clock).
func TestCookieMaxAge(t *testing.T) {
	c := &clock{time.Unix(1_000, 0)} // far from the wall clock
	ck := testCookie(c, http.SameSiteStrictMode)
	r := httptest.NewRequest("GET", "http://127.0.0.1/test", nil)
	if got := setCookie(t, ck, r, &testValue{}, c.t.Add(12*time.Hour)); got.MaxAge != 12*3600 {
		t.Errorf("Max-Age %d, want %d", got.MaxAge, 12*3600)
	}
	if got := setCookie(t, ck, r, &testValue{}, c.t.Add(1500*time.Millisecond)); got.MaxAge != 2 {
		t.Errorf("Max-Age %d, want 2 (rounded up)", got.MaxAge)
	}
	// An expiry already past deletes the cookie rather than keep it.
	rec := httptest.NewRecorder()
	ck.Set(rec, r, &testValue{}, c.t.Add(-time.Second))
	if got := rec.Result().Cookies(); len(got) != 1 || got[0].MaxAge != -1 {
		t.Errorf("past expiry: %+v", got)
	}
}
