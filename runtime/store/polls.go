package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// polls is the scheduler's side of the subscriptions. A lease is a row
// of poll_leases keyed by the connection: its primary key is what makes
// two live leases on one connection impossible, on either engine, however
// the claimers race.
type polls struct{ s *sqlStore }

func (s *sqlStore) Polls() Polls { return polls{s} }

// maxClaim bounds one ClaimDue.
const maxClaim = 1000

func (p polls) ClaimDue(ctx context.Context, worker string, now time.Time, n int, lease time.Duration) ([]*Subscription, error) {
	if err := checkKey("worker", worker); err != nil {
		return nil, err
	}
	if n < 1 || n > maxClaim {
		return nil, fmt.Errorf("%w: claim %d polls: want 1..%d", ErrInvalid, n, maxClaim)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: claim polls with a lease of %v", ErrInvalid, lease)
	}
	s := p.s
	clock := s.clock()
	var out []*Subscription
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		// Due subscriptions of connections without a live lease. Some
		// connections have several due at once: ask for more than n, keep
		// the first of each. SKIP LOCKED passes over the candidates of
		// concurrent claimers on PostgreSQL; SQLite's writer serialises.
		rows, err := tx.Query(ctx, `SELECT id, connection_id FROM subscriptions s
			WHERE status = 'active' AND next_run_at IS NOT NULL AND next_run_at <= $1
				AND NOT EXISTS (SELECT 1 FROM poll_leases l WHERE l.connection_id = s.connection_id AND l.lease_until > $2)
			ORDER BY next_run_at, id LIMIT $3`+s.e.SkipLocked, micros(now), micros(clock), min(2*n+16, 2*maxClaim))
		if err != nil {
			return err
		}
		type cand struct{ id, conn string }
		var chosen []cand
		conns := map[string]bool{}
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.id, &c.conn); err != nil {
				rows.Close()
				return err
			}
			if !conns[c.conn] && len(chosen) < n {
				conns[c.conn] = true
				chosen = append(chosen, c)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(chosen) == 0 {
			return err
		}
		// Take the connections' leases in one statement, in key order (two
		// claimers never wait on each other crosswise). A row whose lease
		// is live (a claimer that committed since the query above) stays
		// its holder's, and its subscription is not returned.
		sort.Slice(chosen, func(i, j int) bool { return chosen[i].conn < chosen[j].conn })
		args := []any{micros(clock)}
		until := micros(clock.Add(lease))
		for _, c := range chosen {
			args = append(args, c.conn, c.id, worker, until)
		}
		rows, err = tx.Query(ctx, `INSERT INTO poll_leases (connection_id, subscription_id, owner, lease_until) VALUES `+placeholders(2, len(chosen), 4)+`
			ON CONFLICT (connection_id) DO UPDATE SET subscription_id = excluded.subscription_id, owner = excluded.owner, lease_until = excluded.lease_until
			WHERE poll_leases.lease_until <= $1
			RETURNING subscription_id`, args...)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id IN (`+list(1, len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		defer rows.Close()
		scan := scanSubscription(s)
		for rows.Next() {
			sub, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, sub)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("claim due polls", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextRunAt.Equal(out[j].NextRunAt) {
			return out[i].NextRunAt.Before(out[j].NextRunAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (p polls) Extend(ctx context.Context, worker, id string, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: extend a poll lease by %v", ErrInvalid, lease)
	}
	s := p.s
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `UPDATE poll_leases SET lease_until = $1 WHERE subscription_id = $2 AND owner = $3`,
			micros(s.clock().Add(lease)), id, worker)
		if err == nil && n == 0 {
			err = fmt.Errorf("poll of subscription %q: %w by worker %q", id, ErrLeaseLost, worker)
		}
		return err
	})
	return wrap(fmt.Sprintf("extend poll lease of subscription %q", id), err)
}

func (p polls) Release(ctx context.Context, worker, id string, next time.Time) error {
	s := p.s
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		// The subscription's row first, then the lease's: the order
		// ClaimDue locks them in, so the two never deadlock.
		n, err := tx.Exec(ctx, `UPDATE subscriptions SET next_run_at = $1
			WHERE id = $2 AND EXISTS (SELECT 1 FROM poll_leases WHERE subscription_id = $2 AND owner = $3)`, optMicros(next), id, worker)
		if err == nil && n == 1 {
			n, err = tx.Exec(ctx, `DELETE FROM poll_leases WHERE subscription_id = $1 AND owner = $2`, id, worker)
		}
		if err == nil && n == 0 {
			err = fmt.Errorf("poll of subscription %q: %w by worker %q", id, ErrLeaseLost, worker)
		}
		return err
	})
	return wrap(fmt.Sprintf("release poll lease of subscription %q", id), err)
}
