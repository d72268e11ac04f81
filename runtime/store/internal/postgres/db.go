package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// db adapts a pgx pool to sqldb.
type db struct{ p *pgxpool.Pool }

func (d *db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := d.p.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (d *db) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	r, err := d.p.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (d *db) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return row{d.p.QueryRow(ctx, q, args...)}
}

func (d *db) Begin(ctx context.Context) (sqldb.Tx, error) {
	t, err := d.p.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx{t}, nil
}

func (d *db) Close() { d.p.Close() }

type tx struct{ t pgx.Tx }

func (t tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.t.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (t tx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	r, err := t.t.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (t tx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return row{t.t.QueryRow(ctx, q, args...)}
}

func (t tx) Commit(ctx context.Context) error { return t.t.Commit(ctx) }

// Rollback after Commit is a no-op, so callers can always defer it. It
// runs even when ctx is done: a transaction left open holds its locks.
func (t tx) Rollback(ctx context.Context) error {
	err := t.t.Rollback(context.WithoutCancel(ctx))
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

type rows struct{ r pgx.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return r.r.Scan(dest...) }
func (r rows) Err() error             { return r.r.Err() }
func (r rows) Close()                 { r.r.Close() }

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error {
	if err := r.r.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return sqldb.ErrNoRows
		}
		return err
	}
	return nil
}
