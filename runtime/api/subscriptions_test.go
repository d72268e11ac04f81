package api_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"

	"log/slog"
)

// appHooks plays the app's side of webhook subscriptions, as the
// connections service sees it through its Subscriber: it counts the
// subscribe and unsubscribe calls, keeps what the app answered, and
// refuses while told to.
type appHooks struct {
	mu                 sync.Mutex
	subscribed         []string // subscription ids
	unsubscribed       []string
	refuse, refuseGone bool
	n                  int
}

func (h *appHooks) Subscribe(ctx context.Context, sub *store.Subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refuse {
		return errors.New("the app answered 403: webhooks are not enabled for this account")
	}
	h.n++
	h.subscribed = append(h.subscribed, sub.ID)
	sub.Remote = map[string]any{"id": "hook_" + sub.ID, "secret": "whsec_never_shown_0123456789"}
	sub.RouteKey = "account-1"
	return nil
}

func (h *appHooks) Unsubscribe(ctx context.Context, sub *store.Subscription) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refuseGone {
		return errors.New("the app answered 500")
	}
	if sub.Remote["id"] != "hook_"+sub.ID {
		return errors.New("unsubscribe without what subscribe answered")
	}
	h.unsubscribed = append(h.unsubscribed, sub.ID)
	return nil
}

func (h *appHooks) set(refuse, refuseGone bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refuse, h.refuseGone = refuse, refuseGone
}

func (h *appHooks) calls() (subscribed, unsubscribed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.subscribed), slices.Clone(h.unsubscribed)
}

// newSubsTC runs the API with hooks as the Subscriber, the service's log
// in logs, and more workspace files.
func newSubsTC(t *testing.T, newDB storetest.NewDB, hooks *appHooks, files map[string]string) (*tc, *testkit.Buffer) {
	logs := &testkit.Buffer{}
	env := apitest.NewWithFiles(t, newDB(t), files, func(o *connections.Options) {
		if hooks != nil {
			o.Subscriber = hooks
		}
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	return &tc{Env: env, t: t}, logs
}

func (c *tc) newConnection(token string) string {
	c.t.Helper()
	r := c.post("/v1/connections", token, connBody(apitest.GoodKey))
	wantStatus(c.t, r, http.StatusCreated)
	return r.object(c.t)["id"].(string)
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return tm
}

// wantDueBetween checks a polled subscription is due about now: from
// before to after, plus the first poll's spread (at most 30 s).
func wantDueBetween(t *testing.T, sub map[string]any, before, after time.Time) {
	t.Helper()
	next := parseTime(t, sub["nextRunAt"])
	if next.Before(before.Truncate(time.Microsecond)) || next.After(after.Add(30*time.Second)) {
		t.Fatalf("nextRunAt %s, want from %s to 30s after %s", next, before, after)
	}
}

func TestSubscriptionsLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c, _ := newSubsTC(t, newDB, nil, nil)
		acme := c.Token("acme")
		conn := c.newConnection(acme)
		base := "/v1/connections/" + conn + "/subscriptions"

		// A polled event: due about now, every 10m (the event's own).
		before := time.Now()
		r := c.post(base, acme, map[string]any{"event": "contact-changed"})
		after := time.Now()
		wantStatus(t, r, http.StatusCreated)
		sub := r.object(t)
		id := sub["id"].(string)
		if !strings.HasPrefix(id, "sub_") || sub["status"] != "active" || sub["polled"] != true || sub["webhook"] != false ||
			sub["interval"] != "10m" || sub["connectionId"] != conn || sub["connector"] != "crm" || sub["event"] != "contact-changed" {
			t.Fatalf("created %s", r.Body)
		}
		if _, ok := sub["webhookUrl"]; ok {
			t.Fatalf("a polled event with a webhook URL: %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != base+"/"+id {
			t.Fatalf("Location %q", loc)
		}
		wantDueBetween(t, sub, before, after)

		// Once only, whatever the name.
		p := wantProblem(t, c.post(base, acme, map[string]any{"event": "contact-changed"}), http.StatusConflict, "already-subscribed")
		if !strings.Contains(p["detail"].(string), id) {
			t.Fatalf("conflict names not the subscription: %v", p)
		}

		// Bad input, each at its pointer.
		for _, tc := range []struct {
			body    map[string]any
			pointer string
			detail  string
		}{
			{map[string]any{"event": "contact-chnged"}, "/event", `did you mean "contact-changed"?`},
			{map[string]any{}, "/event", "is required"},
			{map[string]any{"event": "deal-pushed", "interval": "15m"}, "/interval", "only for a polled event"},
			{map[string]any{"event": "contact-changed", "interval": "10s"}, "/interval", "from 1m to 24h"},
			{map[string]any{"event": "contact-changed", "interval": "48h"}, "/interval", "from 1m to 24h"},
			{map[string]any{"event": "contact-changed", "interval": "soon"}, "/interval", "must be a duration"},
		} {
			p := wantProblem(t, c.post(base, acme, tc.body), http.StatusUnprocessableEntity, "validation")
			errs := p["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["pointer"] != tc.pointer || !strings.Contains(errs[0].(map[string]any)["detail"].(string), tc.detail) {
				t.Errorf("%v: %v", tc.body, p)
			}
		}
		p = wantProblem(t, c.post(base, acme, map[string]any{"event": "contact-changed", "intervall": "1h"}), http.StatusBadRequest, "malformed-json")
		if !slices.Equal(pointers(p), []string{"/intervall"}) {
			t.Fatalf("unknown field %v", p)
		}

		// A webhook event: its own secret URL, under the public URL,
		// which finds it.
		r = c.post(base, acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		hook := r.object(t)
		url, _ := hook["webhookUrl"].(string)
		token, ok := strings.CutPrefix(url, apitest.PublicURL+"/webhooks/s/")
		if !ok || len(token) < 20 || hook["polled"] != false || hook["webhook"] != true {
			t.Fatalf("webhook subscription %s", r.Body)
		}
		if _, ok := hook["nextRunAt"]; ok {
			t.Fatalf("a webhook-only subscription is due: %s", r.Body)
		}
		found, err := c.Store.SubscriptionByToken(t.Context(), token)
		if err != nil || found.ID != hook["id"] || found.Tenant != "acme" {
			t.Fatalf("SubscriptionByToken: %v %v", found, err)
		}

		// Its own interval.
		conn2 := c.newConnection(acme)
		r = c.post("/v1/connections/"+conn2+"/subscriptions", acme, map[string]any{"event": "contact-changed", "interval": "1h30m"})
		wantStatus(t, r, http.StatusCreated)
		if got := r.object(t)["interval"]; got != "1h30m" {
			t.Fatalf("interval %v", got)
		}

		// List: the connection's own, oldest first, in pages.
		r = c.get(base+"?limit=1", acme)
		wantStatus(t, r, http.StatusOK)
		page := r.object(t)
		if items := page["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id || page["next"] == nil {
			t.Fatalf("page 1 %s", r.Body)
		}
		r = c.get(base+"?limit=1&cursor="+page["next"].(string), acme)
		if items := r.object(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != hook["id"] {
			t.Fatalf("page 2 %s", r.Body)
		}
		wantProblem(t, c.get(base+"?cursor=nonsense", acme), http.StatusBadRequest, "invalid-query")

		// Pause: not due; twice changes nothing.
		r = c.post(base+"/"+id+"/pause", acme, nil)
		wantStatus(t, r, http.StatusOK)
		paused := r.object(t)
		if _, due := paused["nextRunAt"]; due || paused["status"] != "paused" {
			t.Fatalf("paused %s", r.Body)
		}
		r = c.post(base+"/"+id+"/pause", acme, nil)
		if again := r.object(t); again["version"] != paused["version"] || again["status"] != "paused" {
			t.Fatalf("paused twice %s", r.Body)
		}
		st, err := c.Store.Tenant("acme").Subscriptions().Get(t.Context(), id)
		if err != nil || !st.NextRunAt.IsZero() || st.Status != store.SubscriptionPaused {
			t.Fatalf("stored paused %+v %v", st, err)
		}

		// Resume: due about now again, failures forgotten.
		if _, err := c.Store.Tenant("acme").Subscriptions().Update(t.Context(), id, func(s *store.Subscription) error {
			s.Failures = 4
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		before = time.Now()
		r = c.post(base+"/"+id+"/resume", acme, nil)
		after = time.Now()
		wantStatus(t, r, http.StatusOK)
		resumed := r.object(t)
		if resumed["status"] != "active" || resumed["failures"] != float64(0) {
			t.Fatalf("resumed %s", r.Body)
		}
		wantDueBetween(t, resumed, before, after)
		wantProblem(t, c.do(req{method: "POST", path: base + "/" + id + "/resume", token: acme, body: "{", header: map[string]string{"Content-Type": "application/json"}}), http.StatusBadRequest, "malformed-json")

		// Get, delete, gone.
		r = c.get(base+"/"+id, acme)
		wantStatus(t, r, http.StatusOK)
		if r.object(t)["version"] != resumed["version"] {
			t.Fatalf("get %s", r.Body)
		}
		wantProblem(t, c.do(req{method: "DELETE", path: base + "/" + id + "?force=maybe", token: acme}), http.StatusBadRequest, "invalid-query")
		wantStatus(t, c.do(req{method: "DELETE", path: base + "/" + id, token: acme}), http.StatusNoContent)
		wantProblem(t, c.get(base+"/"+id, acme), http.StatusNotFound, "not-found")
		wantProblem(t, c.do(req{method: "DELETE", path: base + "/" + id, token: acme}), http.StatusNotFound, "not-found")

		// A connection's deletion takes its subscriptions with it.
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/connections/" + conn, token: acme}), http.StatusNoContent)
		if _, err := c.Store.Tenant("acme").Subscriptions().Get(t.Context(), hook["id"].(string)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a deleted connection's subscription: %v", err)
		}
		if _, err := c.Store.SubscriptionByToken(t.Context(), token); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a deleted subscription's URL still routes: %v", err)
		}
		wantProblem(t, c.get(base, acme), http.StatusNotFound, "not-found")
	})
}

// TestSubscriptionsOtherTenant: another tenant's subscription, or one of
// another connection, is answered byte for byte as one that does not
// exist, on every subscription route; listings show only the caller's.
func TestSubscriptionsOtherTenant(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c, _ := newSubsTC(t, newDB, nil, nil)
		acme, globex := c.Token("acme"), c.Token("globex")
		acmeConn, acmeOther, globexConn := c.newConnection(acme), c.newConnection(acme), c.newConnection(globex)
		r := c.post("/v1/connections/"+acmeConn+"/subscriptions", acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		acmeSub := r.object(t)["id"].(string)
		acmeURL := r.object(t)["webhookUrl"].(string)
		r = c.post("/v1/connections/"+globexConn+"/subscriptions", globex, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)

		for _, route := range []struct{ method, suffix string }{{"GET", ""}, {"DELETE", ""}, {"POST", "/pause"}, {"POST", "/resume"}} {
			missing := c.do(req{method: route.method, path: "/v1/connections/" + globexConn + "/subscriptions/sub_doesnotexist0000000" + route.suffix, token: globex})
			wantProblem(t, missing, http.StatusNotFound, "not-found")
			for _, probe := range []struct {
				name        string
				token, path string
			}{
				{"acme's subscription on globex's connection", globex, "/v1/connections/" + globexConn + "/subscriptions/" + acmeSub},
				{"acme's subscription under acme's connection", globex, "/v1/connections/" + acmeConn + "/subscriptions/" + acmeSub},
				{"acme's subscription under acme's other connection", acme, "/v1/connections/" + acmeOther + "/subscriptions/" + acmeSub},
			} {
				got := c.do(req{method: route.method, path: probe.path + route.suffix, token: probe.token})
				if got.Status != missing.Status || !bytes.Equal(got.Body, missing.Body) {
					t.Errorf("%s %s: %d %s\nwant, as for a missing one: %d %s", route.method, probe.name, got.Status, got.Body, missing.Status, missing.Body)
				}
			}
		}
		// Listing or subscribing on acme's connection, as globex: a missing connection.
		for _, method := range []string{"GET", "POST"} {
			rq := req{method: method, path: "/v1/connections/" + acmeConn + "/subscriptions", token: globex}
			missing := rq
			missing.path = "/v1/connections/conn_doesnotexist0000000/subscriptions"
			if method == "POST" {
				rq.body, missing.body = map[string]any{"event": "deal-pushed"}, map[string]any{"event": "deal-pushed"}
			}
			got, want := c.do(rq), c.do(missing)
			wantProblem(t, want, http.StatusNotFound, "not-found")
			if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) {
				t.Errorf("%s on acme's connection as globex: %d %s, want %d %s", method, got.Status, got.Body, want.Status, want.Body)
			}
		}
		// globex's listing shows its own, never acme's URL.
		r = c.get("/v1/connections/"+globexConn+"/subscriptions", globex)
		wantStatus(t, r, http.StatusOK)
		if items := r.object(t)["items"].([]any); len(items) != 1 || bytes.Contains(r.Body, []byte(acmeURL)) || bytes.Contains(r.Body, []byte(acmeSub)) {
			t.Fatalf("globex's listing %s", r.Body)
		}
		// And acme's subscription is untouched.
		r = c.get("/v1/connections/"+acmeConn+"/subscriptions/"+acmeSub, acme)
		wantStatus(t, r, http.StatusOK)
		if r.object(t)["status"] != "active" {
			t.Fatalf("acme's subscription changed: %s", r.Body)
		}
	})
}

// TestSubscriptionsAtTheApp: a webhook subscription is registered at the
// app before it is answered, with what the app said kept (never shown);
// the app's refusals keep nothing on create, and keep the subscription on
// delete unless forced; a connection's deletion unsubscribes each first.
func TestSubscriptionsAtTheApp(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		hooks := &appHooks{}
		c, logs := newSubsTC(t, newDB, hooks, nil)
		acme := c.Token("acme")
		conn := c.newConnection(acme)
		base := "/v1/connections/" + conn + "/subscriptions"

		r := c.post(base, acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		id := r.object(t)["id"].(string)
		if subscribed, _ := hooks.calls(); !slices.Equal(subscribed, []string{id}) {
			t.Fatalf("subscribed at the app: %v", subscribed)
		}
		stored, err := c.Store.Tenant("acme").Subscriptions().Get(t.Context(), id)
		if err != nil || stored.Remote["id"] != "hook_"+id || stored.RouteKey != "account-1" {
			t.Fatalf("what the app answered is not kept: %+v %v", stored, err)
		}
		// A polled event is not the app's business.
		wantStatus(t, c.post(base, acme, map[string]any{"event": "contact-changed"}), http.StatusCreated)
		if subscribed, _ := hooks.calls(); len(subscribed) != 1 {
			t.Fatalf("a polled event subscribed at the app: %v", subscribed)
		}

		// The app refuses to subscribe: nothing kept.
		conn2 := c.newConnection(acme)
		hooks.set(true, false)
		p := wantProblem(t, c.post("/v1/connections/"+conn2+"/subscriptions", acme, map[string]any{"event": "deal-pushed"}), http.StatusBadGateway, "subscribe-failed")
		if !strings.Contains(p["detail"].(string), "webhooks are not enabled") {
			t.Fatalf("refusal %v", p)
		}
		r = c.get("/v1/connections/"+conn2+"/subscriptions", acme)
		if items := r.object(t)["items"].([]any); len(items) != 0 {
			t.Fatalf("a refused subscription was kept: %s", r.Body)
		}
		hooks.set(false, false)

		// The app refuses to unsubscribe: kept, until forced.
		hooks.set(false, true)
		p = wantProblem(t, c.do(req{method: "DELETE", path: base + "/" + id, token: acme}), http.StatusBadGateway, "unsubscribe-failed")
		if !strings.Contains(p["detail"].(string), "force=true") {
			t.Fatalf("unsubscribe refusal %v", p)
		}
		wantStatus(t, c.get(base+"/"+id, acme), http.StatusOK)
		wantStatus(t, c.do(req{method: "DELETE", path: base + "/" + id + "?force=true", token: acme}), http.StatusNoContent)
		wantProblem(t, c.get(base+"/"+id, acme), http.StatusNotFound, "not-found")
		if !strings.Contains(logs.String(), "deleting the subscription anyway (force)") || !strings.Contains(logs.String(), id) {
			t.Fatalf("a forced deletion without a warning:\n%s", logs)
		}
		hooks.set(false, false)

		// Deleted normally: unsubscribed first.
		r = c.post(base, acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		id2 := r.object(t)["id"].(string)
		wantStatus(t, c.do(req{method: "DELETE", path: base + "/" + id2, token: acme}), http.StatusNoContent)
		if _, unsubscribed := hooks.calls(); !slices.Equal(unsubscribed, []string{id2}) {
			t.Fatalf("unsubscribed at the app: %v", unsubscribed)
		}

		// A connection's deletion unsubscribes each webhook subscription,
		// and a refusal does not stop it.
		r = c.post(base, acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		id3 := r.object(t)["id"].(string)
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/connections/" + conn, token: acme}), http.StatusNoContent)
		if _, unsubscribed := hooks.calls(); !slices.Equal(unsubscribed, []string{id2, id3}) {
			t.Fatalf("unsubscribed at the app: %v", unsubscribed)
		}
		r = c.post("/v1/connections/"+conn2+"/subscriptions", acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		id4 := r.object(t)["id"].(string)
		hooks.set(false, true)
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/connections/" + conn2, token: acme}), http.StatusNoContent)
		if _, err := c.Store.Tenant("acme").Subscriptions().Get(t.Context(), id4); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("subscription of a deleted connection: %v", err)
		}
		if !strings.Contains(logs.String(), "the connection is deleted anyway") || !strings.Contains(logs.String(), id4) {
			t.Fatalf("no warning of the refused unsubscribe:\n%s", logs)
		}
		// A tenant's deletion unsubscribes each of its webhook subscriptions.
		hooks.set(false, false)
		conn3 := c.newConnection(acme)
		r = c.post("/v1/connections/"+conn3+"/subscriptions", acme, map[string]any{"event": "deal-pushed"})
		wantStatus(t, r, http.StatusCreated)
		id5 := r.object(t)["id"].(string)
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/tenants/acme", token: c.AdminToken("root")}), http.StatusNoContent)
		if _, unsubscribed := hooks.calls(); !slices.Contains(unsubscribed, id5) {
			t.Fatalf("the deleted tenant's subscription was not unsubscribed: %v", unsubscribed)
		}
		c.neverShown("whsec_never_shown_0123456789")
		if strings.Contains(logs.String(), "whsec_never_shown_0123456789") {
			t.Fatal("the service's log shows what the app answered")
		}
	})
}

// TestAutoSubscribe: membrane.yaml's subscriptions are made with every new
// connection of the connector, in its transaction; the webhook ones are
// registered at the app once it is saved.
func TestAutoSubscribe(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		hooks := &appHooks{}
		c, _ := newSubsTC(t, newDB, hooks, map[string]string{"membrane.yaml": "kind: Workspace\nkey: " + apitest.Workspace +
			"\nsubscriptions:\n  crm: [contact-changed, deal-pushed]\n"})
		acme := c.Token("acme")
		before := time.Now()
		conn := c.newConnection(acme)
		after := time.Now()
		r := c.get("/v1/connections/"+conn+"/subscriptions", acme)
		wantStatus(t, r, http.StatusOK)
		items := r.object(t)["items"].([]any)
		if len(items) != 2 {
			t.Fatalf("auto subscriptions %s", r.Body)
		}
		polled, pushed := items[0].(map[string]any), items[1].(map[string]any)
		if polled["event"] != "contact-changed" || pushed["event"] != "deal-pushed" || pushed["webhookUrl"] == nil {
			t.Fatalf("auto subscriptions %s", r.Body)
		}
		wantDueBetween(t, polled, before, after)
		if subscribed, _ := hooks.calls(); !slices.Equal(subscribed, []string{pushed["id"].(string)}) {
			t.Fatalf("subscribed at the app: %v", subscribed)
		}

		// Refused credentials: no connection, no subscription.
		wantProblem(t, c.post("/v1/connections", c.Token("initech"), connBody(apitest.BadKey)), http.StatusUnprocessableEntity, "credentials-refused")
		if page, err := c.Store.Tenant("initech").Subscriptions().List(t.Context(), store.SubscriptionFilter{}); err != nil || len(page.Items) != 0 {
			t.Fatalf("subscriptions without a connection: %v %v", page.Items, err)
		}

		// The app refuses the webhook: the connection is made, the
		// subscription keeps the error.
		hooks.set(true, false)
		conn2 := c.newConnection(acme)
		r = c.get("/v1/connections/"+conn2+"/subscriptions", acme)
		items = r.object(t)["items"].([]any)
		if len(items) != 2 || !strings.Contains(items[1].(map[string]any)["lastError"].(string), "subscribing at the app failed") {
			t.Fatalf("a refused auto subscription %s", r.Body)
		}
	})
}
