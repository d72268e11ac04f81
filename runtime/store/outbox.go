package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

const deliveryColumns = `id, tenant, type, payload, status, attempts, next_attempt_at, lease_owner, last_error, created_at, delivered_at`

// maxErrorText bounds a stored delivery error.
const maxErrorText = 2000

func scanDelivery(row scanner) (*Delivery, error) {
	var d Delivery
	var payload, status string
	var next, created int64
	var delivered *int64
	if err := row.Scan(&d.ID, &d.Tenant, &d.Type, &payload, &status, &d.Attempts, &next, &d.LeaseOwner, &d.LastError, &created, &delivered); err != nil {
		return nil, err
	}
	d.Payload, d.Status = json.RawMessage(payload), DeliveryStatus(status)
	d.NextAttemptAt, d.CreatedAt, d.DeliveredAt = fromMicros(next), fromMicros(created), fromOptMicros(delivered)
	return &d, nil
}

type tenantOutbox struct{ t *tenantStore }

func (o tenantOutbox) Enqueue(ctx context.Context, events ...Event) error {
	t := o.t
	if t.err != nil {
		return t.err
	}
	now := t.store().clock()
	for i := range events {
		e := &events[i]
		if e.ID == "" {
			e.ID = newID("evt")
		} else if err := checkKey("event id", e.ID); err != nil {
			return err
		}
		if err := checkKey("event type", e.Type); err != nil {
			return err
		}
		if !json.Valid(e.Payload) {
			return fmt.Errorf("%w: event %q: the payload is not valid JSON", ErrInvalid, e.ID)
		}
		e.Tenant = t.key
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
	}
	err := t.write(ctx, func(tx sqldb.Tx) error {
		for _, e := range events {
			// A stable id enqueued twice (a producer retrying after a
			// crash) stays one entry.
			n, err := tx.Exec(ctx, `INSERT INTO outbox (id, tenant, type, payload, status, attempts, next_attempt_at, retry_since, created_at)
				VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6) ON CONFLICT (id) DO NOTHING`,
				e.ID, e.Tenant, e.Type, string(e.Payload), micros(now), micros(e.CreatedAt))
			if err != nil {
				return fmt.Errorf("event %q: %w", e.ID, err)
			}
			if n == 0 {
				// Ids are global (they are the webhook-id the backend
				// deduplicates on): one of another tenant is a producer
				// bug, not a duplicate to drop silently.
				if err := entryExists(ctx, tx, e.Tenant, e.ID); err != nil {
					return fmt.Errorf("event %q: %w: the id is taken by another tenant's event", e.ID, ErrConflict)
				}
			}
		}
		return nil
	})
	return wrap("enqueue", err)
}

func (o tenantOutbox) ListDead(ctx context.Context, f DeadFilter) (Page[*Delivery], error) {
	if o.t.err != nil {
		return Page[*Delivery]{}, o.t.err
	}
	f.Tenant = o.t.key
	return listDead(ctx, o.t.sc, f)
}

func (o tenantOutbox) Recent(ctx context.Context, limit int) ([]*Delivery, error) {
	if o.t.err != nil {
		return nil, o.t.err
	}
	if limit < 1 || limit > maxLimit {
		return nil, fmt.Errorf("%w: %d recent outbox entries: want 1..%d", ErrInvalid, limit, maxLimit)
	}
	rows, err := o.t.sc.read().Query(ctx, `SELECT `+deliveryColumns+` FROM outbox WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, o.t.key, limit)
	if err != nil {
		return nil, wrap("list recent outbox entries", err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrap("list recent outbox entries", err)
		}
		out = append(out, d)
	}
	return out, wrap("list recent outbox entries", rows.Err())
}

func (o tenantOutbox) Replay(ctx context.Context, id string) error {
	if o.t.err != nil {
		return o.t.err
	}
	return replay(ctx, o.t.sc, o.t.key, id)
}

// outbox is the workers' side, across tenants.
type outbox struct{ s *sqlStore }

func (s *sqlStore) Outbox() Outbox { return outbox{s} }

func (o outbox) ClaimBatch(ctx context.Context, worker string, n int, lease time.Duration) ([]*Delivery, error) {
	if err := checkKey("worker", worker); err != nil {
		return nil, err
	}
	if n < 1 || n > maxLimit {
		return nil, fmt.Errorf("%w: claim %d entries: want 1..%d", ErrInvalid, n, maxLimit)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: claim with a lease of %v", ErrInvalid, lease)
	}
	s := o.s
	now := s.clock()
	var out []*Delivery
	err := s.root().write(ctx, func(tx sqldb.Tx) (err error) {
		// On PostgreSQL SKIP LOCKED hands concurrent claimers disjoint
		// rows; on SQLite the single writer serialises claims.
		out, err = queryAll(ctx, tx, scanDelivery, `UPDATE outbox SET lease_owner = $1, next_attempt_at = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3
				ORDER BY next_attempt_at, created_at, id LIMIT $4`+s.e.SkipLocked+`)
			RETURNING `+deliveryColumns, worker, micros(now.Add(lease)), micros(now), n)
		return err
	})
	if err != nil {
		return nil, wrap("claim outbox entries", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (o outbox) MarkDelivered(ctx context.Context, id string) error {
	s := o.s
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `UPDATE outbox SET status = 'delivered', delivered_at = $1, lease_owner = '', last_error = ''
			WHERE id = $2 AND status <> 'delivered'`, micros(s.clock()), id)
		if err != nil || n > 0 {
			return err
		}
		return entryExists(ctx, tx, "", id) // already delivered: fine
	})
	return wrap(fmt.Sprintf("mark outbox entry %q delivered", id), err)
}

func (o outbox) MarkFailed(ctx context.Context, worker, id string, nextAttemptAt time.Time, errText string) (bool, error) {
	s := o.s
	if len(errText) > maxErrorText {
		errText = errText[:maxErrorText]
	}
	now := s.clock()
	var status string
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE outbox SET lease_owner = '', next_attempt_at = $1, last_error = $2,
				status = CASE WHEN attempts >= $3 OR retry_since <= $4 THEN 'dead' ELSE 'pending' END
			WHERE id = $5 AND lease_owner = $6 AND status = 'pending'
			RETURNING status`,
			micros(nextAttemptAt), errText, s.retry.MaxAttempts, micros(now.Add(-s.retry.MaxAge)), id, worker).Scan(&status)
		if errors.Is(err, sqldb.ErrNoRows) {
			if err := entryExists(ctx, tx, "", id); err != nil {
				return err
			}
			return fmt.Errorf("outbox entry %q: %w by worker %q", id, ErrLeaseLost, worker)
		}
		return err
	})
	if err != nil {
		return false, wrap(fmt.Sprintf("mark outbox entry %q failed", id), err)
	}
	if status == string(Dead) {
		s.log.Warn("outbox entry dead-lettered", "id", id, "retry_max_attempts", s.retry.MaxAttempts, "retry_max_age", s.retry.MaxAge.String())
	}
	return status == string(Dead), nil
}

func (o outbox) ListDead(ctx context.Context, f DeadFilter) (Page[*Delivery], error) {
	return listDead(ctx, o.s.root(), f)
}

func (o outbox) Replay(ctx context.Context, id string) error {
	return replay(ctx, o.s.root(), "", id)
}

func (o outbox) PruneDelivered(ctx context.Context, olderThan time.Time) (int64, error) {
	n, err := o.s.prune(ctx, `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status = 'delivered' AND delivered_at < $1 LIMIT $2)`, micros(olderThan))
	return n, wrap("prune delivered outbox entries", err)
}

// entryExists is nil when the entry exists (in tenant, unless tenant is
// empty), ErrNotFound otherwise.
func entryExists(ctx context.Context, q sqldb.Querier, tenant, id string) error {
	query, args := `SELECT 1 FROM outbox WHERE id = $1`, []any{id}
	if tenant != "" {
		query, args = query+` AND tenant = $2`, append(args, tenant)
	}
	var one int
	err := q.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, sqldb.ErrNoRows) {
		return fmt.Errorf("outbox entry %q: %w", id, ErrNotFound)
	}
	return err
}

func listDead(ctx context.Context, sc *scope, f DeadFilter) (Page[*Delivery], error) {
	var page Page[*Delivery]
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT ` + deliveryColumns + ` FROM outbox WHERE status = 'dead'`
	var args []any
	if f.Tenant != "" {
		args = append(args, f.Tenant)
		q += fmt.Sprintf(` AND tenant = $%d`, len(args))
	}
	if after {
		args = append(args, cur.T, cur.ID)
		q += fmt.Sprintf(` AND (created_at, id) > ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))
	return queryPage(ctx, sc.read(), "list dead outbox entries", limit, scanDelivery, func(d *Delivery) cursor { return cursor{T: micros(d.CreatedAt), ID: d.ID} }, q, args...)
}

// replay resets an entry for delivery now, with a fresh retry budget; the
// last error stays, for whoever looks at it next. An entry already pending
// is left alone.
func replay(ctx context.Context, sc *scope, tenant, id string) error {
	now := micros(sc.s.clock())
	err := sc.write(ctx, func(tx sqldb.Tx) error {
		query := `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, retry_since = $1,
				lease_owner = '', delivered_at = NULL
			WHERE id = $2 AND status IN ('dead', 'delivered')`
		args := []any{now, id}
		if tenant != "" {
			query, args = query+` AND tenant = $3`, append(args, tenant)
		}
		n, err := tx.Exec(ctx, query, args...)
		if err != nil || n > 0 {
			return err
		}
		return entryExists(ctx, tx, tenant, id)
	})
	return wrap(fmt.Sprintf("replay outbox entry %q", id), err)
}
