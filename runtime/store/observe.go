package store

import (
	"context"
	"errors"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// Observer is told of every statement the store runs on the database:
// its kind ("exec", "query", "begin", "commit"), how long it took and
// its error ("no rows" is an answer, not an error: nil). It runs on the
// caller's goroutine and must return at once.
type Observer func(op string, took time.Duration, err error)

// WithObserver reports every statement to o (metrics).
func WithObserver(o Observer) Option { return func(c *config) { c.observe = o } }

// observedDB times the statements of a pool and of its transactions.
type observedDB struct {
	db sqldb.DB
	o  Observer
}

func observe(db sqldb.DB, o Observer) sqldb.DB {
	if o == nil {
		return db
	}
	return &observedDB{db: db, o: o}
}

func (d *observedDB) report(op string, start time.Time, err error) {
	if errors.Is(err, sqldb.ErrNoRows) {
		err = nil
	}
	d.o(op, time.Since(start), err)
}

func (d *observedDB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return observedExec(d, d.db, ctx, q, args)
}

func (d *observedDB) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	return observedQuery(d, d.db, ctx, q, args)
}

func (d *observedDB) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return &observedRow{d: d, row: d.db.QueryRow(ctx, q, args...), start: time.Now()}
}

func (d *observedDB) Begin(ctx context.Context) (sqldb.Tx, error) {
	start := time.Now()
	tx, err := d.db.Begin(ctx)
	d.report("begin", start, err)
	if err != nil {
		return nil, err
	}
	return &observedTx{d: d, tx: tx}, nil
}

func (d *observedDB) Close() { d.db.Close() }

type observedTx struct {
	d  *observedDB
	tx sqldb.Tx
}

func (t *observedTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return observedExec(t.d, t.tx, ctx, q, args)
}

func (t *observedTx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	return observedQuery(t.d, t.tx, ctx, q, args)
}

func (t *observedTx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return &observedRow{d: t.d, row: t.tx.QueryRow(ctx, q, args...), start: time.Now()}
}

func (t *observedTx) Commit(ctx context.Context) error {
	start := time.Now()
	err := t.tx.Commit(ctx)
	t.d.report("commit", start, err)
	return err
}

func (t *observedTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

func observedExec(d *observedDB, q sqldb.Querier, ctx context.Context, query string, args []any) (int64, error) {
	start := time.Now()
	n, err := q.Exec(ctx, query, args...)
	d.report("exec", start, err)
	return n, err
}

func observedQuery(d *observedDB, q sqldb.Querier, ctx context.Context, query string, args []any) (sqldb.Rows, error) {
	start := time.Now()
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		d.report("query", start, err)
		return rows, err
	}
	return &observedRows{Rows: rows, d: d, start: start}, nil
}

// observedRow reports when it is scanned: the statement runs then.
type observedRow struct {
	d     *observedDB
	row   sqldb.Row
	start time.Time
}

func (r *observedRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.d.report("query", r.start, err)
	return err
}

// observedRows reports once closed: the rows are read by then.
type observedRows struct {
	sqldb.Rows
	d      *observedDB
	start  time.Time
	closed bool
}

func (r *observedRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.d.report("query", r.start, r.Rows.Err())
	}
}
