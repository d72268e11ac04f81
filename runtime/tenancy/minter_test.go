package tenancy

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenMintRoundTrip(t *testing.T) {
	v := newTestVerifier(t, Keys{HMACSecret: testSecret})
	for name, opts := range map[string][]MinterOption{"HS256": nil, "HS512": {WithHS512()}} {
		t.Run(name, func(t *testing.T) {
			m, err := NewMinter(testWorkspace, testSecret, opts...)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Truncate(time.Second)
			tok, err := m.Mint(Claims{Tenant: "acme", Admin: true, Name: "Ada"}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.Tenant != "acme" || !c.Admin || c.Name != "Ada" {
				t.Fatalf("got %+v", c)
			}
			if c.ExpiresAt.Before(before.Add(time.Hour)) || c.ExpiresAt.After(time.Now().Add(time.Hour)) {
				t.Fatalf("ExpiresAt %v is not an hour from now", c.ExpiresAt)
			}

			parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Method.Alg() != name {
				t.Fatalf("alg %s, want %s", parsed.Method.Alg(), name)
			}
			mc := parsed.Claims.(jwt.MapClaims)
			for _, k := range []string{"iss", "sub", "iat", "exp", "jti", "isAdmin", "name"} {
				if _, ok := mc[k]; !ok {
					t.Errorf("claim %s missing", k)
				}
			}
		})
	}
}

func TestTokenMintUniqueID(t *testing.T) {
	m, err := NewMinter(testWorkspace, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Mint(Claims{Tenant: "acme"}, time.Hour)
	b, _ := m.Mint(Claims{Tenant: "acme"}, time.Hour)
	if a == b {
		t.Fatal("two tokens minted in the same second are identical: jti is not random")
	}
}

func TestTokenMintOmitsFalseAdmin(t *testing.T) {
	m, _ := NewMinter(testWorkspace, testSecret)
	tok, _ := m.Mint(Claims{Tenant: "acme"}, time.Hour)
	parsed, _, _ := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if _, ok := parsed.Claims.(jwt.MapClaims)["isAdmin"]; ok {
		t.Fatal("isAdmin present on a non-admin token")
	}
}

func TestTokenMintRefuses(t *testing.T) {
	if _, err := NewMinter("", testSecret); err == nil {
		t.Error("empty workspace accepted")
	}
	_, err := NewMinter("w", []byte("too-short-secret"))
	if err == nil || strings.Contains(err.Error(), "too-short-secret") {
		t.Errorf("short secret: err = %v (must refuse, without quoting it)", err)
	}
	m, _ := NewMinter(testWorkspace, testSecret)
	if _, err := m.Mint(Claims{Tenant: "a/b"}, time.Hour); err == nil {
		t.Error("invalid tenant key minted")
	}
	if _, err := m.Mint(Claims{}, time.Hour); err == nil {
		t.Error("empty tenant key minted")
	}
	for _, ttl := range []time.Duration{0, -time.Hour, 500 * time.Millisecond} {
		if _, err := m.Mint(Claims{Tenant: "acme"}, ttl); err == nil {
			t.Errorf("ttl %v accepted", ttl)
		}
	}
}

// A token for one workspace must not open another that shares the secret.
func TestTokenMintOtherWorkspace(t *testing.T) {
	m, _ := NewMinter("staging", testSecret)
	tok, _ := m.Mint(Claims{Tenant: "acme"}, time.Hour)
	v := newTestVerifier(t, Keys{HMACSecret: testSecret})
	if _, err := v.Verify(tok); err == nil {
		t.Fatal("a token of workspace staging opened " + testWorkspace)
	}
}

// TestTokenMintRefusesReservedTenant: no token is minted for a key of the
// workspace's own (starting with "_"), so none reaches another tenant's
// view of workspace events.
func TestTokenMintRefusesReservedTenant(t *testing.T) {
	m, err := NewMinter(testWorkspace, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, admin := range []bool{false, true} {
		if _, err := m.Mint(Claims{Tenant: "_workspace", Admin: admin}, time.Hour); err == nil {
			t.Fatalf("a token for _workspace (admin %v) was minted", admin)
		}
	}
}
