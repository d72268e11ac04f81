package connectors_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/membrane-dev/membrane/runtime/store"
)

// TestPagerDutyWebhookSubscription subscribes incident-changed and ends
// the subscription against Prism serving PagerDuty's own description with
// request validation on: the subscribe body must be a valid
// WebhookSubscription, and what is kept must be the answer's id and
// secret. The Prism case files run actions only; this runs the event's
// lifecycle.
func TestPagerDutyWebhookSubscription(t *testing.T) {
	res := runLifecycle(t, lifecycleRun{
		API:   "pagerduty/rest.json",
		Paths: []string{"/webhook_subscriptions"},
		Event: "incident-changed",
		// Accept as testdata/prism/pagerduty.yaml explains: the
		// description answers application/json only.
		Headers: "{Accept: application/json}",
		Connection: store.Connection{Connector: "pagerduty",
			Credentials: map[string]any{"apiKey": "y_NbAkKc66ryYTWUXYEu"}, Parameters: map[string]any{"fromEmail": "oncall@example.com"}},
	})
	x := res.Subscribe
	if x.Method != "POST" || x.URL != res.ServerURL+"/webhook_subscriptions" || x.Response.Status != 200 {
		t.Fatalf("subscribe sent %s %s → %d, want POST /webhook_subscriptions → 200: %s", x.Method, x.URL, x.Response.Status, x.Response.Body)
	}
	var body struct {
		WebhookSubscription struct {
			Type           string
			DeliveryMethod struct{ Type, URL string } `json:"delivery_method"`
			Events         []string
			Filter         struct{ Type string }
		} `json:"webhook_subscription"`
	}
	if err := json.Unmarshal(x.RequestBody, &body); err != nil {
		t.Fatalf("subscribe body %s: %v", x.RequestBody, err)
	}
	got := body.WebhookSubscription
	if got.DeliveryMethod.URL != res.WebhookURL || got.DeliveryMethod.Type != "http_delivery_method" {
		t.Errorf("delivery_method %+v, want http_delivery_method to %s", got.DeliveryMethod, res.WebhookURL)
	}
	if got.Filter.Type != "account_reference" {
		t.Errorf("filter %+v, want the account", got.Filter)
	}
	for _, e := range []string{"incident.triggered", "incident.acknowledged", "incident.resolved", "incident.reassigned", "incident.escalated"} {
		if !slices.Contains(got.Events, e) {
			t.Errorf("events %v lack %s", got.Events, e)
		}
	}
	// The description's example answer: PY1OL64, its secret null as on
	// any answer but the creation's.
	if res.Kept["id"] != "PY1OL64" {
		t.Errorf("kept %v, want the subscription id PY1OL64", res.Kept)
	}
	if v, ok := res.Kept["secret"]; !ok || v != nil {
		t.Errorf("kept secret %v (present %v), want the answer's null", v, ok)
	}
	if u := res.Unsubscribe; u.Method != "DELETE" || u.URL != res.ServerURL+"/webhook_subscriptions/PY1OL64" || u.Response.Status != 204 {
		t.Errorf("unsubscribe sent %s %s → %d, want DELETE /webhook_subscriptions/PY1OL64 → 204: %s", u.Method, u.URL, u.Response.Status, u.Response.Body)
	}
}
