package ingress_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func forEachStore(t *testing.T, fn func(t *testing.T, open storetest.Opener)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite(t)(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.Postgres(t)(t)) })
}

const push = `{"type":"event_callback","events":[{"id":1,"email":"one@example.com","updatedAt":"2026-01-01T00:00:00Z"},{"id":2,"email":"two@example.com","deleted":true}]}`

// A signed push is stored before the 2xx and processed into the outbox
// after; the same push again is no second change; a worker that dies
// after claiming loses nothing: a fresh one, on a reopened store, does
// the work once the lease lapses.
func TestSignedPushIsStoredThenProcessedOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open, 0)
		c := e.connection("acme", "p1")
		sub := e.subscribe("acme", c.ID, "contact-pushed")
		if sub.Remote["id"] != "hook_1" || sub.Remote["secret"] != e.app.secret || sub.RemoteExpiresAt.IsZero() {
			t.Fatalf("subscribe kept Remote %v, expiry %v; want the app's id, secret and expiry", sub.Remote, sub.RemoteExpiresAt)
		}
		url := e.srv.URL + "/webhooks/s/" + sub.WebhookToken
		if e.app.hooks["hook_1"] != url {
			t.Fatalf("the app was given %q; want the subscription's URL %q", e.app.hooks["hook_1"], url)
		}

		for range 2 { // the app delivers the same push twice
			if code, body := e.send(slackSigned(url, e.app.secret, push, time.Now())); code != http.StatusOK {
				t.Fatalf("signed push: %d %s", code, body)
			}
		}
		if got := e.ingest.Counters.Stored.Load(); got != 2 {
			t.Fatalf("stored %d pushes; want 2", got)
		}

		// A worker claims the entries and dies before finishing.
		if got, err := e.st.Inbox().Claim(e.ctx, "doomed", 10, time.Minute); err != nil || len(got) != 2 {
			t.Fatalf("claim: %d entries, %v", len(got), err)
		}
		e.st.Close()
		e.clock.Advance(2 * time.Minute)

		// A fresh process: a new store handle and a new worker.
		e.st = e.open()
		e.svc = connections.New(connections.Options{Store: e.st, Workspace: e.svc.Workspace()})
		e.wh = &events.Webhooks{Store: e.st, Conns: e.svc}
		w := &events.InboxWorker{Webhooks: e.wh, Log: testLog(t)}
		n, err := w.ProcessOnce(e.ctx)
		if err != nil || n != 2 {
			t.Fatalf("ProcessOnce: %d, %v", n, err)
		}
		if w.Stats.Processed.Load() != 2 || w.Stats.Failed.Load() != 0 {
			t.Fatalf("processed %d, failed %d", w.Stats.Processed.Load(), w.Stats.Failed.Load())
		}
		got := changes(e.outbox())
		if len(got) != 2 {
			t.Fatalf("outbox has %d changes; want 2 (one per record, the duplicate push skipped): %+v", len(got), got)
		}
		byID := map[string]events.Payload{}
		for _, p := range got {
			byID[p.RecordID] = p
		}
		if p := byID["1"]; p.Type != "contact-pushed.updated" || p.Subscription != sub.ID || p.Connection != c.ID {
			t.Errorf("record 1: %+v", p)
		}
		if rec, _ := byID["1"].Record.(map[string]any); rec["email"] != "one@example.com" {
			t.Errorf("record 1 mapped to %v", byID["1"].Record)
		}
		if p := byID["2"]; p.Type != "contact-pushed.deleted" {
			t.Errorf("record 2: %+v", p)
		}
		if n := e.inboxLen(); n != 0 {
			t.Errorf("the inbox keeps %d entries after processing", n)
		}

		// The same push once more, after processing: still no new change.
		e.send(slackSigned(url, e.app.secret, push, time.Now()))
		if _, err := w.ProcessOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		if got := changes(e.outbox()); len(got) != 0 {
			t.Errorf("a repeated push made %d new changes", len(got))
		}
	})
}

// What is refused gets a 4xx with a problem, is counted, and is never
// stored.
func TestRefusedRequestsAreCountedAndNotStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open, 4096)
		c := e.connection("acme", "p1")
		sub := e.subscribe("acme", c.ID, "contact-pushed")
		url := e.srv.URL + "/webhooks/s/" + sub.WebhookToken
		secret := e.app.secret

		wrongType := slackSigned(url, secret, push, time.Now())
		wrongType.Header.Set("Content-Type", "text/plain")
		tampered := slackSigned(url, secret, push, time.Now())
		tampered.Header.Set("X-Slack-Signature", strings.Replace(tampered.Header.Get("X-Slack-Signature"), "v0=", "v0=00", 1))
		unsigned := slackSigned(url, secret, push, time.Now())
		unsigned.Header.Del("X-Slack-Signature")
		huge := `{"events":[{"id":1,"email":"` + strings.Repeat("x", 5000) + `"}]}`
		hugeChunked := slackSigned(url, secret, huge, time.Now())
		hugeChunked.ContentLength = -1 // no length announced: the limit is met while reading

		cases := []struct {
			name   string
			req    *http.Request
			status int
			kind   string
		}{
			{"bad signature", slackSigned(url, "not-the-secret", push, time.Now()), 401, "bad-signature"},
			{"tampered signature", tampered, 401, "bad-signature"},
			{"missing signature", unsigned, 401, "bad-signature"},
			{"stale timestamp", slackSigned(url, secret, push, time.Now().Add(-time.Hour)), 401, "stale-timestamp"},
			{"unknown token", slackSigned(e.srv.URL+"/webhooks/s/nope", secret, push, time.Now()), 404, "unknown-route"},
			{"unknown connector", acmeSigned(e.srv.URL+"/webhooks/nope", apiKey, `{"portalId":"p1"}`), 404, "unknown-route"},
			{"unknown portal", acmeSigned(e.srv.URL+"/webhooks/acme", apiKey, `{"portalId":"p9","events":[]}`), 404, "unknown-route"},
			{"huge", slackSigned(url, secret, huge, time.Now()), 413, "too-large"},
			{"huge, unannounced", hugeChunked, 413, "too-large"},
			{"wrong content type", wrongType, 415, "unsupported-media-type"},
			{"malformed JSON", slackSigned(url, secret, `{"events":[`, time.Now()), 400, "malformed"},
		}
		for _, tc := range cases {
			code, body := e.send(tc.req)
			if code != tc.status || !strings.Contains(body, "webhook-"+tc.kind) {
				t.Errorf("%s: %d %s; want %d with a %s problem", tc.name, code, body, tc.status, tc.kind)
			}
			if strings.Contains(body, secret) || strings.Contains(body, apiKey) {
				t.Errorf("%s: the answer shows a secret: %s", tc.name, body)
			}
		}
		got := e.ingest.Counters.Snapshot()
		want := map[string]int64{"received": int64(len(cases)), "stored": 0, "badSignature": 3, "staleTimestamp": 1,
			"unknownRoute": 3, "tooLarge": 2, "badContentType": 1, "malformed": 1, "failed": 0}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("counter %s = %d; want %d (all: %v)", k, got[k], v, got)
			}
		}
		if n := e.inboxLen(); n != 0 {
			t.Errorf("refused requests left %d inbox entries", n)
		}
	})
}

// Slack's url_verification: the challenge is echoed once the signature
// checks, and nothing is stored.
func TestHandshakeEchoesTheChallenge(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	sub := e.subscribe("acme", c.ID, "contact-pushed")
	url := e.srv.URL + "/webhooks/s/" + sub.WebhookToken
	body := `{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	code, got := e.send(slackSigned(url, e.app.secret, body, time.Now()))
	if code != 200 || got != `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}` {
		t.Fatalf("handshake: %d %s", code, got)
	}
	if code, _ := e.send(slackSigned(url, "wrong", body, time.Now())); code != 401 {
		t.Errorf("an unsigned handshake got %d; want 401", code)
	}
	if n := e.inboxLen(); n != 0 {
		t.Errorf("the handshake was stored (%d entries)", n)
	}
	if h := e.ingest.Counters.Handshakes.Load(); h != 1 {
		t.Errorf("handshakes counted %d; want 1", h)
	}
}

// One connector-wide URL: the payload's portal id routes it to the
// connection on that portal (of whichever tenant), the filter keeps the
// contact records, and the ids are fetched through get-contact.
func TestConnectorWideURLRoutesAndEnriches(t *testing.T) {
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open, 0)
		c1 := e.connection("acme", "p1")
		c2 := e.connection("globex", "p2")
		s1 := e.subscribe("acme", c1.ID, "portal-changed")
		e.subscribe("globex", c2.ID, "portal-changed")
		if s1.RouteKey != "p1" {
			t.Fatalf("route key %q; want p1", s1.RouteKey)
		}
		body := `{"portalId":"p1","events":[{"kind":"contact","objectId":7},{"kind":"deal","objectId":99}]}`
		code, _ := e.send(acmeSigned(e.srv.URL+"/webhooks/acme", apiKey, body))
		if code != http.StatusAccepted {
			t.Fatalf("connector-wide push: %d; want the event's 202", code)
		}
		w := &events.InboxWorker{Webhooks: e.wh}
		if _, err := w.ProcessOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		got := changes(e.outbox())
		if len(got) != 1 || got[0].Tenant != "acme" || got[0].Connection != c1.ID || got[0].RecordID != "7" {
			t.Fatalf("changes %+v; want contact 7 of acme's connection only", got)
		}
		if rec, _ := got[0].Record.(map[string]any); rec["email"] != "seven@example.com" {
			t.Errorf("the record was not fetched: %v", got[0].Record)
		}
		if !contains(e.app.requests(), "GET /contacts/7") || contains(e.app.requests(), "GET /contacts/99") {
			t.Errorf("app requests %v; want contact 7 fetched, deal 99 filtered out", e.app.requests())
		}
	})
}

// A record that cannot become a change (no id, refused by the record
// schema) is skipped and counted; the rest of the payload goes through.
func TestBadRecordsAreSkippedNotFatal(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	sub := e.subscribe("acme", c.ID, "contact-pushed")
	url := e.srv.URL + "/webhooks/s/" + sub.WebhookToken
	body := `{"events":[{"email":"no-id@example.com"},{"id":3},{"id":4,"email":"four@example.com"}]}`
	if code, b := e.send(slackSigned(url, e.app.secret, body, time.Now())); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	w := &events.InboxWorker{Webhooks: e.wh}
	if _, err := w.ProcessOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := changes(e.outbox()); len(got) != 1 || got[0].RecordID != "4" {
		t.Fatalf("changes %+v; want record 4 only", got)
	}
	if s := w.Stats.SkippedRecords.Load(); s != 2 {
		t.Errorf("skipped %d records; want 2", s)
	}
	if n := e.inboxLen(); n != 0 {
		t.Errorf("the entry stayed in the inbox (%d)", n)
	}
}

// A failure worth retrying (the enrichment action's API is down) leaves
// the entry for later, with backoff.
func TestFailedProcessingIsRetried(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	e.subscribe("acme", c.ID, "portal-changed")
	e.app.down = true
	body := `{"portalId":"p1","events":[{"kind":"contact","objectId":7}]}`
	if code, _ := e.send(acmeSigned(e.srv.URL+"/webhooks/acme", apiKey, body)); code != 202 {
		t.Fatal(code)
	}
	w := &events.InboxWorker{Webhooks: e.wh, Now: e.clock.Now, Backoff: func(int) time.Duration { return time.Minute }}
	if _, err := w.ProcessOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	if w.Stats.Failed.Load() != 1 {
		t.Fatalf("failed %d; want 1", w.Stats.Failed.Load())
	}
	if n, _ := w.ProcessOnce(e.ctx); n != 0 {
		t.Errorf("the failed entry was claimed again before its backoff (%d)", n)
	}
	e.app.mu.Lock()
	e.app.down = false
	e.app.mu.Unlock()
	e.clock.Advance(2 * time.Minute)
	if n, err := w.ProcessOnce(e.ctx); n != 1 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
	if got := changes(e.outbox()); len(got) != 1 {
		t.Fatalf("after the retry: %d changes; want 1", len(got))
	}
}

// Renewal runs the renew request before expiry and keeps the new expiry;
// unsubscribe removes the registration at the app.
func TestRenewAndUnsubscribe(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	sub := e.subscribe("acme", c.ID, "contact-pushed")
	first := sub.RemoteExpiresAt
	// Three hours ahead of expiry: renewBefore is 2h, nothing is due.
	rep, err := e.life.RenewDue(e.ctx, first.Add(-3*time.Hour))
	if err != nil || rep.Renewed != 0 {
		t.Fatalf("early renew: %+v, %v", rep, err)
	}
	e.life.Log = testLog(t)
	rep, err = e.life.RenewDue(e.ctx, first.Add(-time.Hour))
	if err != nil || rep.Renewed != 1 || rep.Failed != 0 {
		t.Fatalf("renew: %+v, %v", rep, err)
	}
	got, err := e.st.Tenant("acme").Subscriptions().Get(e.ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RemoteExpiresAt.After(first.Add(24*time.Hour)) || got.Remote["secret"] != e.app.secret || got.Remote["id"] != "hook_1" {
		t.Fatalf("after renew: expiry %v (was %v), remote %v", got.RemoteExpiresAt, first, got.Remote)
	}
	if !contains(e.app.requests(), "PATCH /hooks/hook_1") {
		t.Errorf("no renew request: %v", e.app.requests())
	}
	if err := e.life.Unsubscribe(e.ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.app.hooks["hook_1"]; ok || !contains(e.app.requests(), "DELETE /hooks/hook_1") {
		t.Errorf("the app still has the webhook: %v", e.app.requests())
	}
	// Once more: the app answers 404 by now, which is no error.
	if err := e.life.Unsubscribe(e.ctx, got); err != nil {
		t.Errorf("second unsubscribe: %v", err)
	}
}

// A paused subscription's URL takes nothing.
func TestPausedSubscriptionTakesNothing(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	sub := e.subscribe("acme", c.ID, "contact-pushed")
	if _, err := e.st.Tenant("acme").Subscriptions().Update(e.ctx, sub.ID, func(s *store.Subscription) error {
		s.Status = store.SubscriptionPaused
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	code, _ := e.send(slackSigned(e.srv.URL+"/webhooks/s/"+sub.WebhookToken, e.app.secret, push, time.Now()))
	if code != 404 {
		t.Errorf("paused subscription: %d; want 404", code)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// testLog logs through t.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// An app may probe a URL with HEAD before it registers it: a route that
// takes pushes answers 200, one that does not 404, and nothing is stored
// or counted as a push.
func TestHeadProbesTheRoute(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	sub := e.subscribe("acme", c.ID, "contact-pushed")
	paused := e.subscribe("acme", e.connection("acme", "p2").ID, "contact-pushed")
	if _, err := e.st.Tenant("acme").Subscriptions().Update(e.ctx, paused.ID, func(s *store.Subscription) error {
		s.Status = store.SubscriptionPaused
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	head := func(path string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodHead, e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, body := e.send(req)
		if body != "" {
			t.Errorf("HEAD %s answered a body: %q", path, body)
		}
		return code
	}
	for path, want := range map[string]int{
		"/webhooks/s/" + sub.WebhookToken:    200,
		"/webhooks/s/nope":                   404,
		"/webhooks/s/" + paused.WebhookToken: 404,
		"/webhooks/acme":                     200, // routes by portal id
		"/webhooks/nope":                     404,
	} {
		if got := head(path); got != want {
			t.Errorf("HEAD %s: %d, want %d", path, got, want)
		}
	}
	if got := e.ingest.Counters.Snapshot()["received"]; got != 0 {
		t.Errorf("probes counted as %d pushes", got)
	}
	if n := e.inboxLen(); n != 0 {
		t.Errorf("probes stored %d entries", n)
	}
}
