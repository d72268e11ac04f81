package connectors_test

import (
	"testing"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
)

// TestSendGridWebhookSubscription subscribes email-event and ends the
// subscription against Prism serving SendGrid's own description with
// request validation on: both bodies must be valid Event Webhook
// settings, subscribing must point the webhook at the subscription's URL
// with every event on, and unsubscribing must turn it off.
func TestSendGridWebhookSubscription(t *testing.T) {
	const path = "/user/webhooks/event/settings"
	res := runLifecycle(t, lifecycleRun{
		// The whole description: it holds control characters that the
		// subsetting's YAML reader refuses.
		API:               "sendgrid/oai.json",
		Event:             "email-event",
		SubscribeRequests: 2,
		Connection: store.Connection{Connector: "sendgrid",
			Credentials: map[string]any{"apiKey": "SG.prism-test-key"}},
	})
	// patched checks that x is a PATCH of p answered 200, and gives its body.
	patched := func(step string, x *httpx.Attempt, p string) map[string]any {
		t.Helper()
		if x.Method != "PATCH" || x.URL != res.ServerURL+p || x.Response.Status != 200 {
			t.Fatalf("%s sent %s %s → %d, want PATCH %s → 200: %s", step, x.Method, x.URL, x.Response.Status, p, x.Response.Body)
		}
		return decodeJSON(t, x.RequestBody)
	}
	events := []string{"processed", "dropped", "deferred", "delivered", "bounce", "open", "click", "spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe"}

	body := patched("subscribe", res.Subscribes[0], path)
	if signed := patched("subscribe", res.Subscribes[1], path+"/signed"); signed["enabled"] != true {
		t.Errorf("enabling signing sent %v, want enabled true", signed)
	}
	if body["url"] != res.WebhookURL || body["enabled"] != true {
		t.Errorf("subscribe body %v, want enabled with url %s", body, res.WebhookURL)
	}
	for _, e := range events {
		if body[e] != true {
			t.Errorf("subscribe leaves %s off: %v", e, body)
		}
	}
	// What the description's example answers as the URL is kept for
	// unsubscribing, which must name it.
	kept, _ := res.Kept["url"].(string)
	if kept == "" {
		t.Fatalf("kept %v, want the webhook's url", res.Kept)
	}
	// The public key enabling signing answered, which pushes are checked with.
	if k, _ := res.Kept["publicKey"].(string); k == "" {
		t.Errorf("kept %v, want the signing public key", res.Kept)
	}

	body = patched("unsubscribe", res.Unsubscribe, path)
	if body["enabled"] != false || body["url"] != kept {
		t.Errorf("unsubscribe body %v, want disabled with url %s", body, kept)
	}
	for _, e := range events {
		if body[e] != false {
			t.Errorf("unsubscribe leaves %s on: %v", e, body)
		}
	}
}
