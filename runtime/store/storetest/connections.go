package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

func sampleConnection() store.Connection {
	return store.Connection{
		Connector:   "hubspot",
		Name:        "Acme HubSpot",
		Parameters:  map[string]any{"subdomain": "acme", "region": "eu"},
		Credentials: map[string]any{"apiKey": "sk_live_SECRET_credential_value"},
		Token: &store.Token{
			AccessToken:  "at_SECRET_access_token_value",
			RefreshToken: "rt_SECRET_refresh_token_value",
			TokenType:    "Bearer",
			Expiry:       time.Date(2026, 3, 4, 6, 0, 0, 0, time.UTC),
			Scopes:       []string{"crm.read", "crm.write"},
			Extra:        map[string]any{"hub_id": 42.0},
		},
		Info: map[string]any{"account": "acme.example"},
	}
}

func testConnections(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	cs := s.Tenant("acme").Connections()

	in := sampleConnection()
	c := try(cs.Create(ctx, in)).ok(t)
	if len(c.ID) != len("conn_")+20 || c.ID[:5] != "conn_" {
		t.Fatalf("id %q: want conn_ and 20 characters", c.ID)
	}
	if c.Tenant != "acme" || c.State != store.Connected || c.Version != 1 || !c.CreatedAt.Equal(e.clock.Now()) || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Fatalf("created %+v", c)
	}
	got := try(cs.Get(ctx, c.ID)).ok(t)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("get:\n got %+v\nwant %+v", got, c)
	}
	if !reflect.DeepEqual(got.Token, in.Token) || !reflect.DeepEqual(got.Credentials, in.Credentials) {
		t.Fatalf("secrets did not round-trip: %+v %+v", got.Token, got.Credentials)
	}

	// The tenant was created on first use.
	tenants := try(s.ListTenants(ctx, "", 10)).ok(t)
	if len(tenants.Items) != 1 || tenants.Items[0].Key != "acme" {
		t.Fatalf("tenants %+v", tenants.Items)
	}

	// A connection without secrets.
	e.clock.Advance(time.Millisecond)
	plain := try(cs.Create(ctx, store.Connection{Connector: "stripe", State: store.Errored, LastError: "boom"})).ok(t)
	gotPlain := try(cs.Get(ctx, plain.ID)).ok(t)
	if gotPlain.Credentials != nil || gotPlain.Token != nil || gotPlain.Parameters != nil || gotPlain.State != store.Errored || gotPlain.LastError != "boom" {
		t.Fatalf("plain %+v", gotPlain)
	}

	// List hides secrets unless asked.
	page := try(cs.List(ctx, store.ConnectionFilter{})).ok(t)
	if len(page.Items) != 2 || page.Next != "" {
		t.Fatalf("list: %d items, next %q", len(page.Items), page.Next)
	}
	if page.Items[0].ID != c.ID || page.Items[0].Credentials != nil || page.Items[0].Token != nil {
		t.Fatalf("list item %+v", page.Items[0])
	}
	if page.Items[0].Parameters["subdomain"] != "acme" {
		t.Fatalf("list lost parameters: %+v", page.Items[0])
	}
	withSecrets := try(cs.List(ctx, store.ConnectionFilter{Secrets: true, Connector: "hubspot"})).ok(t)
	if len(withSecrets.Items) != 1 || !reflect.DeepEqual(withSecrets.Items[0], c) {
		t.Fatalf("list with secrets: %+v", withSecrets.Items)
	}

	// Update.
	e.clock.Advance(time.Second)
	up := try(cs.Update(ctx, c.ID, func(c *store.Connection) error {
		c.State = store.Disconnected
		c.LastError = "refresh token revoked"
		c.Token = nil
		c.Info["plan"] = "pro"
		return nil
	})).ok(t)
	if up.Version != 2 || up.State != store.Disconnected || up.Token != nil || !up.UpdatedAt.Equal(e.clock.Now()) || !up.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("updated %+v", up)
	}
	if got := try(cs.Get(ctx, c.ID)).ok(t); !reflect.DeepEqual(got, up) {
		t.Fatalf("after update:\n got %+v\nwant %+v", got, up)
	}

	// A caller-chosen id, and a taken one.
	mine := try(cs.Create(ctx, store.Connection{ID: "my-import-1", Connector: "x"})).ok(t)
	if mine.ID != "my-import-1" {
		t.Fatal(mine.ID)
	}
	_, err := cs.Create(ctx, store.Connection{ID: "my-import-1", Connector: "x"})
	isErr(t, err, store.ErrConflict)

	// Delete.
	noErr(t, cs.Delete(ctx, c.ID))
	_, err = cs.Get(ctx, c.ID)
	isErr(t, err, store.ErrNotFound)
	isErr(t, cs.Delete(ctx, c.ID), store.ErrNotFound)
	_, err = cs.Update(ctx, c.ID, func(*store.Connection) error { return nil })
	isErr(t, err, store.ErrNotFound)
}

func testConnectionValidation(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	cs := s.Tenant("acme").Connections()
	for name, c := range map[string]store.Connection{
		"no connector":  {},
		"bad state":     {Connector: "x", State: "happy"},
		"control chars": {Connector: "x\n"},
		"bad id":        {ID: "a\x00b", Connector: "x"},
	} {
		if _, err := cs.Create(ctx, c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	c := try(cs.Create(ctx, store.Connection{Connector: "x"})).ok(t)
	_, err := cs.Update(ctx, c.ID, func(c *store.Connection) error { c.State = "happy"; return nil })
	isErr(t, err, store.ErrInvalid)
	for _, key := range []string{"", "a\tb", string(make([]byte, 300))} {
		if _, err := s.Tenant(key).Connections().Get(ctx, "x"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("tenant %q: got %v, want ErrInvalid", key, err)
		}
		if _, err := s.EnsureTenant(ctx, key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ensure tenant %q: got %v, want ErrInvalid", key, err)
		}
	}
	if _, err := cs.List(ctx, store.ConnectionFilter{Cursor: "not a cursor"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad cursor: got %v", err)
	}
	if _, err := cs.List(ctx, store.ConnectionFilter{Limit: 1001}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("limit 1001: got %v", err)
	}
}

func testPagination(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	cs := s.Tenant("acme").Connections()
	var want []string
	var wantStripe []string
	// 120 connections; groups of three share a timestamp, so the id breaks
	// ties.
	err := s.Tenant("acme").Tx(ctx, func(tx store.TenantStore) error {
		for i := range 120 {
			if i%3 == 0 {
				e.clock.Advance(time.Millisecond)
			}
			connector := "hubspot"
			if i%4 == 0 {
				connector = "stripe"
			}
			c, err := tx.Connections().Create(ctx, store.Connection{Connector: connector, Name: fmt.Sprint(i)})
			if err != nil {
				return err
			}
			want = append(want, c.ID)
			if connector == "stripe" {
				wantStripe = append(wantStripe, c.ID)
			}
		}
		return nil
	})
	noErr(t, err)
	// Another tenant's connections never show up.
	try(s.Tenant("other").Connections().Create(ctx, store.Connection{Connector: "hubspot"})).ok(t)

	order := func(ids []string, created map[string]time.Time) {
		for i := 1; i < len(ids); i++ {
			a, b := created[ids[i-1]], created[ids[i]]
			if a.After(b) || (a.Equal(b) && ids[i-1] >= ids[i]) {
				t.Fatalf("out of order at %d: %s %v, %s %v", i, ids[i-1], a, ids[i], b)
			}
		}
	}
	collect := func(f store.ConnectionFilter) ([]string, []int) {
		var ids []string
		var sizes []int
		created := map[string]time.Time{}
		for {
			p := try(cs.List(ctx, f)).ok(t)
			sizes = append(sizes, len(p.Items))
			for _, c := range p.Items {
				ids = append(ids, c.ID)
				created[c.ID] = c.CreatedAt
			}
			if p.Next == "" {
				break
			}
			f.Cursor = p.Next
		}
		order(ids, created)
		return ids, sizes
	}
	ids, sizes := collect(store.ConnectionFilter{Limit: 50})
	if !reflect.DeepEqual(sizes, []int{50, 50, 20}) {
		t.Fatalf("page sizes %v", sizes)
	}
	if !sameSet(ids, want) {
		t.Fatalf("pages hold %d ids, want the %d created", len(ids), len(want))
	}
	ids, _ = collect(store.ConnectionFilter{Limit: 7, Connector: "stripe"})
	if !sameSet(ids, wantStripe) {
		t.Fatalf("stripe pages hold %d ids, want %d", len(ids), len(wantStripe))
	}
	// An exact multiple of the page size ends without an empty page.
	ids, sizes = collect(store.ConnectionFilter{Limit: 30, Connector: "stripe"})
	if len(ids) != 30 || !reflect.DeepEqual(sizes, []int{30}) {
		t.Fatalf("30 of 30: sizes %v", sizes)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] != 1 {
			return false
		}
	}
	return true
}

func testVersionAndRollback(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	cs := s.Tenant("acme").Connections()
	c := try(cs.Create(ctx, sampleConnection())).ok(t)

	// fn may not change identity or version.
	up := try(cs.Update(ctx, c.ID, func(c *store.Connection) error {
		c.ID, c.Tenant, c.Connector, c.Version = "conn_other", "evil", "other", 99
		c.Name = "renamed"
		return nil
	})).ok(t)
	if up.ID != c.ID || up.Tenant != "acme" || up.Connector != "hubspot" || up.Version != 2 || up.Name != "renamed" {
		t.Fatalf("update changed what it may not: %+v", up)
	}

	// An error from fn changes nothing and comes back as given.
	errStale := errors.New("stale")
	_, err := cs.Update(ctx, c.ID, func(c *store.Connection) error {
		c.Name = "never stored"
		c.Credentials = nil
		return errStale
	})
	if err != errStale {
		t.Fatalf("got %v, want the fn's own error", err)
	}
	got := try(cs.Get(ctx, c.ID)).ok(t)
	if got.Name != "renamed" || got.Version != 2 || got.Credentials == nil {
		t.Fatalf("failed update left traces: %+v", got)
	}

	// Optimistic concurrency: the caller compares the version it read.
	ifVersion := func(v int64) func(*store.Connection) error {
		return func(c *store.Connection) error {
			if c.Version != v {
				return fmt.Errorf("connection %s: %w: version %d, not %d", c.ID, store.ErrConflict, c.Version, v)
			}
			c.Name = fmt.Sprint("v", v)
			return nil
		}
	}
	try(cs.Update(ctx, c.ID, ifVersion(2))).ok(t)
	_, err = cs.Update(ctx, c.ID, ifVersion(2))
	isErr(t, err, store.ErrConflict)
	if got := try(cs.Get(ctx, c.ID)).ok(t); got.Version != 3 || got.Name != "v2" {
		t.Fatalf("after conflict: %+v", got)
	}
}

// testConcurrentUpdates: the row lock serialises read-modify-write.
func testConcurrentUpdates(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	c := try(a.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "x", Info: map[string]any{"n": 0.0}})).ok(t)
	const workers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				_, err := s.Tenant("acme").Connections().Update(ctx, c.ID, func(c *store.Connection) error {
					c.Info["n"] = c.Info["n"].(float64) + 1
					return nil
				})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	got := try(a.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t)
	if got.Info["n"] != float64(workers*each) || got.Version != workers*each+1 {
		t.Fatalf("lost updates: n=%v version=%d", got.Info["n"], got.Version)
	}
}
