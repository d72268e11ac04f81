package verify_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/spec/compile"
)

// BenchmarkVerify is the cost of checking one webhook on the ingress path:
// NewRequest from an http.Request and its body, then Verify, for GitHub's
// scheme (one header, the raw body) and Stripe's (a compound header, a
// signed timestamp), with a 1 KiB body.
func BenchmarkVerify(b *testing.B) {
	sigs := checks(b)
	body := []byte(`{"id":"evt_1","data":"` + strings.Repeat("x", 1000) + `"}`)
	now := time.Now()
	secret := "whsec_bench_secret"
	vars := map[string]any{compile.VarSubscription: map[string]any{"secret": secret}}
	stripeSig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now}).Header
	for _, c := range []struct {
		name, header, value string
	}{
		{"github", "X-Hub-Signature-256", "sha256=" + hexMAC(secret, string(body))},
		{"stripe", "Stripe-Signature", stripeSig},
	} {
		b.Run(c.name, func(b *testing.B) {
			sig := sigs[c.name]
			r := httptest.NewRequest("POST", "/webhooks/"+c.name+"?n="+strconv.Itoa(1), nil)
			r.Header.Set(c.header, c.value)
			r.Header.Set("Content-Type", "application/json")
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := verify.NewRequest(r, body, "https://hooks.example.test")
				if err := verify.Verify(context.Background(), sig, req, vars, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
