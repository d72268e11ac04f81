package connectors_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/membrane-dev/membrane/runtime/store"
)

// mandrillWebhookDescription writes the webhooks/add and webhooks/delete
// of file, Mailchimp Transactional's description, with its three
// contradictions of the API mended, and nothing else changed: `events`
// items are typed object while their enum is of strings, the enum lacks
// deferral and delivered (message events Mandrill documents and
// accepts), and the answers' example dates ("2025-04-29 12:00:00", the
// API's own format) break their date-time format, which Prism would
// answer with a 500.
func mandrillWebhookDescription(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	kept := map[string]any{}
	for _, p := range []string{"/webhooks/add", "/webhooks/delete"} {
		op := paths[p].(map[string]any)["post"].(map[string]any)
		for _, param := range op["parameters"].([]any) {
			props := param.(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
			if ev, ok := props["events"].(map[string]any); ok {
				items := ev["items"].(map[string]any)
				items["type"] = "string"
				items["enum"] = append(items["enum"].([]any), "deferral", "delivered")
			}
		}
		resp := op["responses"].(map[string]any)["200"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
		for _, f := range []string{"created_at", "last_sent_at"} {
			delete(resp[f].(map[string]any), "format")
		}
		kept[p] = paths[p]
	}
	doc["paths"] = kept
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	mended := filepath.Join(t.TempDir(), "mandrill-webhooks.json")
	if err := os.WriteFile(mended, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return mended
}

// TestMailchimpWebhookSubscription adds message-event's webhook and
// deletes it against Prism serving Mailchimp Transactional's description
// (mended as mandrillWebhookDescription says) with request validation on:
// the key must travel in each body, the id back as an integer, and what is
// kept must be the answer's id and auth_key.
func TestMailchimpWebhookSubscription(t *testing.T) {
	res := runLifecycle(t, lifecycleRun{
		API:   "mailchimp/transactional.json",
		Mend:  mandrillWebhookDescription,
		Event: "message-event",
		Connection: store.Connection{Connector: "mailchimp-transactional",
			Credentials: map[string]any{"apiKey": "md-prism-test-key"}},
	})
	x := res.Subscribe
	if x.Method != "POST" || x.URL != res.ServerURL+"/webhooks/add" || x.Response.Status != 200 {
		t.Fatalf("subscribe sent %s %s → %d, want POST /webhooks/add → 200: %s", x.Method, x.URL, x.Response.Status, x.Response.Body)
	}
	var body struct {
		Key, URL, Description string
		Events                []string
	}
	if err := json.Unmarshal(x.RequestBody, &body); err != nil {
		t.Fatalf("subscribe body %s: %v", x.RequestBody, err)
	}
	if body.URL != res.WebhookURL {
		t.Errorf("url %q, want %s", body.URL, res.WebhookURL)
	}
	if body.Key != "md-prism-test-key" {
		t.Errorf("the body does not carry the connection's key")
	}
	for _, e := range []string{"send", "deferral", "hard_bounce", "soft_bounce", "delivered", "open", "click", "spam", "unsub", "reject"} {
		if !slices.Contains(body.Events, e) {
			t.Errorf("events %v lack %s", body.Events, e)
		}
	}
	// The description's example answer: webhook 1131, its auth_key.
	if fmt.Sprint(res.Kept["id"]) != "1131" {
		t.Errorf("kept %v, want the webhook id 1131", res.Kept)
	}
	if res.Kept["authKey"] != "UHeOnTqMBMGqAEMadhA6xQ" {
		t.Errorf("kept authKey %v, want the answer's auth_key", res.Kept["authKey"])
	}
	u := res.Unsubscribe
	if u.Method != "POST" || u.URL != res.ServerURL+"/webhooks/delete" || u.Response.Status != 200 {
		t.Fatalf("unsubscribe sent %s %s → %d, want POST /webhooks/delete → 200: %s", u.Method, u.URL, u.Response.Status, u.Response.Body)
	}
	var del struct {
		Key string
		ID  json.RawMessage
	}
	if err := json.Unmarshal(u.RequestBody, &del); err != nil || string(del.ID) != "1131" || del.Key != "md-prism-test-key" {
		t.Errorf("unsubscribe body %s, want the key and id 1131 (%v)", u.RequestBody, err)
	}
}
