package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

type connections struct{ t *tenantStore }

const connColumns = `id, tenant, connector, name, state, last_error, parameters, info, credentials, token, created_at, updated_at, version, auth_mode`

// insertConn inserts a connection, naming its auth mode only when it has
// one: the column's default is the connector's first mode.
var insertConn = map[bool]string{
	false: `INSERT INTO connections (id, tenant, connector, name, state, last_error, parameters, info, credentials, token,
		created_at, updated_at, version, secret_kid, token_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
	true: `INSERT INTO connections (id, tenant, connector, name, state, last_error, parameters, info, credentials, token,
		created_at, updated_at, version, secret_kid, token_expires_at, auth_mode)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
}

// connRow is a connections row as scanned.
type connRow struct {
	id, tenant, connector, name, state, lastError, params, info, authMode string
	creds, token                                                          []byte
	created, updated, version                                             int64
}

func (r *connRow) dest() []any {
	return []any{&r.id, &r.tenant, &r.connector, &r.name, &r.state, &r.lastError, &r.params, &r.info,
		&r.creds, &r.token, &r.created, &r.updated, &r.version, &r.authMode}
}

// connection decodes a row; with secrets, it opens them too.
func (r *connRow) connection(s *sqlStore, secrets bool) (*Connection, error) {
	c := &Connection{
		ID: r.id, Tenant: r.tenant, Connector: r.connector, Name: r.name, AuthMode: r.authMode,
		State: ConnectionState(r.state), LastError: r.lastError,
		CreatedAt: fromMicros(r.created), UpdatedAt: fromMicros(r.updated), Version: r.version,
	}
	var err error
	if c.Parameters, err = decodeMap(r.params); err != nil {
		return nil, fmt.Errorf("store: parameters of connection %q: %w", r.id, err)
	}
	if c.Info, err = decodeMap(r.info); err != nil {
		return nil, fmt.Errorf("store: info of connection %q: %w", r.id, err)
	}
	if secrets {
		if err := s.openConnection(c, sealed{creds: r.creds, token: r.token}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func encodeMap(m map[string]any, what string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrInvalid, what, err)
	}
	return string(b), nil
}

// decodeMap reads a JSON object; an empty one is nil, as it was written.
func decodeMap(s string) (map[string]any, error) {
	if s == "{}" {
		return nil, nil // the common case, without the decoder
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// check validates what a caller may set.
func (c *Connection) check() error {
	if err := checkKey("connector", c.Connector); err != nil {
		return err
	}
	if c.AuthMode != "" {
		if err := checkKey("auth mode", c.AuthMode); err != nil {
			return err
		}
	}
	if !c.State.valid() {
		return fmt.Errorf("%w: connection state %q (want connected, error or disconnected)", ErrInvalid, c.State)
	}
	if len(c.Name) > 1000 {
		return fmt.Errorf("%w: connection name is longer than 1000 bytes", ErrInvalid)
	}
	return nil
}

func (cs connections) Create(ctx context.Context, c Connection) (*Connection, error) {
	t := cs.t
	if t.err != nil {
		return nil, t.err
	}
	if c.ID == "" {
		c.ID = newID("conn")
	} else if err := checkKey("connection id", c.ID); err != nil {
		return nil, err
	}
	if c.State == "" {
		c.State = Connected
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	s := t.store()
	c.Tenant = t.key
	c.CreatedAt = s.clock()
	c.UpdatedAt = c.CreatedAt
	c.Version = 1
	params, err := encodeMap(c.Parameters, "parameters")
	if err != nil {
		return nil, err
	}
	info, err := encodeMap(c.Info, "info")
	if err != nil {
		return nil, err
	}
	sec, err := s.sealConnection(&c)
	if err != nil {
		return nil, err
	}
	err = t.write(ctx, func(tx sqldb.Tx) error {
		args := []any{c.ID, c.Tenant, c.Connector, c.Name, string(c.State), c.LastError, params, info,
			sec.creds, sec.token, micros(c.CreatedAt), micros(c.UpdatedAt), c.Version, sec.kid, tokenExpiry(c.Token)}
		if c.AuthMode != "" {
			args = append(args, c.AuthMode)
		}
		_, err := tx.Exec(ctx, insertConn[c.AuthMode != ""], args...)
		if err != nil && t.sc.kind(err) == sqldb.Unique {
			return fmt.Errorf("connection %q: %w: the id is taken", c.ID, ErrConflict)
		}
		return err
	})
	if err != nil {
		return nil, wrap("create connection", err)
	}
	return &c, nil
}

func tokenExpiry(tok *Token) *int64 {
	if tok == nil {
		return nil
	}
	return optMicros(tok.Expiry)
}

func (cs connections) Get(ctx context.Context, id string) (*Connection, error) {
	t := cs.t
	if t.err != nil {
		return nil, t.err
	}
	var r connRow
	err := t.sc.read().QueryRow(ctx, `SELECT `+connColumns+` FROM connections WHERE id = $1 AND tenant = $2`, id, t.key).Scan(r.dest()...)
	if err == sqldb.ErrNoRows {
		return nil, fmt.Errorf("connection %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("get connection %q", id), err)
	}
	return r.connection(t.store(), true)
}

func (cs connections) List(ctx context.Context, f ConnectionFilter) (Page[*Connection], error) {
	t := cs.t
	var page Page[*Connection]
	if t.err != nil {
		return page, t.err
	}
	limit, cur, after, err := pageRequest(f.Limit, f.Cursor)
	if err != nil {
		return page, err
	}
	cols := connColumns
	if !f.Secrets {
		cols = strings.Replace(cols, "credentials, token", "NULL, NULL", 1)
	}
	q := `SELECT ` + cols + ` FROM connections WHERE tenant = $1`
	args := []any{t.key}
	if f.Connector != "" {
		args = append(args, f.Connector)
		q += fmt.Sprintf(` AND connector = $%d`, len(args))
	}
	if after {
		args = append(args, cur.T, cur.ID)
		q += fmt.Sprintf(` AND (created_at, id) > ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))

	rows, err := t.sc.read().Query(ctx, q, args...)
	if err != nil {
		return page, wrap("list connections", err)
	}
	defer rows.Close()
	page.Items = make([]*Connection, 0, limit)
	for rows.Next() {
		if len(page.Items) == limit { // the look-ahead row: there is a next page
			last := page.Items[limit-1]
			page.Next = cursor{T: micros(last.CreatedAt), ID: last.ID}.String()
			break
		}
		var r connRow
		if err := rows.Scan(r.dest()...); err != nil {
			return page, wrap("list connections", err)
		}
		c, err := r.connection(t.store(), f.Secrets)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, c)
	}
	if err := rows.Err(); err != nil {
		return page, wrap("list connections", err)
	}
	return page, nil
}

func (cs connections) Update(ctx context.Context, id string, fn func(c *Connection) error) (*Connection, error) {
	t := cs.t
	if t.err != nil {
		return nil, t.err
	}
	s := t.store()
	var out *Connection
	var fnErr error
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		var r connRow
		err := tx.QueryRow(ctx, `SELECT `+connColumns+` FROM connections WHERE id = $1 AND tenant = $2`+s.e.ForUpdate, id, t.key).Scan(r.dest()...)
		if err == sqldb.ErrNoRows {
			return fmt.Errorf("connection %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		c, err := r.connection(s, true)
		if err != nil {
			return err
		}
		keep := *c
		if err := fn(c); err != nil {
			fnErr = err
			return err
		}
		// What fn may not change.
		c.ID, c.Tenant, c.Connector, c.AuthMode, c.CreatedAt = keep.ID, keep.Tenant, keep.Connector, keep.AuthMode, keep.CreatedAt
		c.Version = keep.Version + 1
		if c.UpdatedAt = s.clock(); c.UpdatedAt.Before(keep.UpdatedAt) {
			c.UpdatedAt = keep.UpdatedAt // a clock stepping back must not reorder changes
		}
		if err := c.check(); err != nil {
			return err
		}
		params, err := encodeMap(c.Parameters, "parameters")
		if err != nil {
			return err
		}
		info, err := encodeMap(c.Info, "info")
		if err != nil {
			return err
		}
		sec, err := s.sealConnection(c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE connections SET name = $1, state = $2, last_error = $3, parameters = $4, info = $5,
			credentials = $6, token = $7, secret_kid = $8, token_expires_at = $9, updated_at = $10, version = $11
			WHERE id = $12 AND tenant = $13`,
			c.Name, string(c.State), c.LastError, params, info, sec.creds, sec.token, sec.kid, tokenExpiry(c.Token),
			micros(c.UpdatedAt), c.Version, c.ID, t.key); err != nil {
			return err
		}
		out = c
		return nil
	})
	if fnErr != nil {
		return nil, fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("update connection %q", id), err)
	}
	return out, nil
}

func (cs connections) Delete(ctx context.Context, id string) error {
	t := cs.t
	if t.err != nil {
		return t.err
	}
	err := t.sc.write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM connections WHERE id = $1 AND tenant = $2`, id, t.key)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("connection %q: %w", id, ErrNotFound)
		}
		_, err = tx.Exec(ctx, `DELETE FROM connection_overrides WHERE tenant = $1 AND connection_id = $2`, t.key, id)
		return err
	})
	return wrap(fmt.Sprintf("delete connection %q", id), err)
}
