package httpx

import (
	"testing"

	"github.com/membrane-dev/membrane/spec/errtype"
)

// TestKindErrorType: each transport failure maps to the error type a run
// reports, and only to a listed one.
func TestKindErrorType(t *testing.T) {
	for k, want := range map[Kind]errtype.ErrorType{
		KindNetwork:     errtype.Network,
		KindTimeout:     errtype.Timeout,
		KindTooLarge:    errtype.Upstream,
		KindRefused:     errtype.Refused,
		KindRedirect:    errtype.Network,
		KindRateLimited: errtype.RateLimited,
		KindCanceled:    errtype.Canceled,
		KindInvalid:     errtype.InvalidInput,
		KindStatus:      errtype.Network,
		"":              errtype.Network,
	} {
		got := k.ErrorType()
		if got != want {
			t.Errorf("%q: %q, want %q", k, got, want)
		}
		if !got.Known() {
			t.Errorf("%q maps to %q, which spec/errtype does not list", k, got)
		}
	}
}
