package ingress_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/ingress"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

const apiKey = "key_0123456789abcdef"

// The connected app: an API-key API that registers webhooks (POST /hooks,
// PATCH and DELETE /hooks/{id}) and serves contacts (GET /contacts/{id}).
const connectorYAML = `kind: Connector
key: acme
baseUrl: {{API}}
parameters:
  type: object
  properties:
    portal: {type: string}
auth:
  type: apiKey
  in: header
  name: X-Api-Key
  test: {path: /me}
retry: {maxAttempts: 1}
`

const actionYAML = `kind: Action
connector: acme
key: get-contact
request:
  path: /contacts/${ input.id }
`

// contact-pushed: the subscription's own URL, Slack's signing scheme with
// the secret the app gave at subscribe, its url_verification handshake.
const pushedYAML = `kind: Event
connector: acme
key: contact-pushed
recordSchema:
  type: object
  properties:
    id: {type: string}
    email: {type: string}
  required: [id, email]
webhook:
  subscribe:
    method: POST
    path: /hooks
    body: {url: "${ webhook.url }"}
  subscriptionId: ${ response.body.id }
  keep: {secret: "${ response.body.secret }"}
  unsubscribe: {method: DELETE, path: "/hooks/${ subscription.id }"}
  renew: {method: PATCH, path: "/hooks/${ subscription.id }"}
  expiresAt: ${ response.body.expiresAt }
  renewBefore: 2h
  signature:
    header: X-Slack-Signature
    prefix: v0=
    timestamp: ${ request.headers["x-slack-request-timestamp"] }
    payload: ${ "v0:" + request.headers["x-slack-request-timestamp"] + ":" + request.rawBody }
    secret: ${ subscription.secret }
  handshake:
    when: ${ request.body.?type.orValue("") == "url_verification" }
    body: {challenge: "${ request.body.challenge }"}
  contentTypes: [application/json]
  records: ${ request.body.events }
  id: ${ string(record.id) }
  type: '${ record.?deleted.orValue(false) ? "deleted" : "updated" }'
  updatedAt: ${ record.?updatedAt.orValue("") }
record:
  id: ${ string(record.id) }
  email: ${ record.email }
`

// portal-changed: the connector-wide URL, routed by portal id, signed
// with the connection's API key, ids only (fetched by get-contact), and a
// filter so it takes only contact records.
const portalYAML = `kind: Event
connector: acme
key: portal-changed
webhook:
  signature:
    header: X-Acme-Signature
    prefix: sha256=
    secret: ${ credentials.apiKey }
  connectionKey: ${ string(request.body.portalId) }
  match: ${ string(connection.parameters.portal) }
  records: ${ request.body.events }
  filter: ${ record.kind == "contact" }
  id: ${ string(record.objectId) }
  enrich:
    action: get-contact
    input: {id: "${ string(record.objectId) }"}
  response: {status: 202}
record:
  id: ${ string(record.id) }
  email: ${ record.email }
`

// fakeApp is the app's side.
type fakeApp struct {
	srv *httptest.Server

	mu       sync.Mutex
	hooks    map[string]string // id → registered URL
	reqs     []string
	secret   string
	expires  time.Time
	contacts map[string]map[string]any
	down     bool // GET /contacts answers 503
}

func newFakeApp(t *testing.T) *fakeApp {
	a := &fakeApp{hooks: map[string]string{}, secret: "slack-signing-secret-1", contacts: map[string]map[string]any{
		"7": {"id": 7, "email": "seven@example.com"},
	}}
	a.expires = time.Now().Add(time.Hour)
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeApp) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r.Method+" "+r.URL.Path)
	if r.Header.Get("X-Api-Key") != apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/me":
		io.WriteString(w, `{"ok":true}`)
	case r.Method == "POST" && r.URL.Path == "/hooks":
		var body struct{ URL string }
		json.NewDecoder(r.Body).Decode(&body)
		id := "hook_" + strconv.Itoa(len(a.hooks)+1)
		a.hooks[id] = body.URL
		json.NewEncoder(w).Encode(map[string]any{"id": id, "secret": a.secret, "expiresAt": a.expires.UTC().Format(time.RFC3339)})
	case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/hooks/"):
		json.NewEncoder(w).Encode(map[string]any{"expiresAt": time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)})
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/hooks/"):
		delete(a.hooks, strings.TrimPrefix(r.URL.Path, "/hooks/"))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/contacts/") && a.down:
		w.WriteHeader(http.StatusServiceUnavailable)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/contacts/"):
		c, ok := a.contacts[strings.TrimPrefix(r.URL.Path, "/contacts/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not found"}`)
			return
		}
		json.NewEncoder(w).Encode(c)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (a *fakeApp) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

// env is a server's webhook side on a real store and loopback HTTP.
type env struct {
	t      *testing.T
	ctx    context.Context
	app    *fakeApp
	open   func() store.Store
	st     store.Store
	svc    *connections.Service
	wh     *events.Webhooks
	life   *events.Lifecycle
	ingest *ingress.Handler
	srv    *httptest.Server
	clock  *storetest.Clock
}

func newEnv(t *testing.T, open storetest.Opener, maxBody int64) *env {
	t.Helper()
	app := newFakeApp(t)
	dir := testkit.Workspace(t, map[string]string{
		"connectors/acme/connector.yaml":             connectorYAML,
		"connectors/acme/actions/get-contact.yaml":   actionYAML,
		"connectors/acme/events/contact-pushed.yaml": pushedYAML,
		"connectors/acme/events/portal-changed.yaml": portalYAML,
	}, map[string]string{"{{API}}": app.srv.URL})
	client := httpx.New(httpx.Config{AllowPrivate: true})
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
	if err != nil {
		t.Fatalf("load: %v\n%v", err, diags)
	}
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock()
	reopen := func() store.Store {
		return open(store.WithKeyring(keys), store.WithClock(clock.Now), store.WithLogger(storetest.Quiet()))
	}
	e := &env{t: t, ctx: t.Context(), app: app, open: reopen, clock: clock}
	e.st = reopen()
	e.svc = connections.New(connections.Options{Store: e.st, Workspace: ws, HTTP: client})
	e.wh = &events.Webhooks{Store: e.st, Conns: e.svc}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.life = &events.Lifecycle{Store: e.st, Conns: e.svc, PublicURL: e.srv.URL}
	e.ingest = ingress.New(ingress.Options{Store: e.st, Webhooks: e.wh, PublicURL: e.srv.URL, MaxBody: maxBody})
	mux.Handle("/webhooks/", e.ingest)
	return e
}

// connection makes a connection of tenant on portal.
func (e *env) connection(tenant, portal string) *connections.Connection {
	e.t.Helper()
	c, err := e.svc.Create(e.ctx, tenant, connections.CreateRequest{Connector: "acme", Name: "Acme " + portal,
		Parameters: map[string]any{"portal": portal}, Credentials: map[string]any{"apiKey": apiKey}})
	if err != nil {
		e.t.Fatalf("create connection: %v", err)
	}
	return c
}

// subscribe creates a subscription and registers it at the app.
func (e *env) subscribe(tenant, connID, event string) *store.Subscription {
	e.t.Helper()
	sub, err := e.st.Tenant(tenant).Subscriptions().Create(e.ctx, store.Subscription{ConnectionID: connID, Event: event})
	if err != nil {
		e.t.Fatalf("create subscription: %v", err)
	}
	if err := e.life.Subscribe(e.ctx, sub); err != nil {
		e.t.Fatalf("subscribe: %v", err)
	}
	return sub
}

// slackSigned is a request signed as Slack signs: v0=HMAC-SHA256 of
// "v0:<ts>:<body>".
func slackSigned(url, secret, body string, ts time.Time) *http.Request {
	r, _ := http.NewRequest("POST", url, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	t := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	io.WriteString(m, "v0:"+t+":"+body)
	r.Header.Set("X-Slack-Request-Timestamp", t)
	r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return r
}

func acmeSigned(url, secret, body string) *http.Request {
	r, _ := http.NewRequest("POST", url, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	m := hmac.New(sha256.New, []byte(secret))
	io.WriteString(m, body)
	r.Header.Set("X-Acme-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	return r
}

func (e *env) send(r *http.Request) (int, string) {
	e.t.Helper()
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// outbox routes every outbox entry enqueued since the last call into the
// delivery log (to no destination) and returns them.
func (e *env) outbox() []store.Event {
	e.t.Helper()
	var out []store.Event
	for {
		ds, err := e.st.Deliveries().Route(e.ctx, 100, func(*store.Event) []string { return nil })
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ds) == 0 {
			return out
		}
		out = append(out, ds...)
	}
}

// changes keeps the outbox entries that are changes (not connection
// lifecycle events).
func changes(ds []store.Event) []events.Payload {
	var out []events.Payload
	for _, d := range ds {
		if strings.HasPrefix(d.Type, "connection.") {
			continue
		}
		var p events.Payload
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

// inboxLen counts the entries a claim finds (and lets their lease lapse
// at once, so they are due again).
func (e *env) inboxLen() int {
	e.t.Helper()
	got, err := e.st.Inbox().Claim(e.ctx, "counter", 1000, time.Nanosecond)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(got)
}
