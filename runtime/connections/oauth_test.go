package connections_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// The consent flow against an in-test token endpoint: Begin → Complete
// creates the connection with its token; a run sends it; re-authorising
// replaces it; a refresh the provider refuses disconnects, through the
// store adapter, with its event.
func TestOAuthConsent(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		begin := func(tenant, connID string) string {
			t.Helper()
			u := try(e.svc.BeginOAuth(ctx, tenant, connections.BeginOAuthRequest{Connector: "oauthy", ConnectionID: connID,
				RedirectURI: "https://app.example/callback", ReturnURL: "https://app.example/done"})).ok(t)
			pu, err := url.Parse(u)
			if err != nil || pu.Path != "/authorize" || pu.Query().Get("client_id") != "client-1" {
				t.Fatalf("consent URL %q", u)
			}
			return pu.Query().Get("state")
		}

		state := begin("acme", "")
		res := try(e.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: state, Code: "code-1", Tenant: "acme"})).ok(t)
		c := res.Connection
		if !res.Created || res.ReturnURL != "https://app.example/done" || c.State != store.Connected || c.Connector != "oauthy" || c.Name != "OAuthy" || c.Token != nil {
			t.Fatalf("completed %+v %+v", res, c)
		}
		first := try(e.st.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t).Token
		if first == nil || first.AccessToken == "" || first.RefreshToken != "rt_"+first.AccessToken {
			t.Fatalf("stored token %+v", first)
		}
		// The state is single-use.
		_, err := e.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: state, Code: "code-1"})
		isErr(t, err, oauth.ErrInvalidState)

		// A run sends the token; the run log hides it (the API echoes it).
		out, err := e.svc.Run(ctx, "acme", c.ID, "whoami", nil, engine.RunOptions{Log: true})
		if err != nil || out.Output.(map[string]any)["id"] != "o_1" || e.api.lastToken != first.AccessToken {
			t.Fatalf("run: %v %+v (API saw %q)", err, out, e.api.lastToken)
		}
		l := try(e.st.Tenant("acme").RunLogs().Get(ctx, out.RunID)).ok(t)
		if strings.Contains(string(l.Entries), first.AccessToken) || !strings.Contains(string(l.Entries), "[redacted]") {
			t.Fatalf("run log %s", l.Entries)
		}

		// Re-authorised: the new token is used at once.
		e.tick()
		res = try(e.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: begin("acme", c.ID), Code: "code-2"})).ok(t)
		if res.Created || res.Connection.ID != c.ID {
			t.Fatalf("re-authorised %+v", res)
		}
		second := try(e.st.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t).Token
		if second.AccessToken == first.AccessToken {
			t.Fatal("the token was not replaced")
		}
		try(e.svc.Run(ctx, "acme", c.ID, "whoami", nil, engine.RunOptions{})).ok(t)
		if e.api.lastToken != second.AccessToken {
			t.Fatalf("the API saw %q, want the new token", e.api.lastToken)
		}

		// Expired, and the provider refuses the refresh token.
		e.tick()
		e.clock.Advance(2 * time.Hour)
		e.api.set(func(a *fakeAPI) { a.refuseRT = true })
		_, err = e.svc.Run(ctx, "acme", c.ID, "whoami", nil, engine.RunOptions{})
		if engine.TypeOf(err) != engine.ErrAuth || !errors.Is(err, oauth.ErrReauthorize) {
			t.Fatalf("run: %v", err)
		}
		got := try(e.svc.Get(ctx, "acme", c.ID)).ok(t)
		if got.State != store.Disconnected || !strings.Contains(got.LastError, "invalid_grant") {
			t.Fatalf("after a refused refresh: %+v", got)
		}
		_, err = e.svc.Run(ctx, "acme", c.ID, "whoami", nil, engine.RunOptions{})
		isErr(t, err, connections.ErrDisconnected)

		// Denied consent: where to go back, no connection.
		res, err = e.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: begin("acme", ""), Error: "access_denied"})
		var ae *oauth.AuthorizationError
		if !errors.As(err, &ae) || res == nil || res.ReturnURL != "https://app.example/done" || res.Connection != nil {
			t.Fatalf("denied: %v %+v", err, res)
		}
		// Another tenant's callback cannot complete acme's consent.
		_, err = e.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: begin("acme", ""), Code: "code-3", Tenant: "globex"})
		isErr(t, err, oauth.ErrInvalidState)

		if page := try(e.svc.List(ctx, "acme", connections.ListRequest{})).ok(t); len(page.Items) != 1 {
			t.Fatalf("connections %+v, want one", page.Items)
		}
		want := []string{connections.EventCreated, connections.EventReconnected, connections.EventDisconnected}
		if evs := e.events(); !slices.Equal(eventTypes(evs), want) {
			t.Fatalf("events %v, want %v", eventTypes(evs), want)
		}
	})
}

// A client-credentials connection is checked before it is saved (its
// token obtained with the connection's own client) and saved with that
// token, which its runs then use without asking again.
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t)(t))
	ctx := e.ctx
	_, err := e.svc.Create(ctx, "acme", connections.CreateRequest{Connector: "machine",
		Credentials: map[string]any{"clientId": "client-1", "clientSecret": "wrong-secret-123"}})
	isErr(t, err, connections.ErrCredentialsRefused)
	if strings.Contains(err.Error(), "wrong-secret-123") {
		t.Fatalf("the secret shows: %v", err)
	}
	c, err := e.svc.Create(ctx, "acme", connections.CreateRequest{Connector: "machine",
		Credentials: map[string]any{"clientId": "client-1", "clientSecret": "client-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := try(e.st.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t).Token
	if tok == nil || tok.AccessToken == "" {
		t.Fatalf("saved without its token: %+v", tok)
	}
	try(e.svc.Run(ctx, "acme", c.ID, "whoami", nil, engine.RunOptions{})).ok(t)
	e.api.mu.Lock()
	grants, last := e.api.grants, e.api.lastToken
	e.api.mu.Unlock()
	if !slices.Equal(grants, []string{"client_credentials", "client_credentials"}) || last != tok.AccessToken {
		t.Fatalf("token requests %v, last token %q; want the refused one, then one reused by the run", grants, last)
	}
}

// The token key is unambiguous for any tenant key and id.
func TestTokenKey(t *testing.T) {
	for _, tc := range [][2]string{{"acme", "conn_x"}, {`a"b/c`, "conn/with/slashes"}, {"ünï", "id"}} {
		k := connections.TokenKey(tc[0], tc[1])
		tenant, id, err := connections.ParseTokenKey(k)
		if err != nil || tenant != tc[0] || id != tc[1] {
			t.Errorf("%q → %q, %q, %v", k, tenant, id, err)
		}
	}
	for _, bad := range []string{"", "acme/conn", `"acme"`, `"acme"/`, `""/conn`, `"acme"conn`} {
		if _, _, err := connections.ParseTokenKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The store adapters: a token round-trips (its issue time too, and the
// extra fields the store kept); a state is taken once; a tenant's key
// never reaches another tenant's connection.
func TestStoreAdapters(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		c := try(e.st.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "oauthy",
			Token: &store.Token{AccessToken: "old", Extra: map[string]any{"instance_url": "https://x.example"}}})).ok(t)
		ts := connections.NewTokenStore(e.st)
		key := connections.TokenKey("acme", c.ID)
		issued := time.Date(2026, 3, 4, 5, 0, 0, 123000, time.UTC)
		in := &oauth.Token{AccessToken: "at-1", RefreshToken: "rt-1", TokenType: "Bearer", Expiry: issued.Add(time.Hour), IssuedAt: issued, Scope: "read write"}
		if err := ts.SaveToken(ctx, key, in); err != nil {
			t.Fatal(err)
		}
		got := try(ts.LoadToken(ctx, key)).ok(t)
		if *got != *in {
			t.Fatalf("loaded %#v, want %#v", *got, *in)
		}
		if st := try(e.st.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t).Token; st.Extra["instance_url"] != "https://x.example" {
			t.Fatalf("extra fields lost: %+v", st.Extra)
		}
		_, err := ts.LoadToken(ctx, connections.TokenKey("globex", c.ID))
		isErr(t, err, store.ErrNotFound)
		err = ts.WithLock(ctx, connections.TokenKey("globex", c.ID), func(context.Context) error { return nil })
		isErr(t, err, store.ErrNotFound)

		if err := ts.MarkDisconnected(ctx, key, "revoked"); err != nil {
			t.Fatal(err)
		}
		if err := ts.MarkDisconnected(ctx, key, "revoked again"); err != nil {
			t.Fatal(err)
		}
		if evs := e.events(); !slices.Equal(eventTypes(evs), []string{connections.EventDisconnected}) || evs[0].Payload.LastError != "revoked" {
			t.Fatalf("events %+v, want one disconnected", evs)
		}

		ss := connections.NewStateStore(e.st)
		const state = "state-0123456789abcdef"
		if err := ss.SaveState(ctx, state, []byte("data"), e.clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if b := try(ss.TakeState(ctx, state)).ok(t); string(b) != "data" {
			t.Fatalf("took %q", b)
		}
		_, err = ss.TakeState(ctx, state)
		isErr(t, err, oauth.ErrStateNotFound)
	})
}

// Maintenance refreshes a token due before its next pass, once, without
// a run asking for it; a grant the provider refuses disconnects the
// connection there, with its event.
func TestMaintainRefreshesExpiringTokens(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx
		u := try(e.svc.BeginOAuth(ctx, "acme", connections.BeginOAuthRequest{Connector: "oauthy", RedirectURI: "https://app.example/callback"})).ok(t)
		pu, _ := url.Parse(u)
		c := try(e.svc.CompleteOAuth(ctx, connections.CompleteOAuthRequest{State: pu.Query().Get("state"), Code: "c"})).ok(t).Connection
		first := try(e.st.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t).Token

		// An hour-long token is not due yet.
		rep := try(e.svc.MaintainOnce(ctx)).ok(t)
		if rep.Refreshed != 0 || rep.RefreshFailed != 0 {
			t.Fatalf("fresh token: %+v", rep)
		}
		// 50 s before expiry it is due (the margin is 60 s).
		e.clock.Advance(time.Hour - 50*time.Second)
		rep = try(e.svc.MaintainOnce(ctx)).ok(t)
		second := try(e.st.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t).Token
		if rep.Refreshed != 1 || second.AccessToken == first.AccessToken || second.RefreshToken != "rt_"+second.AccessToken {
			t.Fatalf("due token: %+v, stored %+v", rep, second)
		}
		issued := e.api.issued
		rep = try(e.svc.MaintainOnce(ctx)).ok(t)
		if rep.Refreshed != 0 || e.api.issued != issued {
			t.Fatalf("refreshed twice: %+v, %d tokens issued", rep, e.api.issued-issued)
		}

		e.api.set(func(a *fakeAPI) { a.refuseRT = true })
		e.clock.Advance(time.Hour)
		rep = try(e.svc.MaintainOnce(ctx)).ok(t)
		got := try(e.svc.Get(ctx, "acme", c.ID)).ok(t)
		if rep.RefreshFailed != 1 || got.State != store.Disconnected {
			t.Fatalf("refused refresh: %+v, %+v", rep, got)
		}
		// Disconnected connections are not walked again.
		rep = try(e.svc.MaintainOnce(ctx)).ok(t)
		if rep.Refreshed+rep.RefreshFailed != 0 {
			t.Fatalf("disconnected token walked: %+v", rep)
		}
		want := []string{connections.EventCreated, connections.EventDisconnected}
		if evs := e.events(); !slices.Equal(eventTypes(evs), want) {
			t.Fatalf("events %v, want %v", eventTypes(evs), want)
		}
	})
}
