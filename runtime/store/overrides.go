package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// maxOverrideSize bounds a stored override document.
const maxOverrideSize = 1 << 20

type overrides struct{ t *tenantStore }

const overrideColumns = `tenant, connector, connection_id, revision, doc, created_at, updated_at`

func scanOverride(row scanner) (*Override, error) {
	var o Override
	var doc string
	var created, updated int64
	if err := row.Scan(&o.Tenant, &o.Connector, &o.ConnectionID, &o.Revision, &doc, &created, &updated); err != nil {
		return nil, err
	}
	o.Doc, o.CreatedAt, o.UpdatedAt = []byte(doc), fromMicros(created), fromMicros(updated)
	return &o, nil
}

func overrideName(connector, connectionID string) string {
	if connectionID == "" {
		return fmt.Sprintf("override of connector %q", connector)
	}
	return fmt.Sprintf("override of connector %q for connection %q", connector, connectionID)
}

func (ov overrides) Put(ctx context.Context, o Override) (*Override, error) {
	t := ov.t
	if t.err != nil {
		return nil, t.err
	}
	if err := checkKey("connector", o.Connector); err != nil {
		return nil, err
	}
	name := overrideName(o.Connector, o.ConnectionID)
	if len(o.Doc) == 0 {
		return nil, fmt.Errorf("%w: %s: the document is empty", ErrInvalid, name)
	}
	if len(o.Doc) > maxOverrideSize {
		return nil, fmt.Errorf("%w: %s: the document is larger than %d bytes", ErrInvalid, name, maxOverrideSize)
	}
	if o.Revision < 0 {
		return nil, fmt.Errorf("%w: %s: negative revision", ErrInvalid, name)
	}
	s := t.store()
	now := micros(s.clock())
	var out *Override
	err := t.write(ctx, func(tx sqldb.Tx) error {
		if o.ConnectionID != "" {
			// Locked, so the connection cannot be deleted under a new
			// override; of another tenant, it is not found.
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM connections WHERE id = $1 AND tenant = $2`+s.e.ForUpdate, o.ConnectionID, t.key).Scan(&one)
			if errors.Is(err, sqldb.ErrNoRows) {
				return fmt.Errorf("connection %q: %w", o.ConnectionID, ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		var row sqldb.Row
		if o.Revision > 0 {
			row = tx.QueryRow(ctx, `UPDATE connection_overrides SET revision = revision + 1, doc = $1, updated_at = $2
				WHERE tenant = $3 AND connector = $4 AND connection_id = $5 AND revision = $6 AND doc IS NOT NULL
				RETURNING `+overrideColumns, string(o.Doc), now, t.key, o.Connector, o.ConnectionID, o.Revision)
		} else {
			// A deleted override (doc NULL) comes back with a fresh
			// created_at and its next revision.
			row = tx.QueryRow(ctx, `INSERT INTO connection_overrides (`+overrideColumns+`) VALUES ($1, $2, $3, 1, $4, $5, $5)
				ON CONFLICT (tenant, connector, connection_id) DO UPDATE SET
					revision = connection_overrides.revision + 1,
					doc = excluded.doc,
					updated_at = excluded.updated_at,
					created_at = CASE WHEN connection_overrides.doc IS NULL THEN excluded.created_at ELSE connection_overrides.created_at END
				RETURNING `+overrideColumns, t.key, o.Connector, o.ConnectionID, string(o.Doc), now)
		}
		var err error
		out, err = scanOverride(row)
		if errors.Is(err, sqldb.ErrNoRows) {
			return fmt.Errorf("%s: %w: revision %d is not the current one", name, ErrConflict, o.Revision)
		}
		return err
	})
	if err != nil {
		return nil, wrap("put "+name, err)
	}
	return out, nil
}

func (ov overrides) Get(ctx context.Context, connector, connectionID string) (*Override, error) {
	t := ov.t
	if t.err != nil {
		return nil, t.err
	}
	name := overrideName(connector, connectionID)
	o, err := scanOverride(t.sc.read().QueryRow(ctx, `SELECT `+overrideColumns+` FROM connection_overrides
		WHERE tenant = $1 AND connector = $2 AND connection_id = $3 AND doc IS NOT NULL`, t.key, connector, connectionID))
	if errors.Is(err, sqldb.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get "+name, err)
	}
	return o, nil
}

func (ov overrides) List(ctx context.Context, f OverrideFilter) (Page[*Override], error) {
	t := ov.t
	var page Page[*Override]
	if t.err != nil {
		return page, t.err
	}
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT ` + overrideColumns + ` FROM connection_overrides WHERE tenant = $1 AND doc IS NOT NULL`
	args := []any{t.key}
	if f.Connector != "" {
		args = append(args, f.Connector)
		q += fmt.Sprintf(` AND connector = $%d`, len(args))
	}
	if f.ConnectionID != "" {
		args = append(args, f.ConnectionID)
		q += fmt.Sprintf(` AND connection_id = $%d`, len(args))
	}
	if after {
		args = append(args, cur.K, cur.ID)
		q += fmt.Sprintf(` AND (connector, connection_id) > ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY connector, connection_id LIMIT $%d`, len(args))
	return queryPage(ctx, t.sc.read(), "list overrides", limit, scanOverride, func(o *Override) cursor { return cursor{K: o.Connector, ID: o.ConnectionID} }, q, args...)
}

// Delete keeps a tombstone row, so revisions never repeat.
func (ov overrides) Delete(ctx context.Context, connector, connectionID string) error {
	t := ov.t
	if t.err != nil {
		return t.err
	}
	name := overrideName(connector, connectionID)
	now := micros(t.store().clock())
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `UPDATE connection_overrides SET doc = NULL, revision = revision + 1, updated_at = $1
			WHERE tenant = $2 AND connector = $3 AND connection_id = $4 AND doc IS NOT NULL`, now, t.key, connector, connectionID)
		if err == nil && n == 0 {
			err = fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return err
	})
	return wrap("delete "+name, err)
}
