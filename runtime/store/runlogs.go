package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

type runLogs struct{ t *tenantStore }

// maxRequestID bounds a run log's request id, as the server bounds the
// X-Request-Id it keeps.
const maxRequestID = 128

const runLogColumns = `id, tenant, connection_id, action, status, error, duration_ms, entries, created_at, origin, request_id`

func scanRunLog(row scanner) (*RunLog, error) {
	var l RunLog
	var entries *string
	var created int64
	if err := row.Scan(&l.ID, &l.Tenant, &l.ConnectionID, &l.Action, &l.Status, &l.Error, &l.DurationMs, &entries, &created, &l.Origin, &l.RequestID); err != nil {
		return nil, err
	}
	if entries != nil {
		l.Entries = upgradeEntries(json.RawMessage(*entries))
	}
	l.CreatedAt = fromMicros(created)
	return &l, nil
}

// upgradeEntries gives the exchanges of a run log stored when their
// duration was nanoseconds in "duration" the form they have now:
// milliseconds, to the microsecond, in "durationMs". Others are returned
// as they are.
func upgradeEntries(raw json.RawMessage) json.RawMessage {
	if !bytes.Contains(raw, []byte(`"duration"`)) {
		return raw
	}
	var entries []map[string]json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		return raw
	}
	changed := false
	for _, e := range entries {
		d, ok := e["duration"]
		if !ok {
			continue
		}
		var ns int64
		if _, has := e["durationMs"]; has || json.Unmarshal(d, &ns) != nil {
			continue
		}
		delete(e, "duration")
		e["durationMs"] = json.RawMessage(strconv.FormatFloat(float64(time.Duration(ns).Microseconds())/1000, 'f', -1, 64))
		changed = true
	}
	if !changed {
		return raw
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return raw
	}
	return b
}

func (rl runLogs) Append(ctx context.Context, l RunLog) (*RunLog, error) {
	t := rl.t
	if t.err != nil {
		return nil, t.err
	}
	if l.ID == "" {
		l.ID = newID("run")
	} else if err := checkKey("run log id", l.ID); err != nil {
		return nil, err
	}
	if len(l.RequestID) > maxRequestID {
		return nil, fmt.Errorf("%w: run log %q: the request id is longer than %d bytes", ErrInvalid, l.ID, maxRequestID)
	}
	var entries *string
	if len(l.Entries) > 0 {
		if !json.Valid(l.Entries) {
			return nil, fmt.Errorf("%w: run log %q: entries are not valid JSON", ErrInvalid, l.ID)
		}
		s := string(l.Entries)
		entries = &s
	}
	l.Tenant = t.key
	if l.CreatedAt.IsZero() {
		l.CreatedAt = t.store().clock()
	} else {
		l.CreatedAt = l.CreatedAt.UTC().Truncate(time.Microsecond)
	}
	insert := func(tx sqldb.Tx) error {
		if err := ensureTenant(ctx, tx, t.key, t.store().clock()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO run_logs (`+runLogColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			l.ID, l.Tenant, l.ConnectionID, l.Action, l.Status, l.Error, l.DurationMs, entries, micros(l.CreatedAt), l.Origin, l.RequestID)
		if err != nil && t.sc.kind(err) == sqldb.Unique {
			return fmt.Errorf("run log %q: %w: the id is taken", l.ID, ErrConflict)
		}
		return err
	}
	var err error
	if t.sc.tx != nil {
		err = t.sc.savepoint(ctx, func() error { return insert(t.sc.tx) })
	} else {
		// Every action run appends one: they share commits under load.
		err = t.store().group.do(ctx, insert)
	}
	if err != nil {
		return nil, wrap("append run log", err)
	}
	return &l, nil
}

func (rl runLogs) Get(ctx context.Context, id string) (*RunLog, error) {
	t := rl.t
	if t.err != nil {
		return nil, t.err
	}
	l, err := scanRunLog(t.sc.read().QueryRow(ctx, `SELECT `+runLogColumns+` FROM run_logs WHERE id = $1 AND tenant = $2`, id, t.key))
	if errors.Is(err, sqldb.ErrNoRows) {
		return nil, fmt.Errorf("run log %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("get run log %q", id), err)
	}
	return l, nil
}

func (rl runLogs) List(ctx context.Context, f RunLogFilter) (Page[*RunLog], error) {
	t := rl.t
	var page Page[*RunLog]
	if t.err != nil {
		return page, t.err
	}
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT ` + runLogColumns + ` FROM run_logs WHERE tenant = $1`
	args := []any{t.key}
	for _, c := range []struct{ col, v string }{{"connection_id", f.ConnectionID}, {"action", f.Action}, {"origin", f.Origin}, {"status", f.Status}, {"request_id", f.RequestID}} {
		if c.v != "" {
			args = append(args, c.v)
			q += fmt.Sprintf(` AND %s = $%d`, c.col, len(args))
		}
	}
	if after {
		args = append(args, cur.T, cur.ID)
		q += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return queryPage(ctx, t.sc.read(), "list run logs", limit, scanRunLog, func(l *RunLog) cursor { return cursor{T: micros(l.CreatedAt), ID: l.ID} }, q, args...)
}

// pruneBatch bounds one delete, so retention never holds SQLite's writer
// (or PostgreSQL's locks) for long.
const pruneBatch = 5000

func (s *sqlStore) PruneRunLogs(ctx context.Context, olderThan time.Time) (int64, error) {
	n, err := s.prune(ctx, `DELETE FROM run_logs WHERE id IN (SELECT id FROM run_logs WHERE created_at < $1 LIMIT $2)`, micros(olderThan))
	return n, wrap("prune run logs", err)
}

// prune runs a batched delete until it deletes nothing.
func (s *sqlStore) prune(ctx context.Context, q string, arg any) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.root().write(ctx, func(tx sqldb.Tx) error {
			var err error
			n, err = tx.Exec(ctx, q, arg, pruneBatch)
			return err
		})
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}
