package tenancy

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenVerifyValid(t *testing.T) {
	testKeys(t)
	v := newTestVerifier(t, Keys{HMACSecret: testSecret, PublicKeysPEM: append(pemPublic(t, &rsaKey.PublicKey), pemPublic(t, &ecKey.PublicKey)...)})
	claims := goodClaims()
	claims["isAdmin"] = true
	for name, tok := range map[string]string{
		"HS256": sign(t, jwt.SigningMethodHS256, claims, testSecret),
		"HS512": sign(t, jwt.SigningMethodHS512, claims, testSecret),
		"RS256": sign(t, jwt.SigningMethodRS256, claims, rsaKey),
		"ES256": sign(t, jwt.SigningMethodES256, claims, ecKey),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			want := Claims{Tenant: "acme", Admin: true, Name: "Acme Inc.", ExpiresAt: time.Unix(claims["exp"].(int64), 0)}
			if !c.ExpiresAt.Equal(want.ExpiresAt) {
				t.Fatalf("ExpiresAt %v, want %v", c.ExpiresAt, want.ExpiresAt)
			}
			c.ExpiresAt = want.ExpiresAt
			if c != want {
				t.Fatalf("got %+v, want %+v", c, want)
			}
		})
	}
}

func TestTokenVerifyOptionalClaims(t *testing.T) {
	v := newTestVerifier(t, Keys{HMACSecret: testSecret})
	claims := goodClaims()
	delete(claims, "isAdmin")
	delete(claims, "name")
	delete(claims, "iat")
	c, err := v.Verify(hs256(t, claims))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant != "acme" || c.Admin || c.Name != "" {
		t.Fatalf("got %+v", c)
	}
}

// refused is one token that must fail, with the reason it must fail for.
type refused struct {
	name, token, reason string
}

func refusedTokens(t *testing.T) []refused {
	testKeys(t)
	now := time.Now()
	with := func(k string, val any) string {
		c := goodClaims()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return hs256(t, c)
	}
	good := hs256(t, goodClaims())
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	noneToken := sign(t, jwt.SigningMethodNone, goodClaims(), jwt.UnsafeAllowNoneSignatureType)
	return []refused{
		{"empty", "", reasonEmpty},
		{"too long", strings.Repeat("a", maxTokenLen+1), reasonTooLong},
		{"one segment", "garbage", reasonMalformed},
		{"four segments", good + ".x", reasonMalformed},
		{"bad base64 header", "!!!." + parts[1] + "." + parts[2], reasonMalformed},
		{"header not JSON", b64([]byte("nope")) + "." + parts[1] + "." + parts[2], reasonMalformed},
		{"isAdmin not a bool", with("isAdmin", "true"), reasonMalformed},
		{"sub not a string", with("sub", 42), reasonMalformed},
		// The library reads a string of digits as a NumericDate.
		{"exp a string", with("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)), reasonMalformed},
		{"exp a far string", with("exp", "99999999999"), reasonMalformed},
		{"exp a bool", with("exp", true), reasonMalformed},
		{"nbf a string", with("nbf", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)), reasonMalformed},
		{"iat a string", with("iat", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)), reasonMalformed},
		{"alg none", noneToken, reasonAlgorithm},
		{"alg none, no dot", strings.TrimSuffix(noneToken, "."), reasonMalformed},
		{"alg None", b64([]byte(`{"alg":"None","typ":"JWT"}`)) + "." + parts[1] + ".", reasonAlgorithm},
		{"alg missing", b64([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], reasonAlgorithm},
		{"alg unknown", b64([]byte(`{"alg":"XS256"}`)) + "." + parts[1] + "." + parts[2], reasonAlgorithm},
		{"HS384 not configured", sign(t, jwt.SigningMethodHS384, goodClaims(), testSecret), reasonAlgorithm},
		{"RS256 without RSA keys", sign(t, jwt.SigningMethodRS256, goodClaims(), rsaKey), reasonAlgorithm},
		{"ES256 without EC keys", sign(t, jwt.SigningMethodES256, goodClaims(), ecKey), reasonAlgorithm},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, goodClaims(), []byte("another-secret-another-secret-another")), reasonSignature},
		{"payload tampered", parts[0] + "." + b64([]byte(`{"iss":"`+testWorkspace+`","sub":"other","exp":9999999999}`)) + "." + parts[2], reasonSignature},
		{"signature stripped", parts[0] + "." + parts[1] + ".", reasonSignature},
		{"other issuer", with("iss", "other-workspace"), reasonIssuer},
		{"no issuer", with("iss", nil), reasonIssuer},
		{"no exp", with("exp", nil), reasonNoExpiry},
		{"expired", with("exp", now.Add(-time.Minute).Unix()), reasonExpired},
		{"not valid yet", with("nbf", now.Add(time.Minute).Unix()), reasonNotYetValid},
		{"issued in the future", with("iat", now.Add(time.Minute).Unix()), reasonIssuedLater},
		{"no sub", with("sub", nil), reasonNoSubject},
		{"sub with a slash", with("sub", "acme/../other"), reasonBadTenant},
		{"sub starting with a dash", with("sub", "-acme"), reasonBadTenant},
		// Keys starting with "_" are the workspace's own (the store's
		// "_workspace" tenant holds workspace events, endpoint.disabled):
		// no token names one, admin or not.
		{"sub reserved for the workspace", with("sub", "_workspace"), reasonBadTenant},
		{"admin sub reserved for the workspace", hs256(t, func() jwt.MapClaims {
			c := goodClaims()
			c["sub"], c["isAdmin"] = "_workspace", true
			return c
		}()), reasonBadTenant},
		{"sub too long", with("sub", strings.Repeat("a", MaxTenantKeyLen+1)), reasonBadTenant},
	}
}

func TestTokenVerifyRefuses(t *testing.T) {
	v := newTestVerifier(t, Keys{HMACSecret: testSecret})
	for _, tc := range refusedTokens(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			var ue *UnauthorizedError
			if !errors.As(err, &ue) || ue.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", ue.Reason, tc.reason)
			}
			// The message is for logs: it must not carry the token, any
			// part of it, or the secret.
			msg := err.Error()
			if strings.Contains(msg, string(testSecret)) {
				t.Fatalf("error %q holds the secret", msg)
			}
			for _, p := range strings.Split(tc.token, ".") {
				if len(p) >= 4 && strings.Contains(msg, p) {
					t.Fatalf("error %q holds part of the token", msg)
				}
			}
		})
	}
}

// TestTokenKeyConfusion is the classic attack: the verifier trusts an RSA
// public key, which is public, so the attacker signs an HS256 token using
// the PEM text of that key as the HMAC secret. A library that lets the
// token choose the algorithm would then verify it with the same bytes.
func TestTokenKeyConfusion(t *testing.T) {
	testKeys(t)
	pubPEM := pemPublic(t, &rsaKey.PublicKey)
	claims := goodClaims()
	claims["isAdmin"] = true
	forged := []string{
		sign(t, jwt.SigningMethodHS256, claims, pubPEM),
		sign(t, jwt.SigningMethodHS512, claims, pubPEM),
		// Some libraries hash the DER form; try it too.
		sign(t, jwt.SigningMethodHS256, claims, rsaKey.PublicKey.N.Bytes()),
	}

	rsaOnly := newTestVerifier(t, Keys{PublicKeysPEM: pubPEM})
	for i, tok := range forged {
		_, err := rsaOnly.Verify(tok)
		var ue *UnauthorizedError
		if !errors.As(err, &ue) || ue.Reason != reasonAlgorithm {
			t.Fatalf("forged token %d against an RS256 verifier: err = %v, want %q", i, err, reasonAlgorithm)
		}
	}
	// With a real HMAC secret configured too, HS256 is allowed, but its key
	// is the secret, never the public key: the signature fails.
	both := newTestVerifier(t, Keys{HMACSecret: testSecret, PublicKeysPEM: pubPEM})
	for i, tok := range forged {
		_, err := both.Verify(tok)
		var ue *UnauthorizedError
		if !errors.As(err, &ue) || ue.Reason != reasonSignature {
			t.Fatalf("forged token %d against an HS+RS verifier: err = %v, want %q", i, err, reasonSignature)
		}
	}
	// And the genuine RS256 token still passes.
	if _, err := rsaOnly.Verify(sign(t, jwt.SigningMethodRS256, claims, rsaKey)); err != nil {
		t.Fatal(err)
	}
}

func TestTokenLeeway(t *testing.T) {
	now := time.Now()
	expired := goodClaims()
	expired["exp"] = now.Add(-10 * time.Second).Unix()
	early := goodClaims()
	early["nbf"] = now.Add(10 * time.Second).Unix()
	early["iat"] = now.Add(10 * time.Second).Unix()

	lenient := newTestVerifier(t, Keys{HMACSecret: testSecret})
	strict := newTestVerifier(t, Keys{HMACSecret: testSecret}, WithLeeway(0))
	for _, c := range []jwt.MapClaims{expired, early} {
		tok := hs256(t, c)
		if _, err := lenient.Verify(tok); err != nil {
			t.Errorf("within the default leeway: %v", err)
		}
		if _, err := strict.Verify(tok); err == nil {
			t.Errorf("no leeway: accepted")
		}
	}
}

func TestTokenClock(t *testing.T) {
	tok := hs256(t, goodClaims())
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	v := newTestVerifier(t, Keys{HMACSecret: testSecret}, WithClock(later))
	_, err := v.Verify(tok)
	var ue *UnauthorizedError
	if !errors.As(err, &ue) || ue.Reason != reasonExpired {
		t.Fatalf("err = %v, want expired", err)
	}
}

func TestTokenKeyRotation(t *testing.T) {
	testKeys(t)
	bundle := append(pemPublic(t, &rsaKey.PublicKey), pemPublic(t, &rsaKey2.PublicKey)...)
	v := newTestVerifier(t, Keys{PublicKeysPEM: bundle})
	for i, k := range []any{rsaKey, rsaKey2} {
		if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, goodClaims(), k)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	only1 := newTestVerifier(t, Keys{PublicKeysPEM: pemPublic(t, &rsaKey.PublicKey)})
	if _, err := only1.Verify(sign(t, jwt.SigningMethodRS256, goodClaims(), rsaKey2)); err == nil {
		t.Fatal("a token of an unconfigured key was accepted")
	}
}

func TestTokenVerifierConfig(t *testing.T) {
	testKeys(t)
	if _, err := NewVerifier("", Keys{HMACSecret: testSecret}); err == nil {
		t.Error("empty workspace accepted")
	}
	if _, err := NewVerifier("w", Keys{}); err == nil {
		t.Error("no keys accepted")
	}
	_, err := NewVerifier("w", Keys{HMACSecret: []byte("short-secret")})
	if err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Errorf("short secret: err = %v (must refuse, without quoting it)", err)
	}
	if _, err := NewVerifier("w", Keys{HMACSecret: testSecret, PublicKeysPEM: []byte("no pem here")}); err != nil {
		t.Errorf("text without PEM blocks: %v", err)
	}
}

// A token that verified once is remembered, but its expiry is still
// checked at every call; a token one character off is checked in full.
func TestTokenRememberedUntilExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v := newTestVerifier(t, Keys{HMACSecret: testSecret}, WithClock(clock), WithLeeway(0))
	tok := hs256(t, goodClaims())
	for range 2 {
		if c, err := v.Verify(tok); err != nil || c.Tenant != "acme" {
			t.Fatalf("verify: %+v %v", c, err)
		}
	}
	if _, ok := v.verified.get(tok); !ok {
		t.Fatal("a verified token was not remembered")
	}
	forged := tok[:len(tok)-2] + "AA"
	if forged == tok {
		forged = tok[:len(tok)-2] + "BB"
	}
	if _, err := v.Verify(forged); err == nil {
		t.Fatal("a token with another signature was accepted")
	}

	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	_, err := v.Verify(tok)
	var ue *UnauthorizedError
	if !errors.As(err, &ue) || ue.Reason != reasonExpired {
		t.Fatalf("a remembered token past its expiry: %v", err)
	}
	if _, ok := v.verified.get(tok); ok {
		t.Fatal("an expired token stayed remembered")
	}
}
