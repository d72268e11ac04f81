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
	stmts          stmtCache   // of the readers
	wstmts         writerStmts // of the writer
}

// stmtCache keeps the readers' prepared statements by query text: parsing
// the SQL is nearly half the cost of a point read. database/sql re-prepares
// a cached statement on each pool connection it meets. Only statements with
// arguments are cached (the store's queries are a bounded set); one without
// may be several statements, as a migration is. The writer's are in
// writerStmts.
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

// writerStmts keeps the write transactions' prepared statements by query
// text, prepared on the writer's one connection and reused in every
// transaction on it (sql.Tx.StmtContext finds the connection's prepared
// statement): SQLite then parses a statement once per process, not each
// time it runs. A statement cannot be prepared on the writer while a
// transaction holds its connection, so one first seen in a transaction
// runs unprepared there and is prepared before the next transaction
// begins. Only statements with arguments are kept, up to maxCachedStmts.
type writerStmts struct {
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending []string // seen in a transaction, to prepare
	wanted  map[string]bool
}

// get is q's statement prepared on the writer, or nil; a miss marks q to
// be prepared.
func (w *writerStmts) get(q string, args []any) *sql.Stmt {
	if len(args) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.m[q]; s != nil {
		return s
	}
	if len(w.m)+len(w.pending) < maxCachedStmts && !w.wanted[q] {
		if w.wanted == nil {
			w.wanted = map[string]bool{}
		}
		w.wanted[q] = true
		w.pending = append(w.pending, q)
	}
	return nil
}

// prepare prepares the pending statements on the writer, whose connection
// the caller does not hold. A statement that fails to prepare is left
// to the plain call, which reports its error.
func (w *writerStmts) prepare(ctx context.Context, writer *sql.DB) {
	w.mu.Lock()
	qs := w.pending
	w.pending = nil
	w.mu.Unlock()
	if len(qs) == 0 {
		return
	}
	ready := make(map[string]*sql.Stmt, len(qs))
	var failed []string
	for _, q := range qs {
		if s, err := writer.PrepareContext(ctx, q); err == nil {
			ready[q] = s
		} else {
			failed = append(failed, q)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*sql.Stmt{}
	}
	for q, s := range ready {
		w.m[q] = s
	}
	for _, q := range failed { // seen again, tried again
		delete(w.wanted, q)
	}
}

func (w *writerStmts) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.m {
		s.Close()
	}
	w.m, w.pending, w.wanted = nil, nil, nil
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
	d.wstmts.prepare(ctx, d.writer)
	t, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, mark(err)
	}
	return &tx{t: t, w: &d.wstmts}, nil
}

func (d *db) Close() {
	d.stmts.close()
	d.wstmts.close()
	d.reader.Close()
	d.writer.Close()
}

type tx struct {
	t     *sql.Tx
	w     *writerStmts
	stmts map[string]*sql.Stmt // the writer's, bound to t; closed with it
}

// stmt is q's prepared statement bound to the transaction, or nil.
func (t *tx) stmt(ctx context.Context, q string, args []any) *sql.Stmt {
	if s := t.stmts[q]; s != nil {
		return s
	}
	ws := t.w.get(q, args)
	if ws == nil {
		return nil
	}
	s := t.t.StmtContext(ctx, ws)
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = s
	return s
}

func (t *tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if s := t.stmt(ctx, q, args); s != nil {
		return result(s.ExecContext(ctx, args...))
	}
	return result(t.t.ExecContext(ctx, q, args...))
}

func (t *tx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	var r *sql.Rows
	var err error
	if s := t.stmt(ctx, q, args); s != nil {
		r, err = s.QueryContext(ctx, args...)
	} else {
		r, err = t.t.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, mark(err)
	}
	return rows{r}, nil
}

func (t *tx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	if s := t.stmt(ctx, q, args); s != nil {
		return row{s.QueryRowContext(ctx, args...)}
	}
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
