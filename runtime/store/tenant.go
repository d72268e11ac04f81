package store

import (
	"context"
	"fmt"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// tenantStore is a tenant's handle. Every query below it names t.key; an
// invalid key makes every method fail with err.
type tenantStore struct {
	sc  *scope
	key string
	err error
}

func (t *tenantStore) Key() string              { return t.key }
func (t *tenantStore) Connections() Connections { return connections{t} }
func (t *tenantStore) Overrides() Overrides     { return overrides{t} }
func (t *tenantStore) RunLogs() RunLogs         { return runLogs{t} }
func (t *tenantStore) Outbox() TenantOutbox     { return tenantOutbox{t} }
func (t *tenantStore) IdempotencyKeys() IdempotencyKeys {
	return idempotencyKeys{t}
}
func (t *tenantStore) Subscriptions() Subscriptions { return subscriptions{t} }
func (t *tenantStore) store() *sqlStore             { return t.sc.s }

// write runs fn in a write transaction after creating the tenant if it is
// new.
func (t *tenantStore) write(ctx context.Context, fn func(tx sqldb.Tx) error) error {
	return t.sc.write(ctx, func(tx sqldb.Tx) error {
		if err := ensureTenant(ctx, tx, t.key, t.store().clock()); err != nil {
			return err
		}
		return fn(tx)
	})
}

func (t *tenantStore) Tx(ctx context.Context, fn func(tx TenantStore) error) error {
	if t.err != nil {
		return t.err
	}
	if t.sc.tx != nil {
		return t.sc.savepoint(ctx, func() error { return fn(t) })
	}
	tx, err := t.store().e.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	sc := &scope{s: t.store(), tx: tx, sp: new(int), enq: new(bool)}
	if err := fn(sc.tenant(t.key)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if *sc.enq {
		t.store().enqueuedSig.fire()
	}
	return nil
}
