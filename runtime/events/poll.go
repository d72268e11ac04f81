package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// DefaultSweepBatch is how many vanished records one transaction of a
// full scan's end reports deleted.
const DefaultSweepBatch = 1000

// maxRecordErrors bounds the record errors a PollResult keeps (the rest
// are counted).
const maxRecordErrors = 20

// Poller polls subscriptions. The zero value is not usable: set Engine.
type Poller struct {
	Engine *engine.Engine
	// Now is the clock of detectedAt and of the subscription's times; nil
	// is time.Now.
	Now func() time.Time
	// SweepBatch: see DefaultSweepBatch.
	SweepBatch int
	// MaxPages ends a poll whose pagination never ends (see
	// engine.PollOptions.MaxPages).
	MaxPages int
}

// PollRequest is one poll of one subscription.
type PollRequest struct {
	// Store is the subscription's tenant: every page's changes, record
	// hashes and state commit together in one of its transactions.
	Store        store.TenantStore
	Subscription *store.Subscription
	Plan         *Plan
	Connection   *engine.Connection
	Options      engine.RunOptions
	// Progress, when set, is called after each committed page (to renew
	// a lease); an error from it stops the poll.
	Progress func(ctx context.Context, pages int) error
}

// PollResult says what one poll saw and did.
type PollResult struct {
	Mode     string `json:"mode"`
	Pages    int    `json:"pages"`
	Records  int    `json:"records"`
	Created  int    `json:"created"`
	Updated  int    `json:"updated"`
	Deleted  int    `json:"deleted"`
	Baseline bool   `json:"baseline,omitempty"` // this poll took the baseline: it emitted nothing
	// Complete: every page was listed (a full scan swept its deletions,
	// an incremental poll moved its cursor).
	Complete bool `json:"complete"`
	// Skipped counts the records left out: no id, or a mapped record that
	// does not fit the record schema. Errors describes the first ones.
	Skipped int           `json:"skipped,omitempty"`
	Errors  []RecordError `json:"errors,omitempty"`
	// CursorBackwards is set when the API gave a cursor before the one
	// kept: the kept one stays.
	CursorBackwards string `json:"cursorBackwards,omitempty"`
	// Log is the poll's exchanges, as the engine gives them.
	Log *engine.Result `json:"-"`
}

// RecordError is a record a poll could not turn into a change.
type RecordError struct {
	Page  int    `json:"page"`
	Index int    `json:"index"` // in its page, from 0
	ID    string `json:"id,omitempty"`
	// Pointer is the JSON Pointer in the mapped record of what is wrong.
	Pointer string `json:"pointer,omitempty"`
	Message string `json:"message"`
}

func (e RecordError) String() string {
	who := fmt.Sprintf("record %d of page %d", e.Index, e.Page)
	if e.ID != "" {
		who = fmt.Sprintf("record %q (page %d)", e.ID, e.Page)
	}
	if e.Pointer != "" || e.ID != "" {
		return fmt.Sprintf("%s at %q: %s", who, e.Pointer, e.Message)
	}
	return who + ": " + e.Message
}

// CursorBackwardsError is a poll whose API gave a cursor before the one
// the subscription kept (clock skew, a restored backup, a wrong cursor
// expression). The changes the poll found are in the outbox; the kept
// cursor stays, so nothing is listed twice or skipped for good.
type CursorBackwardsError struct {
	Event       string
	Kept, Given any
}

func (e *CursorBackwardsError) Error() string {
	return fmt.Sprintf("event %s: the cursor went backwards: the API gave %v, before %v kept from the last poll; the kept cursor stays (check polling.cursor and the order of the API's list)", e.Event, e.Given, e.Kept)
}

// Poll runs one poll of a subscription: it walks the event's pages and,
// page by page in one transaction each, marks what it saw in the
// subscription's record hashes and enqueues the changes that reveals.
//
//   - incremental: the request sees `state.cursor`; a record never seen
//     (or `created` true) is created, one seen with another version
//     updated. The new cursor is kept when every page was listed.
//   - fullScan: every record is marked with the generation of this scan;
//     when the scan completes, the records still of an older generation
//     were not listed, and are reported deleted (in batches), then the
//     generation moves on. A scan that fails halfway is taken again from
//     the start by the next poll; what it enqueued has stable change ids,
//     so nothing is enqueued twice.
//   - the app's deleted flag (`deleted`): a deleted change.
//
// With baseline (the default) the first poll only records. A record
// without an id, or whose mapped record does not fit the record schema,
// is skipped and counted (PollResult.Errors name it): one bad record does
// not stall the subscription; it is still marked, so it is neither
// reported deleted nor, unchanged, reported again.
func (p *Poller) Poll(ctx context.Context, req PollRequest) (*PollResult, error) {
	pl := req.Plan
	if pl == nil || pl.Poll == nil {
		return nil, fmt.Errorf("events: the event does not poll")
	}
	sub := req.Subscription
	st := &pollState{p: p, req: req, now: p.now(), res: &PollResult{Mode: pl.Mode}}
	st.src = Source{Tenant: req.Store.Key(), ConnectionID: sub.ConnectionID, Connector: sub.Connector, Event: sub.Event,
		TypeKey: pl.TypeKey, SubscriptionID: sub.ID}
	st.baseline = pl.Baseline && !sub.Baselined
	st.res.Baseline = st.baseline
	st.state = map[string]any{}
	if len(sub.State) > 0 {
		if err := json.Unmarshal(sub.State, &st.state); err != nil {
			return nil, fmt.Errorf("events: subscription %s: its state is not a JSON object: %v", sub.ID, err)
		}
	}
	st.gen = sub.Generation
	if pl.Mode == spec.PollFullScan {
		st.gen = sub.Generation + 1
	}
	st.vars = map[string]any{
		compile.VarState: st.state,
		compile.VarConnection: map[string]any{"id": req.Connection.ID, "name": req.Connection.Name,
			"parameters": orEmpty(req.Connection.Parameters), "info": orEmpty(req.Connection.Info)},
		compile.VarTenant: map[string]any{"key": req.Connection.Tenant},
		compile.VarNow:    st.now.UTC(),
	}
	log, err := p.Engine.Poll(ctx, pl.Poll, req.Connection, st.state, engine.PollOptions{RunOptions: req.Options, MaxPages: p.MaxPages}, st.page)
	st.res.Log = log
	if err != nil {
		return st.res, err
	}
	if err := st.finish(ctx); err != nil {
		return st.res, err
	}
	st.res.Complete = true
	if st.backwards != nil {
		return st.res, st.backwards
	}
	return st.res, nil
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// pollState is one poll under way.
type pollState struct {
	p         *Poller
	req       PollRequest
	src       Source
	now       time.Time
	res       *PollResult
	state     map[string]any
	vars      map[string]any
	gen       int64
	baseline  bool
	cursor    any // the best cursor the pages gave so far (incremental)
	hasCursor bool
	backwards error
}

// seen is one listed record, as far as a page needs it.
type seen struct {
	index   int
	raw     any
	id      string
	version string // updatedAt, else a hash of the raw record
	hash    string // what the record hashes keep: a hash of version
	deleted bool
}

func (st *pollState) page(ctx context.Context, pg engine.PollPage) error {
	ce := st.req.Plan.Resolved.Compiled
	st.res.Pages = pg.Number
	st.res.Records += len(pg.Records)
	vars := withVar(st.vars, compile.VarRecord, nil)
	recs := make([]seen, 0, len(pg.Records))
	for i, raw := range pg.Records {
		vars[compile.VarRecord] = raw
		s := seen{index: i, raw: raw}
		idv, err := ce.PollID.Eval(ctx, vars)
		if err != nil {
			st.skip(RecordError{Page: pg.Number, Index: i, Message: err.Error()})
			continue
		}
		if s.id = scalarText(idv); s.id == "" {
			st.skip(RecordError{Page: pg.Number, Index: i, Message: fmt.Sprintf("the record has no id (polling.id at %s gave %s); it is skipped", ce.PollID.Src.Pos, describe(idv))})
			continue
		}
		if ce.PollUpdatedAt != nil {
			v, err := ce.PollUpdatedAt.Eval(ctx, vars)
			if err != nil {
				st.skip(RecordError{Page: pg.Number, Index: i, ID: s.id, Message: err.Error()})
				continue
			}
			s.version = scalarText(v)
		}
		if s.version == "" {
			b, err := json.Marshal(raw)
			if err != nil {
				st.skip(RecordError{Page: pg.Number, Index: i, ID: s.id, Message: "the record cannot be encoded as JSON: " + err.Error()})
				continue
			}
			s.version = shortHash(b)
		}
		s.hash = shortHash([]byte(s.version))
		if ce.PollDeleted != nil {
			d, err := ce.PollDeleted.Eval(ctx, vars)
			if err != nil {
				st.skip(RecordError{Page: pg.Number, Index: i, ID: s.id, Message: err.Error()})
				continue
			}
			s.deleted = d == true
		}
		// A record listed twice in a page stays twice, in order: a change
		// feed lists each change of a record (created, then updated or
		// deleted), and each is a change of its own. The record hashes
		// compare each listing with the one before it, so a listing that
		// repeats the same version is no change.
		recs = append(recs, s)
	}
	if ce.PollCursor != nil {
		if err := st.pageCursor(ctx, pg.Records); err != nil {
			return err
		}
	}
	err := st.req.Store.Tx(ctx, func(tx store.TenantStore) error {
		return st.commitPage(ctx, tx, pg.Number, recs)
	})
	if err != nil {
		return err
	}
	if st.req.Progress != nil {
		return st.req.Progress(ctx, pg.Number)
	}
	return nil
}

// commitPage marks a page's records and enqueues its changes, in tx.
func (st *pollState) commitPage(ctx context.Context, tx store.TenantStore, page int, recs []seen) error {
	hashes := tx.Subscriptions().Records(st.req.Subscription.ID)
	full := st.req.Plan.Mode == spec.PollFullScan
	marks := make([]store.RecordHash, 0, len(recs))
	var forget []string
	for _, r := range recs {
		switch {
		case !r.deleted:
			marks = append(marks, store.RecordHash{ID: r.id, Hash: r.hash})
		case full:
			// A full scan lists a flagged record again each time: its
			// tombstone keeps it from being reported twice, or created.
			marks = append(marks, store.RecordHash{ID: r.id, Hash: DeletedVersion(r.hash)})
		default:
			forget = append(forget, r.id)
		}
	}
	var prev []store.RecordSeen
	if len(marks) > 0 {
		var err error
		if prev, err = hashes.Mark(ctx, st.gen, marks); err != nil {
			return err
		}
		if len(prev) != len(marks) {
			return fmt.Errorf("events: the store marked %d records of %d", len(prev), len(marks))
		}
	}
	var (
		changes []Change
		m       int
		created = st.req.Plan.Resolved.Compiled.PollCreated
	)
	vars := withVar(st.vars, compile.VarRecord, nil)
	for _, r := range recs {
		var before string
		if !r.deleted || full {
			before = prev[m].Previous
			m++
		}
		if st.baseline {
			continue
		}
		c := Change{RecordID: r.id}
		switch {
		case r.deleted:
			if full && (before == "" || isTombstone(before)) {
				continue // never seen alive, or reported already
			}
			c.Type, c.Version = Deleted, DeletedVersion(r.version)
		case before == r.hash:
			continue
		default:
			c.Type, c.Version = Updated, r.version
			if before == "" || isTombstone(before) {
				c.Type = Created
			}
			if created != nil {
				vars[compile.VarRecord] = r.raw
				v, err := created.Eval(ctx, vars)
				if err != nil {
					st.skip(RecordError{Page: page, Index: r.index, ID: r.id, Message: err.Error()})
					continue
				}
				if c.Type = Updated; v == true {
					c.Type = Created
				}
			}
		}
		rec, rerr := st.mapRecord(ctx, r)
		if rerr != nil {
			rerr.Page = page
			st.skip(*rerr)
			continue
		}
		c.Record = rec
		changes = append(changes, c)
	}
	if len(forget) > 0 {
		if err := hashes.Forget(ctx, forget...); err != nil {
			return err
		}
	}
	return st.enqueue(ctx, tx, changes)
}

// mapRecord maps a raw record with the event's record mapping and checks
// it against the record schema.
func (st *pollState) mapRecord(ctx context.Context, r seen) (any, *RecordError) {
	m := st.req.Plan.Resolved.Compiled.Record
	out := r.raw
	if m != nil {
		v, err := m.Eval(ctx, withVar(st.vars, compile.VarRecord, r.raw))
		if err != nil {
			return nil, &RecordError{Index: r.index, ID: r.id, Message: "the record mapping failed: " + err.Error()}
		}
		out = v
	}
	if vs := st.req.Plan.validate(out); len(vs) > 0 {
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = fmt.Sprintf("%s: %s", pointerOrRoot(v.Pointer), v.Message)
		}
		return nil, &RecordError{Index: r.index, ID: r.id, Pointer: vs[0].Pointer,
			Message: "the mapped record does not fit the event's record schema (" + strings.Join(msgs, "; ") + "); it is skipped: fix the record mapping or the schema"}
	}
	return out, nil
}

func pointerOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// enqueue writes changes to the outbox and counts them.
func (st *pollState) enqueue(ctx context.Context, tx store.TenantStore, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	evs, err := st.src.OutboxEvents(changes, st.now)
	if err != nil {
		return err
	}
	if err := tx.Outbox().Enqueue(ctx, evs...); err != nil {
		return err
	}
	for _, c := range changes {
		switch c.Type {
		case Created:
			st.res.Created++
		case Updated:
			st.res.Updated++
		case Deleted:
			st.res.Deleted++
		}
	}
	return nil
}

// finish ends a poll whose pages were all listed: a full scan reports the
// records it no longer saw as deleted and moves its generation on; an
// incremental poll keeps its new cursor.
func (st *pollState) finish(ctx context.Context) error {
	sub := st.req.Subscription
	full := st.req.Plan.Mode == spec.PollFullScan
	batch := st.p.SweepBatch
	if batch <= 0 {
		batch = DefaultSweepBatch
	}
	state := st.nextState()
	for {
		done := !full
		err := st.req.Store.Tx(ctx, func(tx store.TenantStore) error {
			if full {
				gone, err := tx.Subscriptions().Records(sub.ID).Sweep(ctx, st.gen, batch)
				if err != nil {
					return err
				}
				done = len(gone) < batch
				var changes []Change
				for _, g := range gone {
					if st.baseline || isTombstone(g.Hash) {
						continue
					}
					changes = append(changes, Change{Type: Deleted, RecordID: g.ID, Version: DeletedVersion(g.Hash)})
				}
				if err := st.enqueue(ctx, tx, changes); err != nil {
					return err
				}
			}
			if !done {
				return nil
			}
			updated, err := tx.Subscriptions().Update(ctx, sub.ID, func(s *store.Subscription) error {
				s.State, s.Generation, s.Baselined = state, st.gen, true
				return nil
			})
			if err == nil {
				*sub = *updated
			}
			return err
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// nextState is the subscription state after a complete poll: the new
// cursor, unless the API's went backwards.
func (st *pollState) nextState() json.RawMessage {
	sub := st.req.Subscription
	if !st.hasCursor {
		return sub.State
	}
	kept, had := st.state["cursor"]
	if had && kept != nil {
		if c, ok := compareCursors(st.cursor, kept); ok && c < 0 {
			st.res.CursorBackwards = fmt.Sprintf("%v", st.cursor)
			st.backwards = &CursorBackwardsError{Event: sub.Event, Kept: kept, Given: st.cursor}
			return sub.State
		}
	}
	next := make(map[string]any, len(st.state))
	for k, v := range st.state {
		next[k] = v
	}
	next["cursor"] = st.cursor
	b, err := json.Marshal(next)
	if err != nil {
		return sub.State
	}
	return b
}

// pageCursor evaluates `cursor` over one page's records (`state.cursor`
// is the last poll's) and keeps the latest cursor the pages gave: pages
// may come newest first or oldest first.
func (st *pollState) pageCursor(ctx context.Context, records []any) error {
	ce := st.req.Plan.Resolved.Compiled
	if len(records) == 0 {
		return nil
	}
	v, err := ce.PollCursor.Eval(ctx, withVar(st.vars, compile.VarRecords, records))
	if err != nil {
		return err
	}
	if v == nil || scalarText(v) == "" {
		return nil
	}
	if !st.hasCursor {
		st.cursor, st.hasCursor = v, true
		return nil
	}
	if c, ok := compareCursors(v, st.cursor); !ok || c > 0 {
		// An opaque cursor cannot be ordered: the last page's wins.
		st.cursor = v
	}
	return nil
}

func (st *pollState) skip(e RecordError) {
	st.res.Skipped++
	if len(st.res.Errors) < maxRecordErrors {
		st.res.Errors = append(st.res.Errors, e)
	}
}

// compareCursors orders two cursors when they can be ordered: numbers,
// RFC 3339 times, or strings of digits; ok is false otherwise (an opaque
// token).
func compareCursors(a, b any) (int, bool) {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return cmpFloat(x, y), true
		}
		return 0, false
	}
	sa, oka := a.(string)
	sb, okb := b.(string)
	if !oka || !okb {
		return 0, false
	}
	if ta, err := time.Parse(time.RFC3339Nano, sa); err == nil {
		if tb, err := time.Parse(time.RFC3339Nano, sb); err == nil {
			return ta.Compare(tb), true
		}
		return 0, false
	}
	if digits(sa) && digits(sb) {
		sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
		if len(sa) != len(sb) {
			return cmpInt(len(sa), len(sb)), true
		}
		return strings.Compare(sa, sb), true
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpInt(a, b int) int { return cmpFloat(float64(a), float64(b)) }

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isTombstone(h string) bool { return strings.HasPrefix(h, "deleted:") }

// shortHash is 24 hex characters of SHA-256: what the store keeps per
// record.
func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func scalarText(v any) string {
	if v == nil {
		return ""
	}
	return compile.ScalarText(v)
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%q", scalarText(v))
}

func withVar(vars map[string]any, name string, v any) map[string]any {
	out := make(map[string]any, len(vars)+1)
	for k, x := range vars {
		out[k] = x
	}
	out[name] = v
	return out
}
