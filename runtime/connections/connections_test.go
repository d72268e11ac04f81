package connections_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// Creating an API-key connection: the test request decides. Accepted →
// saved with connection.created; refused → a typed error, nothing saved,
// the key nowhere; the API down → the run error, nothing saved.
func TestCreateWithAPIKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		c := e.create("acme")
		if c.State != store.Connected || c.Connector != "keyed" || c.Name != "Acme" || c.Tenant != "acme" || !strings.HasPrefix(c.ID, "conn_") {
			t.Fatalf("created %+v", c)
		}
		if c.Credentials != nil || c.Token != nil {
			t.Fatal("Create returned the secrets")
		}
		if got := e.api.requests(); !slices.Equal(got, []string{"GET /me"}) {
			t.Fatalf("the API saw %v, want the test request", got)
		}
		stored := try(e.st.Tenant("acme").Connections().Get(e.ctx, c.ID)).ok(t)
		if stored.Credentials["apiKey"] != goodKey || !reflect.DeepEqual(stored.Parameters, map[string]any{"region": "eu"}) {
			t.Fatalf("stored %+v", stored)
		}
		evs := e.events()
		want := connections.EventPayload{ConnectionID: c.ID, Tenant: "acme", Connector: "keyed", Name: "Acme", State: store.Connected, Version: 1}
		if len(evs) != 1 || evs[0].Type != connections.EventCreated || evs[0].Payload != want {
			t.Fatalf("events %+v, want one %+v", evs, want)
		}

		// Refused.
		_, err := e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed",
			Parameters: map[string]any{"region": "eu"}, Credentials: map[string]any{"apiKey": badKey}})
		isErr(t, err, connections.ErrCredentialsRefused)
		var cre *connections.CredentialsRefusedError
		if !errors.As(err, &cre) || cre.Err.Status != 401 || engine.TypeOf(err) != engine.ErrAuth {
			t.Fatalf("err = %#v, want a CredentialsRefusedError of a 401", err)
		}
		if s := everything(t, err, nil); strings.Contains(s, badKey) {
			t.Fatalf("the refused key shows: %s", s)
		}

		// The API is down: no verdict, nothing saved.
		e.api.set(func(a *fakeAPI) { a.meStatus = 503 })
		_, err = e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed",
			Parameters: map[string]any{"region": "us"}, Credentials: map[string]any{"apiKey": goodKey}})
		if errors.Is(err, connections.ErrCredentialsRefused) || engine.TypeOf(err) != engine.ErrUpstream {
			t.Fatalf("err = %v, want the upstream error", err)
		}
		page := try(e.svc.List(e.ctx, "acme", connections.ListRequest{})).ok(t)
		if len(page.Items) != 1 || page.Items[0].ID != c.ID {
			t.Fatalf("list %+v, want only the first connection", page.Items)
		}
		if evs := e.events(); len(evs) != 0 {
			t.Fatalf("events %+v after refused creations", evs)
		}

		// Unknown connector; an OAuth consent connector.
		_, err = e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyd"})
		isErr(t, err, connections.ErrUnknownConnector)
		if !strings.Contains(err.Error(), `"keyed"`) {
			t.Errorf("no suggestion in %q", err)
		}
		_, err = e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "oauthy"})
		isErr(t, err, connections.ErrOAuthRequired)
	})
}

// Parameters and credentials are checked against the connector's schemas
// before anything is sent; violations are placed by JSON Pointer in the
// request, and a credential's value is never in them.
func TestCreateValidation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		const secret = "sk_live_do_not_echo_me"
		_, err := e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed",
			Parameters: map[string]any{"region": "mars"}, Credentials: map[string]any{"apiKey": secret, "extra": 1}})
		var ve *connections.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want a ValidationError", err)
		}
		isErr(t, err, connections.ErrInvalid)
		got := map[string]string{}
		for _, v := range ve.Violations {
			got[v.Pointer] = v.Message
		}
		if _, ok := got["/parameters/region"]; !ok || !strings.Contains(got["/parameters/region"], "eu") {
			t.Errorf("violations %v: want /parameters/region naming the allowed values", got)
		}
		if _, ok := got["/credentials/apiKey"]; !ok {
			t.Errorf("violations %v: want /credentials/apiKey", got)
		}
		if s := everything(t, err, ve); strings.Contains(s, secret) || strings.Contains(s, "sk_live") {
			t.Fatalf("the credential shows: %s", s)
		}

		// Missing ones are reported at the object that lacks them.
		_, err = e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed", Credentials: map[string]any{"apiKey": 42}})
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want a ValidationError", err)
		}
		ptrs := map[string]bool{}
		for _, v := range ve.Violations {
			ptrs[v.Pointer] = true
		}
		if !ptrs["/parameters"] || !ptrs["/credentials/apiKey"] {
			t.Errorf("violations %+v: want /parameters (region missing) and /credentials/apiKey (not a string)", ve.Violations)
		}
		if n := len(e.api.requests()); n != 0 {
			t.Fatalf("the API saw %d requests, want none", n)
		}
	})
}

// A tenant never reaches another's connection: every call by id is
// ErrNotFound, as for an id that does not exist.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		c := e.create("acme")
		b := "globex"
		_, err := e.svc.Get(e.ctx, b, c.ID)
		isErr(t, err, connections.ErrNotFound)
		_, err = e.svc.Run(e.ctx, b, c.ID, "create-contact", map[string]any{"email": "a@b.c"}, engine.RunOptions{})
		isErr(t, err, connections.ErrNotFound)
		_, err = e.svc.Test(e.ctx, b, c.ID)
		isErr(t, err, connections.ErrNotFound)
		_, err = e.svc.Reconnect(e.ctx, b, c.ID, map[string]any{"apiKey": goodKey})
		isErr(t, err, connections.ErrNotFound)
		_, _, err = e.svc.PutOverride(e.ctx, b, "keyed", c.ID, []byte("kind: ConnectionOverride\nconnector: keyed\n"), 0)
		isErr(t, err, connections.ErrNotFound)
		_, err = e.svc.BeginOAuth(e.ctx, b, connections.BeginOAuthRequest{Connector: "oauthy", ConnectionID: c.ID, RedirectURI: "https://app.example/cb"})
		isErr(t, err, connections.ErrNotFound)
		err = e.svc.Delete(e.ctx, b, c.ID)
		isErr(t, err, connections.ErrNotFound)
		if page := try(e.svc.List(e.ctx, b, connections.ListRequest{})).ok(t); len(page.Items) != 0 {
			t.Fatalf("tenant %s lists %+v", b, page.Items)
		}
		if n := len(e.api.requests()); n != 1 {
			t.Fatalf("the API saw %d requests, want only the creation's test", n)
		}
		// A's connection is intact, and A can delete it.
		if got := try(e.svc.Get(e.ctx, "acme", c.ID)).ok(t); got.Version != 1 {
			t.Fatalf("acme's connection changed: %+v", got)
		}
		e.events()
		e.tick()
		if err := e.svc.Delete(e.ctx, "acme", c.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Get(e.ctx, "acme", c.ID)
		isErr(t, err, connections.ErrNotFound)
		if evs := e.events(); !slices.Equal(eventTypes(evs), []string{connections.EventDeleted}) || evs[0].Payload.ConnectionID != c.ID {
			t.Fatalf("events %+v, want connection.deleted", evs)
		}
	})
}

// The states a connection goes through, and the events that report them,
// in order: refused → disconnected (runs refused until reconnected);
// transient → error, retried by Maintain with backoff until it recovers;
// a run that works recovers an errored connection; a run whose key is
// refused disconnects it.
func TestStateTransitions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		c := e.create("acme")
		state := func(want store.ConnectionState) *connections.Connection {
			t.Helper()
			got := try(e.svc.Get(ctx, "acme", c.ID)).ok(t)
			if got.State != want {
				t.Fatalf("state %q (%s), want %q", got.State, got.LastError, want)
			}
			return got
		}
		input := map[string]any{"email": "ada@example.com"}

		// The key is revoked: the test disconnects.
		e.tick()
		e.api.set(func(a *fakeAPI) { delete(a.keys, goodKey) })
		res := try(e.svc.Test(ctx, "acme", c.ID)).ok(t)
		if res.OK || res.Error == nil || res.Error.Type != engine.ErrAuth || res.Connection.State != store.Disconnected {
			t.Fatalf("test %+v", res)
		}
		got := state(store.Disconnected)
		if !strings.Contains(got.LastError, "401") || strings.Contains(got.LastError, goodKey) {
			t.Fatalf("last error %q", got.LastError)
		}
		before := len(e.api.requests())
		_, err := e.svc.Run(ctx, "acme", c.ID, "create-contact", input, engine.RunOptions{})
		isErr(t, err, connections.ErrDisconnected)
		if len(e.api.requests()) != before {
			t.Fatal("a disconnected connection sent a request")
		}

		// A new key: refused ones change nothing, an accepted one reconnects.
		e.tick()
		e.api.set(func(a *fakeAPI) { a.keys[newKey] = true })
		_, err = e.svc.Reconnect(ctx, "acme", c.ID, map[string]any{"apiKey": badKey})
		isErr(t, err, connections.ErrCredentialsRefused)
		state(store.Disconnected)
		if r := try(e.svc.Reconnect(ctx, "acme", c.ID, map[string]any{"apiKey": newKey})).ok(t); r.State != store.Connected || r.LastError != "" {
			t.Fatalf("reconnected %+v", r)
		}

		// The API is down: error, no event; Maintain retries with backoff.
		e.tick()
		e.api.set(func(a *fakeAPI) { a.meStatus = 503 })
		if res := try(e.svc.Test(ctx, "acme", c.ID)).ok(t); res.Error == nil || res.Error.Type != engine.ErrUpstream {
			t.Fatalf("test %+v", res)
		}
		if got := state(store.Errored); !strings.Contains(got.LastError, "503") {
			t.Fatalf("last error %q", got.LastError)
		}
		meCalls := func() int {
			e.api.mu.Lock()
			defer e.api.mu.Unlock()
			return e.api.meCalls
		}
		maintain := func(wantRetried int, wantState store.ConnectionState) {
			t.Helper()
			n := meCalls()
			rep, err := e.svc.MaintainOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Retried != wantRetried || meCalls() != n+wantRetried {
				t.Fatalf("maintain %+v, %d test requests; want %d retried", rep, meCalls()-n, wantRetried)
			}
			state(wantState)
		}
		maintain(0, store.Errored) // not due: 30 s after the error
		e.clock.Advance(31 * time.Second)
		maintain(1, store.Errored) // due, still failing: next in 60 s
		e.clock.Advance(31 * time.Second)
		maintain(0, store.Errored)
		e.api.set(func(a *fakeAPI) { a.meStatus = 0 })
		e.clock.Advance(30 * time.Second)
		maintain(1, store.Connected)
		maintain(0, store.Connected)

		// Error again; a run that works recovers it.
		e.tick()
		e.api.set(func(a *fakeAPI) { a.meStatus = 503 })
		try(e.svc.Test(ctx, "acme", c.ID)).ok(t)
		state(store.Errored)
		e.tick()
		out, err := e.svc.Run(ctx, "acme", c.ID, "create-contact", input, engine.RunOptions{})
		if err != nil || out.Output.(map[string]any)["id"] != "c_1" {
			t.Fatalf("run: %v %+v", err, out)
		}
		state(store.Connected)

		// The key is revoked: a run refused with 401 disconnects.
		e.tick()
		e.api.set(func(a *fakeAPI) { delete(a.keys, newKey) })
		_, err = e.svc.Run(ctx, "acme", c.ID, "create-contact", input, engine.RunOptions{})
		if engine.TypeOf(err) != engine.ErrAuth || strings.Contains(err.Error(), newKey) {
			t.Fatalf("run: %v", err)
		}
		state(store.Disconnected)

		evs := e.events()
		want := []string{connections.EventCreated, connections.EventDisconnected, connections.EventReconnected,
			connections.EventReconnected, connections.EventReconnected, connections.EventDisconnected}
		if !slices.Equal(eventTypes(evs), want) {
			t.Fatalf("events %v, want %v", eventTypes(evs), want)
		}
		for i, ev := range evs {
			if ev.Payload.ConnectionID != c.ID || ev.Payload.Tenant != "acme" || (i > 0 && ev.Payload.Version <= evs[i-1].Payload.Version) {
				t.Fatalf("event %d: %+v", i, ev)
			}
		}
		if p := evs[1].Payload; p.State != store.Disconnected || !strings.Contains(p.LastError, "401") {
			t.Fatalf("disconnected payload %+v", p)
		}
		if s := everything(t, nil, evs); strings.Contains(s, goodKey) || strings.Contains(s, newKey) {
			t.Fatalf("a key is in the events: %s", s)
		}
	})
}

// A stored override adds a body field the API then sees; the tenant-wide
// one applies first, the connection's after it. The run log is recorded,
// redacted (the key is nowhere in it, though the API echoed it).
func TestRunWithStoredOverrideAndRunLog(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		c := e.create("acme")
		tenantWide := `kind: ConnectionOverride
connector: keyed
actions:
  create-contact:
    request:
      body:
        source: membrane
        color: tenant-default
`
		mine := `kind: ConnectionOverride
tenant: acme
connection: ` + c.ID + `
connector: keyed
actions:
  create-contact:
    inputSchema:
      properties:
        color: {type: string}
    request:
      body:
        color: ${ input.?color.orValue('none') }
`
		o1, _, err := e.svc.PutOverride(ctx, "acme", "keyed", "", []byte(tenantWide), 0)
		if err != nil || o1.Revision != 1 {
			t.Fatalf("put tenant-wide: %v %+v", err, o1)
		}
		if _, _, err := e.svc.PutOverride(ctx, "acme", "keyed", c.ID, []byte(mine), 0); err != nil {
			t.Fatal(err)
		}
		got := try(e.svc.GetOverride(ctx, "acme", "keyed", c.ID)).ok(t)
		if string(got.Doc) != mine || got.Revision != 1 {
			t.Fatalf("get override %+v", got)
		}

		out, err := e.svc.Run(ctx, "acme", c.ID, "create-contact", map[string]any{"email": "ada@example.com", "color": "blue"}, engine.RunOptions{Log: true})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"email": "ada@example.com", "source": "membrane", "color": "blue"}
		if b := e.api.lastBody(); !reflect.DeepEqual(b, want) {
			t.Fatalf("the API saw %v, want %v", b, want)
		}
		if out.RunID == "" || out.Output.(map[string]any)["id"] != "c_1" {
			t.Fatalf("result %+v", out)
		}

		// The run log: the action, ok, the exchange; no key anywhere.
		l := try(e.st.Tenant("acme").RunLogs().Get(ctx, out.RunID)).ok(t)
		if l.Action != "create-contact" || l.Status != "ok" || l.ConnectionID != c.ID || l.Error != "" {
			t.Fatalf("run log %+v", l)
		}
		var entries []engine.Exchange
		if err := json.Unmarshal(l.Entries, &entries); err != nil || len(entries) != 1 {
			t.Fatalf("entries %s: %v", l.Entries, err)
		}
		if x := entries[0]; x.Method != "POST" || x.Status != 200 || !strings.Contains(x.RequestBody, "membrane") || x.RequestHeaders.Get("X-Api-Key") != "[redacted]" {
			t.Fatalf("entry %+v", x)
		}
		if strings.Contains(string(l.Entries), goodKey) {
			t.Fatalf("the key is in the run log: %s", l.Entries)
		}

		// A failing run is logged with its error type; the tenant-wide
		// override alone applies once the connection's is deleted.
		if err := e.svc.DeleteOverride(ctx, "acme", "keyed", c.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.GetOverride(ctx, "acme", "keyed", c.ID)
		isErr(t, err, connections.ErrNotFound)
		out, err = e.svc.Run(ctx, "acme", c.ID, "create-contact", map[string]any{"email": "bad"}, engine.RunOptions{})
		if engine.TypeOf(err) != engine.ErrInvalidInput || out == nil || out.RunID == "" {
			t.Fatalf("run: %v %+v", err, out)
		}
		if b := e.api.lastBody(); b["color"] != "tenant-default" {
			t.Fatalf("the API saw %v, want the tenant-wide color", b)
		}
		l = try(e.st.Tenant("acme").RunLogs().Get(ctx, out.RunID)).ok(t)
		if l.Status != engine.ErrInvalidInput || !strings.Contains(l.Error, "422") {
			t.Fatalf("run log %+v", l)
		}
		if st := try(e.svc.Get(ctx, "acme", c.ID)).ok(t); st.State != store.Connected {
			t.Fatalf("a 422 changed the state: %+v", st)
		}

		// Unknown action.
		_, err = e.svc.Run(ctx, "acme", c.ID, "create-contcat", nil, engine.RunOptions{})
		isErr(t, err, connections.ErrUnknownAction)

		// Old run logs are pruned, and so are expired idempotency keys.
		if _, _, err := e.st.Tenant("acme").IdempotencyKeys().Claim(ctx, "retry-1", "fp", time.Minute, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(25 * time.Hour)
		rep, err := e.svc.MaintainOnce(ctx)
		if err != nil || rep.PrunedRunLogs != 2 || rep.PrunedIdempotencyKeys != 1 {
			t.Fatalf("maintain %+v %v, want 2 run logs and 1 idempotency key pruned", rep, err)
		}
	})
}

// An invalid stored override is refused, with diagnostics placed in the
// document as it would be stored; nothing is stored.
func TestInvalidStoredOverride(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		c := e.create("acme")
		name := "stored override keyed/" + c.ID + " rev 1"
		cases := []struct {
			doc, where, rule, says string
		}{
			{"kind: ConnectionOverride\nconnector: keyed\nactions:\n  create-contcat:\n    request: {path: /x}\n",
				name + ":4:3", "unknown-reference", `did you mean "create-contact"`},
			{"kind: ConnectionOverride\nconnector: keyed\nactions:\n  create-contact:\n    request:\n      body:\n        n: ${ input.email + 1 }\n",
				name + ":7:27", "expression", "'_+_' applied to '(string, int)'"},
			{"kind: ConnectionOverride\nconnector: oauthy\n", name + ":2:", "unknown-reference", `stored for "keyed"`},
			{"kind: ConnectionOverride\ntenant: globex\nconnector: keyed\n", name + ":2:", "invalid-value", `tenant "globex"`},
			{"kind: ConnectionOverride\nconnector: keyed\nactions: [\n", name, "", ""},
			{"kind: Action\nconnector: keyed\nkey: x\nrequest: {path: /x}\n", name, "wrong-kind", "ConnectionOverride"},
			// Events go through their layers as actions do.
			{"kind: ConnectionOverride\nconnector: keyed\nevents:\n  contact-snyc:\n    polling: {interval: 1m}\n",
				name + ":4:3", "unknown-reference", `did you mean "contact-sync"`},
			{"kind: ConnectionOverride\nconnector: keyed\nevents:\n  contact-sync:\n    record:\n      email: ${ input.email }\n",
				name + ":6:", "expression", "input"},
		}
		for i, tc := range cases {
			_, _, err := e.svc.PutOverride(ctx, "acme", "keyed", c.ID, []byte(tc.doc), 0)
			var oe *connections.OverrideError
			if !errors.As(err, &oe) || oe.Name != name {
				t.Fatalf("case %d: err = %v, want an OverrideError of %q", i, err, name)
			}
			isErr(t, err, connections.ErrInvalid)
			found := false
			for _, d := range oe.Diagnostics {
				if strings.HasPrefix(d.Pos.String(), tc.where) && (tc.rule == "" || d.Rule == tc.rule) && strings.Contains(d.Message, tc.says) {
					found = true
				}
			}
			if !found {
				t.Errorf("case %d: diagnostics %v, want one at %s [%s] saying %q", i, oe.Diagnostics, tc.where, tc.rule, tc.says)
			}
		}
		_, err := e.svc.GetOverride(ctx, "acme", "keyed", c.ID)
		isErr(t, err, connections.ErrNotFound)

		// The next revision names the next one.
		ok := "kind: ConnectionOverride\nconnector: keyed\n"
		try3(e.svc.PutOverride(ctx, "acme", "keyed", c.ID, []byte(ok), 0)).ok(t)
		_, _, err = e.svc.PutOverride(ctx, "acme", "keyed", c.ID, []byte(cases[0].doc), 0)
		var oe *connections.OverrideError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), "stored override keyed/"+c.ID+" rev 2:4:3") {
			t.Fatalf("err = %v, want diagnostics in rev 2", err)
		}
		// A tenant-wide override is named keyed/*.
		_, _, err = e.svc.PutOverride(ctx, "acme", "keyed", "", []byte(cases[0].doc), 0)
		if !strings.Contains(err.Error(), "stored override keyed/* rev 1:4:3") {
			t.Fatalf("err = %v", err)
		}
		// Unknown connector.
		_, _, err = e.svc.PutOverride(ctx, "acme", "nope", "", []byte(ok), 0)
		isErr(t, err, connections.ErrUnknownConnector)
	})
}

type result3[A, B any] struct {
	a   A
	b   B
	err error
}

func try3[A, B any](a A, b B, err error) result3[A, B] { return result3[A, B]{a, b, err} }

func (r result3[A, B]) ok(t *testing.T) A {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.a
}

// The workspace's override files apply to the connections they name (here
// every connection of tenant initech), before the stored overrides.
func TestFileOverridesApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t)(t))
	ctx := e.ctx
	run := func(tenant, id string) map[string]any {
		t.Helper()
		try(e.svc.Run(ctx, tenant, id, "create-contact", map[string]any{"email": "ada@example.com"}, engine.RunOptions{})).ok(t)
		return e.api.lastBody()
	}
	ini, acme := e.create("initech"), e.create("acme")
	if b := run("initech", ini.ID); b["origin"] != "file" || b["layer"] != "file" {
		t.Fatalf("initech's run sent %v", b)
	}
	if b := run("acme", acme.ID); b["origin"] != nil {
		t.Fatalf("acme's run sent %v, with initech's override", b)
	}
	try3(e.svc.PutOverride(ctx, "initech", "keyed", "", []byte("kind: ConnectionOverride\nconnector: keyed\nactions:\n  create-contact:\n    request:\n      body:\n        layer: stored\n"), 0)).ok(t)
	if b := run("initech", ini.ID); b["origin"] != "file" || b["layer"] != "stored" {
		t.Fatalf("initech's run sent %v, want the stored override over the file", b)
	}
}

// A verdict about credentials that were replaced meanwhile is dropped: a
// test that began with the old key and was refused after a reconnect
// does not disconnect the connection.
func TestStaleVerdictDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t)(t))
	ctx := e.ctx
	c := e.create("acme")
	e.api.set(func(a *fakeAPI) {
		a.hold, a.held, a.release = goodKey, make(chan struct{}), make(chan struct{})
		a.keys[newKey] = true
	})
	done := make(chan *connections.TestResult, 1)
	go func() {
		res, err := e.svc.Test(ctx, "acme", c.ID)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-e.api.held
	e.tick()
	try(e.svc.Reconnect(ctx, "acme", c.ID, map[string]any{"apiKey": newKey})).ok(t)
	close(e.api.release)
	res := <-done
	if res == nil || res.OK || res.Connection.State != store.Connected {
		t.Fatalf("test %+v: want refused, and the connection left connected", res)
	}
	if got := try(e.svc.Get(ctx, "acme", c.ID)).ok(t); got.State != store.Connected {
		t.Fatalf("state %q", got.State)
	}
	if evs := e.events(); !slices.Equal(eventTypes(evs), []string{connections.EventCreated, connections.EventReconnected}) {
		t.Fatalf("events %v", eventTypes(evs))
	}
}

// Replicas share the retries of connections in the error state: while one
// tests a due connection, another's maintenance leaves it alone.
func TestRetryClaimedByOneReplica(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		c := e.create("acme")
		e.tick()
		e.api.set(func(a *fakeAPI) { a.meStatus = 503 })
		if res := try(e.svc.Test(ctx, "acme", c.ID)).ok(t); res.Connection.State != store.Errored {
			t.Fatalf("test %+v", res)
		}
		replica := connections.New(connections.Options{Store: e.st, Workspace: e.ws, OAuth: e.m,
			HTTP: httpx.New(httpx.Config{AllowPrivate: true}), Now: e.clock.Now, Logger: storetest.Quiet(),
			RetryBase: 30 * time.Second, RetryMax: 10 * time.Minute})
		meCalls := func() int {
			e.api.mu.Lock()
			defer e.api.mu.Unlock()
			return e.api.meCalls
		}

		e.clock.Advance(31 * time.Second) // due on both
		held, release := make(chan struct{}), make(chan struct{})
		unhold := sync.OnceFunc(func() { close(release) })
		t.Cleanup(unhold) // before the API server's own cleanup, on failure too
		e.api.set(func(a *fakeAPI) { a.meStatus, a.hold, a.held, a.release = 0, goodKey, held, release })
		first := make(chan connections.MaintainReport, 1)
		go func() {
			rep, err := e.svc.MaintainOnce(ctx)
			if err != nil {
				t.Error(err)
			}
			first <- rep
		}()
		<-held // the first replica is testing it
		calls := meCalls()
		if rep := try(replica.MaintainOnce(ctx)).ok(t); rep.Retried != 0 || meCalls() != calls {
			t.Fatalf("the second replica retried it too: %+v, %d test requests", rep, meCalls()-calls)
		}
		unhold()
		if rep := <-first; rep.Retried != 1 {
			t.Fatalf("the first replica: %+v", rep)
		}
	})
}
