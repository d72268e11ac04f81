package httpx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestExcerpt(t *testing.T) {
	for _, b := range [][]byte{
		[]byte(strings.Repeat("é", 600)), // 2-byte runes, cut must not split one
		[]byte(strings.Repeat("a\xff", 600)),
		[]byte(strings.Repeat("x", 511) + "€"),
		[]byte("short"),
	} {
		s := Excerpt(b)
		if len(s) > 512 || !utf8.ValidString(s) {
			t.Errorf("excerpt of %d bytes: %d bytes, valid %v", len(b), len(s), utf8.ValidString(s))
		}
		if len(b) >= 512 && len(s) < 500 {
			t.Errorf("excerpt needlessly short: %d", len(s))
		}
	}
	if Excerpt([]byte("short")) != "short" {
		t.Error("short body changed")
	}
}

func TestErrorIsAs(t *testing.T) {
	var err error = &Error{Kind: KindTimeout, Method: "GET", Origin: "https://api.example.com", Attempts: 3, err: context.DeadlineExceeded}
	if !errors.Is(err, &Error{Kind: KindTimeout}) || errors.Is(err, &Error{Kind: KindNetwork}) {
		t.Fatal("Is by kind")
	}
	if !errors.Is(err, context.DeadlineExceeded) || KindOf(err) != KindTimeout || KindOf(errors.New("x")) != "" {
		t.Fatal("Unwrap / KindOf")
	}
	wrapped := errors.Join(errors.New("step create-contact"), err)
	if KindOf(wrapped) != KindTimeout {
		t.Fatal("KindOf through a wrapper")
	}
	if got := err.Error(); got != "httpx: timeout: GET https://api.example.com (after 3 attempts)" {
		t.Fatalf("message %q", got)
	}
	se := StatusError(&Response{Status: 503, Body: []byte(`{"error":"down"}`), Attempts: 2})
	if se.Kind != KindStatus || !se.Retryable || se.BodyExcerpt != `{"error":"down"}` {
		t.Fatalf("%+v", se)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v  string
		d  time.Duration
		ok bool
	}{
		{"0", 0, true},
		{" 120 ", 2 * time.Minute, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"99999999999999999", 24 * time.Hour, true}, // capped, no overflow
		{"Fri, 02 Jan 2026 03:04:15 GMT", 10 * time.Second, true},
		{"Friday, 02-Jan-26 03:04:15 GMT", 10 * time.Second, true}, // RFC 850
		{"Fri, 02 Jan 2026 03:00:00 GMT", 0, true},
	} {
		d, ok := ParseRetryAfter(tc.v, now)
		if d != tc.d || ok != tc.ok {
			t.Errorf("%q: %v %v, want %v %v", tc.v, d, ok, tc.d, tc.ok)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	top := func(n int64) int64 { return n - 1 }
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 100: time.Second} {
		if got := p.backoff(n, top); got != want {
			t.Errorf("retry %d: %v, want %v", n, got, want)
		}
	}
	if got := p.backoff(3, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("bottom of range %v", got)
	}
}
