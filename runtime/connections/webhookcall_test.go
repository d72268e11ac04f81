package connections_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// hookApp is an app whose webhook takes two requests to register: PUT
// /hook/url sets where pushes go (and answers the URL it replaced), POST
// /hook/signing turns signing on and answers the public key.
type hookApp struct {
	srv *httptest.Server

	mu     sync.Mutex
	url    string
	reqs   []string
	prefer []string // the Prefer header of every request
}

func newHookApp(t *testing.T) *hookApp {
	a := &hookApp{url: "https://old.example.com/in"}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *hookApp) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(body)))
	a.prefer = append(a.prefer, r.Header.Get("Prefer"))
	if r.Header.Get("X-Api-Key") != goodKey {
		writeJSON(w, 401, map[string]any{"error": "bad key"})
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/hook/url":
		writeJSON(w, 200, map[string]any{"url": a.url})
	case r.Method == "PUT" && r.URL.Path == "/hook/url":
		var in struct{ URL string }
		json.Unmarshal(body, &in)
		prev := a.url
		a.url = in.URL
		writeJSON(w, 200, map[string]any{"url": a.url, "previous": prev})
	case r.Method == "POST" && r.URL.Path == "/hook/signing":
		writeJSON(w, 200, map[string]any{"enabled": true, "public_key": "pk-123"})
	default:
		writeJSON(w, 404, map[string]any{"error": "no route"})
	}
}

func (a *hookApp) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

const hookConnector = `kind: Connector
key: hooky
baseUrl: http://127.0.0.1:9/unreachable
headers: {Accept: application/json}
auth:
  type: apiKey
  in: header
  name: X-Api-Key
retry: {maxAttempts: 1}
`

// The override points the connector at the app and asks for a canned
// answer, as a mock server's Prefer header does.
const hookOverride = `kind: ConnectionOverride
connector: hooky
tenant: acme
connectorPatch:
  baseUrl: {{API}}
  headers: {Prefer: code=200}
`

const hookRequestEvent = `kind: Event
connector: hooky
key: by-request
webhook:
  subscribe:
    method: PUT
    path: /hook/url
    body: {url: "${ webhook.url }"}
  subscriptionId: ${ response.body.url }
  records: ${ request.body.events }
  id: ${ string(record.id) }
`

func newHookEnv(t *testing.T, open storetest.Opener, files map[string]string) (*hookApp, *connections.Service, store.Store) {
	t.Helper()
	app := newHookApp(t)
	all := map[string]string{
		"connectors/hooky/connector.yaml": hookConnector,
		"connections/acme.yaml":           hookOverride,
	}
	maps.Copy(all, files)
	dir := testkit.Workspace(t, all, map[string]string{"{{API}}": app.srv.URL})
	client := httpx.New(httpx.Config{AllowPrivate: true})
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
	if err != nil {
		t.Fatalf("load: %v\n%v", err, diags)
	}
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	st := open(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	svc := connections.New(connections.Options{Store: st, Workspace: ws, HTTP: client, Logger: storetest.Quiet()})
	return app, svc, st
}

func hookSubscribe(t *testing.T, svc *connections.Service, st store.Store, life *events.Lifecycle, event string) (*connections.Connection, *store.Subscription) {
	t.Helper()
	c, err := svc.Create(t.Context(), "acme", connections.CreateRequest{Connector: "hooky", Name: "Hooky", Credentials: map[string]any{"apiKey": goodKey}})
	if err != nil {
		t.Fatalf("create connection: %v", err)
	}
	sub, err := st.Tenant("acme").Subscriptions().Create(t.Context(), store.Subscription{ConnectionID: c.ID, Event: event})
	if err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	if err := life.Subscribe(t.Context(), sub); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return c, sub
}

// A connection override's connector headers go with the webhook's own
// requests as with an action's: the patched base URL and its headers are
// one patch.
func TestSubscribeSendsTheOverridesConnectorHeaders(t *testing.T) {
	t.Run("file", func(t *testing.T) { testSubscribeHeaders(t, false) })
	t.Run("stored", func(t *testing.T) { testSubscribeHeaders(t, true) })
}

func testSubscribeHeaders(t *testing.T, stored bool) {
	files := map[string]string{"connectors/hooky/events/by-request.yaml": hookRequestEvent}
	if stored {
		files["connections/acme.yaml"] = "kind: ConnectionOverride\nconnector: hooky\ntenant: acme\nconnectorPatch: {baseUrl: {{API}}}\n"
	}
	app, svc, st := newHookEnv(t, storetest.SQLite(t)(t), files)
	if stored {
		if _, diags, err := svc.PutOverride(t.Context(), "acme", "hooky", "", []byte(`{"kind":"ConnectionOverride","connector":"hooky","connectorPatch":{"headers":{"Prefer":"code=200"}}}`), 0); err != nil {
			t.Fatalf("put override: %v %v", err, diags)
		}
	}
	life := &events.Lifecycle{Store: st, Conns: svc, PublicURL: "https://hooks.example.com"}
	_, sub := hookSubscribe(t, svc, st, life, "by-request")
	if got := sub.Remote["id"]; got != "https://hooks.example.com/webhooks/s/"+sub.WebhookToken {
		t.Fatalf("kept id %v", got)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.prefer) != 1 || app.prefer[0] != "code=200" {
		t.Fatalf("Prefer headers of %v: %q; want the override's code=200", app.reqs, app.prefer)
	}
}

// Registering takes two requests (set the URL, enable signing); removing
// puts back the URL the app had.
const hookEnable = `kind: Action
connector: hooky
key: enable-hook
description: Points the app's webhook at a URL and turns signing on; run by subscribing.
inputSchema:
  type: object
  properties: {url: {type: string}}
  required: [url]
steps:
  - name: setUrl
    request: {method: PUT, path: /hook/url, body: {url: "${ input.url }"}}
  - name: sign
    request: {method: POST, path: /hook/signing, body: {enabled: true}}
output:
  previous: ${ steps.setUrl.output.previous }
  publicKey: ${ steps.sign.output.public_key }
`

const hookRestore = `kind: Action
connector: hooky
key: restore-hook
description: Puts back the URL the app's webhook had; run by unsubscribing.
inputSchema:
  type: object
  properties: {url: {type: string}}
request: {method: PUT, path: /hook/url, body: {url: "${ input.url }"}}
`

const hookActionEvent = `kind: Event
connector: hooky
key: by-action
webhook:
  subscribe:
    action: enable-hook
    input: {url: "${ webhook.url }"}
  subscriptionId: ${ string(response.status) + ":" + connection.name }
  keep:
    publicKey: ${ response.body.publicKey }
    previousUrl: ${ response.body.previous }
  unsubscribe:
    action: restore-hook
    input: {url: "${ subscription.previousUrl }"}
  records: ${ request.body.events }
  id: ${ string(record.id) }
`

// An event whose subscribe and unsubscribe run actions: every request
// of the action goes to the app with the connection's auth and the
// override's headers, its output is what subscribing keeps, and
// unsubscribing restores what the app had.
func TestSubscribeRunsAnAction(t *testing.T) {
	app, svc, st := newHookEnv(t, storetest.SQLite(t)(t), map[string]string{
		"connectors/hooky/actions/enable-hook.yaml":  hookEnable,
		"connectors/hooky/actions/restore-hook.yaml": hookRestore,
		"connectors/hooky/events/by-action.yaml":     hookActionEvent,
	})
	life := &events.Lifecycle{Store: st, Conns: svc, PublicURL: "https://hooks.example.com"}
	c, sub := hookSubscribe(t, svc, st, life, "by-action")
	url := "https://hooks.example.com/webhooks/s/" + sub.WebhookToken
	want := map[string]any{"id": "200:Hooky", "publicKey": "pk-123", "previousUrl": "https://old.example.com/in"}
	if !maps.Equal(sub.Remote, want) {
		t.Fatalf("kept %v, want %v", sub.Remote, want)
	}
	stored, err := st.Tenant("acme").Subscriptions().Get(t.Context(), sub.ID)
	if err != nil || !maps.Equal(stored.Remote, want) {
		t.Fatalf("stored %v (%v), want %v", stored.Remote, err, want)
	}
	wantReqs := []string{`PUT /hook/url {"url":"` + url + `"}`, `POST /hook/signing {"enabled":true}`}
	if got := app.requests(); !slices.Equal(got, wantReqs) {
		t.Fatalf("subscribing sent %q, want %q", got, wantReqs)
	}
	runs, err := st.Tenant("acme").RunLogs().List(t.Context(), store.RunLogFilter{ConnectionID: c.ID})
	if err != nil || len(runs.Items) != 1 || runs.Items[0].Action != "enable-hook" || runs.Items[0].Origin != "webhook" {
		t.Fatalf("run logs %+v (%v), want one run of enable-hook from webhook", runs.Items, err)
	}

	if err := life.Unsubscribe(t.Context(), sub); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	got := app.requests()
	if last := got[len(got)-1]; last != `PUT /hook/url {"url":"https://old.example.com/in"}` {
		t.Fatalf("unsubscribing sent %q, want the old URL put back", last)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	for i, p := range app.prefer {
		if p != "code=200" {
			t.Errorf("request %q went without the override's Prefer header", app.reqs[i])
		}
	}
}
