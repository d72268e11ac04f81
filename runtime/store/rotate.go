package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// rotateBatch is how many rows one rotation transaction re-seals.
const rotateBatch = 200

// RotateKeys walks the sealed rows by primary key, skipping those already
// sealed with the current key, and re-seals each batch in one transaction.
// A row is rewritten only if it did not change since it was read (same
// version and key id), so a concurrent Update, which seals with the
// current key itself, always wins and nothing is lost. Running it again
// finds nothing to do.
//
// A value that cannot be opened (its key is missing from the keyring) is
// skipped, so one bad row does not block the others; the error at the end
// names the first few.
func (s *sqlStore) RotateKeys(ctx context.Context) (RotateResult, error) {
	var res RotateResult
	var failed []error
	cur := s.keys.CurrentID()
	for after := ""; ; {
		n, last, err := s.rotateConnections(ctx, cur, after, &failed)
		res.Connections += n
		if err != nil {
			return res, wrap("rotate keys", err)
		}
		if last == "" {
			break
		}
		after = last
	}
	for after := ""; ; {
		n, last, err := s.rotateStates(ctx, cur, after, &failed)
		res.States += n
		if err != nil {
			return res, wrap("rotate keys", err)
		}
		if last == "" {
			break
		}
		after = last
	}
	for after := ""; ; {
		n, last, err := s.rotateSubscriptions(ctx, cur, after, &failed)
		res.Subscriptions += n
		if err != nil {
			return res, wrap("rotate keys", err)
		}
		if last == "" {
			break
		}
		after = last
	}
	for after := ""; ; {
		n, last, err := s.rotateSealed(ctx, destinationsSealed, cur, after, &failed)
		res.Destinations += n
		if err != nil {
			return res, wrap("rotate keys", err)
		}
		if last == "" {
			break
		}
		after = last
	}
	s.log.Info("secrets re-sealed with the current key", "key_id", cur, "connections", res.Connections, "oauth_states", res.States,
		"subscriptions", res.Subscriptions, "destinations", res.Destinations, "failed", len(failed))
	if len(failed) > 0 {
		shown := failed[:min(len(failed), 5)]
		return res, fmt.Errorf("store: rotate keys: %d values could not be re-sealed: %w", len(failed), errors.Join(shown...))
	}
	return res, nil
}

type staleRow struct {
	id, kid string
	sealed  [2][]byte
	version int64
}

// sealedTable is a table whose rows hold two sealed columns and a
// version, re-sealed by rotateSealed.
type sealedTable struct {
	table, what string // "connections", "connection"
	cols        [2]string
	// where narrows the rows that hold sealed values at all.
	where string
	aad   func(id, col string) []byte
}

var (
	connectionsSealed = sealedTable{table: "connections", what: "connection", cols: [2]string{"credentials", "token"},
		where: "AND secret_kid <> ''", aad: connAAD}
	subscriptionsSealed = sealedTable{table: "subscriptions", what: "subscription", cols: [2]string{"webhook_token", "remote"},
		aad: subAAD}
)

func (s *sqlStore) rotateConnections(ctx context.Context, cur, after string, failed *[]error) (n int, last string, err error) {
	return s.rotateSealed(ctx, connectionsSealed, cur, after, failed)
}

// rotateSealed re-seals a batch of a table's rows sealed with another key
// than cur. A row that changed since it was read (version or key id) is
// left to the change, which sealed it anew; a value that cannot be
// opened is reported in failed and its row left as it is.
func (s *sqlStore) rotateSealed(ctx context.Context, t sealedTable, cur, after string, failed *[]error) (n int, last string, err error) {
	rows, err := s.e.DB.Query(ctx, `SELECT id, secret_kid, `+t.cols[0]+`, `+t.cols[1]+`, version FROM `+t.table+`
		WHERE id > $1 `+t.where+` AND secret_kid <> $2 ORDER BY id LIMIT $3`, after, cur, rotateBatch)
	if err != nil {
		return 0, "", err
	}
	var batch []staleRow
	for rows.Next() {
		var r staleRow
		if err := rows.Scan(&r.id, &r.kid, &r.sealed[0], &r.sealed[1], &r.version); err != nil {
			rows.Close()
			return 0, "", err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(batch) == 0 {
		return 0, "", err
	}
	err = s.root().write(ctx, func(tx sqldb.Tx) error {
	rows:
		for _, r := range batch {
			sealed := r.sealed
			for i, col := range t.cols {
				if sealed[i] == nil {
					continue
				}
				pt, err := s.open(sealed[i], t.aad(r.id, col), col+" of "+t.what+" "+quote(r.id))
				if err != nil {
					*failed = append(*failed, err)
					continue rows
				}
				sealed[i] = s.keys.Seal(pt, t.aad(r.id, col))
			}
			m, err := tx.Exec(ctx, `UPDATE `+t.table+` SET `+t.cols[0]+` = $1, `+t.cols[1]+` = $2, secret_kid = $3
				WHERE id = $4 AND version = $5 AND secret_kid = $6`,
				sealed[0], sealed[1], cur, r.id, r.version, r.kid)
			if err != nil {
				return fmt.Errorf("%s %q: %w", t.what, r.id, err)
			}
			n += int(m)
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	return n, batch[len(batch)-1].id, nil
}

func (s *sqlStore) rotateStates(ctx context.Context, cur, after string, failed *[]error) (n int, last string, err error) {
	type stale struct {
		hash, kid string
		data      []byte
	}
	rows, err := s.e.DB.Query(ctx, `SELECT state_hash, secret_kid, data FROM oauth_states
		WHERE state_hash > $1 AND secret_kid <> $2 ORDER BY state_hash LIMIT $3`, after, cur, rotateBatch)
	if err != nil {
		return 0, "", err
	}
	var batch []stale
	for rows.Next() {
		var r stale
		if err := rows.Scan(&r.hash, &r.kid, &r.data); err != nil {
			rows.Close()
			return 0, "", err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(batch) == 0 {
		return 0, "", err
	}
	err = s.root().write(ctx, func(tx sqldb.Tx) error {
		for _, r := range batch {
			pt, err := s.open(r.data, stateAAD(r.hash), "oauth state")
			if err != nil {
				*failed = append(*failed, err)
				continue
			}
			m, err := tx.Exec(ctx, `UPDATE oauth_states SET data = $1, secret_kid = $2 WHERE state_hash = $3 AND secret_kid = $4`,
				s.keys.Seal(pt, stateAAD(r.hash)), cur, r.hash, r.kid)
			if err != nil {
				return err
			}
			n += int(m)
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	return n, batch[len(batch)-1].hash, nil
}

// rotateSubscriptions re-seals the webhook tokens and remotes, as
// rotateConnections does the credentials.
func (s *sqlStore) rotateSubscriptions(ctx context.Context, cur, after string, failed *[]error) (n int, last string, err error) {
	return s.rotateSealed(ctx, subscriptionsSealed, cur, after, failed)
}
