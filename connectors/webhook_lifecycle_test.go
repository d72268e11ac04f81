package connectors_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/connectors/internal/prismtest"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

// lifecycleRun is one subscribe and unsubscribe of an event against
// Prism serving the vendor's description with request validation on.
type lifecycleRun struct {
	// API is the description, relative to ../shared/apis, and Paths the
	// prefixes Prism serves of it.
	API   string
	Paths []string
	// Mend, when set, takes the description at API and gives the file
	// Prism serves instead: a copy with its contradictions of the API
	// mended.
	Mend func(t *testing.T, file string) string
	// Connection is the connection the event is subscribed on.
	Connection store.Connection
	Event      string
	// Headers, a YAML flow mapping, are the connection override's
	// connectorPatch.headers, sent with every request.
	Headers string
	// SubscribeRequests is how many requests subscribing sends (an
	// action's steps); 1 when 0.
	SubscribeRequests int
	// BrokenAnswer is what subscribing keeps when the description's own
	// answer breaks its schema: Prism then answers 500, and only the
	// request is checked (its violations located in the request).
	BrokenAnswer map[string]any
	// Tolerated are request violations the vendor's API does not make,
	// where the description is stricter than the API, each with why.
	Tolerated map[string]string
}

// lifecycleResult is what the run sent and kept.
type lifecycleResult struct {
	ServerURL   string
	WebhookURL  string
	Subscribe   *httpx.Attempt
	Subscribes  []*httpx.Attempt
	Kept        map[string]any
	Unsubscribe *httpx.Attempt
}

// runLifecycle subscribes the event, checks that Prism accepted the
// requests subscribing sent, then unsubscribes the same way.
func runLifecycle(t *testing.T, r lifecycleRun) lifecycleResult {
	t.Helper()
	pool := prismPool(t)
	apis, err := prismtest.APIs()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	file := filepath.Join(apis, r.API)
	if r.Mend != nil {
		file = r.Mend(t, file)
	}
	srv, err := pool.Get(prismtest.Description{Files: []string{file}, Paths: r.Paths})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	lc, sub, traced := newLifecycle(t, "prism.yaml", srv.URL, r.Headers, r.Connection, r.Event)

	// some checks that a step sent exactly n requests, which Prism took
	// or refused for tolerated violations only (refused then true).
	some := func(step string, from, n int) (xs []*httpx.Attempt, refused bool) {
		t.Helper()
		sent := traced()
		for _, x := range sent[from:] {
			if x.Response == nil {
				t.Fatalf("%s: %s %s got no answer: %v", step, x.Method, x.URL, x.Err)
			}
			if r.BrokenAnswer != nil {
				if bad := requestViolations(x.Response.Header, x.Response.Body, r.Tolerated); len(bad) > 0 {
					t.Fatalf("%s: Prism refused %s %s (it breaks %s): %v\nrequest body: %s", step, x.Method, x.URL, r.API, bad, x.RequestBody)
				}
				continue
			}
			if why := prismtest.Rejection(x.Response.Status, x.Response.Header, string(x.Response.Body)); why != "" {
				if onlyTolerated(x.Response.Header, x.Response.Body, r.Tolerated) {
					refused = true
					continue
				}
				t.Fatalf("%s: Prism refused %s %s (it breaks %s):\n%s\nrequest body: %s", step, x.Method, x.URL, r.API, why, x.RequestBody)
			}
		}
		if len(sent)-from != n {
			t.Fatalf("%s sent %d requests, want %d", step, len(sent)-from, n)
		}
		return sent[from:], refused
	}
	subs := max(r.SubscribeRequests, 1)
	res := lifecycleResult{ServerURL: srv.URL, WebhookURL: "https://hooks.example.com/webhooks/s/" + sub.WebhookToken}
	if err := lc.Subscribe(ctx, sub); err != nil {
		some("subscribe", 0, subs)
		if r.BrokenAnswer == nil {
			t.Fatalf("subscribe: %v", err)
		}
		sub.Remote = r.BrokenAnswer
	}
	res.Subscribes, _ = some("subscribe", 0, subs)
	res.Subscribe = res.Subscribes[0]
	res.Kept = sub.Remote
	if err := lc.Unsubscribe(ctx, sub); err != nil {
		if _, refused := some("unsubscribe", subs, 1); !refused && r.BrokenAnswer == nil {
			t.Fatalf("unsubscribe: %v", err)
		}
	}
	u, _ := some("unsubscribe", subs, 1)
	res.Unsubscribe = u[0]
	return res
}

// newLifecycle points the connection's connector at baseURL by an
// override named file (headers, a YAML flow mapping, sent with every
// request when given), stores the connection and a subscription of event
// on it in a fresh SQLite store, and gives the lifecycle that subscribes
// it, with the requests sent so far.
func newLifecycle(t *testing.T, file, baseURL, headers string, c store.Connection, event string) (*events.Lifecycle, *store.Subscription, func() []*httpx.Attempt) {
	t.Helper()
	ctx := t.Context()
	ws, diags := layers.Load(".")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	patch := "kind: ConnectionOverride\nconnector: " + c.Connector + "\nconnectorPatch:\n  baseUrl: " + baseURL + "\n"
	if headers != "" {
		patch += "  headers: " + headers + "\n"
	}
	ws.Overrides = append(ws.Overrides, override(t, file, patch))
	var mu sync.Mutex
	var sent []*httpx.Attempt
	client := httpx.New(httpx.Config{AllowPrivate: true, Trace: func(a *httpx.Attempt) {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, a)
	}})
	traced := func() []*httpx.Attempt {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sent)
	}
	rt := membrane.New(membrane.Options{HTTP: client}, ws)
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "m.db"), store.WithKeyring(keys), store.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := connections.New(connections.Options{Store: st, Workspace: rt, HTTP: client, Logger: quiet})
	if _, err := st.EnsureTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	ts := st.Tenant("acme")
	c.Tenant, c.State = "acme", store.Connected
	conn, err := ts.Connections().Create(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ts.Subscriptions().Create(ctx, store.Subscription{Tenant: "acme", ConnectionID: conn.ID, Connector: c.Connector, Event: event})
	if err != nil {
		t.Fatal(err)
	}
	return &events.Lifecycle{Store: st, Conns: svc, PublicURL: "https://hooks.example.com", Log: quiet}, sub, traced
}

// TestBoxWebhookSubscription subscribes file-changed and removes its
// webhook against Box's own description: the subscribe body must be a
// valid webhook creation on the connection's watched folder, and the
// webhook's id what is kept.
func TestBoxWebhookSubscription(t *testing.T) {
	res := runLifecycle(t, lifecycleRun{
		API:   "box/openapi.json",
		Paths: []string{"/webhooks"},
		Event: "file-changed",
		Connection: store.Connection{Connector: "box", AuthMode: "developer-token",
			Credentials: map[string]any{"token": "box-developer-token"}, Parameters: map[string]any{"watchFolderId": "11446498"}},
	})
	x := res.Subscribe
	if x.Method != "POST" || x.URL != res.ServerURL+"/webhooks" || x.Response.Status != 201 {
		t.Fatalf("subscribe sent %s %s → %d, want POST /webhooks → 201", x.Method, x.URL, x.Response.Status)
	}
	body := decodeJSON(t, x.RequestBody)
	if got := body["target"]; !sameJSON(got, map[string]any{"id": "11446498", "type": "folder"}) {
		t.Errorf("target %v, want the watched folder 11446498", got)
	}
	if body["address"] != res.WebhookURL {
		t.Errorf("address %v, want %s", body["address"], res.WebhookURL)
	}
	if got := body["triggers"]; !sameJSON(got, []any{"FILE.UPLOADED", "FILE.RENAMED", "FILE.MOVED", "FILE.RESTORED", "FILE.TRASHED", "FILE.DELETED"}) {
		t.Errorf("triggers %v", got)
	}
	// The description's example webhook.
	if res.Kept["id"] != "11446498" {
		t.Errorf("kept %v, want the webhook id 11446498", res.Kept)
	}
	if u := res.Unsubscribe; u.Method != "DELETE" || u.URL != res.ServerURL+"/webhooks/11446498" || u.Response.Status != 204 {
		t.Errorf("unsubscribe sent %s %s → %d, want DELETE /webhooks/11446498 → 204", u.Method, u.URL, u.Response.Status)
	}
}

// TestTwilioWebhookSubscription reads the receiving number, points its
// SmsUrl at Membrane and puts back what it had, against Twilio's own
// description.
func TestTwilioWebhookSubscription(t *testing.T) {
	const acct, pn = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	res := runLifecycle(t, lifecycleRun{
		// Whole, as testdata/prism/twilio.yaml serves it: the path filter
		// cannot read this description.
		API:   "twilio/api-v2010.json",
		Event: "message-received",
		// The description's example number breaks its own schema (empty
		// SIDs and URLs where it declares patterns and URIs): Prism makes
		// the number up from the schema instead.
		Headers:           `{Prefer: "dynamic=true"}`,
		SubscribeRequests: 2,
		Tolerated: map[string]string{
			`body.SmsUrl: Request body property SmsUrl must match format "uri" (Error)`: "unsubscribing puts back " +
				"an empty SmsUrl when the number had none, which Twilio takes to mean none, though the description " +
				"declares every SmsUrl a URI",
		},
		Connection: store.Connection{Connector: "twilio",
			Credentials: map[string]any{"authToken": "prism-test-token"}, Parameters: map[string]any{"accountSid": acct, "phoneNumberSid": pn}},
	})
	path := res.ServerURL + "/2010-04-01/Accounts/" + acct + "/IncomingPhoneNumbers/" + pn + ".json"
	get, set := res.Subscribes[0], res.Subscribes[1]
	if get.Method != "GET" || get.URL != path || get.Response.Status != 200 {
		t.Fatalf("subscribe first sent %s %s → %d, want GET %s → 200", get.Method, get.URL, get.Response.Status, path)
	}
	number := decodeJSON(t, get.Response.Body)
	if set.Method != "POST" || set.URL != path || set.Response.Status != 200 {
		t.Fatalf("subscribe then sent %s %s → %d, want POST %s → 200", set.Method, set.URL, set.Response.Status, path)
	}
	form, err := url.ParseQuery(string(set.RequestBody))
	if err != nil {
		t.Fatalf("subscribe body %q: %v", set.RequestBody, err)
	}
	if form.Get("SmsUrl") != res.WebhookURL || form.Get("SmsMethod") != "POST" || len(form) != 2 {
		t.Errorf("subscribe form %v, want SmsUrl %s and SmsMethod POST only", form, res.WebhookURL)
	}
	// What the number had is kept: Prism makes up the number from the
	// description's schema, the same one every run (prismtest seeds it).
	prevURL, _ := number["sms_url"].(string)
	prevMethod, _ := number["sms_method"].(string)
	if prevMethod == "" {
		prevMethod = "POST"
	}
	t.Logf("the number had SmsUrl %q, SmsMethod %s", prevURL, prevMethod)
	if sid := decodeJSON(t, set.Response.Body)["sid"]; res.Kept["id"] != sid || res.Kept["previousSmsUrl"] != prevURL || res.Kept["previousSmsMethod"] != prevMethod {
		t.Errorf("kept %v, want id %v, previousSmsUrl %q and previousSmsMethod %s", res.Kept, sid, prevURL, prevMethod)
	}
	u := res.Unsubscribe
	if id, _ := res.Kept["id"].(string); u.Method != "POST" || u.URL != res.ServerURL+"/2010-04-01/Accounts/"+acct+"/IncomingPhoneNumbers/"+id+".json" {
		t.Errorf("unsubscribe sent %s %s, want POST to the number %s", u.Method, u.URL, id)
	}
	if form, _ := url.ParseQuery(string(u.RequestBody)); len(form) != 2 || form.Get("SmsUrl") != prevURL || form.Get("SmsMethod") != prevMethod {
		t.Errorf("unsubscribe form %q, want SmsUrl %q and SmsMethod %s, what the number had", u.RequestBody, prevURL, prevMethod)
	}
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return v
}

// sameJSON compares two values as JSON would write them.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// onlyTolerated reports whether Prism refused a request for tolerated
// violations alone.
func onlyTolerated(h http.Header, body []byte, tolerated map[string]string) bool {
	var problem struct{ Validation []prismtest.Violation }
	if json.Unmarshal(body, &problem) != nil || len(problem.Validation) == 0 {
		return false
	}
	for _, v := range problem.Validation {
		if _, ok := tolerated[v.String()]; !ok && strings.EqualFold(v.Severity, "error") {
			return false
		}
	}
	return h.Get("sl-violations") == ""
}

// requestViolations are the errors of Prism's validation located in the
// request, not in the description's own answer: in the sl-violations
// header, or in the body of a refusal.
func requestViolations(h http.Header, body []byte, tolerated map[string]string) []string {
	var vs []prismtest.Violation
	_ = json.Unmarshal([]byte(h.Get("sl-violations")), &vs)
	var problem struct{ Validation []prismtest.Violation }
	if json.Unmarshal(body, &problem) == nil {
		vs = append(vs, problem.Validation...)
	}
	var out []string
	for _, v := range vs {
		if _, ok := tolerated[v.String()]; ok {
			continue
		}
		if strings.EqualFold(v.Severity, "error") && (len(v.Location) == 0 || v.Location[0] != "response") {
			out = append(out, v.String())
		}
	}
	return out
}
