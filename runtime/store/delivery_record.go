package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// attemptChunk bounds the rows of one multi-row statement of the record
// path. SQLite looks numbered parameters up by name, linearly: a
// statement's cost grows with the square of its parameters, so chunks
// stay small.
const attemptChunk = 32

// params are the placeholders of n parameters numbered from first, for a
// statement whose every parameter comes once and in order: "?" on SQLite,
// which looks "$n" up by name at every use and every bind, a cost that
// grows with the square of the parameters; "$n" on PostgreSQL.
func (s *sqlStore) params(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		if s.e.Name == "sqlite" {
			out[i] = "?"
		} else {
			out[i] = "$" + strconv.Itoa(first+i)
		}
	}
	return out
}

// shapeRows is how many rows a multi-row statement of n rows (n ≤ most)
// is written with: on SQLite the next power of two (at most most), the
// rest rows of NULLs that match and insert nothing, so that such a
// statement has a few texts, which the writer keeps prepared
// (runtime/store/internal/sqlite); n on PostgreSQL.
func (s *sqlStore) shapeRows(n, most int) int {
	if s.e.Name != "sqlite" || n <= 0 {
		return n
	}
	k := 1
	for k < n {
		k <<= 1
	}
	return min(k, most)
}

// insertRows is the end of an INSERT of the rows vals: VALUES on
// PostgreSQL; on SQLite a SELECT of them that drops the padding rows
// (shapeRows), whose first column is NULL.
func (s *sqlStore) insertRows(vals []string) string {
	if s.e.Name != "sqlite" {
		return "VALUES " + strings.Join(vals, ", ")
	}
	return "SELECT * FROM (VALUES " + strings.Join(vals, ", ") + ") WHERE column1 IS NOT NULL"
}

// recordRow is one checked attempt to record, by worker.
type recordRow struct {
	worker string
	a      Attempt
	o      Outcome
}

func (d deliveries) Record(ctx context.Context, worker string, a Attempt, o Outcome) error {
	s := d.s
	if err := checkRecord(&a, o, s.clock()); err != nil {
		return err
	}
	err := s.records.do(ctx, recordRow{worker: worker, a: a, o: o})
	if err != nil && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrNotFound) {
		return wrap(fmt.Sprintf("record attempt of event %q to %q", a.EventID, a.Destination), err)
	}
	return err
}

func (d deliveries) RecordBatch(ctx context.Context, worker string, rs []AttemptOutcome) ([]error, error) {
	s := d.s
	now := s.clock()
	errs := make([]error, len(rs))
	rows := make([]recordRow, 0, len(rs))
	idx := make([]int, 0, len(rs))
	for i := range rs {
		if errs[i] = checkRecord(&rs[i].Attempt, rs[i].Outcome, now); errs[i] == nil {
			rows = append(rows, recordRow{worker: worker, a: rs[i].Attempt, o: rs[i].Outcome})
			idx = append(idx, i)
		}
	}
	if len(rows) == 0 {
		return errs, nil
	}
	var held []error
	err := s.root().write(ctx, func(tx sqldb.Tx) (err error) {
		held, err = s.recordRows(ctx, tx, rows, now)
		return err
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("record %d attempts", len(rows)), err)
	}
	for k, i := range idx {
		errs[i] = held[k]
	}
	return errs, nil
}

// recordRows records checked attempts in tx, a few statements per
// attemptChunk rows: the deliveries' outcomes, the attempts, and the
// health of the destinations. held[i] is ErrLeaseLost or ErrNotFound
// when rows[i]'s outcome was not recorded (a lease lost still keeps the
// attempt); err is a database error.
func (s *sqlStore) recordRows(ctx context.Context, tx sqldb.Tx, rows []recordRow, now time.Time) (held []error, err error) {
	held = make([]error, len(rows))
	// A delivery given twice (a retried report) would meet itself in one
	// UPDATE: its second row goes in a second round, where the first
	// already released the lease.
	type key struct{ event, dest string }
	seen := make(map[key]int, len(rows))
	var rounds [][]int
	for i, r := range rows {
		k := key{r.a.EventID, r.a.Destination}
		n := seen[k]
		seen[k] = n + 1
		if n == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[n] = append(rounds[n], i)
	}
	for _, round := range rounds {
		sub := make([]recordRow, len(round))
		for j, i := range round {
			sub[j] = rows[i]
		}
		h, err := s.recordRound(ctx, tx, sub, now)
		if err != nil {
			return nil, err
		}
		for j, i := range round {
			held[i] = h[j]
		}
	}
	if err := s.recordHealth(ctx, tx, rows, held); err != nil {
		return nil, err
	}
	return held, nil
}

// recordRound records attempts of distinct deliveries.
func (s *sqlStore) recordRound(ctx context.Context, tx sqldb.Tx, rows []recordRow, now time.Time) (held []error, err error) {
	held = make([]error, len(rows))
	type key struct{ event, dest string }
	tenants := make(map[key]string, len(rows))
	for from := 0; from < len(rows); from += attemptChunk {
		chunk := rows[from:min(from+attemptChunk, len(rows))]
		var args []any
		var vals []string
		for _, r := range chunk {
			status, next, delivered := Pending, r.o.Next, (*int64)(nil)
			lastErr := r.a.Error
			switch {
			case r.o.Delivered:
				status, next, delivered, lastErr = Delivered, now, optMicros(now), ""
			case r.o.Dead:
				status, next = Dead, now
			case next.IsZero():
				next = now
			}
			k := len(args)
			args = append(args, r.a.EventID, r.a.Destination, r.worker, string(status), micros(next), lastErr, r.a.Status, delivered)
			p := s.params(k+1, 8)
			vals = append(vals, fmt.Sprintf("(%s, %s, %s, %s, CAST(%s AS BIGINT), %s, CAST(%s AS INTEGER), CAST(%s AS BIGINT))",
				p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]))
		}
		for range s.shapeRows(len(chunk), attemptChunk) - len(chunk) {
			args = append(args, make([]any, 8)...)
			vals = append(vals, vals[0]) // "?" placeholders: SQLite only
		}
		got, err := queryAll(ctx, tx, func(r scanner) (out [3]string, err error) {
			return out, r.Scan(&out[0], &out[1], &out[2])
		}, `WITH v (event_id, destination, worker, status, next_at, last_error, last_status, delivered_at) AS (VALUES `+strings.Join(vals, ", ")+`)
			UPDATE deliveries SET status = v.status, next_attempt_at = v.next_at, lease_owner = '', last_error = v.last_error,
				last_status = v.last_status, delivered_at = v.delivered_at
			FROM v WHERE deliveries.event_id = v.event_id AND deliveries.destination = v.destination
				AND deliveries.lease_owner = v.worker AND deliveries.status = 'pending'
			RETURNING deliveries.event_id, deliveries.destination, deliveries.tenant`, args...)
		if err != nil {
			return nil, err
		}
		for _, g := range got {
			tenants[key{g[0], g[1]}] = g[2]
		}
	}
	// Outcomes not recorded: a lease lost, or no such delivery.
	var attempts []int
	for i, r := range rows {
		k := key{r.a.EventID, r.a.Destination}
		if _, ok := tenants[k]; ok {
			attempts = append(attempts, i)
			continue
		}
		var tenant string
		err := tx.QueryRow(ctx, `SELECT tenant FROM deliveries WHERE event_id = $1 AND destination = $2`, k.event, k.dest).Scan(&tenant)
		switch {
		case errors.Is(err, sqldb.ErrNoRows):
			held[i] = fmt.Errorf("delivery of event %q to %q: %w", k.event, k.dest, ErrNotFound)
			continue
		case err != nil:
			return nil, err
		}
		held[i] = fmt.Errorf("delivery of event %q to %q: %w by worker %q", k.event, k.dest, ErrLeaseLost, r.worker)
		tenants[k] = tenant
		attempts = append(attempts, i)
	}
	for from := 0; from < len(attempts); from += attemptChunk {
		var args []any
		var vals []string
		chunk := attempts[from:min(from+attemptChunk, len(attempts))]
		for _, i := range chunk {
			a := rows[i].a
			k := len(args)
			args = append(args, a.EventID, a.Destination, tenants[key{a.EventID, a.Destination}], a.Attempt, micros(a.At), a.Status,
				a.Latency.Microseconds(), a.Error, a.Excerpt)
			vals = append(vals, "("+strings.Join(s.params(k+1, 9), ", ")+")")
		}
		for range s.shapeRows(len(chunk), attemptChunk) - len(chunk) {
			args = append(args, make([]any, 9)...)
			vals = append(vals, vals[0]) // "?" placeholders: SQLite only
		}
		if _, err := tx.Exec(ctx, `INSERT INTO delivery_attempts (event_id, destination, tenant, attempt, at, status, latency_us, error, excerpt)
			`+s.insertRows(vals), args...); err != nil {
			return nil, fmt.Errorf("attempts: %w", err)
		}
	}
	return held, nil
}

// recordHealth keeps the destinations' FailingSince, per destination in
// the order of the attempts recorded: the last success clears it, the
// first failure after it sets it. A healthy destination's row is written
// only when that changes.
func (s *sqlStore) recordHealth(ctx context.Context, tx sqldb.Tx, rows []recordRow, held []error) (err error) {
	type health struct {
		success   bool
		firstFail time.Time
	}
	byDest := map[string]*health{}
	for i, r := range rows {
		if held[i] != nil {
			continue
		}
		h := byDest[r.a.Destination]
		if h == nil {
			h = &health{}
			byDest[r.a.Destination] = h
		}
		if r.o.Delivered {
			h.success, h.firstFail = true, time.Time{}
		} else if h.firstFail.IsZero() {
			h.firstFail = r.a.At
		}
	}
	dests := make([]string, 0, len(byDest))
	for id := range byDest {
		dests = append(dests, id)
	}
	slices.Sort(dests) // one lock order for every recorder
	for _, id := range dests {
		h := byDest[id]
		switch {
		case h.firstFail.IsZero():
			_, err = tx.Exec(ctx, `UPDATE destinations SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, id)
		case h.success:
			_, err = tx.Exec(ctx, `UPDATE destinations SET failing_since = $1 WHERE id = $2`, micros(h.firstFail), id)
		default:
			_, err = tx.Exec(ctx, `UPDATE destinations SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL`, micros(h.firstFail), id)
		}
		if err != nil {
			return fmt.Errorf("destination %q: %w", id, err)
		}
	}
	return nil
}

// recordQueue records the attempts of concurrent Record calls together:
// while one transaction commits, the attempts that arrive wait, then
// share the next one, a few statements for them all. An attempt that
// arrives alone waits for nothing.
type recordQueue struct {
	s     *sqlStore
	queue chan *recordReq
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type recordReq struct {
	ctx context.Context
	row recordRow
	res chan error
}

// maxRecordGroup bounds the attempts one commit of recordQueue carries.
const maxRecordGroup = 512

func newRecordQueue(s *sqlStore) *recordQueue {
	q := &recordQueue{s: s, queue: make(chan *recordReq, maxRecordGroup), stop: make(chan struct{}), done: make(chan struct{})}
	go q.loop()
	return q
}

// do records one attempt and returns once it is committed: nil,
// ErrLeaseLost, ErrNotFound, or a database error. When ctx ends first do
// returns its error, and the attempt may still be recorded.
func (q *recordQueue) do(ctx context.Context, row recordRow) error {
	r := &recordReq{ctx: ctx, row: row, res: make(chan error, 1)}
	select {
	case q.queue <- r:
	case <-q.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *recordQueue) close() {
	q.once.Do(func() { close(q.stop) })
	<-q.done
}

func (q *recordQueue) loop() {
	defer close(q.done)
	last := 0
	for {
		var first *recordReq
		select {
		case first = <-q.queue:
		case <-q.stop:
			for {
				select {
				case r := <-q.queue:
					q.commit([]*recordReq{r})
				default:
					return
				}
			}
		}
		group := []*recordReq{first}
		if last > 1 {
			// As groupCommit: let the recorders about to arrive join.
			for range 2 {
				runtime.Gosched()
			}
		}
	drain:
		for len(group) < maxRecordGroup {
			select {
			case r := <-q.queue:
				group = append(group, r)
			default:
				break drain
			}
		}
		q.commit(group)
		last = len(group)
	}
}

func (q *recordQueue) commit(group []*recordReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.res <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	q.run(live)
}

func (q *recordQueue) run(group []*recordReq) {
	rows := make([]recordRow, len(group))
	for i, r := range group {
		rows[i] = r.row
	}
	// The callers' contexts may end while the group commits; the
	// transaction is bounded by the engine's own timeouts instead.
	ctx := context.WithoutCancel(group[0].ctx)
	var held []error
	err := q.s.root().write(ctx, func(tx sqldb.Tx) (err error) {
		held, err = q.s.recordRows(ctx, tx, rows, q.s.clock())
		return err
	})
	for i, r := range group {
		if err != nil {
			r.res <- err
		} else {
			r.res <- held[i]
		}
	}
}
