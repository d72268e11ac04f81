package store

import (
	"context"
	"fmt"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

func (s *sqlStore) EnsureTenant(ctx context.Context, key string) (Tenant, error) {
	if err := checkKey("tenant key", key); err != nil {
		return Tenant{}, err
	}
	var t Tenant
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		if err := ensureTenant(ctx, tx, key, s.clock()); err != nil {
			return err
		}
		var err error
		t, err = scanTenant(tx.QueryRow(ctx, `SELECT key, created_at FROM tenants WHERE key = $1`, key))
		return err
	})
	return t, wrap("ensure tenant", err)
}

func (s *sqlStore) ListTenants(ctx context.Context, cursorText string, limit int) (Page[Tenant], error) {
	var page Page[Tenant]
	limit, cur, after, err := pageRequest(limit, cursorText)
	if err != nil {
		return page, err
	}
	// Keys starting with "_" are reserved (WorkspaceTenant): not
	// customers.
	q, args := `SELECT key, created_at FROM tenants WHERE substr(key, 1, 1) <> '_'`, []any{}
	if after {
		q, args = q+` AND key > $1`, append(args, cur.K)
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY key LIMIT $%d`, len(args))
	return queryPage(ctx, s.e.DB, "list tenants", limit, scanTenant, func(t Tenant) cursor { return cursor{K: t.Key} }, q, args...)
}

func scanTenant(row scanner) (Tenant, error) {
	var t Tenant
	var created int64
	err := row.Scan(&t.Key, &created)
	t.CreatedAt = fromMicros(created)
	return t, err
}

// DeleteTenant relies on the foreign keys' ON DELETE CASCADE to remove
// connections, overrides, run logs, outbox entries and their deliveries,
// subscriptions, their record hashes and poll leases with the tenant.
func (s *sqlStore) DeleteTenant(ctx context.Context, key string) error {
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM tenants WHERE key = $1`, key)
		if err == nil && n == 0 {
			err = fmt.Errorf("tenant %q: %w", key, ErrNotFound)
		}
		if err != nil {
			return err
		}
		// Webhooks received for the tenant's subscriptions, not yet
		// processed, hold its data too (no foreign key: a webhook is
		// stored whatever becomes of its subscription).
		if _, err = tx.Exec(ctx, `DELETE FROM webhook_inbox WHERE tenant = $1`, key); err != nil {
			return err
		}
		// So do the attempts to deliver its events (no foreign key: they
		// outlive their deliveries until pruned).
		_, err = tx.Exec(ctx, `DELETE FROM delivery_attempts WHERE tenant = $1`, key)
		return err
	})
	return wrap(fmt.Sprintf("delete tenant %q", key), err)
}

func (s *sqlStore) ExpiringTokens(ctx context.Context, before time.Time, limit int) ([]ExpiringToken, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.e.DB.Query(ctx, `SELECT id, tenant, connector, token_expires_at FROM connections
		WHERE token_expires_at IS NOT NULL AND token_expires_at < $1 AND state <> 'disconnected'
		ORDER BY token_expires_at, id LIMIT $2`, micros(before), limit)
	if err != nil {
		return nil, wrap("expiring tokens", err)
	}
	defer rows.Close()
	var out []ExpiringToken
	for rows.Next() {
		var e ExpiringToken
		var exp int64
		if err := rows.Scan(&e.ConnectionID, &e.Tenant, &e.Connector, &exp); err != nil {
			return nil, wrap("expiring tokens", err)
		}
		e.Expiry = fromMicros(exp)
		out = append(out, e)
	}
	return out, wrap("expiring tokens", rows.Err())
}

func (s *sqlStore) ErroredConnections(ctx context.Context, cursorText string, limit int) (Page[ConnectionRef], error) {
	n, cur, after, err := pageRequest(limit, cursorText)
	if err != nil {
		return Page[ConnectionRef]{}, err
	}
	scan := func(r scanner) (ConnectionRef, error) {
		var c ConnectionRef
		var at int64
		err := r.Scan(&c.ConnectionID, &c.Tenant, &c.Connector, &at)
		c.UpdatedAt = fromMicros(at)
		return c, err
	}
	next := func(c ConnectionRef) cursor { return cursor{T: micros(c.UpdatedAt), ID: c.ConnectionID} }
	const cols = `SELECT id, tenant, connector, updated_at FROM connections WHERE state = 'error'`
	if !after {
		return queryPage(ctx, s.e.DB, "errored connections", n, scan, next,
			cols+` ORDER BY updated_at, id LIMIT $1`, n+1)
	}
	return queryPage(ctx, s.e.DB, "errored connections", n, scan, next,
		cols+` AND (updated_at > $1 OR (updated_at = $1 AND id > $2)) ORDER BY updated_at, id LIMIT $3`, cur.T, cur.ID, n+1)
}
