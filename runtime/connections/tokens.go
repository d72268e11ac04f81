package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
)

// The OAuth manager keys everything by one string (oauth.TokenStore takes
// a connID), but every store query needs the tenant: a tenant handle is
// what guarantees one tenant never reads another's token. The connection
// id alone would need a cross-tenant lookup the store deliberately lacks,
// and an adapter per tenant would need a manager per tenant (the manager
// holds the refreshes in flight and must be shared). So the manager is
// given a tenant-qualified key, TokenKey(tenant, id), as the id of its
// connections: unambiguous for any tenant key and id, readable in the
// manager's logs, and decoded here into s.Tenant(tenant) before any query.

// TokenKey is the key an oauth.Manager knows a connection by: the quoted
// tenant, a slash and the connection id (`"acme"/conn_…`). Pass it to
// Manager.Forget; the refresher that walks Store.ExpiringTokens builds it
// from each row's tenant and id.
func TokenKey(tenant, connID string) string {
	return strconv.Quote(tenant) + "/" + connID
}

// ParseTokenKey splits a TokenKey.
func ParseTokenKey(key string) (tenant, connID string, err error) {
	q, err := strconv.QuotedPrefix(key)
	if err == nil {
		tenant, err = strconv.Unquote(q)
	}
	rest, ok := strings.CutPrefix(key[len(q):], "/")
	if err != nil || !ok || rest == "" || tenant == "" {
		return "", "", fmt.Errorf("connections: %q is not a connection token key", key)
	}
	return tenant, rest, nil
}

// TokenStore is the store as an oauth.TokenStore, keyed by TokenKey.
type TokenStore struct{ st store.Store }

var _ oauth.TokenStore = (*TokenStore)(nil)

// NewTokenStore adapts a store for oauth.Options.Tokens.
func NewTokenStore(st store.Store) *TokenStore { return &TokenStore{st: st} }

func (ts *TokenStore) tenant(key string) (store.TenantStore, string, error) {
	tenant, id, err := ParseTokenKey(key)
	if err != nil {
		return nil, "", err
	}
	return ts.st.Tenant(tenant), id, nil
}

// LoadToken returns the connection's token, nil when it has none.
func (ts *TokenStore) LoadToken(ctx context.Context, key string) (*oauth.Token, error) {
	t, id, err := ts.tenant(key)
	if err != nil {
		return nil, err
	}
	c, err := t.Connections().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return fromStoreToken(c.Token), nil
}

// SaveToken replaces the connection's token. The connection's state is
// left as it is: a refresh proves the grant, not the API.
func (ts *TokenStore) SaveToken(ctx context.Context, key string, tok *oauth.Token) error {
	t, id, err := ts.tenant(key)
	if err != nil {
		return err
	}
	_, err = t.Connections().Update(ctx, id, func(c *store.Connection) error {
		c.Token = toStoreToken(tok, c.Token)
		return nil
	})
	return err
}

// WithLock holds the connection's lock (across replicas on PostgreSQL).
func (ts *TokenStore) WithLock(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	t, id, err := ts.tenant(key)
	if err != nil {
		return err
	}
	return t.WithConnectionLock(ctx, id, fn)
}

// MarkDisconnected sets the state disconnected with the reason, and
// enqueues connection.disconnected in the same transaction (unless the
// connection was disconnected already).
func (ts *TokenStore) MarkDisconnected(ctx context.Context, key string, reason string) error {
	t, id, err := ts.tenant(key)
	if err != nil {
		return err
	}
	_, err = setState(ctx, t, id, time.Time{}, func(c *store.Connection) string {
		if c.State == store.Disconnected {
			return ""
		}
		c.State, c.LastError = store.Disconnected, reason
		return EventDisconnected
	})
	return err
}

// StateStore is the store as an oauth.StateStore.
type StateStore struct{ st store.Store }

var _ oauth.StateStore = (*StateStore)(nil)

// NewStateStore adapts a store for oauth.Options.States.
func NewStateStore(st store.Store) *StateStore { return &StateStore{st: st} }

func (ss *StateStore) SaveState(ctx context.Context, state string, data []byte, expiresAt time.Time) error {
	return ss.st.SaveState(ctx, state, data, expiresAt)
}

// TakeState maps the store's not-found (unknown, taken or expired) to
// oauth.ErrStateNotFound.
func (ss *StateStore) TakeState(ctx context.Context, state string) ([]byte, error) {
	b, err := ss.st.TakeState(ctx, state)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.ErrStateNotFound
	}
	return b, err
}

// issuedAtKey keeps oauth.Token.IssuedAt, which store.Token has no field
// for, in Extra: the refresh margin is a share of the token's lifetime.
const issuedAtKey = "membrane:issuedAt"

// toStoreToken converts a token to its stored form, keeping the extra
// fields the previous one had (instance_url...), which a refresh response
// does not repeat.
func toStoreToken(t *oauth.Token, prev *store.Token) *store.Token {
	if t == nil {
		return nil
	}
	out := &store.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		Expiry: t.Expiry, Scopes: strings.Fields(t.Scope)}
	if prev != nil && len(prev.Extra) > 0 {
		out.Extra = maps.Clone(prev.Extra)
	}
	delete(out.Extra, issuedAtKey)
	if !t.IssuedAt.IsZero() {
		if out.Extra == nil {
			out.Extra = map[string]any{}
		}
		out.Extra[issuedAtKey] = t.IssuedAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func fromStoreToken(t *store.Token) *oauth.Token {
	if t == nil {
		return nil
	}
	out := &oauth.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		Expiry: t.Expiry, Scope: strings.Join(t.Scopes, " ")}
	if s, ok := t.Extra[issuedAtKey].(string); ok {
		out.IssuedAt, _ = time.Parse(time.RFC3339Nano, s)
	}
	return out
}

// errNoChange ends an Update that has nothing to write.
var errNoChange = errors.New("no change")

// setState runs change on the connection inside one transaction, with the
// event it names (none when it returns ""); a change that returns "" and
// leaves the state and error as they were writes nothing. at is the
// event's time (zero: the store's clock). It returns the connection as it
// stands.
func setState(ctx context.Context, t store.TenantStore, id string, at time.Time, change func(c *store.Connection) string) (*store.Connection, error) {
	var out *store.Connection
	err := t.Tx(ctx, func(tx store.TenantStore) error {
		var event string
		c, err := tx.Connections().Update(ctx, id, func(c *store.Connection) error {
			state, lastErr := c.State, c.LastError
			before := *c
			event = change(c)
			if event == "" && c.State == state && c.LastError == lastErr && sameSecrets(&before, c) && reflect.DeepEqual(before.Info, c.Info) {
				out = c
				return errNoChange
			}
			return nil
		})
		if err != nil {
			return err
		}
		out = c
		if event == "" {
			return nil
		}
		return enqueueEvent(ctx, tx, event, c, at)
	})
	if errors.Is(err, errNoChange) {
		return out, nil
	}
	return out, err
}

func enqueueEvent(ctx context.Context, tx store.TenantStore, typ string, c *store.Connection, at time.Time) error {
	b, err := json.Marshal(EventPayload{ConnectionID: c.ID, Tenant: c.Tenant, Connector: c.Connector, Name: c.Name,
		State: c.State, LastError: c.LastError, Version: c.Version})
	if err != nil {
		return err
	}
	return tx.Outbox().Enqueue(ctx, store.Event{Type: typ, Connector: c.Connector, ConnectionID: c.ID, Payload: b, CreatedAt: at})
}
