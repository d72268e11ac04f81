package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// maxErrorText bounds a stored delivery error.
const maxErrorText = 2000

type deliveries struct{ s *sqlStore }

func (s *sqlStore) Deliveries() Deliveries { return deliveries{s} }

func (d deliveries) Routed() <-chan struct{}   { return d.s.routedSig.wait() }
func (d deliveries) Enqueued() <-chan struct{} { return d.s.enqueuedSig.wait() }

// paramList is "$from, $from+1, …" for n values.
func paramList(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// deliveryInsertRows bounds the rows of one multi-row INSERT of
// deliveries (7 parameters each: far below either engine's limit).
const deliveryInsertRows = 32

func (d deliveries) Route(ctx context.Context, n int, match func(e *Event) []string) ([]Event, error) {
	if n < 1 || n > maxLimit {
		return nil, fmt.Errorf("%w: route %d events: want 1..%d", ErrInvalid, n, maxLimit)
	}
	s := d.s
	// Nothing to route is found by a reader, without taking the writer
	// (SQLite) or the routers' lock (PostgreSQL).
	if none, err := noRows(ctx, s.e.DB, `SELECT 1 FROM outbox WHERE seq IS NULL LIMIT 1`); err != nil || none {
		return nil, wrap("route events", err)
	}
	var out []Event
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		out = nil
		// The counter's row lock serialises routers until commit (on
		// SQLite the single writer already does): the seqs of one Route
		// are all above those of every Route committed before it, and a
		// reader of the log never sees a later seq before an earlier one.
		var last int64
		if err := tx.QueryRow(ctx, `UPDATE delivery_seq SET seq = seq WHERE id = 1 RETURNING seq`).Scan(&last); err != nil {
			return fmt.Errorf("lock the log: %w", err)
		}
		// One statement numbers the oldest unrouted events in order.
		evs, err := queryAll(ctx, tx, scanEvent, `UPDATE outbox SET seq = r.seq
			FROM (SELECT id, $1 + ROW_NUMBER() OVER (ORDER BY created_at, id) AS seq FROM outbox WHERE seq IS NULL ORDER BY created_at, id LIMIT $2) r
			WHERE outbox.id = r.id
			RETURNING outbox.id, outbox.tenant, outbox.type, outbox.connector, outbox.connection_id, outbox.payload, outbox.created_at, outbox.seq`, last, n)
		if err != nil || len(evs) == 0 {
			return err
		}
		slices.SortFunc(evs, func(a, b Event) int { return cmp.Compare(a.Seq, b.Seq) })
		if _, err := tx.Exec(ctx, `UPDATE delivery_seq SET seq = $1 WHERE id = 1`, evs[len(evs)-1].Seq); err != nil {
			return err
		}
		// Ids match returns of destinations deleted since it looked are
		// dropped; on PostgreSQL the key-share lock keeps those known
		// here until commit.
		lock := ""
		if s.e.ForUpdate != "" {
			lock = " FOR KEY SHARE"
		}
		known, err := queryAll(ctx, tx, func(r scanner) (id string, err error) { return id, r.Scan(&id) }, `SELECT id FROM destinations`+lock)
		if err != nil {
			return err
		}
		exists := make(map[string]bool, len(known))
		for _, id := range known {
			exists[id] = true
		}
		now := micros(s.clock())
		var args []any
		var rows []string
		flush := func() error {
			if len(rows) == 0 {
				return nil
			}
			for range s.shapeRows(len(rows), deliveryInsertRows) - len(rows) {
				args = append(args, make([]any, 7)...)
				rows = append(rows, rows[0]) // "?" placeholders: SQLite only
			}
			_, err := tx.Exec(ctx, `INSERT INTO deliveries (event_id, destination, tenant, type, seq, created_at, next_attempt_at, status, attempts)
				`+s.insertRows(rows), args...)
			args, rows = args[:0], rows[:0]
			return err
		}
		for i := range evs {
			e := &evs[i]
			for _, id := range compactIDs(match(e)) {
				if !exists[id] {
					continue
				}
				args = append(args, e.ID, id, e.Tenant, e.Type, e.Seq, micros(e.CreatedAt), now)
				rows = append(rows, "("+strings.Join(s.params(len(args)-6, 7), ", ")+", 'pending', 0)")
				if len(rows) == deliveryInsertRows {
					if err := flush(); err != nil {
						return fmt.Errorf("deliveries: %w", err)
					}
				}
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		out = evs
		return nil
	})
	if err != nil {
		return nil, wrap("route events", err)
	}
	if len(out) > 0 {
		s.routedSig.fire()
	}
	return out, nil
}

// noRows says whether a query finds nothing.
func noRows(ctx context.Context, q sqldb.Querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, sqldb.ErrNoRows) {
		return true, nil
	}
	return false, err
}

// compactIDs sorts and deduplicates ids, dropping empty ones.
func compactIDs(ids []string) []string {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "" })
	slices.Sort(ids)
	return slices.Compact(ids)
}

// claimReadIDs bounds the ids of one read of a claim's events.
const claimReadIDs = 128

func (d deliveries) Claim(ctx context.Context, worker string, n int, lease time.Duration, skip []string) ([]*DeliveryTask, error) {
	if err := checkKey("worker", worker); err != nil {
		return nil, err
	}
	if n < 1 || n > maxLimit {
		return nil, fmt.Errorf("%w: claim %d deliveries: want 1..%d", ErrInvalid, n, maxLimit)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: claim with a lease of %v", ErrInvalid, lease)
	}
	s := d.s
	now := s.clock()
	skip = compactIDs(skip)
	args := []any{worker, micros(now.Add(lease)), micros(now), n}
	notIn := ""
	if len(skip) > 0 {
		notIn = ` AND d.destination NOT IN (` + paramList(len(args)+1, len(skip)) + `)`
		for _, id := range skip {
			args = append(args, id)
		}
	}
	// The claimed rows are found by their physical id, whatever the
	// planner thinks of the table's size.
	rowID, in, end := "rowid", "rowid IN (", ")"
	if s.e.Name == "postgres" {
		rowID, in, end = "ctid", "ctid = ANY(ARRAY(", "))"
	}
	// Nothing due is found by a reader, without a write transaction.
	if none, err := noRows(ctx, s.e.DB, `SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1`, micros(now)); err != nil || none {
		return nil, wrap("claim deliveries", err)
	}
	type claimed struct {
		event, dest string
		attempts    int
	}
	var tasks []*DeliveryTask
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		// On PostgreSQL SKIP LOCKED hands concurrent claimers disjoint
		// rows; on SQLite the single writer serialises claims.
		cs, err := queryAll(ctx, tx, func(r scanner) (c claimed, err error) {
			err = r.Scan(&c.event, &c.dest, &c.attempts)
			return c, err
		}, `UPDATE deliveries SET lease_owner = $1, next_attempt_at = $2, attempts = attempts + 1
			WHERE `+in+`SELECT d.`+rowID+` FROM deliveries d
				WHERE d.status = 'pending' AND d.next_attempt_at <= $3`+notIn+`
					AND EXISTS (SELECT 1 FROM destinations x WHERE x.id = d.destination AND x.status = 'active')
				ORDER BY d.next_attempt_at, d.seq LIMIT $4`+s.e.SkipLocked+end+`
			RETURNING event_id, destination, attempts`, args...)
		if err != nil || len(cs) == 0 {
			return err
		}
		ids := make([]any, 0, len(cs))
		seen := map[string]bool{}
		for _, c := range cs {
			if !seen[c.event] {
				seen[c.event] = true
				ids = append(ids, c.event)
			}
		}
		var evs []Event
		for from := 0; from < len(ids); from += claimReadIDs {
			chunk := ids[from:min(from+claimReadIDs, len(ids))]
			n := s.shapeRows(len(chunk), claimReadIDs)
			got, err := queryAll(ctx, tx, scanEvent, `SELECT `+eventColumns+` FROM outbox WHERE id IN (`+paramList(1, n)+`)`,
				append(slices.Clip(chunk), make([]any, n-len(chunk))...)...)
			if err != nil {
				return err
			}
			evs = append(evs, got...)
		}
		byID := make(map[string]*Event, len(evs))
		for i := range evs {
			byID[evs[i].ID] = &evs[i]
		}
		tasks = tasks[:0]
		for _, c := range cs {
			e := byID[c.event]
			if e == nil {
				return fmt.Errorf("delivery of event %q: the event is missing", c.event)
			}
			tasks = append(tasks, &DeliveryTask{Event: *e, Destination: c.dest, Attempts: c.attempts})
		}
		return nil
	})
	if err != nil {
		return nil, wrap("claim deliveries", err)
	}
	slices.SortFunc(tasks, func(a, b *DeliveryTask) int {
		if a.Seq != b.Seq {
			return int(a.Seq - b.Seq)
		}
		return strings.Compare(a.Destination, b.Destination)
	})
	return tasks, nil
}

// cutText cuts s to at most n bytes without splitting a character.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkRecord validates an attempt and its outcome and fills defaults.
func checkRecord(a *Attempt, o Outcome, now time.Time) error {
	if a.EventID == "" || a.Destination == "" {
		return fmt.Errorf("%w: an attempt names no event or no destination", ErrInvalid)
	}
	if o.Delivered && o.Dead {
		return fmt.Errorf("%w: attempt of event %q to %q: delivered and dead at once", ErrInvalid, a.EventID, a.Destination)
	}
	if a.At.IsZero() {
		a.At = now
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	a.Error, a.Excerpt = cutText(a.Error, maxErrorText), cutText(a.Excerpt, MaxExcerpt)
	return nil
}

func (d deliveries) Log(ctx context.Context, tenant string, after int64, limit int) ([]Event, error) {
	if limit < 1 || limit > maxLimit {
		return nil, fmt.Errorf("%w: log limit %d: want 1..%d", ErrInvalid, limit, maxLimit)
	}
	q, args := `SELECT `+eventColumns+` FROM outbox WHERE seq > $1`, []any{after}
	if tenant != "" {
		q, args = q+` AND tenant = $2`, append(args, tenant)
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY seq LIMIT $%d`, len(args))
	evs, err := queryAll(ctx, d.s.e.DB, scanEvent, q, args...)
	return evs, wrap("read the delivery log", err)
}

const deliveryStateColumns = `event_id, destination, tenant, type, seq, status, attempts, next_attempt_at, last_error, last_status, created_at, delivered_at`

func scanDeliveryState(row scanner) (*DeliveryState, error) {
	var d DeliveryState
	var status string
	var next, created int64
	var delivered *int64
	if err := row.Scan(&d.EventID, &d.Destination, &d.Tenant, &d.Type, &d.Seq, &status, &d.Attempts, &next, &d.LastError, &d.LastStatus,
		&created, &delivered); err != nil {
		return nil, err
	}
	d.Status, d.NextAttemptAt, d.CreatedAt, d.DeliveredAt = DeliveryStatus(status), fromMicros(next), fromMicros(created), fromOptMicros(delivered)
	if d.Status != Pending {
		d.NextAttemptAt = time.Time{}
	}
	return &d, nil
}

// where builds a conjunction of conditions with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// add appends cond with its "?" replaced by the next parameter number.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func (d deliveries) List(ctx context.Context, f DeliveryFilter) (Page[*DeliveryState], error) {
	var page Page[*DeliveryState]
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return page, err
	}
	var w where
	if f.Tenant != "" {
		w.add("tenant = ?", f.Tenant)
	}
	if f.Destination != "" {
		w.add("destination = ?", f.Destination)
	}
	if f.EventID != "" {
		w.add("event_id = ?", f.EventID)
	}
	switch f.Status {
	case "":
	case Pending, Delivered, Dead:
		w.add("status = ?", string(f.Status))
	default:
		return page, fmt.Errorf("%w: delivery status %q is not %q, %q or %q", ErrInvalid, f.Status, Pending, Delivered, Dead)
	}
	if !f.From.IsZero() {
		w.add("created_at >= ?", micros(f.From))
	}
	if !f.To.IsZero() {
		w.add("created_at < ?", micros(f.To))
	}
	if after {
		w.args = append(w.args, cur.T, cur.K)
		w.conds = append(w.conds, fmt.Sprintf("(seq, destination) > ($%d, $%d)", len(w.args)-1, len(w.args)))
	}
	q := `SELECT ` + deliveryStateColumns + ` FROM deliveries` + w.String() + fmt.Sprintf(` ORDER BY seq, destination LIMIT $%d`, len(w.args)+1)
	return queryPage(ctx, d.s.e.DB, "list deliveries", limit, scanDeliveryState,
		func(s *DeliveryState) cursor { return cursor{T: s.Seq, K: s.Destination} }, q, append(w.args, limit+1)...)
}

type attemptRow struct {
	id int64
	a  Attempt
}

func scanAttempt(row scanner) (*attemptRow, error) {
	var r attemptRow
	var at, latency int64
	if err := row.Scan(&r.id, &r.a.EventID, &r.a.Destination, &r.a.Tenant, &r.a.Attempt, &at, &r.a.Status, &latency, &r.a.Error, &r.a.Excerpt); err != nil {
		return nil, err
	}
	r.a.At, r.a.Latency = fromMicros(at), time.Duration(latency)*time.Microsecond
	return &r, nil
}

func (d deliveries) Attempts(ctx context.Context, f AttemptFilter) (Page[*Attempt], error) {
	var out Page[*Attempt]
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return out, err
	}
	var w where
	if f.Tenant != "" {
		w.add("tenant = ?", f.Tenant)
	}
	if f.Destination != "" {
		w.add("destination = ?", f.Destination)
	}
	if f.EventID != "" {
		w.add("event_id = ?", f.EventID)
	}
	if after {
		w.add("id < ?", cur.T)
	}
	q := `SELECT id, event_id, destination, tenant, attempt, at, status, latency_us, error, excerpt FROM delivery_attempts` + w.String() +
		fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(w.args)+1)
	page, err := queryPage(ctx, d.s.e.DB, "list delivery attempts", limit, scanAttempt,
		func(r *attemptRow) cursor { return cursor{T: r.id} }, q, append(w.args, limit+1)...)
	if err != nil {
		return out, err
	}
	out.Next = page.Next
	for _, r := range page.Items {
		out.Items = append(out.Items, &r.a)
	}
	return out, nil
}

func (d deliveries) Replay(ctx context.Context, f ReplayFilter) (int64, error) {
	s := d.s
	if f.EventID == "" && f.Destination == "" {
		return 0, fmt.Errorf("%w: replay names neither an event nor a destination", ErrInvalid)
	}
	// match adds the filter's conditions but the status to w.
	match := func(w *where) {
		if f.EventID != "" {
			w.add("event_id = ?", f.EventID)
		}
		if f.Destination != "" {
			w.add("destination = ?", f.Destination)
		}
		if f.Tenant != "" {
			w.add("tenant = ?", f.Tenant)
		}
		if f.EventID == "" && !f.From.IsZero() {
			w.add("created_at >= ?", micros(f.From))
		}
		if f.EventID == "" && !f.To.IsZero() {
			w.add("created_at < ?", micros(f.To))
		}
	}
	what := fmt.Sprintf("dead deliveries to %q", f.Destination)
	if f.EventID != "" {
		what = fmt.Sprintf("deliveries of event %q", f.EventID)
		if f.Destination != "" {
			what += fmt.Sprintf(" to %q", f.Destination)
		}
	}
	upd := where{args: []any{micros(s.clock())}}
	match(&upd)
	if f.EventID != "" {
		upd.conds = append(upd.conds, "status IN ('dead', 'delivered')")
	} else {
		upd.conds = append(upd.conds, "status = 'dead'")
	}
	var n int64
	err := s.root().write(ctx, func(tx sqldb.Tx) (err error) {
		n, err = tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, lease_owner = '', delivered_at = NULL`+
			upd.String(), upd.args...)
		if err != nil || n > 0 || f.EventID == "" {
			return err
		}
		// Nothing replayed: an event with such deliveries (all pending
		// already) is no error, one without any is not found.
		var found where
		match(&found)
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM deliveries`+found.String()+` LIMIT 1`, found.args...).Scan(&one); errors.Is(err, sqldb.ErrNoRows) {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return 0, wrap("replay "+what, err)
	}
	return n, nil
}

func (d deliveries) PruneAttempts(ctx context.Context, olderThan time.Time) (int64, error) {
	n, err := d.s.prune(ctx, `DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE at < $1 LIMIT $2)`, micros(olderThan))
	return n, wrap("prune delivery attempts", err)
}

func (d deliveries) PruneLog(ctx context.Context, olderThan time.Time) (int64, error) {
	n, err := d.s.prune(ctx, `DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o WHERE o.seq IS NOT NULL AND o.created_at < $1
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = o.id AND d.status = 'pending') LIMIT $2)`, micros(olderThan))
	return n, wrap("prune the delivery log", err)
}
