package store

import "context"

// ConnectionStateCount is how many connections of a connector are in a
// state, across tenants.
type ConnectionStateCount struct {
	Connector string          `json:"connector"`
	State     ConnectionState `json:"state"`
	Count     int64           `json:"count"`
}

// DisconnectedConnection is a connection a human must authorise again.
type DisconnectedConnection struct {
	ConnectionRef
	Name      string `json:"name,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// ConnectionStates counts the connections by connector and state, across
// tenants: for metrics and the console's health page.
func (s *sqlStore) ConnectionStates(ctx context.Context) ([]ConnectionStateCount, error) {
	out, err := queryAll(ctx, s.e.DB, func(r scanner) (ConnectionStateCount, error) {
		var c ConnectionStateCount
		var state string
		err := r.Scan(&c.Connector, &state, &c.Count)
		c.State = ConnectionState(state)
		return c, err
	}, `SELECT connector, state, COUNT(*) FROM connections GROUP BY connector, state ORDER BY connector, state`)
	return out, wrap("connection states", err)
}

// DisconnectedConnections pages through the disconnected connections,
// across tenants, the latest to be disconnected first.
func (s *sqlStore) DisconnectedConnections(ctx context.Context, cursorText string, limit int) (Page[DisconnectedConnection], error) {
	n, cur, after, err := pageRequest(limit, cursorText)
	if err != nil {
		return Page[DisconnectedConnection]{}, err
	}
	scan := func(r scanner) (DisconnectedConnection, error) {
		var c DisconnectedConnection
		var at int64
		err := r.Scan(&c.ConnectionID, &c.Tenant, &c.Connector, &c.Name, &c.LastError, &at)
		c.UpdatedAt = fromMicros(at)
		return c, err
	}
	next := func(c DisconnectedConnection) cursor {
		return cursor{T: micros(c.UpdatedAt), ID: c.ConnectionID}
	}
	const cols = `SELECT id, tenant, connector, name, last_error, updated_at FROM connections WHERE state = 'disconnected'`
	if !after {
		return queryPage(ctx, s.e.DB, "disconnected connections", n, scan, next,
			cols+` ORDER BY updated_at DESC, id DESC LIMIT $1`, n+1)
	}
	return queryPage(ctx, s.e.DB, "disconnected connections", n, scan, next,
		cols+` AND (updated_at < $1 OR (updated_at = $1 AND id < $2)) ORDER BY updated_at DESC, id DESC LIMIT $3`, cur.T, cur.ID, n+1)
}
