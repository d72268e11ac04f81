package connections_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// forEachStore runs fn on SQLite, and on PostgreSQL when it is reachable
// (storetest skips it otherwise, and fails in CI without it).
func forEachStore(t *testing.T, fn func(t *testing.T, open storetest.Opener)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLite(t)(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.Postgres(t)(t)) })
}

const (
	goodKey = "key_good_0123456789"
	newKey  = "key_new_9876543210"
	badKey  = "key_bad_5555555555"
)

// fakeAPI is the connected app: an API-key API (/me, /contacts) and an
// OAuth2 one (/o/me, /o/contacts) with its token endpoint (/token).
type fakeAPI struct {
	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string]bool // API keys accepted
	meStatus int             // forced status of GET /me, 0: normal
	bodies   []map[string]any
	meCalls  int
	reqs     []string // "METHOD path" of every request
	tokens   map[string]bool
	issued   int
	refuseRT bool // the token endpoint refuses refresh tokens (invalid_grant)
	grants   []string
	// hold, when set, holds the next GET /me of that key until release is
	// closed, then refuses it; held is closed when it arrives.
	hold          string
	held, release chan struct{}
	lastToken     string // the bearer token of the last OAuth API call
	// listed is what GET /contacts lists (polls); listStatus, when set,
	// is its forced status.
	listed     []map[string]any
	listStatus int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	a := &fakeAPI{keys: map[string]bool{goodKey: true}, tokens: map[string]bool{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAPI) set(fn func(a *fakeAPI)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a)
}

func (a *fakeAPI) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reqs...)
}

func (a *fakeAPI) lastBody() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.bodies) == 0 {
		return nil
	}
	return a.bodies[len(a.bodies)-1]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r.Method+" "+r.URL.Path)
	switch {
	case r.URL.Path == "/token":
		form, _ := parseForm(string(body))
		a.grants = append(a.grants, form["grant_type"])
		if user, pass, ok := r.BasicAuth(); !ok || user != "client-1" || pass != "client-secret-1" {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		if form["grant_type"] == "refresh_token" && a.refuseRT {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "the refresh token was revoked"})
			return
		}
		a.issued++
		at := "at_" + strings.Repeat("x", 8) + string(rune('0'+a.issued))
		a.tokens[at] = true
		writeJSON(w, 200, map[string]any{"access_token": at, "refresh_token": "rt_" + at, "token_type": "Bearer", "expires_in": 3600})
		return
	case strings.HasPrefix(r.URL.Path, "/o/"):
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.lastToken = tok
		if !a.tokens[tok] {
			writeJSON(w, 401, map[string]any{"error": "bad token"})
			return
		}
		writeJSON(w, 200, map[string]any{"id": "o_1", "token": tok})
		return
	}
	key := r.Header.Get("X-Api-Key")
	if r.URL.Path == "/me" && a.hold != "" && key == a.hold {
		a.hold = ""
		close(a.held)
		a.mu.Unlock()
		<-a.release
		a.mu.Lock()
		writeJSON(w, 401, map[string]any{"error": "revoked"})
		return
	}
	if !a.keys[key] {
		// An API that echoes what it refused: the runtime must hide it.
		writeJSON(w, 401, map[string]any{"error": "invalid key " + key})
		return
	}
	switch r.URL.Path {
	case "/me":
		a.meCalls++
		if a.meStatus != 0 {
			writeJSON(w, a.meStatus, map[string]any{"error": "unavailable"})
			return
		}
		writeJSON(w, 200, map[string]any{"account": "acme", "region": r.Header.Get("X-Region")})
	case "/contacts":
		if r.Method == http.MethodGet {
			if a.listStatus != 0 {
				writeJSON(w, a.listStatus, map[string]any{"error": "unavailable"})
				return
			}
			writeJSON(w, 200, map[string]any{"items": a.listed})
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		a.bodies = append(a.bodies, m)
		if m["email"] == "bad" {
			writeJSON(w, 422, map[string]any{"error": "bad email"})
			return
		}
		writeJSON(w, 200, map[string]any{"id": "c_1", "debug": "called with " + key})
	default:
		http.NotFound(w, r)
	}
}

func parseForm(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, "&") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out, nil
}

const keyedConnector = `kind: Connector
key: keyed
name: Keyed API
baseUrl: {{API}}
parameters:
  type: object
  required: [region]
  properties:
    region: {type: string, enum: [eu, us]}
auth:
  type: apiKey
  in: header
  name: X-Api-Key
  credentials:
    type: object
    required: [apiKey]
    properties:
      apiKey: {type: string, pattern: "^key_", writeOnly: true}
  test: {method: GET, path: /me}
headers:
  X-Region: ${ connection.parameters.region }
retry: {maxAttempts: 1}
`

// keyedInternalAction is run by the files alone (a webhook's subscribe):
// callers are not offered it.
const keyedInternalAction = `kind: Action
connector: keyed
key: register-hook
internal: true
request: {method: POST, path: /hooks}
`

// keyedEvent polls the fake API's contacts; stored overrides may patch it.
const keyedEvent = `kind: Event
connector: keyed
key: contact-sync
polling:
  request: {path: /contacts}
  items: ${ response.body.items }
  id: ${ string(record.id) }
  interval: 5m
record:
  id: ${ string(record.id) }
  email: ${ record.email }
`

const keyedAction = `kind: Action
connector: keyed
key: create-contact
inputSchema:
  type: object
  required: [email]
  properties:
    email: {type: string}
request:
  method: POST
  path: /contacts
  body:
    email: ${ input.email }
output:
  id: ${ response.body.id }
`

const oauthConnector = `kind: Connector
key: oauthy
name: OAuthy
baseUrl: {{API}}/o
auth:
  type: oauth2
  authorizationUrl: {{API}}/authorize
  tokenUrl: {{API}}/token
  scopes: [read, write]
  test: {method: GET, path: /me}
retry: {maxAttempts: 1}
`

const oauthAction = `kind: Action
connector: oauthy
key: whoami
request: {method: GET, path: /me}
output:
  id: ${ response.body.id }
`

// machineConnector uses the client credentials grant with each
// connection's own client.
const machineConnector = `kind: Connector
key: machine
baseUrl: {{API}}/o
auth:
  type: oauth2
  grant: clientCredentials
  tokenUrl: {{API}}/token
  credentials:
    type: object
    required: [clientId, clientSecret]
    properties:
      clientId: {type: string}
      clientSecret: {type: string, writeOnly: true}
  test: {method: GET, path: /me}
retry: {maxAttempts: 1}
`

const machineAction = `kind: Action
connector: machine
key: whoami
request: {method: GET, path: /me}
output:
  id: ${ response.body.id }
`

// initechOverride is an override file of the workspace for one tenant.
const initechOverride = `kind: ConnectionOverride
tenant: initech
connector: keyed
actions:
  create-contact:
    request:
      body:
        origin: file
        layer: file
`

type env struct {
	t     *testing.T
	ctx   context.Context
	api   *fakeAPI
	clock *storetest.Clock
	st    store.Store
	ws    *membrane.Workspace
	m     *oauth.Manager
	svc   *connections.Service
}

func newEnv(t *testing.T, open storetest.Opener, tweaks ...func(*connections.Options)) *env {
	t.Helper()
	api := newFakeAPI(t)
	files := map[string]string{
		"connectors/keyed/connector.yaml":              keyedConnector,
		"connectors/keyed/actions/create-contact.yaml": keyedAction,
		"connectors/keyed/actions/register-hook.yaml":  keyedInternalAction,
		"connectors/keyed/events/contact-sync.yaml":    keyedEvent,
		"connectors/oauthy/connector.yaml":             oauthConnector,
		"connectors/oauthy/actions/whoami.yaml":        oauthAction,
		"connectors/machine/connector.yaml":            machineConnector,
		"connectors/machine/actions/whoami.yaml":       machineAction,
		"connections/initech.yaml":                     initechOverride,
	}
	dir := testkit.Workspace(t, files, map[string]string{"{{API}}": api.srv.URL})
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
	st := open(store.WithKeyring(keys), store.WithClock(clock.Now), store.WithLogger(storetest.Quiet()))
	clients := func(connector string) (string, string, bool) {
		if connector == "oauthy" {
			return "client-1", "client-secret-1", true
		}
		return "", "", false
	}
	m, err := oauth.New(oauth.Options{HTTP: client, Tokens: connections.NewTokenStore(st), States: connections.NewStateStore(st),
		Providers: connections.Providers(ws, clients), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	o := connections.Options{Store: st, Workspace: ws, OAuth: m, OAuthClients: clients, HTTP: client,
		Now: clock.Now, Logger: storetest.Quiet(), RunLogRetention: 24 * time.Hour, RetryBase: 30 * time.Second, RetryMax: 10 * time.Minute}
	for _, tw := range tweaks {
		tw(&o)
	}
	svc := connections.New(o)
	return &env{t: t, ctx: t.Context(), api: api, clock: clock, st: st, ws: ws, m: m, svc: svc}
}

// create makes an API-key connection of tenant that works.
func (e *env) create(tenant string) *connections.Connection {
	e.t.Helper()
	c, err := e.svc.Create(e.ctx, tenant, connections.CreateRequest{Connector: "keyed", Name: "Acme",
		Parameters: map[string]any{"region": "eu"}, Credentials: map[string]any{"apiKey": goodKey}})
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return c
}

// tick moves the clock a second on, so events are ordered by time.
func (e *env) tick() { e.clock.Advance(time.Second) }

type event struct {
	Type    string
	Payload connections.EventPayload
}

// events routes every outbox entry enqueued since the last call into the
// delivery log (to no destination) and returns them, oldest first.
func (e *env) events() []event {
	e.t.Helper()
	ds, err := e.st.Deliveries().Route(e.ctx, 1000, func(*store.Event) []string { return nil })
	if err != nil {
		e.t.Fatal(err)
	}
	var out []event
	for _, d := range ds {
		var p connections.EventPayload
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			e.t.Fatal(err)
		}
		// The event names its connection for the destinations' filters.
		if d.ConnectionID != p.ConnectionID || d.Connector != p.Connector || d.ConnectionID == "" || d.Connector == "" {
			e.t.Errorf("event %s of connection %s (%s) names connection %q (%q)", d.Type, p.ConnectionID, p.Connector, d.ConnectionID, d.Connector)
		}
		out = append(out, event{Type: d.Type, Payload: p})
	}
	return out
}

func eventTypes(evs []event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// result carries a call's value and error: c := try(f()).ok(t).
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) ok(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

// everything is an error and a value as text, to look for secrets in.
func everything(t *testing.T, err error, v any) string {
	t.Helper()
	b, _ := json.Marshal(v)
	s := string(b)
	if err != nil {
		s += "\n" + err.Error()
		eb, _ := json.Marshal(err)
		s += "\n" + string(eb)
	}
	return s
}
