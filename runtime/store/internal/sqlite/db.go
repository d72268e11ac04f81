package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// db adapts database/sql to sqldb: reads go to the reader pool, write
// transactions to the single writer.
type db struct {
	reader, writer *sql.DB
	stmts          stmtCache // of the readers
}

// stmtCache keeps the readers' prepared statements by query text: parsing
// the SQL is nearly half the cost of a point read. database/sql re-prepares
// a cached statement on each pool connection it meets. Only statements with
// arguments are cached (the store's queries are a bounded set); one without
// may be several statements, as a migration is. The writer has none: its
// one connection is usually held by the transaction that would prepare.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxCachedStmts = 256

func (c *stmtCache) get(ctx context.Context, pool *sql.DB, q string, args []any) *sql.Stmt {
	if len(args) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.m[q]; s != nil {
		return s
	}
	if len(c.m) >= maxCachedStmts {
		return nil
	}
	s, err := pool.PrepareContext(ctx, q)
	if err != nil {
		return nil // the plain call reports the error
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = s
	return s
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}

func (d *db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return result(d.writer.ExecContext(ctx, q, args...))
}

func (d *db) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	var r *sql.Rows
	var err error
	if s := d.stmts.get(ctx, d.reader, q, args); s != nil {
		r, err = s.QueryContext(ctx, args...)
	} else {
		r, err = d.reader.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, mark(err)
	}
	return rows{r}, nil
}

func (d *db) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	if s := d.stmts.get(ctx, d.reader, q, args); s != nil {
		return row{s.QueryRowContext(ctx, args...)}
	}
	return row{d.reader.QueryRowContext(ctx, q, args...)}
}

func (d *db) Begin(ctx context.Context) (sqldb.Tx, error) {
	t, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, mark(err)
	}
	return &tx{t}, nil
}

func (d *db) Close() {
	d.stmts.close()
	d.reader.Close()
	d.writer.Close()
}

type tx struct{ t *sql.Tx }

func (t *tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return result(t.t.ExecContext(ctx, q, args...))
}

func (t *tx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	r, err := t.t.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mark(err)
	}
	return rows{r}, nil
}

func (t *tx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return row{t.t.QueryRowContext(ctx, q, args...)}
}

func (t *tx) Commit(context.Context) error { return mark(t.t.Commit()) }

// Rollback after Commit is a no-op, so callers can always defer it.
func (t *tx) Rollback(context.Context) error {
	if err := t.t.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return mark(err)
	}
	return nil
}

func result(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, mark(err)
	}
	return res.RowsAffected()
}

type rows struct{ r *sql.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return mark(r.r.Scan(dest...)) }
func (r rows) Err() error             { return mark(r.r.Err()) }
func (r rows) Close()                 { r.r.Close() }

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	if err := r.r.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return sqldb.ErrNoRows
		}
		return mark(err)
	}
	return nil
}
