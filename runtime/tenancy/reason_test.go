package tenancy_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// RefusalReason gives the fixed phrase of a refused token, wrapped or
// not, and a generic one for any other error, never its text.
func TestRefusalReason(t *testing.T) {
	secret := []byte("a-workspace-secret-of-at-least-32-bytes!!")
	v, err := tenancy.NewVerifier("ws", tenancy.Keys{HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	other, err := tenancy.NewMinter("ws", []byte("another-secret-of-at-least-32-bytes!!!!!"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Mint(tenancy.Claims{Tenant: "acme"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, verr := v.Verify(forged)
	if verr == nil {
		t.Fatal("a token signed with another secret was accepted")
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{verr, "bad signature"},
		{fmt.Errorf("wrapped: %w", verr), "bad signature"},
		{errors.New("secret-bearing text"), "invalid token"},
	} {
		if got := tenancy.RefusalReason(c.err); got != c.want {
			t.Errorf("%v: %q, want %q", c.err, got, c.want)
		}
	}
}
