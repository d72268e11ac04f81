package connectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/local"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
)

// stripeSignature is the signature check of the Stripe webhook event, as
// the catalogue compiles it.
func stripeSignature(t *testing.T) *compile.Signature {
	t.Helper()
	ws, diags := layers.Load(".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ev, diags := layers.ResolveEvent(ws, "stripe", "customer-changed-webhook")
	if diags.HasErrors() || ev.Compiled.Signature == nil {
		t.Fatalf("customer-changed-webhook: %v (signature %v)", diags, ev.Compiled.Signature)
	}
	return ev.Compiled.Signature
}

// stripePush is a request as Stripe sends it to a webhook endpoint.
func stripePush(body []byte, header string) *verify.Request {
	r := httptest.NewRequest("POST", "https://hooks.example.com/webhooks/sub_1", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Stripe-Signature", header)
	return verify.NewRequest(r, body, "https://hooks.example.com")
}

// TestStripeWebhookSignature checks the Stripe event's signature check
// against pushes signed by Stripe's own Go library, at the current time.
func TestStripeWebhookSignature(t *testing.T) {
	sig := stripeSignature(t)
	const secret = "whsec_3kZbq1L0WmTQnG0oAo8yYb7tC2xJxP9v"
	vars := map[string]any{compile.VarSubscription: map[string]any{"id": "we_1", "secret": secret}}
	body := []byte(`{"id":"evt_1","object":"event","type":"customer.created","created":1704067200,"data":{"object":{"id":"cus_1","object":"customer","created":1704067200,"email":"ada@example.com"}}}`)
	now := time.Now()
	sign := func(secret string, at time.Time, b []byte) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: b, Secret: secret, Timestamp: at}).Header
	}

	if err := verify.Verify(t.Context(), sig, stripePush(body, sign(secret, now, body)), vars, now); err != nil {
		t.Fatalf("a push signed by stripe-go was refused: %v", err)
	}
	// stripe-go's own check agrees on what it signed.
	if _, err := webhook.ConstructEventWithOptions(body, sign(secret, now, body), secret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true}); err != nil {
		t.Fatalf("stripe-go refuses its own payload: %v", err)
	}
	// While a secret is rolled, Stripe signs with both: either verifies.
	rolled := sign(secret, now, body) + "," + strings.SplitN(sign("whsec_old", now, body), ",", 2)[1]
	swapped := "t=" + strconv.FormatInt(now.Unix(), 10) + "," + strings.SplitN(sign("whsec_old", now, body), ",", 2)[1] + "," + strings.SplitN(sign(secret, now, body), ",", 2)[1]
	for _, h := range []string{rolled, swapped} {
		if err := verify.Verify(t.Context(), sig, stripePush(body, h), vars, now); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}

	refused := []struct {
		name   string
		header string
		body   []byte
		kind   error
	}{
		{"another secret", sign("whsec_another", now, body), body, verify.ErrBadSignature},
		{"a changed body", sign(secret, now, body), bytes.Replace(body, []byte("ada@"), []byte("eve@"), 1), verify.ErrBadSignature},
		{"six minutes old", sign(secret, now.Add(-6*time.Minute), body), body, verify.ErrStaleTimestamp},
		{"six minutes ahead", sign(secret, now.Add(6*time.Minute), body), body, verify.ErrFutureTimestamp},
		{"no header", "", body, verify.ErrMissingSignature},
		{"a v0 signature only", strings.Replace(sign(secret, now, body), "v1=", "v0=", 1), body, verify.ErrBadSignature},
	}
	for _, c := range refused {
		err := verify.Verify(t.Context(), sig, stripePush(c.body, c.header), vars, now)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.kind)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the secret: %v", c.name, err)
		}
	}
	// Within the tolerance, a push signed four minutes ago still verifies.
	if err := verify.Verify(t.Context(), sig, stripePush(body, sign(secret, now.Add(-4*time.Minute), body)), vars, now); err != nil {
		t.Errorf("four minutes old: %v", err)
	}
}

// pollStripe polls the Stripe event once on s and returns its changes
// and its exchanges with stripe-mock.
func pollStripe(t *testing.T, s *stripe, st *local.Store, baseline bool) (*events.PollResult, []events.Payload) {
	t.Helper()
	return pollStripeEvent(t, s, st, "contact-changed", baseline)
}

// pollStripeEvent polls one event of the Stripe connector once against
// stripe-mock.
func pollStripeEvent(t *testing.T, s *stripe, st *local.Store, event string, baseline bool) (*events.PollResult, []events.Payload) {
	t.Helper()
	ev, diags := layers.ResolveEvent(s.rt.Spec, "stripe", event, s.base)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan, err := events.NewPlan(ev)
	if err != nil {
		t.Fatal(err)
	}
	plan.Baseline = baseline
	conn := engine.Connection{ID: "e2e", Name: "stripe-mock", Tenant: "acme", Credentials: map[string]any{"apiKey": apiKey}}
	sub, err := st.Subscribe(t.Context(), local.Connection{Tenant: conn.Tenant, ID: conn.ID, Connector: "stripe", Credentials: conn.Credentials}, plan.Key())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true})})
	res, changes, err := st.Poll(t.Context(), &events.Poller{Engine: eng}, events.PollRequest{
		Subscription: sub, Plan: plan, Connection: &conn, Options: engine.RunOptions{Log: true},
	})
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	for _, x := range res.Log.Log {
		if !strings.HasPrefix(x.URL, s.baseURL+"/v1/events?") || x.Method != "GET" || x.Status != 200 {
			t.Errorf("sent %s %s → %d: %s", x.Method, x.URL, x.Status, x.ResponseBody)
		}
	}
	return res, changes
}

// TestStripePolling polls Stripe's event log on stripe-mock, which checks
// each request against Stripe's OpenAPI description.
func TestStripePolling(t *testing.T) {
	baseURL := startStripeMock(t)
	st, err := local.Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	t.Run("first poll and the next", func(t *testing.T) {
		s := newStripe(t, baseURL)
		res, changes := pollStripe(t, s, st, false)
		if len(res.Log.Log) == 0 {
			t.Fatal("no request")
		}
		u, _ := url.Parse(res.Log.Log[0].URL)
		q := u.Query()
		if want := []string{"customer.created", "customer.updated", "customer.deleted"}; !slices.Equal(q["types[]"], want) || q.Get("limit") != "100" || q.Has("ending_before") {
			t.Errorf("first request query %v", q)
		}
		// stripe-mock lists one fixture event: without a baseline it is
		// a change, its record the universal contact.
		if len(changes) == 0 || res.Records == 0 {
			t.Fatalf("no change from %d records: %+v", res.Records, res)
		}
		var page struct {
			Data []struct {
				ID   string `json:"id"`
				Data struct {
					Object struct {
						ID string `json:"id"`
					} `json:"object"`
				} `json:"data"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(res.Log.Log[0].ResponseBody), &page); err != nil || len(page.Data) == 0 {
			t.Fatalf("stripe-mock answered %s (%v)", res.Log.Log[0].ResponseBody, err)
		}
		c := changes[0]
		if c.RecordID != page.Data[0].Data.Object.ID || c.Type != "contact-changed."+string(c.Change) {
			t.Errorf("change %+v, want record %s", c, page.Data[0].Data.Object.ID)
		}
		rec, _ := c.Record.(map[string]any)
		for _, k := range []string{"id", "email", "name", "phone", "createdAt"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("record lacks %q: %v", k, c.Record)
			}
		}
		checkEventContract(t, s.rt.Spec, "contact-changed", rec)

		// The next poll asks for the events after the newest seen; the
		// same event listed again is no second change.
		res, changes = pollStripe(t, s, st, false)
		u, _ = url.Parse(res.Log.Log[0].URL)
		if got := u.Query().Get("ending_before"); got != page.Data[len(page.Data)-1].ID && got != page.Data[0].ID {
			t.Errorf("second poll ending_before=%q, want the newest event seen", got)
		}
		if len(changes) != 0 {
			t.Errorf("the same events again gave %d changes: %+v", len(changes), changes)
		}
	})

	t.Run("pages", func(t *testing.T) {
		// stripe-mock answers every list with one page (has_more false). A
		// proxy in front says the first has more, so the poll asks for
		// the next one — a request stripe-mock still checks.
		target, _ := url.Parse(baseURL)
		var mu sync.Mutex
		var queries []url.Values
		var newest string
		proxy := httptest.NewServer(&httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
			ModifyResponse: func(resp *http.Response) error {
				q := resp.Request.URL.Query()
				mu.Lock()
				defer mu.Unlock()
				queries = append(queries, q)
				if resp.StatusCode != 200 || len(queries) > 1 {
					return nil
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				var page map[string]any
				if err := json.Unmarshal(body, &page); err != nil {
					return err
				}
				// Two events, so that the next page's cursor is told
				// from the oldest: a newer copy of the fixture event.
				data := page["data"].([]any)
				newer := map[string]any{}
				for k, v := range data[0].(map[string]any) {
					newer[k] = v
				}
				newest = "evt_1NewerThanTheFixture"
				newer["id"] = newest
				page["data"] = append([]any{newer}, data...)
				page["has_more"] = true
				body, _ = json.Marshal(page)
				resp.Body = io.NopCloser(bytes.NewReader(body))
				resp.ContentLength = int64(len(body))
				resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
				return nil
			},
		})
		t.Cleanup(proxy.Close)
		viaProxy := newStripe(t, proxy.URL)
		pst, err := local.Open(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pst.Close() })
		res, _ := pollStripe(t, viaProxy, pst, true)
		if res.Pages != 2 || len(queries) != 2 {
			t.Fatalf("want two pages, got %d (%d requests)", res.Pages, len(queries))
		}
		if got := queries[1].Get("ending_before"); got != newest {
			t.Errorf("second page ending_before=%q, want the first page's newest %q", got, newest)
		}
		if !res.Baseline || res.Created+res.Updated+res.Deleted != 0 {
			t.Errorf("a baseline poll emitted: %+v", res)
		}
	})
}

// checkEventContract validates a delivered record against the universal
// event's own record schema, and that it has no field the contract does
// not declare.
func checkEventContract(t *testing.T, ws *spec.Workspace, event string, rec map[string]any) {
	t.Helper()
	ue := ws.UniversalEvents[event]
	if ue == nil {
		t.Fatalf("no universal event %q", event)
	}
	var diags diag.List
	schema := ue.Record.Compile(&diags)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(decoded); err != nil {
		t.Errorf("record %s breaks the universal contract: %v", b, err)
	}
	props := ue.Record.Value.Get("properties")
	for k := range rec {
		if props.Get(k) == nil {
			t.Errorf("record field %q is not in the universal contract", k)
		}
	}
}

// TestStripeWebhookEndpoints registers and removes the webhook endpoint of
// a subscription at stripe-mock through the server's webhook lifecycle:
// both requests are ones Stripe's description accepts.
func TestStripeWebhookEndpoints(t *testing.T) {
	baseURL := startStripeMock(t)
	ctx := t.Context()
	lc, sub, traced := newLifecycle(t, "stripe-mock.yaml", baseURL, "", store.Connection{Connector: "stripe", Credentials: map[string]any{"apiKey": apiKey}}, "customer-changed-webhook")

	if err := lc.Subscribe(ctx, sub); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	sent := traced()
	if len(sent) != 1 || sent[0].Response == nil {
		t.Fatalf("subscribe sent %d requests", len(sent))
	}
	x := sent[0]
	if x.Method != "POST" || x.URL != baseURL+"/v1/webhook_endpoints" || x.Response.Status != 200 {
		t.Fatalf("subscribe sent %s %s → %d: %s", x.Method, x.URL, x.Response.Status, x.Response.Body)
	}
	want := url.Values{
		"url":         {"https://hooks.example.com/webhooks/s/" + sub.WebhookToken},
		"description": {"Membrane"},
	}
	got := form(t, string(x.RequestBody))
	if got.Get("url") != want.Get("url") || got.Get("description") != "Membrane" {
		t.Errorf("subscribe body %v, want %v", got, want)
	}
	var enabled []string
	for i := 0; got.Has("enabled_events[" + strconv.Itoa(i) + "]"); i++ {
		enabled = append(enabled, got.Get("enabled_events["+strconv.Itoa(i)+"]"))
	}
	if !slices.Equal(enabled, []string{"customer.created", "customer.updated", "customer.deleted"}) {
		t.Errorf("enabled_events %v", enabled)
	}
	var endpoint struct{ ID string }
	if err := json.Unmarshal(x.Response.Body, &endpoint); err != nil || !strings.HasPrefix(endpoint.ID, "we_") {
		t.Fatalf("stripe-mock answered %s", x.Response.Body)
	}
	if sub.Remote["id"] != endpoint.ID {
		t.Errorf("kept %v, want the endpoint id %s", sub.Remote, endpoint.ID)
	}

	if err := lc.Unsubscribe(ctx, sub); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	sent = traced()
	if len(sent) != 2 {
		t.Fatalf("unsubscribe sent %d requests", len(sent)-1)
	}
	if x := sent[1]; x.Method != "DELETE" || x.URL != baseURL+"/v1/webhook_endpoints/"+endpoint.ID || x.Response == nil || x.Response.Status != 200 {
		t.Errorf("unsubscribe sent %s %s → %v", x.Method, x.URL, x.Response)
	}
}
