package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// db adapts a pgx pool to sqldb. Every error leaves through mark, which
// tags those of an unreachable or overloaded server sqldb.ErrUnavailable.
type db struct {
	p *pgxpool.Pool
	// acquireTimeout bounds the wait for a pooled connection: when every
	// connection hangs on a server that stopped answering, callers get
	// ErrUnavailable instead of queueing behind the outage.
	acquireTimeout time.Duration
}

func (d *db) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, d.acquireTimeout)
	defer cancel()
	c, err := d.p.Acquire(actx)
	if err != nil {
		if ctx.Err() == nil && actx.Err() != nil {
			return nil, sqldb.Unavailable(fmt.Errorf("no database connection within %s: %w", d.acquireTimeout, err))
		}
		return nil, mark(err)
	}
	return c, nil
}

func (d *db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	c, err := d.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, q, args...)
	return tag.RowsAffected(), mark(err)
}

func (d *db) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	c, err := d.acquire(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.Query(ctx, q, args...)
	if err != nil {
		c.Release()
		return nil, mark(err)
	}
	return &rows{r: r, release: c.Release}, nil
}

func (d *db) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	c, err := d.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &row{r: c.QueryRow(ctx, q, args...), release: c.Release}
}

func (d *db) Begin(ctx context.Context) (sqldb.Tx, error) {
	c, err := d.acquire(ctx)
	if err != nil {
		return nil, err
	}
	t, err := c.Begin(ctx)
	if err != nil {
		c.Release()
		return nil, mark(err)
	}
	return &tx{t: t, release: c.Release}, nil
}

func (d *db) Close() { d.p.Close() }

// tx is a transaction on a connection of its own, given back to the pool
// when the transaction ends.
type tx struct {
	t       pgx.Tx
	release func() // nil once released, or for a transaction of pgx's pool
}

func (t *tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.t.Exec(ctx, q, args...)
	return tag.RowsAffected(), mark(err)
}

func (t *tx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	r, err := t.t.Query(ctx, q, args...)
	if err != nil {
		return nil, mark(err)
	}
	return &rows{r: r}, nil
}

func (t *tx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return &row{r: t.t.QueryRow(ctx, q, args...)}
}

func (t *tx) Commit(ctx context.Context) error {
	err := t.t.Commit(ctx)
	t.done()
	return mark(err)
}

// Rollback after Commit is a no-op, so callers can always defer it. It
// runs even when ctx is done: a transaction left open holds its locks.
func (t *tx) Rollback(ctx context.Context) error {
	err := t.t.Rollback(context.WithoutCancel(ctx))
	t.done()
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return mark(err)
}

func (t *tx) done() {
	if t.release != nil {
		t.release()
		t.release = nil
	}
}

type rows struct {
	r       pgx.Rows
	release func() // of the connection, once the rows are closed
}

func (r *rows) Next() bool {
	if r.r.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *rows) Scan(dest ...any) error { return mark(r.r.Scan(dest...)) }
func (r *rows) Err() error             { return mark(r.r.Err()) }

func (r *rows) Close() {
	r.r.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

type row struct {
	r       pgx.Row
	release func()
}

func (r *row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if r.release != nil {
		r.release()
		r.release = nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return sqldb.ErrNoRows
	}
	return mark(err)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
