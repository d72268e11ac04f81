package storetest

import (
	"cmp"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// Connections by state are counted across tenants by connector, and the
// disconnected ones listed, the latest first, with their name and reason.
func testConnectionStates(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	if got := try(s.ConnectionStates(ctx)).ok(t); len(got) != 0 {
		t.Fatalf("empty store counts %+v", got)
	}
	mk := func(tenant, connector string, state store.ConnectionState, name string) string {
		e.clock.Advance(time.Second)
		c := sampleConnection()
		c.Connector, c.State, c.Name = connector, state, name
		if state == store.Disconnected {
			c.LastError = "the provider refused the refresh token"
		}
		return try(s.Tenant(tenant).Connections().Create(ctx, c)).ok(t).ID
	}
	mk("a", "crm", store.Connected, "")
	mk("b", "crm", store.Connected, "")
	mk("a", "crm", store.Errored, "")
	d1 := mk("a", "crm", store.Disconnected, "acme crm")
	d2 := mk("b", "mail", store.Disconnected, "beta mail")
	mk("c", "mail", store.Connected, "")

	want := []store.ConnectionStateCount{
		{Connector: "crm", State: store.Connected, Count: 2},
		{Connector: "crm", State: store.Disconnected, Count: 1},
		{Connector: "crm", State: store.Errored, Count: 1},
		{Connector: "mail", State: store.Connected, Count: 1},
		{Connector: "mail", State: store.Disconnected, Count: 1},
	}
	got := try(s.ConnectionStates(ctx)).ok(t)
	slices.SortFunc(got, func(x, y store.ConnectionStateCount) int {
		if x.Connector != y.Connector {
			return cmp.Compare(x.Connector, y.Connector)
		}
		return cmp.Compare(string(x.State), string(y.State))
	})
	if !slices.Equal(got, want) {
		t.Fatalf("counts\n got %+v\nwant %+v", got, want)
	}

	first := try(s.DisconnectedConnections(ctx, "", 1)).ok(t)
	if len(first.Items) != 1 || first.Next == "" {
		t.Fatalf("first page %+v", first)
	}
	if x := first.Items[0]; x.ConnectionID != d2 || x.Tenant != "b" || x.Connector != "mail" || x.Name != "beta mail" ||
		x.LastError != "the provider refused the refresh token" {
		t.Fatalf("latest disconnected %+v", x)
	}
	rest := try(s.DisconnectedConnections(ctx, first.Next, 1)).ok(t)
	if len(rest.Items) != 1 || rest.Items[0].ConnectionID != d1 || rest.Items[0].Tenant != "a" || rest.Next != "" {
		t.Fatalf("second page %+v", rest)
	}
	// Reconnected, it leaves the list and its count moves.
	e.clock.Advance(time.Second)
	_, err := s.Tenant("b").Connections().Update(ctx, d2, func(c *store.Connection) error {
		c.State, c.LastError = store.Connected, ""
		return nil
	})
	noErr(t, err)
	all := try(s.DisconnectedConnections(ctx, "", 10)).ok(t)
	if len(all.Items) != 1 || all.Items[0].ConnectionID != d1 {
		t.Fatalf("after reconnecting %+v", all.Items)
	}
	for _, c := range try(s.ConnectionStates(ctx)).ok(t) {
		if c.Connector == "mail" && c.State == store.Disconnected {
			t.Fatalf("mail still counts a disconnected connection: %+v", c)
		}
		if c.Connector == "mail" && c.State == store.Connected && c.Count != 2 {
			t.Fatalf("mail connected %+v, want 2", c)
		}
	}
	if _, err := s.DisconnectedConnections(ctx, "not a cursor", 10); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
}
