package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

type idempotencyKeys struct{ t *tenantStore }

const idempotencyColumns = `key, fingerprint, owner, status, header, body, locked_until, expires_at, created_at`

func scanIdempotency(row scanner) (*IdempotencyRecord, error) {
	var r IdempotencyRecord
	var header string
	var locked, expires, created int64
	if err := row.Scan(&r.Key, &r.Fingerprint, &r.Owner, &r.Status, &header, &r.Body, &locked, &expires, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(header), &r.Header); err != nil {
		return nil, fmt.Errorf("idempotency key %q: the stored header is not JSON: %w", r.Key, err)
	}
	r.LockedUntil, r.ExpiresAt, r.CreatedAt = fromMicros(locked), fromMicros(expires), fromMicros(created)
	return &r, nil
}

func (k idempotencyKeys) Claim(ctx context.Context, key, fingerprint string, lease, ttl time.Duration) (*IdempotencyRecord, bool, error) {
	t := k.t
	if t.err != nil {
		return nil, false, t.err
	}
	if err := checkKey("idempotency key", key); err != nil {
		return nil, false, err
	}
	if lease <= 0 || ttl < lease {
		return nil, false, fmt.Errorf("%w: an idempotency claim needs a positive lease and a TTL at least as long", ErrInvalid)
	}
	now := t.store().clock()
	mine := &IdempotencyRecord{Key: key, Fingerprint: fingerprint, Owner: newID("claim"),
		LockedUntil: now.Add(lease), ExpiresAt: now.Add(ttl), CreatedAt: now}
	var got *IdempotencyRecord
	claimed := false
	err := t.write(ctx, func(tx sqldb.Tx) error {
		// The insert settles a race for a new key: on PostgreSQL the loser
		// waits for the winner's transaction, then finds its row.
		n, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (tenant, `+idempotencyColumns+`)
			VALUES ($1, $2, $3, $4, 0, '{}', NULL, $5, $6, $7) ON CONFLICT (tenant, key) DO NOTHING`,
			t.key, key, fingerprint, mine.Owner, micros(mine.LockedUntil), micros(mine.ExpiresAt), micros(now))
		if err != nil {
			return err
		}
		if n == 1 {
			got, claimed = mine, true
			return nil
		}
		cur, err := scanIdempotency(tx.QueryRow(ctx, `SELECT `+idempotencyColumns+` FROM idempotency_keys
			WHERE tenant = $1 AND key = $2`+t.store().e.ForUpdate, t.key, key))
		if err != nil {
			return err
		}
		// An expired key is forgotten; a claim whose request stopped
		// renewing it (its server died) is free again.
		if !now.Before(cur.ExpiresAt) || (cur.Status == 0 && !now.Before(cur.LockedUntil)) {
			_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET fingerprint = $3, owner = $4, status = 0, header = '{}', body = NULL,
				locked_until = $5, expires_at = $6, created_at = $7 WHERE tenant = $1 AND key = $2`,
				t.key, key, fingerprint, mine.Owner, micros(mine.LockedUntil), micros(mine.ExpiresAt), micros(now))
			if err != nil {
				return err
			}
			got, claimed = mine, true
			return nil
		}
		got = cur
		return nil
	})
	if err != nil {
		return nil, false, wrap(fmt.Sprintf("claim idempotency key %q", key), err)
	}
	return got, claimed, nil
}

// held runs a statement that changes a claim only while owner holds it.
func (k idempotencyKeys) held(ctx context.Context, op, key, owner, q string, args ...any) error {
	t := k.t
	if t.err != nil {
		return t.err
	}
	var n int64
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		var err error
		n, err = tx.Exec(ctx, q, append([]any{t.key, key, owner}, args...)...)
		return err
	})
	if err != nil {
		return wrap(fmt.Sprintf("%s idempotency key %q", op, key), err)
	}
	if n == 0 {
		return fmt.Errorf("idempotency key %q: %w: another request holds it now, or it was released", key, ErrLeaseLost)
	}
	return nil
}

func (k idempotencyKeys) Extend(ctx context.Context, key, owner string, lease time.Duration) error {
	until := k.t.store().clock().Add(lease)
	return k.held(ctx, "extend", key, owner, `UPDATE idempotency_keys SET locked_until = $4
		WHERE tenant = $1 AND key = $2 AND owner = $3 AND status = 0`, micros(until))
}

func (k idempotencyKeys) Complete(ctx context.Context, key, owner string, r IdempotentResponse) error {
	if r.Status < 100 || r.Status > 599 {
		return fmt.Errorf("%w: idempotency key %q: %d is not an HTTP status", ErrInvalid, key, r.Status)
	}
	header := r.Header
	if header == nil {
		header = map[string]string{}
	}
	h, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("%w: idempotency key %q: the header cannot be encoded", ErrInvalid, key)
	}
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	return k.held(ctx, "complete", key, owner, `UPDATE idempotency_keys SET status = $4, header = $5, body = $6, locked_until = $7
		WHERE tenant = $1 AND key = $2 AND owner = $3 AND status = 0`, r.Status, string(h), body, micros(k.t.store().clock()))
}

func (k idempotencyKeys) Release(ctx context.Context, key, owner string) error {
	err := k.held(ctx, "release", key, owner, `DELETE FROM idempotency_keys WHERE tenant = $1 AND key = $2 AND owner = $3 AND status = 0`)
	if errors.Is(err, ErrLeaseLost) {
		return nil // nothing of this claim is left to release
	}
	return err
}

func (s *sqlStore) PruneIdempotencyKeys(ctx context.Context) (int64, error) {
	n, err := s.prune(ctx, `DELETE FROM idempotency_keys WHERE (tenant, key) IN
		(SELECT tenant, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)`, micros(s.clock()))
	return n, wrap("prune idempotency keys", err)
}
