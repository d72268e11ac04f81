package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadInputEndToEnd: a running server gets what real apps and real
// networks send: malformed, huge, mistyped, unsigned, stale and misrouted
// webhooks, a record without an id, and polls that answer HTML, a 500 for
// a while, or records without ids. Each is refused or skipped with a
// clear error, none reaches the outbox, the good pushes and polls around
// them are processed exactly once, the scheduler keeps polling the
// healthy subscription, and the process never dies.
func TestBadInputEndToEnd(t *testing.T) {
	seed := seedOf(t)
	up := newUpstream(t, seed)
	for range 6 {
		up.change("created")
	}
	n := newNode(t, crashWorkspace(t, up.URL))
	n.start()
	tok := tenantToken(t, crashWorkspaceKey, "acme")

	// Polling: one healthy subscription beside three broken ones.
	up.setFault("html", faultHTML)
	up.setFault("flaky", fault500)
	up.setFault("noid", faultNoID)
	conns := map[string]string{}
	subs := map[string]string{}
	for _, account := range []string{"good", "html", "flaky", "noid"} {
		conns[account] = n.connect(tok, account, nil)
		s := n.subscribe(tok, conns[account], "item-changes")
		subs[account] = s["id"].(string)
	}
	subOf := func(account string) map[string]any {
		return n.mustCall(tok, "GET", "/v1/connections/"+conns[account]+"/subscriptions/"+subs[account], nil, 200)
	}
	polledBy := func(account string) func(upRequest) bool {
		return func(r upRequest) bool { return r.Path == "/changes" && r.Account == account }
	}
	for _, account := range []string{"html", "flaky", "noid"} {
		waitServed(t, n, "a poll of "+account, up.next(polledBy(account)))
	}
	// The healthy subscription keeps being polled, and sees new changes.
	for range 3 {
		up.change("")
		waitServed(t, n, "the healthy subscription polled", up.next(polledBy("good")))
	}
	// A record without an id is skipped, and said in lastError until the
	// next poll that skips none: it is not a failure of the poll.
	for range 2 {
		waitServed(t, n, "a poll of noid", up.next(polledBy("noid")))
	}
	t.Logf("noid: %v", subOf("noid")["lastError"])
	wantErr := map[string]string{"html": "html", "flaky": "500"}
	for account, word := range wantErr {
		deadline := time.Now().Add(crashWait)
		for {
			s := subOf(account)
			if e, _ := s["lastError"].(string); e != "" {
				break
			}
			if time.Now().After(deadline) {
				n.quit()
				t.Fatalf("waited %v for the error of %s on its subscription", crashWait, account)
			}
			time.Sleep(20 * time.Millisecond)
		}
		s := subOf(account)
		e := s["lastError"].(string)
		if !strings.Contains(strings.ToLower(e), word) {
			t.Errorf("subscription of %s: lastError %q does not say %q", account, e, word)
		}
		if strings.Contains(e, upAPIKey) {
			t.Errorf("subscription of %s: lastError shows the API key: %q", account, e)
		}
		t.Logf("%s: failures %v, lastError %q", account, s["failures"], e)
	}
	// The 500s end: the flaky subscription catches up.
	up.setFault("flaky", faultNone)

	// Webhooks.
	conn := n.connect(tok, "hooks", map[string]any{"webhookSecret": upWebhookSecret})
	sub := n.subscribe(tok, conn, "item-pushed")
	own, _ := sub["webhookUrl"].(string)
	shared := n.url() + "/webhooks/up"
	var pushed []upChange
	good := func(target string) {
		t.Helper()
		c := up.change("")
		pushed = append(pushed, c)
		if status, err := push(context.Background(), http.DefaultClient, target, upWebhookSecret, "application/json", upPushBody("hooks", c), time.Time{}); err != nil || status/100 != 2 {
			t.Errorf("a good push to %s: %d %v", target, status, err)
		}
	}
	body := upPushBody("hooks", upChange{Seq: 1 << 40, ID: "rec_bad", Version: 1, Type: "created", Name: "bad", UpdatedAt: "2026-01-01T00:00:00Z"})
	// Valid JSON, 2 MiB of it.
	huge := append(append(append([]byte{}, body[:len(body)-1]...), bytes.Repeat([]byte(" "), 2<<20)...), '}')
	for _, tc := range []struct {
		name, target, contentType, secret string
		body                              []byte
		at                                time.Time
		want                              int
	}{
		{"malformed JSON", own, "application/json", upWebhookSecret, []byte(`{"account": "hooks", "events": [`), time.Time{}, 400},
		{"huge body", own, "application/json", upWebhookSecret, huge, time.Time{}, 413},
		{"wrong content type", own, "text/plain", upWebhookSecret, body, time.Time{}, 415},
		{"no signature", own, "application/json", "", body, time.Time{}, 401},
		{"wrong secret", shared, "application/json", "whsec_not_it", body, time.Time{}, 401},
		{"stale signature", own, "application/json", upWebhookSecret, body, time.Now().Add(-time.Hour), 401},
		{"unknown connector", n.url() + "/webhooks/nope", "application/json", upWebhookSecret, body, time.Time{}, 404},
		{"unknown subscription URL", n.url() + "/webhooks/s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "application/json", upWebhookSecret, body, time.Time{}, 404},
	} {
		good(own)
		status, err := push(context.Background(), http.DefaultClient, tc.target, tc.secret, tc.contentType, tc.body, tc.at)
		if err != nil || status != tc.want {
			t.Errorf("%s: got %d %v, want %d", tc.name, status, err, tc.want)
		}
		good(shared)
	}
	// A payload for an account no connection has: nothing takes it.
	other := upPushBody("nobody", upChange{Seq: 1 << 41, ID: "rec_nobody", Version: 1, Type: "created", Name: "x", UpdatedAt: "2026-01-01T00:00:00Z"})
	if status, err := push(context.Background(), http.DefaultClient, shared, upWebhookSecret, "application/json", other, time.Time{}); err != nil || status >= 500 {
		t.Errorf("a payload for an unknown account: %d %v", status, err)
	} else {
		t.Logf("a payload for an unknown account: %d", status)
	}
	// A record without an id, between two good ones in one push: the
	// good ones are taken, it is skipped.
	c1, c2 := up.change(""), up.change("")
	pushed = append(pushed, c1, c2)
	noID := []byte(strings.Replace(string(upPushBody("hooks", c1, upChange{Seq: 1 << 42, Type: "created", Name: "no id", Version: 1, UpdatedAt: "2026-01-01T00:00:00Z"}, c2)), `"id":"",`, "", 1))
	if status, err := push(context.Background(), http.DefaultClient, own, upWebhookSecret, "application/json", noID, time.Time{}); err != nil || status/100 != 2 {
		t.Errorf("a push with a record without an id: %d %v", status, err)
	}

	// Catch up: the inbox processed, the healthy and the recovered feeds
	// past the last change.
	n.waitInbox()
	feed := up.feed()
	last := fmt.Sprint(feed[len(feed)-1].Seq)
	for _, account := range []string{"good", "flaky"} {
		waitServed(t, n, account+"'s cursor past the last change", up.next(func(r upRequest) bool {
			return r.Path == "/changes" && r.Account == account && r.Query.Get("since") == last
		}))
	}
	n.stop()

	ds := n.outbox("item-changes.", "item-pushed.")
	checkFeed(t, feed, changesOf(t, ds, conns["good"], "item-changes"))
	checkFeed(t, feed, changesOf(t, ds, conns["flaky"], "item-changes"))
	for _, account := range []string{"html", "noid"} {
		if got := changesOf(t, ds, conns[account], "item-changes"); len(got) > 0 {
			t.Errorf("%s: %d changes in the outbox from polls that failed: %v", account, len(got), got)
		}
	}
	checkFeed(t, pushed, changesOf(t, ds, conn, "item-pushed"))
	// Every refusal was logged with its reason.
	if k := len(n.logLines(map[string]string{"level": "WARN"})); k == 0 {
		t.Errorf("no warning logged for the refused webhooks")
	}
}
