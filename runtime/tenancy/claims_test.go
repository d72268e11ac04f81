package tenancy

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// tenantKeyRE is the specification ValidTenantKey implements by hand.
var tenantKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$`)

func TestTokenTenantKey(t *testing.T) {
	for _, s := range []string{"acme", "A", "0", "acme-corp", "user@example.com", "org:42", "a.b_c", strings.Repeat("x", 128)} {
		if !ValidTenantKey(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "-acme", ".hidden", "_x", "a b", "a/b", "a%2f", "é", "a\n", strings.Repeat("x", 129)} {
		if ValidTenantKey(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestTokenTenantKeyMatchesRegexp checks the hand-written loop against the
// regexp on random strings drawn from an alphabet around the edges.
func TestTokenTenantKeyMatchesRegexp(t *testing.T) {
	const alphabet = "aZ09_.:@-/ \x00\xff+"
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		n := r.IntN(132)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		if got, want := ValidTenantKey(s), tenantKeyRE.MatchString(s); got != want {
			t.Fatalf("ValidTenantKey(%q) = %v, regexp says %v", s, got, want)
		}
	}
}
