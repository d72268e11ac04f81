package storetest

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// testMigrations: opening is idempotent, also when instances start at once.
func testMigrations(t *testing.T, e *env) {
	ctx := e.ctx
	var wg sync.WaitGroup
	stores := make([]store.Store, 4)
	for i := range stores {
		wg.Go(func() { stores[i] = e.store() })
	}
	wg.Wait()
	s := stores[0]
	c := try(s.Tenant("acme").Connections().Create(ctx, sampleConnection())).ok(t)
	s2 := e.store() // and once more, on a migrated database
	try(s2.Tenant("acme").Connections().Get(ctx, c.ID)).ok(t)
	var n, distinct, max int
	noErr(t, raw(t, s2).DB.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM schema_migrations`).Scan(&n, &distinct, &max))
	if n != distinct || n != max || n < 1 {
		t.Fatalf("schema_migrations: %d rows, %d versions, max %d", n, distinct, max)
	}
	noErr(t, s2.Ping(ctx))
}

func testExpiringTokens(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	now := e.clock.Now()
	mk := func(tenant string, expiry time.Time, state store.ConnectionState) string {
		c := sampleConnection()
		c.Token.Expiry = expiry
		c.State = state
		return try(s.Tenant(tenant).Connections().Create(ctx, c)).ok(t).ID
	}
	soon := mk("a", now.Add(2*time.Minute), store.Connected)
	sooner := mk("b", now.Add(time.Minute), store.Errored)
	mk("a", now.Add(time.Hour), store.Connected)
	mk("a", now.Add(time.Minute), store.Disconnected)
	noExpiry := sampleConnection()
	noExpiry.Token.Expiry = time.Time{}
	try(s.Tenant("a").Connections().Create(ctx, noExpiry)).ok(t)

	got := try(s.ExpiringTokens(ctx, now.Add(5*time.Minute), 10)).ok(t)
	if len(got) != 2 || got[0].ConnectionID != sooner || got[1].ConnectionID != soon || got[0].Tenant != "b" || !got[1].Expiry.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("expiring %+v", got)
	}
	// A refreshed token leaves the list.
	_, err := s.Tenant("b").Connections().Update(ctx, sooner, func(c *store.Connection) error {
		c.Token.Expiry = now.Add(time.Hour)
		return nil
	})
	noErr(t, err)
	if got := try(s.ExpiringTokens(ctx, now.Add(5*time.Minute), 10)).ok(t); len(got) != 1 {
		t.Fatalf("after refresh %+v", got)
	}
}

func testErroredConnections(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	mk := func(tenant string, state store.ConnectionState) string {
		e.clock.Advance(time.Second)
		c := sampleConnection()
		c.State = state
		return try(s.Tenant(tenant).Connections().Create(ctx, c)).ok(t).ID
	}
	a1 := mk("a", store.Errored)
	mk("a", store.Connected)
	b1 := mk("b", store.Errored)
	mk("b", store.Disconnected)
	c1 := mk("c", store.Errored)

	first := try(s.ErroredConnections(ctx, "", 2)).ok(t)
	if len(first.Items) != 2 || first.Items[0].ConnectionID != a1 || first.Items[0].Tenant != "a" ||
		first.Items[1].ConnectionID != b1 || first.Next == "" {
		t.Fatalf("first page %+v", first)
	}
	rest := try(s.ErroredConnections(ctx, first.Next, 2)).ok(t)
	if len(rest.Items) != 1 || rest.Items[0].ConnectionID != c1 || rest.Next != "" {
		t.Fatalf("second page %+v", rest)
	}
	// A connection that recovers leaves the list; one that fails again
	// moves to its end.
	e.clock.Advance(time.Second)
	_, err := s.Tenant("a").Connections().Update(ctx, a1, func(c *store.Connection) error {
		c.State = store.Connected
		return nil
	})
	noErr(t, err)
	_, err = s.Tenant("b").Connections().Update(ctx, b1, func(c *store.Connection) error {
		c.LastError = "still down"
		return nil
	})
	noErr(t, err)
	all := try(s.ErroredConnections(ctx, "", 10)).ok(t)
	if len(all.Items) != 2 || all.Items[0].ConnectionID != c1 || all.Items[1].ConnectionID != b1 {
		t.Fatalf("after changes %+v", all.Items)
	}
	if _, err := s.ErroredConnections(ctx, "not a cursor", 10); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// Run logs appended at once share commits; each caller still reads its
// own back as soon as Append returns, and a bad one (a taken id) fails
// alone.
func testRunLogsConcurrent(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	taken := try(s.Tenant("a").RunLogs().Append(ctx, store.RunLog{ID: "run_taken", Action: "x", Status: "ok"})).ok(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			tenant := []string{"a", "b", "c"}[i%3]
			l := store.RunLog{Action: "act", Status: "ok", Entries: []byte(`[{"i":` + strconv.Itoa(i) + `}]`)}
			if i == n/2 {
				l.ID = taken.ID
			}
			got, err := s.Tenant(tenant).RunLogs().Append(ctx, l)
			if err == nil {
				_, err = s.Tenant(tenant).RunLogs().Get(ctx, got.ID)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("append with a taken id: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	total := 0
	for _, tenant := range []string{"a", "b", "c"} {
		cur := ""
		for {
			page := try(s.Tenant(tenant).RunLogs().List(ctx, store.RunLogFilter{Cursor: cur, Limit: 1000})).ok(t)
			total += len(page.Items)
			if cur = page.Next; cur == "" {
				break
			}
		}
	}
	if total != n { // n-1 new ones and the first
		t.Fatalf("%d run logs stored, want %d", total, n)
	}
}
