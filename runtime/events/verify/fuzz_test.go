package verify_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/spec/compile"
)

// FuzzVerify: whatever headers and body arrive, every vendor's check
// answers with nil or a *verify.Error (never a panic, never another
// error), and accepts nothing unsigned: the fuzzer does not know the
// secret, so an acceptance would be a forged signature getting through.
func FuzzVerify(f *testing.F) {
	sigs := checks(f)
	keys := make([]string, 0, len(sigs))
	for k := range sigs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	f.Add(uint8(0), "sha256=00", "", "", "", "{}")
	f.Add(uint8(1), "t=1,v1=zz,v1=", "t=1", "1", "POST", `{"id":1}`)
	f.Add(uint8(2), "v1,AAAA v1,", "msg_1", "999999999999999999999", "GET", "a=b&c")
	f.Add(uint8(3), "v0=", "", "-1", "", "[")
	f.Add(uint8(4), "====", "", "1e308", "POST", "Body=%zz")
	f.Add(uint8(5), "\x00\xff", "\n", "NaN", "PUT", "\xff")
	now := time.Unix(1_800_000_000, 0)
	vars := map[string]any{compile.VarSubscription: map[string]any{"secret": "whsec_c2VjcmV0LWtleS1ieXRlcw=="}}
	f.Fuzz(func(t *testing.T, which uint8, sigValue, other, ts, method, body string) {
		sig := sigs[keys[int(which)%len(keys)]]
		r := httptest.NewRequest("POST", "/h?x=1", strings.NewReader(body))
		if method != "" && !strings.ContainsAny(method, " \t\r\n\x00") {
			r.Method = method
		}
		for _, h := range []string{sig.Src.Header, "Stripe-Signature", "webhook-signature"} {
			r.Header[h] = []string{sigValue}
		}
		for _, h := range []string{"webhook-id", "X-Slack-Request-Timestamp", "X-HubSpot-Request-Timestamp", "webhook-timestamp"} {
			r.Header[h] = []string{ts}
		}
		r.Header["Content-Type"] = []string{other}
		req := verify.NewRequest(r, []byte(body), "https://hooks.example.test")
		err := verify.Verify(context.Background(), sig, req, vars, now)
		var ve *verify.Error
		if err == nil {
			t.Fatalf("%s accepted an unsigned request: %q %q %q", sig.Src.Header, sigValue, ts, body)
		}
		if !errors.As(err, &ve) {
			t.Fatalf("%s: %T %v is not a *verify.Error", sig.Src.Header, err, err)
		}
	})
}
