package web

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

type testValue struct {
	Who string `json:"who"`
	Expiry
	N int `json:"n,omitempty"`
}

var testKey = []byte(strings.Repeat("k", 32))

func TestSignerRoundTrip(t *testing.T) {
	s := NewSigner(testKey, "membrane test v1")
	now := time.Unix(1_700_000_000, 0)
	tok, err := s.Sign(&testValue{Who: "ada", N: 3}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got testValue
	if err := s.Open(tok, now, &got); err != nil || got.Who != "ada" || got.N != 3 || !got.ExpiresAt().Equal(now.Add(time.Minute)) {
		t.Fatalf("Open: %+v %v", got, err)
	}
	// The expiry sits beside the value's own fields.
	payload, _, _ := strings.Cut(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	if !strings.Contains(string(raw), `"exp":1700000060`) || !strings.Contains(string(raw), `"who":"ada"`) {
		t.Errorf("payload %s", raw)
	}
}

func TestSignerRefuses(t *testing.T) {
	s := NewSigner(testKey, "membrane test v1")
	now := time.Unix(1_700_000_000, 0)
	tok, _ := s.Sign(&testValue{Who: "ada"}, now.Add(time.Minute))
	payload, sig, _ := strings.Cut(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	altered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "ada", "eve", 1)))
	// A value whose MAC holds but which is not JSON.
	notJSON := base64.RawURLEncoding.EncodeToString([]byte("not json"))
	notJSON += "." + base64.RawURLEncoding.EncodeToString(s.mac(notJSON))
	otherPurpose, _ := NewSigner(testKey, "membrane other v1").Sign(&testValue{Who: "ada"}, now.Add(time.Minute))
	otherKey, _ := NewSigner([]byte(strings.Repeat("x", 32)), "membrane test v1").Sign(&testValue{Who: "ada"}, now.Add(time.Minute))
	for name, v := range map[string]string{
		"empty":                    "",
		"no signature":             payload,
		"an altered payload":       altered + "." + sig,
		"a payload cut short":      payload[:len(payload)-2] + "AA." + sig,
		"a forged signature":       payload + "." + strings.Repeat("A", len(sig)),
		"a signature not base64":   payload + ".!!",
		"a payload not base64":     "!!." + sig,
		"a signed non-JSON value":  notJSON,
		"another purpose's value":  otherPurpose,
		"another key's value":      otherKey,
		"a value over the maximum": strings.Repeat("A", MaxSigned) + "." + sig,
	} {
		got := testValue{Who: "unchanged"}
		if err := s.Open(v, now, &got); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if name != "a signed non-JSON value" && got.Who != "unchanged" {
			t.Errorf("%s: the value was filled: %+v", name, got)
		}
	}
}

// An expired value is refused, but comes back filled: the connect page
// still sends the user back to the app it names.
func TestSignerExpiry(t *testing.T) {
	s := NewSigner(testKey, "membrane test v1")
	now := time.Unix(1_700_000_000, 0)
	tok, _ := s.Sign(&testValue{Who: "ada"}, now.Add(time.Minute))
	var got testValue
	if err := s.Open(tok, now.Add(time.Minute-time.Second), &got); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	for _, at := range []time.Time{now.Add(time.Minute), now.Add(time.Hour)} {
		got = testValue{}
		if err := s.Open(tok, at, &got); !errors.Is(err, ErrExpired) || got.Who != "ada" {
			t.Errorf("at %v: %v %+v, want ErrExpired with the value", at.Sub(now), err, got)
		}
	}
}
