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

// inbox keeps webhook requests from their receipt to their processing.
type inbox struct{ s *sqlStore }

func (s *sqlStore) Inbox() Inbox { return inbox{s} }

const inboxColumns = `id, received_at, connector, event, subscription_id, tenant, method, url, headers, body, attempts, last_error`

func scanInbox(row scanner) (*InboxEntry, error) {
	var e InboxEntry
	var received int64
	var headers string
	if err := row.Scan(&e.ID, &received, &e.Connector, &e.Event, &e.SubscriptionID, &e.Tenant, &e.Method, &e.URL,
		&headers, &e.Body, &e.Attempts, &e.LastError); err != nil {
		return nil, err
	}
	e.ReceivedAt = fromMicros(received)
	if headers != "{}" {
		if err := json.Unmarshal([]byte(headers), &e.Headers); err != nil {
			return nil, fmt.Errorf("webhook %q: the stored headers are not JSON: %w", e.ID, err)
		}
	}
	return &e, nil
}

func (i inbox) Append(ctx context.Context, e *InboxEntry) (string, error) {
	if e == nil {
		return "", fmt.Errorf("%w: append no webhook", ErrInvalid)
	}
	if err := checkKey("connector", e.Connector); err != nil {
		return "", err
	}
	if e.Method == "" || e.URL == "" {
		return "", fmt.Errorf("%w: a webhook needs its method and URL", ErrInvalid)
	}
	if (e.SubscriptionID == "") != (e.Tenant == "") {
		return "", fmt.Errorf("%w: a webhook of a subscription names both the subscription and its tenant", ErrInvalid)
	}
	s := i.s
	if e.ID == "" {
		e.ID = newID("whk")
	} else if err := checkKey("webhook id", e.ID); err != nil {
		return "", err
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = s.clock()
	} else {
		e.ReceivedAt = e.ReceivedAt.UTC().Truncate(time.Microsecond)
	}
	headers := "{}"
	if len(e.Headers) > 0 {
		b, err := json.Marshal(e.Headers)
		if err != nil {
			return "", fmt.Errorf("%w: webhook headers: %v", ErrInvalid, err)
		}
		headers = string(b)
	}
	body := e.Body
	if body == nil {
		body = []byte{}
	}
	at := micros(e.ReceivedAt)
	insert := func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhook_inbox (id, received_at, connector, event, subscription_id, tenant, method, url, headers, body, next_attempt_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $2)`,
			e.ID, at, e.Connector, e.Event, e.SubscriptionID, e.Tenant, e.Method, e.URL, headers, body)
		if err != nil && s.e.Classify(err) == sqldb.Unique {
			return fmt.Errorf("webhook %q: %w: the id is taken", e.ID, ErrConflict)
		}
		return err
	}
	// Every webhook request appends one before it is answered: under load
	// they share commits (one disk flush for many), each caller returning
	// once its own entry is durable.
	if err := s.group.do(ctx, insert); err != nil {
		return "", wrap("append webhook", err)
	}
	return e.ID, nil
}

func (i inbox) Claim(ctx context.Context, worker string, n int, lease time.Duration) ([]*InboxEntry, error) {
	if err := checkKey("worker", worker); err != nil {
		return nil, err
	}
	if n < 1 || n > maxLimit {
		return nil, fmt.Errorf("%w: claim %d webhooks: want 1..%d", ErrInvalid, n, maxLimit)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: claim webhooks with a lease of %v", ErrInvalid, lease)
	}
	s := i.s
	now := s.clock()
	var out []*InboxEntry
	err := s.root().write(ctx, func(tx sqldb.Tx) (err error) {
		out, err = queryAll(ctx, tx, scanInbox, `UPDATE webhook_inbox SET lease_owner = $1, next_attempt_at = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM webhook_inbox WHERE status = 'pending' AND next_attempt_at <= $3
				ORDER BY next_attempt_at, id LIMIT $4`+s.e.SkipLocked+`)
			RETURNING `+inboxColumns, worker, micros(now.Add(lease)), micros(now), n)
		return err
	})
	if err != nil {
		return nil, wrap("claim webhooks", err)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].ReceivedAt.Equal(out[b].ReceivedAt) {
			return out[a].ReceivedAt.Before(out[b].ReceivedAt)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

func (i inbox) Done(ctx context.Context, worker, id string) error {
	err := i.s.root().write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM webhook_inbox WHERE id = $1 AND lease_owner = $2 AND status = 'pending'`, id, worker)
		if err == nil && n == 0 {
			err = fmt.Errorf("webhook %q: %w by worker %q", id, ErrLeaseLost, worker)
		}
		return err
	})
	return wrap(fmt.Sprintf("webhook %q done", id), err)
}

func (i inbox) Fail(ctx context.Context, worker, id string, next time.Time, errText string) (bool, error) {
	s := i.s
	if len(errText) > maxErrorText {
		errText = errText[:maxErrorText]
	}
	var status string
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE webhook_inbox SET lease_owner = '', next_attempt_at = $1, last_error = $2,
				status = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END
			WHERE id = $4 AND lease_owner = $5 AND status = 'pending'
			RETURNING status`, micros(next), errText, s.retry.MaxAttempts, id, worker).Scan(&status)
		if errors.Is(err, sqldb.ErrNoRows) {
			return fmt.Errorf("webhook %q: %w by worker %q", id, ErrLeaseLost, worker)
		}
		return err
	})
	if err != nil {
		return false, wrap(fmt.Sprintf("webhook %q failed", id), err)
	}
	if status == "dead" {
		s.log.Warn("webhook dead-lettered", "id", id, "retry_max_attempts", s.retry.MaxAttempts)
	}
	return status == "dead", nil
}
