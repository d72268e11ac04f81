package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

func webhook(name string) store.Destination {
	return store.Destination{Name: name, Kind: store.DestinationWebhook, URL: "https://example.com/" + name}
}

// to routes every event to ids.
func to(ids ...string) func(*store.Event) []string {
	return func(*store.Event) []string { return ids }
}

func taskKeys(ts []*store.DeliveryTask) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID+">"+t.Destination)
	}
	return out
}

func testDestinations(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	ds := s.Destinations()
	secret := "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMw=="
	d := webhook("backend")
	d.Secret, d.EventTypes, d.Tenants, d.Timeout = secret, []string{"connection.*"}, []string{"acme"}, 5*time.Second
	a := try(ds.Create(ctx, d)).ok(t)
	if len(a.ID) != 24 || a.ID[:4] != "dst_" || a.Source != store.SourceAPI || a.Status != store.DestinationActive || a.Version != 1 ||
		!a.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("created %+v", a)
	}
	got := try(ds.Get(ctx, a.ID)).ok(t)
	if got.Secret != secret || !slices.Equal(got.EventTypes, []string{"connection.*"}) || got.Timeout != 5*time.Second || got.Connectors != nil {
		t.Fatalf("got %+v", got)
	}
	// Sealed at rest.
	var sealed []byte
	var kid string
	noErr(t, raw(t, s).DB.QueryRow(ctx, `SELECT secret, secret_kid FROM destinations WHERE id = $1`, a.ID).Scan(&sealed, &kid))
	if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte(secret[6:20])) || kid != e.keys.CurrentID() {
		t.Fatalf("the secret is not sealed: kid %q", kid)
	}

	_, err := ds.Create(ctx, webhook("backend"))
	isErr(t, err, store.ErrConflict)
	_, err = ds.Create(ctx, store.Destination{Name: "x", Kind: "smtp", URL: "x"})
	isErr(t, err, store.ErrInvalid)
	_, err = ds.Create(ctx, store.Destination{Name: "n", Kind: store.DestinationNATS, URL: "nats://127.0.0.1:4222"})
	isErr(t, err, store.ErrInvalid) // no subject
	_, err = ds.Create(ctx, store.Destination{ID: "file:x", Name: "x", Kind: store.DestinationWebhook, URL: "x"})
	isErr(t, err, store.ErrInvalid)
	_, err = ds.Get(ctx, "dst_nope")
	isErr(t, err, store.ErrNotFound)

	e.clock.Advance(time.Second)
	u := try(ds.Update(ctx, a.ID, func(d *store.Destination) error {
		d.PreviousSecret, d.PreviousUntil = d.Secret, e.clock.Now().Add(24*time.Hour)
		d.Secret = "whsec_bmV3"
		d.ID, d.Source = "hijack", store.SourceFile // ignored
		return nil
	})).ok(t)
	if u.Version != 2 || u.ID != a.ID || u.Source != store.SourceAPI || u.Secret != "whsec_bmV3" || u.PreviousSecret != secret || !u.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("updated %+v", u)
	}
	if g := try(ds.Get(ctx, a.ID)).ok(t); g.PreviousSecret != secret || g.Secret != "whsec_bmV3" || !g.PreviousUntil.Equal(u.PreviousUntil) {
		t.Fatalf("after update %+v", g)
	}
	_, err = ds.Update(ctx, a.ID, func(d *store.Destination) error { d.Kind = "smtp"; return nil })
	isErr(t, err, store.ErrInvalid)
	_, err = ds.Update(ctx, "dst_nope", func(*store.Destination) error { return nil })
	isErr(t, err, store.ErrNotFound)

	// Sync: file destinations exactly as given; API ones untouched.
	n := store.Destination{Name: "stream", Kind: store.DestinationNATS, URL: "nats://127.0.0.1:4222", Subject: "membrane.events"}
	noErr(t, ds.Sync(ctx, []store.Destination{webhook("hooks"), n}))
	hooks := try(ds.Get(ctx, "file:hooks")).ok(t)
	if hooks.Source != store.SourceFile || hooks.Version != 1 {
		t.Fatalf("file destination %+v", hooks)
	}
	// Disabled and failing: kept by a Sync of the same definition, reset
	// by a changed one.
	try(ds.Update(ctx, "file:hooks", func(d *store.Destination) error {
		d.Status, d.DisabledReason, d.DisabledAt, d.FailingSince = store.DestinationDisabled, "gone", e.clock.Now(), e.clock.Now()
		return nil
	})).ok(t)
	noErr(t, ds.Sync(ctx, []store.Destination{webhook("hooks"), n}))
	if g := try(ds.Get(ctx, "file:hooks")).ok(t); g.Status != store.DestinationDisabled || g.DisabledReason != "gone" || g.FailingSince.IsZero() || g.Version != 2 {
		t.Fatalf("same definition synced: %+v", g)
	}
	changed := webhook("hooks")
	changed.URL = "https://example.com/v2"
	noErr(t, ds.Sync(ctx, []store.Destination{changed}))
	if g := try(ds.Get(ctx, "file:hooks")).ok(t); g.Status != store.DestinationActive || !g.FailingSince.IsZero() || g.URL != changed.URL || g.Version != 3 {
		t.Fatalf("changed definition synced: %+v", g)
	}
	_, err = ds.Get(ctx, "file:stream")
	isErr(t, err, store.ErrNotFound)
	isErr(t, ds.Sync(ctx, []store.Destination{webhook("a"), webhook("a")}), store.ErrInvalid)
	isErr(t, ds.Sync(ctx, []store.Destination{webhook("backend")}), store.ErrConflict) // the API's name

	page := try(ds.List(ctx, "", 1)).ok(t)
	page2 := try(ds.List(ctx, page.Next, 10)).ok(t)
	if len(page.Items) != 1 || page.Items[0].ID != a.ID || len(page2.Items) != 1 || page2.Items[0].ID != "file:hooks" || page2.Next != "" {
		t.Fatalf("pages %+v %+v", page, page2)
	}

	// Rotation re-seals the secrets.
	ring := try(crypt.New(crypt.Generate(), e.keyA)).ok(t)
	s2 := e.store(store.WithKeyring(ring))
	if res := try(s2.RotateKeys(ctx)).ok(t); res.Destinations != 1 {
		t.Fatalf("rotated %+v", res)
	}
	if g := try(s2.Destinations().Get(ctx, a.ID)).ok(t); g.Secret != "whsec_bmV3" || g.PreviousSecret != secret {
		t.Fatalf("after rotation %+v", g)
	}

	// Delete takes the deliveries along.
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, event("evt_1")))
	try(s.Deliveries().Route(ctx, 10, to(a.ID, "file:hooks"))).ok(t)
	noErr(t, ds.Delete(ctx, a.ID))
	isErr(t, ds.Delete(ctx, a.ID), store.ErrNotFound)
	p := try(s.Deliveries().List(ctx, store.DeliveryFilter{})).ok(t)
	if len(p.Items) != 1 || p.Items[0].Destination != "file:hooks" {
		t.Fatalf("deliveries after delete: %+v", p.Items)
	}
	noErr(t, ds.Sync(ctx, nil))
	if p := try(s.Deliveries().List(ctx, store.DeliveryFilter{})).ok(t); len(p.Items) != 0 {
		t.Fatalf("deliveries after sync: %+v", p.Items)
	}
}

// testDeliveries: the life of a delivery: routed, claimed, failed,
// retried, leased out and back, delivered, dead, replayed, pruned.
func testDeliveries(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	dv := s.Deliveries()
	a := try(s.Destinations().Create(ctx, webhook("a"))).ok(t)
	b := try(s.Destinations().Create(ctx, webhook("b"))).ok(t)
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, event("evt_1"), event("evt_2")))
	e.clock.Advance(time.Second)
	noErr(t, s.Tenant("globex").Outbox().Enqueue(ctx, event("evt_3")))
	routed := try(dv.Route(ctx, 10, func(ev *store.Event) []string {
		switch ev.ID {
		case "evt_1":
			return []string{a.ID, b.ID, a.ID, "dst_deleted"} // duplicates and unknown ids are dropped
		case "evt_2":
			return []string{b.ID}
		}
		return nil
	})).ok(t)
	if len(routed) != 3 {
		t.Fatalf("routed %v", eventIDs(routed))
	}

	got := try(dv.Claim(ctx, "w1", 10, 2*time.Minute, nil)).ok(t)
	want := []string{"evt_1>" + a.ID, "evt_1>" + b.ID, "evt_2>" + b.ID}
	slices.Sort(want[:2])
	if !slices.Equal(taskKeys(got), want) {
		t.Fatalf("claimed %v", taskKeys(got))
	}
	task := got[0]
	if task.Destination != a.ID {
		task = got[1]
	}
	if task.Tenant != "acme" || string(task.Payload) != `{"id": "evt_1"}` || task.Attempts != 1 || task.Seq != routed[0].Seq {
		t.Fatalf("task %+v", task)
	}
	if again := try(dv.Claim(ctx, "w2", 10, time.Minute, nil)).ok(t); len(again) != 0 {
		t.Fatalf("claimed leased deliveries: %v", taskKeys(again))
	}

	// Delivered; a failure; the failing destination remembers since when.
	at := e.clock.Now()
	noErr(t, dv.Record(ctx, "w1", store.Attempt{EventID: "evt_1", Destination: a.ID, Attempt: 1, Status: 204, Latency: 3 * time.Millisecond},
		store.Outcome{Delivered: true}))
	noErr(t, dv.Record(ctx, "w1", store.Attempt{EventID: "evt_1", Destination: b.ID, Attempt: 1, Status: 503, Error: "503 Service Unavailable",
		Excerpt: string(bytes.Repeat([]byte("é"), 400))}, store.Outcome{Next: at.Add(time.Minute)}))
	if g := try(s.Destinations().Get(ctx, b.ID)).ok(t); !g.FailingSince.Equal(at) {
		t.Fatalf("failing since %v, want %v", g.FailingSince, at)
	}
	if g := try(s.Destinations().Get(ctx, a.ID)).ok(t); !g.FailingSince.IsZero() {
		t.Fatalf("a healthy destination failing since %v", g.FailingSince)
	}
	isErr(t, dv.Record(ctx, "w1", store.Attempt{EventID: "evt_1", Destination: b.ID, Attempt: 1}, store.Outcome{}), store.ErrLeaseLost)
	isErr(t, dv.Record(ctx, "w1", store.Attempt{EventID: "evt_nope", Destination: b.ID}, store.Outcome{}), store.ErrNotFound)
	isErr(t, dv.Record(ctx, "w1", store.Attempt{EventID: "evt_1", Destination: b.ID}, store.Outcome{Delivered: true, Dead: true}), store.ErrInvalid)

	// Not due before its next attempt; skipped destinations wait.
	e.clock.Advance(59 * time.Second)
	if got := try(dv.Claim(ctx, "w1", 10, time.Minute, nil)).ok(t); len(got) != 0 {
		t.Fatalf("claimed before the next attempt: %v", taskKeys(got))
	}
	e.clock.Advance(time.Second)
	if got := try(dv.Claim(ctx, "w1", 10, time.Minute, []string{b.ID})).ok(t); len(got) != 0 {
		t.Fatalf("claimed a skipped destination's: %v", taskKeys(got))
	}
	got = try(dv.Claim(ctx, "w2", 10, 30*time.Second, nil)).ok(t)
	if len(got) != 1 || got[0].ID != "evt_1" || got[0].Destination != b.ID || got[0].Attempts != 2 {
		t.Fatalf("retry claimed %v", taskKeys(got))
	}

	// The lease runs out (the worker died): claimable again, and the late
	// report is refused but its attempt kept.
	e.clock.Advance(61 * time.Second)
	got = try(dv.Claim(ctx, "w3", 10, 30*time.Second, nil)).ok(t)
	if len(got) != 2 || got[0].ID != "evt_1" || got[0].Attempts != 3 {
		t.Fatalf("expired lease reclaimed as %v", taskKeys(got))
	}
	isErr(t, dv.Record(ctx, "w2", store.Attempt{EventID: "evt_1", Destination: b.ID, Attempt: 2, Error: "late"}, store.Outcome{}), store.ErrLeaseLost)
	errs := try(dv.RecordBatch(ctx, "w3", []store.AttemptOutcome{
		{Attempt: store.Attempt{EventID: "evt_1", Destination: b.ID, Attempt: 3, Status: 410}, Outcome: store.Outcome{Dead: true}},
		{Attempt: store.Attempt{EventID: "evt_2", Destination: b.ID, Attempt: 2, Status: 200}, Outcome: store.Outcome{Delivered: true}},
		{Attempt: store.Attempt{EventID: "evt_2", Destination: b.ID, Attempt: 2, Status: 200}, Outcome: store.Outcome{Delivered: true}},
		{Attempt: store.Attempt{EventID: "evt_x", Destination: b.ID}},
	})).ok(t)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("batch: %v", errs)
	}
	isErr(t, errs[2], store.ErrLeaseLost)
	isErr(t, errs[3], store.ErrNotFound)
	if g := try(s.Destinations().Get(ctx, b.ID)).ok(t); !g.FailingSince.IsZero() {
		t.Fatalf("failing since %v after a success", g.FailingSince)
	}

	// States and attempts.
	states := try(dv.List(ctx, store.DeliveryFilter{})).ok(t)
	if len(states.Items) != 3 {
		t.Fatalf("states %+v", states.Items)
	}
	dead := try(dv.List(ctx, store.DeliveryFilter{Status: store.Dead})).ok(t)
	if len(dead.Items) != 1 || dead.Items[0].EventID != "evt_1" || dead.Items[0].Destination != b.ID || dead.Items[0].LastStatus != 410 ||
		dead.Items[0].Attempts != 3 || dead.Items[0].Tenant != "acme" {
		t.Fatalf("dead %+v", dead.Items)
	}
	p1 := try(dv.List(ctx, store.DeliveryFilter{Limit: 2})).ok(t)
	p2 := try(dv.List(ctx, store.DeliveryFilter{Limit: 2, Cursor: p1.Next})).ok(t)
	if len(p1.Items) != 2 || len(p2.Items) != 1 || p2.Next != "" || p2.Items[0].EventID != "evt_2" {
		t.Fatalf("pages %+v %+v", p1.Items, p2.Items)
	}
	if p := try(dv.List(ctx, store.DeliveryFilter{Tenant: "globex"})).ok(t); len(p.Items) != 0 {
		t.Fatalf("globex's %+v", p.Items)
	}
	atts := try(dv.Attempts(ctx, store.AttemptFilter{EventID: "evt_1", Destination: b.ID})).ok(t)
	if len(atts.Items) != 4 || atts.Items[0].Attempt != 3 || atts.Items[0].Status != 410 || atts.Items[3].Attempt != 1 ||
		atts.Items[3].Error != "503 Service Unavailable" || len(atts.Items[3].Excerpt) > store.MaxExcerpt || atts.Items[3].Tenant != "acme" {
		t.Fatalf("attempts %+v", atts.Items)
	}
	if atts.Items[1].Error != "late" || atts.Items[2].Error != "" {
		t.Fatalf("the late attempt is not kept: %+v", atts.Items[2])
	}
	// 7 in all: evt_1 to a once, to b four times, evt_2 to b twice.
	a1 := try(dv.Attempts(ctx, store.AttemptFilter{Limit: 4})).ok(t)
	a2 := try(dv.Attempts(ctx, store.AttemptFilter{Limit: 4, Cursor: a1.Next})).ok(t)
	if len(a1.Items) != 4 || len(a2.Items) != 3 || a2.Next != "" {
		t.Fatalf("attempt pages %d %d %q", len(a1.Items), len(a2.Items), a2.Next)
	}

	// Replay: by event; by destination and range; unknown ids.
	n := try(dv.Replay(ctx, store.ReplayFilter{EventID: "evt_1"})).ok(t)
	if n != 2 {
		t.Fatalf("replayed %d, want 2 (delivered and dead)", n)
	}
	if n := try(dv.Replay(ctx, store.ReplayFilter{EventID: "evt_1"})).ok(t); n != 0 {
		t.Fatalf("replayed pending deliveries: %d", n)
	}
	_, err := dv.Replay(ctx, store.ReplayFilter{EventID: "evt_nope"})
	isErr(t, err, store.ErrNotFound)
	_, err = dv.Replay(ctx, store.ReplayFilter{EventID: "evt_3"}) // routed nowhere
	isErr(t, err, store.ErrNotFound)
	_, err = dv.Replay(ctx, store.ReplayFilter{EventID: "evt_1", Destination: "dst_nope"})
	isErr(t, err, store.ErrNotFound)
	_, err = dv.Replay(ctx, store.ReplayFilter{})
	isErr(t, err, store.ErrInvalid)
	got = try(dv.Claim(ctx, "w1", 10, time.Minute, nil)).ok(t)
	if len(got) != 2 || got[0].Attempts != 1 || got[1].Attempts != 1 {
		t.Fatalf("replayed claimed %v", taskKeys(got))
	}
	for _, task := range got {
		noErr(t, dv.Record(ctx, "w1", store.Attempt{EventID: task.ID, Destination: task.Destination, Attempt: 1}, store.Outcome{Dead: true}))
	}
	created := routed[0].CreatedAt
	if n := try(dv.Replay(ctx, store.ReplayFilter{Destination: a.ID, From: created.Add(time.Second)})).ok(t); n != 0 {
		t.Fatalf("replayed out of range: %d", n)
	}
	if n := try(dv.Replay(ctx, store.ReplayFilter{Destination: a.ID, From: created, To: created.Add(time.Second)})).ok(t); n != 1 {
		t.Fatalf("replayed %d by range", n)
	}

	// A disabled destination's deliveries wait.
	try(s.Destinations().Update(ctx, a.ID, func(d *store.Destination) error { d.Status = store.DestinationDisabled; return nil })).ok(t)
	if got := try(dv.Claim(ctx, "w1", 10, time.Minute, nil)).ok(t); len(got) != 0 {
		t.Fatalf("claimed a disabled destination's: %v", taskKeys(got))
	}

	// Pruning: attempts by age; the log where nothing is pending.
	e.clock.Advance(time.Hour)
	if n := try(dv.PruneAttempts(ctx, e.clock.Now().Add(-time.Minute))).ok(t); n != 9 {
		t.Fatalf("pruned %d attempts, want 9", n)
	}
	if n := try(dv.PruneLog(ctx, e.clock.Now().Add(-time.Minute))).ok(t); n != 2 {
		t.Fatalf("pruned %d events, want evt_2 and evt_3 (evt_1 is pending to a)", n)
	}
	if log := try(dv.Log(ctx, "", 0, 10)).ok(t); len(log) != 1 || log[0].ID != "evt_1" {
		t.Fatalf("log after pruning: %v", eventIDs(log))
	}
	// Seqs never repeat, even once their events are pruned.
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, event("evt_4")))
	if r := try(dv.Route(ctx, 10, noDestinations)).ok(t); len(r) != 1 || r[0].Seq != routed[2].Seq+1 {
		t.Fatalf("routed after pruning: %+v", r)
	}
}

// testDeliveryClaimAcrossReplicas: workers on two store instances claim
// concurrently; no delivery is handed out twice while leased.
func testDeliveryClaimAcrossReplicas(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	const total = 120
	var evs []store.Event
	for i := range total {
		evs = append(evs, event(fmt.Sprintf("evt_%03d", i)))
	}
	noErr(t, a.Tenant("acme").Outbox().Enqueue(ctx, evs[:60]...))
	noErr(t, a.Tenant("other").Outbox().Enqueue(ctx, evs[60:]...))
	d1 := try(a.Destinations().Create(ctx, webhook("one"))).ok(t)
	d2 := try(a.Destinations().Create(ctx, webhook("two"))).ok(t)
	for len(try(a.Deliveries().Route(ctx, 50, to(d1.ID, d2.ID))).ok(t)) > 0 {
	}

	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		s := a
		if w%2 == 1 {
			s = b
		}
		worker := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				got, err := s.Deliveries().Claim(ctx, worker, 7, time.Hour, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, k := range taskKeys(got) {
					if prev, dup := seen[k]; dup {
						t.Errorf("%s claimed by %s and %s", k, prev, worker)
					}
					seen[k] = worker
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 2*total {
		t.Fatalf("claimed %d deliveries, want %d", len(seen), 2*total)
	}

	// Every worker reports at once, on both replicas (concurrent Records
	// share commits); an intruder's reports are refused, one by one.
	var intruded, delivered sync.WaitGroup
	i := 0
	for k, worker := range seen {
		ev, dst, _ := strings.Cut(k, ">")
		s := []store.Store{a, b}[i%2]
		intrude := i%10 == 0
		i++
		if intrude {
			intruded.Go(func() {
				err := s.Deliveries().Record(ctx, "intruder", store.Attempt{EventID: ev, Destination: dst, Attempt: 1, Status: 500}, store.Outcome{})
				if !errors.Is(err, store.ErrLeaseLost) {
					t.Errorf("the intruder's report on %s: %v", k, err)
				}
			})
		}
		delivered.Go(func() {
			if err := s.Deliveries().Record(ctx, worker, store.Attempt{EventID: ev, Destination: dst, Attempt: 1, Status: 200}, store.Outcome{Delivered: true}); err != nil {
				t.Errorf("%s's report on %s: %v", worker, k, err)
			}
		})
	}
	intruded.Wait()
	delivered.Wait()
	p := try(a.Deliveries().List(ctx, store.DeliveryFilter{Status: store.Delivered, Limit: 1000})).ok(t)
	if len(p.Items) != 2*total {
		t.Fatalf("%d delivered, want %d", len(p.Items), 2*total)
	}
	for _, d := range []string{d1.ID, d2.ID} {
		if g := try(a.Destinations().Get(ctx, d)).ok(t); !g.FailingSince.IsZero() {
			t.Errorf("%s failing since %v: the intruder's failures were counted", d, g.FailingSince)
		}
	}
}

// testRouteOrderAcrossReplicas: producers enqueue and two replicas route
// at once while a reader tails the log: seqs are unique and gapless, and
// the tail, which only ever asks for seqs above the last it saw, misses
// nothing: a seq becomes visible only after every lower one.
func testRouteOrderAcrossReplicas(t *testing.T, e *env) {
	a, b := e.store(), e.store()
	ctx := e.ctx
	const producers, each = 4, 40
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			s := a
			if p%2 == 1 {
				s = b
			}
			for i := range each {
				if err := s.Tenant(fmt.Sprint("t", p)).Outbox().Enqueue(ctx, event(fmt.Sprintf("evt_%d_%03d", p, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var routers sync.WaitGroup
	for _, s := range []store.Store{a, b, a, b} {
		routers.Go(func() {
			for {
				got, err := s.Deliveries().Route(ctx, 7, noDestinations)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					select {
					case <-done:
						return
					default:
					}
				}
			}
		})
	}
	var tail []store.Event
	tailed := make(chan struct{})
	go func() {
		defer close(tailed)
		var after int64
		for len(tail) < producers*each {
			select {
			case <-done:
				// Everything is enqueued: once the routers are done, the
				// tail must find everything without waiting any more.
				routers.Wait()
				got := try(b.Deliveries().Log(ctx, "", after, 1000)).ok(t)
				tail = append(tail, got...)
				if len(tail) != producers*each {
					all := try(a.Deliveries().Log(ctx, "", 0, 1000)).ok(t)
					t.Errorf("the tail saw %d events, then %d after seq %d; the log holds %d", len(tail)-len(got), len(got), after, len(all))
				}
				return
			default:
			}
			got, err := b.Deliveries().Log(ctx, "", after, 13)
			if err != nil {
				t.Error(err)
				return
			}
			for _, ev := range got {
				tail = append(tail, ev)
				after = ev.Seq
			}
			if t.Failed() {
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	routers.Wait()
	<-tailed
	all := try(a.Deliveries().Log(ctx, "", 0, 1000)).ok(t)
	if len(all) != producers*each || len(tail) != producers*each {
		t.Fatalf("log holds %d events, the tail saw %d, want %d", len(all), len(tail), producers*each)
	}
	for i := range all {
		if all[i].Seq != all[0].Seq+int64(i) || tail[i].ID != all[i].ID {
			t.Fatalf("at %d: seq %d, tail %s, log %s", i, all[i].Seq, tail[i].ID, all[i].ID)
		}
	}
}

// testDeliveryIsolation: a tenant's log never holds another's events nor
// the workspace's; the workspace tenant is no customer.
func testDeliveryIsolation(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	for tenant, id := range map[string]string{"acme": "evt_a1", "globex": "evt_g1", store.WorkspaceTenant: "evt_w1"} {
		noErr(t, s.Tenant(tenant).Outbox().Enqueue(ctx, event(id)))
	}
	e.clock.Advance(time.Second)
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, event("evt_a2")))
	drain(t, s)
	for tenant, want := range map[string][]string{
		"acme": {"evt_a1", "evt_a2"}, "globex": {"evt_g1"}, store.WorkspaceTenant: {"evt_w1"}, "initech": nil,
		"": {"evt_a1", "evt_g1", "evt_w1", "evt_a2"},
	} {
		var got []string
		for _, ev := range try(s.Deliveries().Log(ctx, tenant, 0, 100)).ok(t) {
			if tenant != "" && ev.Tenant != tenant {
				t.Errorf("%s's log holds %s of %s", tenant, ev.ID, ev.Tenant)
			}
			got = append(got, ev.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q's log: %v, want %v", tenant, got, want)
		}
	}
	ts := try(s.ListTenants(ctx, "", 100)).ok(t)
	for _, tn := range ts.Items {
		if tn.Key == store.WorkspaceTenant {
			t.Fatal("ListTenants lists the workspace")
		}
	}
	if len(ts.Items) != 2 {
		t.Fatalf("tenants %+v", ts.Items)
	}
	// Deleting a tenant deletes its events, deliveries and attempts.
	d := try(s.Destinations().Create(ctx, webhook("a"))).ok(t)
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, event("evt_a3")))
	try(s.Deliveries().Route(ctx, 10, to(d.ID))).ok(t)
	c := try(s.Deliveries().Claim(ctx, "w", 10, time.Minute, nil)).ok(t)
	noErr(t, s.Deliveries().Record(ctx, "w", store.Attempt{EventID: c[0].ID, Destination: d.ID, Attempt: 1}, store.Outcome{}))
	noErr(t, s.DeleteTenant(ctx, "acme"))
	if log := try(s.Deliveries().Log(ctx, "", 0, 100)).ok(t); len(log) != 2 {
		t.Fatalf("log after deleting acme: %v", eventIDs(log))
	}
	if p := try(s.Deliveries().List(ctx, store.DeliveryFilter{})).ok(t); len(p.Items) != 0 {
		t.Fatalf("deliveries survived their tenant: %+v", p.Items)
	}
	if p := try(s.Deliveries().Attempts(ctx, store.AttemptFilter{})).ok(t); len(p.Items) != 0 {
		t.Fatalf("attempts survived their tenant: %+v", p.Items)
	}
}

// testDeliverySignals: Enqueued fires once the events are committed,
// Routed once a Route routed some.
func testDeliverySignals(t *testing.T, e *env) {
	s := e.store()
	ctx := e.ctx
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	enq, routed := s.Deliveries().Enqueued(), s.Deliveries().Routed()
	noErr(t, s.Tenant("acme").Tx(ctx, func(tx store.TenantStore) error {
		if err := tx.Outbox().Enqueue(ctx, event("evt_1")); err != nil {
			return err
		}
		if closed(enq) {
			return fmt.Errorf("enqueued fired before the commit")
		}
		return nil
	}))
	if !closed(enq) {
		t.Fatal("enqueued did not fire after the commit")
	}
	enq = s.Deliveries().Enqueued()
	if closed(enq) {
		t.Fatal("a new wait is already closed")
	}
	noErr(t, s.Tenant("acme").Outbox().Enqueue(ctx, event("evt_2")))
	if !closed(enq) {
		t.Fatal("enqueued did not fire")
	}
	if closed(routed) {
		t.Fatal("routed fired before a route")
	}
	drain(t, s)
	if !closed(routed) {
		t.Fatal("routed did not fire")
	}
	routed = s.Deliveries().Routed()
	drain(t, s) // nothing to route
	if closed(routed) {
		t.Fatal("routed fired for an empty route")
	}
}
