package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// testRecordHashes: Mark returns what was known, Sweep finds what a later
// complete scan no longer lists, over several generations.
func testRecordHashes(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	_, sub := subscribe(t, e, s, "acme", "contact-changed")
	subs := s.Tenant("acme").Subscriptions()
	rh := subs.Records(sub.ID)

	// Generation 1: the baseline, 1,200 records (more than one statement's chunk).
	var gen1 []store.RecordHash
	for i := range 1200 {
		gen1 = append(gen1, store.RecordHash{ID: fmt.Sprintf("r%04d", i), Hash: fmt.Sprintf("h1-%d", i)})
	}
	seen := try(rh.Mark(ctx, 1, gen1)).ok(t)
	if len(seen) != 1200 || seen[0].ID != "r0000" || seen[1199].ID != "r1199" {
		t.Fatalf("seen %d", len(seen))
	}
	for _, r := range seen {
		if r.Previous != "" {
			t.Fatalf("first sight of %s has a previous hash %q", r.ID, r.Previous)
		}
	}
	if got := try(rh.Sweep(ctx, 1, 100)).ok(t); len(got) != 0 {
		t.Fatalf("swept %d of the current generation", len(got))
	}

	// Generation 2: r0000..r0999 listed again (r0000..r0009 changed),
	// r1000..r1199 gone, r2000 new; an id given twice sees its first hash.
	var gen2 []store.RecordHash
	for i := range 1000 {
		h := fmt.Sprintf("h1-%d", i)
		if i < 10 {
			h = fmt.Sprintf("h2-%d", i)
		}
		gen2 = append(gen2, store.RecordHash{ID: fmt.Sprintf("r%04d", i), Hash: h})
	}
	gen2 = append(gen2, store.RecordHash{ID: "r2000", Hash: "new"}, store.RecordHash{ID: "r2000", Hash: "newer"})
	// Marked in two calls, as a streaming scan does, page by page.
	seen = append(try(rh.Mark(ctx, 2, gen2[:600])).ok(t), try(rh.Mark(ctx, 2, gen2[600:])).ok(t)...)
	for i, r := range seen[:1000] {
		if r.ID != gen2[i].ID || r.Previous != fmt.Sprintf("h1-%d", i) {
			t.Fatalf("gen 2: %+v", r)
		}
	}
	if seen[1000] != (store.RecordSeen{ID: "r2000"}) || seen[1001] != (store.RecordSeen{ID: "r2000", Previous: "new"}) {
		t.Fatalf("gen 2 new record seen as %+v %+v", seen[1000], seen[1001])
	}
	var swept []string
	for {
		got := try(rh.Sweep(ctx, 2, 64)).ok(t)
		for _, h := range got {
			if h.Hash != fmt.Sprintf("h1-%d", atoi(h.ID[1:])) {
				t.Fatalf("swept %+v with the wrong hash", h)
			}
			swept = append(swept, h.ID)
		}
		if len(got) < 64 {
			break
		}
	}
	slices.Sort(swept)
	if len(swept) != 200 || swept[0] != "r1000" || swept[199] != "r1199" {
		t.Fatalf("swept %d: %v…", len(swept), swept[:min(3, len(swept))])
	}

	// Generation 3: the app flags r0005 deleted (forgotten), the rest
	// stays; a sweep of gen 3 before marking finds everything older.
	noErr(t, rh.Forget(ctx, "r0005", "never-seen"))
	seen = try(rh.Mark(ctx, 3, []store.RecordHash{{ID: "r0005", Hash: "back"}, {ID: "r2000", Hash: "newer"}})).ok(t)
	if seen[0].Previous != "" || seen[1].Previous != "newer" {
		t.Fatalf("gen 3 %+v", seen)
	}
	if got := try(rh.Sweep(ctx, 3, 10000)).ok(t); len(got) != 999 {
		t.Fatalf("gen 3 swept %d, want 999", len(got))
	}
	if got := try(rh.Sweep(ctx, 3, 10)).ok(t); len(got) != 0 {
		t.Fatalf("swept again %d", len(got))
	}

	// Invalid input, and nothing of it stored.
	_, err := rh.Mark(ctx, 4, []store.RecordHash{{ID: "ok", Hash: "x"}, {ID: "", Hash: "x"}})
	isErr(t, err, store.ErrInvalid)
	_, err = rh.Mark(ctx, 4, []store.RecordHash{{ID: "ok", Hash: ""}})
	isErr(t, err, store.ErrInvalid)
	_, err = rh.Sweep(ctx, 4, 0)
	isErr(t, err, store.ErrInvalid)

	// Inside Tx, a rolled-back Mark leaves nothing.
	_ = s.Tenant("acme").Tx(ctx, func(tx store.TenantStore) error {
		try(tx.Subscriptions().Records(sub.ID).Mark(ctx, 5, []store.RecordHash{{ID: "rolled-back", Hash: "x"}})).ok(t)
		return fmt.Errorf("roll back")
	})
	if seen := try(rh.Mark(ctx, 5, []store.RecordHash{{ID: "rolled-back", Hash: "y"}})).ok(t); seen[0].Previous != "" {
		t.Fatalf("a rolled-back Mark was kept: %+v", seen)
	}
	// Another subscription's memory is its own.
	_, other := subscribe(t, e, s, "acme", "contact-changed")
	if seen := try(subs.Records(other.ID).Mark(ctx, 1, []store.RecordHash{{ID: "r2000", Hash: "z"}})).ok(t); seen[0].Previous != "" {
		t.Fatalf("shared memory: %+v", seen)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// testPolls: due subscriptions are claimed oldest first, one per
// connection, leases expire, Extend and Release hold only for the holder.
func testPolls(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	p := s.Polls()
	now := e.clock.Now()
	acme := s.Tenant("acme")
	due := func(sub *store.Subscription, at time.Time) {
		t.Helper()
		try(s.Tenant(sub.Tenant).Subscriptions().Update(ctx, sub.ID, func(s *store.Subscription) error { s.NextRunAt = at; return nil })).ok(t)
	}
	c1, a := subscribe(t, e, s, "acme", "contact-changed")
	b := try(acme.Subscriptions().Create(ctx, store.Subscription{ConnectionID: c1.ID, Event: "deal-changed"})).ok(t) // same connection
	_, c := subscribe(t, e, s, "beta", "contact-changed")
	_, d := subscribe(t, e, s, "beta", "contact-changed")
	_, webhookOnly := subscribe(t, e, s, "beta", "contact-changed")
	_, paused := subscribe(t, e, s, "beta", "contact-changed")
	due(a, now.Add(-3*time.Minute))
	due(b, now.Add(-4*time.Minute))
	due(c, now.Add(-time.Minute))
	due(d, now.Add(time.Minute)) // not yet
	due(paused, now.Add(-time.Hour))
	try(s.Tenant("beta").Subscriptions().Update(ctx, paused.ID, func(s *store.Subscription) error { s.Status = store.SubscriptionPaused; return nil })).ok(t)
	_ = webhookOnly // NextRunAt zero: never claimed

	got := try(p.ClaimDue(ctx, "w1", now, 10, time.Minute)).ok(t)
	// b is the oldest due of c1's two; a waits for c1's lease.
	if ids := subIDs(got); len(ids) != 2 || ids[0] != b.ID || ids[1] != c.ID {
		t.Fatalf("claimed %v, want [b c]", ids)
	}
	if got[0].Tenant != "acme" || got[0].Event != "deal-changed" || got[0].WebhookToken == "" {
		t.Fatalf("claimed %+v", got[0])
	}
	if got := try(p.ClaimDue(ctx, "w2", now, 10, time.Minute)).ok(t); len(got) != 0 {
		t.Fatalf("claimed under a live lease: %v", subIDs(got))
	}
	// Release sets the next run and frees the connection: a is next.
	noErr(t, p.Release(ctx, "w1", b.ID, now.Add(5*time.Minute)))
	isErr(t, p.Release(ctx, "w1", b.ID, now), store.ErrLeaseLost)
	if got := try(acme.Subscriptions().Get(ctx, b.ID)).ok(t); !got.NextRunAt.Equal(now.Add(5 * time.Minute)) {
		t.Fatalf("released with next run %v", got.NextRunAt)
	}
	if got := try(p.ClaimDue(ctx, "w2", now, 10, time.Minute)).ok(t); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("after release claimed %v, want [a]", subIDs(got))
	}
	// n bounds the claim.
	e.clock.Advance(2 * time.Minute) // d is due now, the leases ran out
	now = e.clock.Now()
	got = try(p.ClaimDue(ctx, "w3", now, 1, time.Minute)).ok(t)
	if len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("expired lease: claimed %v, want [a] (the oldest due)", subIDs(got))
	}
	// The lease holder of c lost it to expiry; a late Extend or Release fails
	// once another worker took the connection.
	got = try(p.ClaimDue(ctx, "w3", now, 10, time.Minute)).ok(t)
	if ids := subIDs(got); len(ids) != 2 || ids[0] != c.ID || ids[1] != d.ID {
		t.Fatalf("claimed %v, want [c d]", ids)
	}
	isErr(t, p.Extend(ctx, "w1", c.ID, time.Minute), store.ErrLeaseLost)
	isErr(t, p.Release(ctx, "w1", c.ID, now), store.ErrLeaseLost)
	// Extend keeps a lease past its first end.
	e.clock.Advance(50 * time.Second)
	noErr(t, p.Extend(ctx, "w3", c.ID, time.Minute))
	e.clock.Advance(30 * time.Second)
	if got := try(p.ClaimDue(ctx, "w4", e.clock.Now(), 10, time.Minute)).ok(t); len(got) != 2 || got[0].ID != a.ID || got[1].ID != d.ID {
		t.Fatalf("claimed %v, want [a d] (their leases lapsed; c's was extended)", subIDs(got))
	}
	// Release with a zero next time: not polled again until rescheduled.
	noErr(t, p.Release(ctx, "w3", c.ID, time.Time{}))
	e.clock.Advance(time.Hour)
	if got := try(p.ClaimDue(ctx, "w5", e.clock.Now(), 10, time.Minute)).ok(t); slices.Contains(subIDs(got), c.ID) {
		t.Fatalf("claimed a subscription with no next run: %v", subIDs(got))
	}
	_, err := p.ClaimDue(ctx, "w", now, 0, time.Minute)
	isErr(t, err, store.ErrInvalid)
	_, err = p.ClaimDue(ctx, "", now, 1, time.Minute)
	isErr(t, err, store.ErrInvalid)
}

// testPollsConcurrent: claimers on two instances, many goroutines, get
// disjoint subscriptions and never two of one connection at a time.
func testPollsConcurrent(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	now := e.clock.Now()
	const conns, per = 40, 3
	var all []string
	for i := range conns {
		tenant := fmt.Sprint("t", i%4)
		c := try(a.Tenant(tenant).Connections().Create(ctx, sampleConnection())).ok(t)
		for j := range per {
			sub := try(a.Tenant(tenant).Subscriptions().Create(ctx, store.Subscription{ConnectionID: c.ID,
				Event: fmt.Sprint("event-", j), NextRunAt: now.Add(-time.Duration(i*per+j) * time.Second)})).ok(t)
			all = append(all, sub.ID)
		}
	}
	var mu sync.Mutex
	polled := map[string]int{}
	running := map[string]string{} // connection → subscription polled now
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx) // one worker failing stops all
	defer cancel()
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		worker := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				got, err := s.Polls().ClaimDue(ctx, worker, now, 3, time.Hour)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					t.Error(err)
					cancel()
					return
				}
				if len(got) == 0 {
					mu.Lock()
					n := len(polled)
					mu.Unlock()
					if n == len(all) {
						return
					}
					continue
				}
				mu.Lock()
				for _, sub := range got {
					if other, busy := running[sub.ConnectionID]; busy {
						t.Errorf("connection %s polled by %s and %s at once", sub.ConnectionID, other, sub.ID)
					}
					running[sub.ConnectionID] = sub.ID
					polled[sub.ID]++
				}
				mu.Unlock()
				for _, sub := range got {
					mu.Lock()
					delete(running, sub.ConnectionID)
					mu.Unlock()
					// Polled: due again only in a day.
					if err := s.Polls().Release(ctx, worker, sub.ID, now.Add(24*time.Hour)); err != nil {
						t.Error(err)
						cancel()
					}
				}
			}
		})
	}
	wg.Wait()
	for _, id := range all {
		if polled[id] != 1 {
			t.Errorf("subscription %s polled %d times", id, polled[id])
		}
	}
}

func inboxEntry(i int) *store.InboxEntry {
	return &store.InboxEntry{Connector: "hubspot", Event: "contact-changed", Method: "POST", URL: fmt.Sprintf("https://example.test/w/%d?x=1", i),
		Headers: map[string][]string{"Content-Type": {"application/json"}, "X-Sig": {"a", "b"}}, Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

// testInbox: appended webhooks are claimed once, done deletes them, a
// failure retries later and, past the attempts, is kept dead.
func testInbox(t *testing.T, e *env) {
	s := e.store(store.WithRetryPolicy(store.RetryPolicy{MaxAttempts: 2, MaxAge: time.Hour}))
	ctx := e.ctx
	in := s.Inbox()
	first := inboxEntry(1)
	id1 := try(in.Append(ctx, first)).ok(t)
	e.clock.Advance(time.Millisecond)
	sub := inboxEntry(2)
	sub.Event, sub.SubscriptionID, sub.Tenant = "", "sub_x", "acme"
	id2 := try(in.Append(ctx, sub)).ok(t)
	if first.ID != id1 || len(id1) != 24 || id1[:4] != "whk_" {
		t.Fatalf("id %q", id1)
	}
	_, err := in.Append(ctx, &store.InboxEntry{Connector: "hubspot", Method: "POST"})
	isErr(t, err, store.ErrInvalid)
	_, err = in.Append(ctx, &store.InboxEntry{Connector: "hubspot", Method: "POST", URL: "/", SubscriptionID: "sub_x"})
	isErr(t, err, store.ErrInvalid)
	dup := inboxEntry(3)
	dup.ID = id1
	_, err = in.Append(ctx, dup)
	isErr(t, err, store.ErrConflict)

	got := try(in.Claim(ctx, "w1", 10, 30*time.Second)).ok(t)
	if len(got) != 2 || got[0].ID != id1 || got[1].ID != id2 {
		t.Fatalf("claimed %d", len(got))
	}
	g := got[0]
	if g.Connector != "hubspot" || g.Event != "contact-changed" || g.Method != "POST" || g.URL != first.URL || string(g.Body) != `{"n":1}` ||
		!slices.Equal(g.Headers["X-Sig"], []string{"a", "b"}) || g.Attempts != 1 || !g.ReceivedAt.Equal(first.ReceivedAt) {
		t.Fatalf("claimed %+v", g)
	}
	if got[1].SubscriptionID != "sub_x" || got[1].Tenant != "acme" || got[1].Event != "" {
		t.Fatalf("claimed %+v", got[1])
	}
	if again := try(in.Claim(ctx, "w2", 10, time.Minute)).ok(t); len(again) != 0 {
		t.Fatalf("claimed leased entries: %d", len(again))
	}
	isErr(t, in.Done(ctx, "w2", id1), store.ErrLeaseLost)
	noErr(t, in.Done(ctx, "w1", id1))
	isErr(t, in.Done(ctx, "w1", id1), store.ErrLeaseLost)

	// A failure retries at its time, then goes dead past MaxAttempts.
	dead := try(in.Fail(ctx, "w1", id2, e.clock.Now().Add(time.Minute), "enrich: 502")).ok(t)
	if dead {
		t.Fatal("dead after one attempt")
	}
	_, err = in.Fail(ctx, "w1", id2, e.clock.Now(), "again")
	isErr(t, err, store.ErrLeaseLost)
	if got := try(in.Claim(ctx, "w1", 10, time.Minute)).ok(t); len(got) != 0 {
		t.Fatal("claimed before its next attempt")
	}
	e.clock.Advance(time.Minute)
	got = try(in.Claim(ctx, "w2", 10, time.Minute)).ok(t)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "enrich: 502" {
		t.Fatalf("retry claimed %+v", got)
	}
	// The lease lapses (the worker died): claimable again, and the late
	// worker's report is refused.
	e.clock.Advance(time.Minute)
	got = try(in.Claim(ctx, "w3", 10, time.Minute)).ok(t)
	if len(got) != 1 || got[0].Attempts != 3 {
		t.Fatalf("lapsed lease claimed %+v", got)
	}
	_, err = in.Fail(ctx, "w2", id2, e.clock.Now(), "late")
	isErr(t, err, store.ErrLeaseLost)
	if dead := try(in.Fail(ctx, "w3", id2, e.clock.Now(), "enrich: 502")).ok(t); !dead {
		t.Fatal("not dead past MaxAttempts")
	}
	e.clock.Advance(time.Hour)
	if got := try(in.Claim(ctx, "w1", 10, time.Minute)).ok(t); len(got) != 0 {
		t.Fatal("claimed a dead entry")
	}
	var status string
	noErr(t, raw(t, s).DB.QueryRow(ctx, `SELECT status FROM webhook_inbox WHERE id = $1`, id2).Scan(&status))
	if status != "dead" {
		t.Fatalf("dead entry is %q", status)
	}
	// A tenant's deletion takes its webhooks.
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, store.Event{Type: "x", Payload: []byte(`{}`)})) // the tenant exists
	noErr(t, s.DeleteTenant(ctx, "acme"))
	var n int
	noErr(t, raw(t, s).DB.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_inbox`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d webhooks of a deleted tenant left", n)
	}
}

// testInboxConcurrent: concurrent Appends on two instances are each
// durable when they return, and concurrent claimers process each once.
func testInboxConcurrent(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	const writers, each = 16, 25
	var mu sync.Mutex
	appended := map[string]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range each {
				id, err := s.Inbox().Append(ctx, inboxEntry(w*each+i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				appended[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(appended) != writers*each {
		t.Fatalf("appended %d distinct, want %d", len(appended), writers*each)
	}
	// A fresh instance, as after a restart, reads them all.
	c := e.store()
	processed := map[string]int{}
	for w := range 6 {
		s := []store.Store{a, b, c}[w%3]
		worker := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				got, err := s.Inbox().Claim(ctx, worker, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, en := range got {
					mu.Lock()
					processed[en.ID]++
					mu.Unlock()
					if err := s.Inbox().Done(ctx, worker, en.ID); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	for id := range appended {
		if processed[id] != 1 {
			t.Errorf("webhook %s processed %d times", id, processed[id])
		}
	}
}
