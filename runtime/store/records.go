package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// recordChunk is how many records one statement carries: 500 records are
// 1,500 parameters in an upsert, well below both engines' limits, and a
// batch of 1,000 is four statements.
const recordChunk = 500

// maxHashLen bounds a stored hash (a hex SHA-256 is 64).
const maxHashLen = 255

type recordHashes struct {
	t   *tenantStore
	sub string
}

// owned is nil when the tenant has subscription r.sub.
func (r recordHashes) owned(ctx context.Context, q sqldb.Querier) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM subscriptions WHERE id = $1 AND tenant = $2`, r.sub, r.t.key).Scan(&one)
	if errors.Is(err, sqldb.ErrNoRows) {
		return fmt.Errorf("subscription %q: %w", r.sub, ErrNotFound)
	}
	return err
}

// placeholders is "($first), ($first+1), …" for n rows of width columns.
func placeholders(first, n, width int) string {
	var b strings.Builder
	p := first
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range width {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", p)
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// list is "$first, $first+1, …", n of them.
func list(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

func (r recordHashes) Mark(ctx context.Context, gen int64, recs []RecordHash) ([]RecordSeen, error) {
	t := r.t
	if t.err != nil {
		return nil, t.err
	}
	if gen < 0 {
		return nil, fmt.Errorf("%w: record hashes of subscription %q: generation %d is negative", ErrInvalid, r.sub, gen)
	}
	for _, rec := range recs {
		if err := checkKey("record id", rec.ID); err != nil {
			return nil, fmt.Errorf("subscription %q: %w", r.sub, err)
		}
		if rec.Hash == "" || len(rec.Hash) > maxHashLen {
			return nil, fmt.Errorf("%w: record %q of subscription %q: the hash must be 1 to %d bytes", ErrInvalid, rec.ID, r.sub, maxHashLen)
		}
	}
	out := make([]RecordSeen, len(recs))
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		if err := r.owned(ctx, tx); err != nil {
			return err
		}
		// An id given twice sees what was given before it: the stored
		// hash for its first occurrence, then the previous occurrence's.
		last := map[string]string{}
		for start := 0; start < len(recs); start += recordChunk {
			chunk := recs[start:min(start+recordChunk, len(recs))]
			// The distinct ids of the chunk not seen in an earlier one.
			var ask []any
			asked := map[string]bool{}
			for _, rec := range chunk {
				if _, seen := last[rec.ID]; !seen && !asked[rec.ID] {
					asked[rec.ID] = true
					ask = append(ask, rec.ID)
				}
			}
			if len(ask) > 0 {
				rows, err := tx.Query(ctx, `SELECT record_id, hash FROM record_hashes WHERE subscription_id = $1 AND record_id IN (`+
					list(2, len(ask))+`)`, append([]any{r.sub}, ask...)...)
				if err != nil {
					return err
				}
				for rows.Next() {
					var id, hash string
					if err := rows.Scan(&id, &hash); err != nil {
						rows.Close()
						return err
					}
					last[id] = hash
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			// One row per id in the upsert (PostgreSQL refuses to update a
			// row twice in one statement): the last hash given wins.
			final := map[string]int{}
			for i, rec := range chunk {
				out[start+i] = RecordSeen{ID: rec.ID, Previous: last[rec.ID]}
				last[rec.ID] = rec.Hash
				final[rec.ID] = i
			}
			args := make([]any, 0, 3*len(final)+1)
			args = append(args, r.sub)
			for i, rec := range chunk {
				if final[rec.ID] == i {
					args = append(args, rec.ID, rec.Hash, gen)
				}
			}
			n := (len(args) - 1) / 3
			vals := strings.ReplaceAll(placeholders(2, n, 3), "($", "($1, $")
			if _, err := tx.Exec(ctx, `INSERT INTO record_hashes (subscription_id, record_id, hash, generation) VALUES `+vals+`
				ON CONFLICT (subscription_id, record_id) DO UPDATE SET hash = excluded.hash, generation = excluded.generation`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("mark records of subscription %q", r.sub), err)
	}
	return out, nil
}

func (r recordHashes) Sweep(ctx context.Context, gen int64, limit int) ([]RecordHash, error) {
	t := r.t
	if t.err != nil {
		return nil, t.err
	}
	if limit < 1 || limit > 10*maxLimit {
		return nil, fmt.Errorf("%w: sweep %d records: want 1..%d", ErrInvalid, limit, 10*maxLimit)
	}
	var out []RecordHash
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		if err := r.owned(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM record_hashes WHERE subscription_id = $1 AND record_id IN
			(SELECT record_id FROM record_hashes WHERE subscription_id = $1 AND generation < $2 LIMIT $3)
			RETURNING record_id, hash`, r.sub, gen, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h RecordHash
			if err := rows.Scan(&h.ID, &h.Hash); err != nil {
				return err
			}
			out = append(out, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("sweep records of subscription %q", r.sub), err)
	}
	return out, nil
}

func (r recordHashes) Forget(ctx context.Context, ids ...string) error {
	t := r.t
	if t.err != nil {
		return t.err
	}
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		if err := r.owned(ctx, tx); err != nil {
			return err
		}
		for start := 0; start < len(ids); start += recordChunk {
			chunk := ids[start:min(start+recordChunk, len(ids))]
			args := []any{r.sub}
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM record_hashes WHERE subscription_id = $1 AND record_id IN (`+
				list(2, len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(fmt.Sprintf("forget records of subscription %q", r.sub), err)
}
