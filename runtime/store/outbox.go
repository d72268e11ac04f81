package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// eventColumns are an outbox row as an Event.
const eventColumns = `id, tenant, type, connector, connection_id, payload, created_at, seq`

func scanEvent(row scanner) (Event, error) {
	var e Event
	var payload string
	var created int64
	var seq *int64
	if err := row.Scan(&e.ID, &e.Tenant, &e.Type, &e.Connector, &e.ConnectionID, &payload, &created, &seq); err != nil {
		return e, err
	}
	e.Payload, e.CreatedAt = json.RawMessage(payload), fromMicros(created)
	if seq != nil {
		e.Seq = *seq
	}
	return e, nil
}

func scanOutboxEntry(row scanner) (*Delivery, error) {
	e, err := scanEvent(row)
	if err != nil {
		return nil, err
	}
	d := &Delivery{Event: e, Status: Pending}
	if e.Seq != 0 {
		d.Status = Routed
	}
	return d, nil
}

type tenantOutbox struct{ t *tenantStore }

func (o tenantOutbox) Enqueue(ctx context.Context, events ...Event) error {
	t := o.t
	if t.err != nil {
		return t.err
	}
	if len(events) == 0 {
		return nil
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
		e.Tenant, e.Seq = t.key, 0
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
	}
	err := t.write(ctx, func(tx sqldb.Tx) error {
		for _, e := range events {
			// A stable id enqueued twice (a producer retrying after a
			// crash) stays one entry.
			n, err := tx.Exec(ctx, `INSERT INTO outbox (id, tenant, type, connector, connection_id, payload, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
				e.ID, e.Tenant, e.Type, e.Connector, e.ConnectionID, string(e.Payload), micros(e.CreatedAt))
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
	if err != nil {
		return wrap("enqueue", err)
	}
	t.sc.enqueued()
	return nil
}

func (o tenantOutbox) Recent(ctx context.Context, limit int) ([]*Delivery, error) {
	if o.t.err != nil {
		return nil, o.t.err
	}
	if limit < 1 || limit > maxLimit {
		return nil, fmt.Errorf("%w: %d recent outbox entries: want 1..%d", ErrInvalid, limit, maxLimit)
	}
	out, err := queryAll(ctx, o.t.sc.read(), scanOutboxEntry, `SELECT `+eventColumns+` FROM outbox WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, o.t.key, limit)
	return out, wrap("list recent outbox entries", err)
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

// signal is a broadcast to whoever waits for the next occurrence of
// something: wait returns a channel that the next fire closes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}
