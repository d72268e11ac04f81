package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// TestWriterStatements: a statement of a write transaction is prepared on
// the writer once it was seen, reused by the transactions after, and
// still right after the schema under it changed; one that fails to
// prepare reports its error every time and is not kept.
func TestWriterStatements(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d := e.DB.(*db)
	write := func(fn func(tx sqldb.Tx) error) {
		t.Helper()
		tx, err := e.DB.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := fn(tx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`)
		return err
	})
	const ins = `INSERT INTO kv (k, v) VALUES ($1, $2)`
	const get = `SELECT v FROM kv WHERE k = $1`
	prepared := func(q string) bool {
		d.wstmts.mu.Lock()
		defer d.wstmts.mu.Unlock()
		return d.wstmts.m[q] != nil
	}

	write(func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, ins, "a", 1)
		return err
	})
	if prepared(ins) {
		t.Fatal("prepared while its first transaction held the writer")
	}
	for i, k := range []string{"b", "c"} {
		write(func(tx sqldb.Tx) error {
			if !prepared(ins) {
				t.Errorf("transaction %d: the insert is not prepared", i+2)
			}
			if _, err := tx.Exec(ctx, ins, k, i+2); err != nil {
				return err
			}
			var v int
			if err := tx.QueryRow(ctx, get, k).Scan(&v); err != nil || v != i+2 {
				t.Errorf("read back %q in its transaction: %d, %v; want %d", k, v, err, i+2)
			}
			return nil
		})
	}
	// A rolled-back transaction's write is gone, though its statement is
	// the prepared one.
	tx, err := e.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, ins, "gone", 9); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The schema changes under the prepared statements.
	write(func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, `ALTER TABLE kv ADD COLUMN note TEXT NOT NULL DEFAULT ''`)
		return err
	})
	write(func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, ins, "d", 4)
		return err
	})
	var n, sum int
	if err := e.DB.QueryRow(ctx, `SELECT COUNT(*), SUM(v) FROM kv WHERE note = $1`, "").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 4 || sum != 1+2+3+4 {
		t.Errorf("kv holds %d rows summing to %d; want a, b, c, d: 4 rows summing to 10", n, sum)
	}

	const bad = `INSERT INTO nowhere (k) VALUES ($1)`
	for i := range 3 {
		tx, err := e.DB.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, bad, "x"); err == nil {
			t.Errorf("run %d of an insert into a missing table: no error", i+1)
		}
		tx.Rollback(ctx)
		if prepared(bad) {
			t.Fatalf("run %d: a statement that cannot be prepared is kept", i+1)
		}
	}
}
