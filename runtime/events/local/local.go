// Package local runs events outside the server: one connection and its
// subscriptions in a SQLite store of their own (a throwaway one, or one
// kept in a directory between runs), polled through the real poller so
// that cursors, record hashes, baselines and the outbox behave as on the
// server. `membrane poll` and `membrane test` use it.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

// Store is a SQLite store holding the subscriptions of local polls.
type Store struct {
	st   store.Store
	temp string // removed by Close; "" for a kept directory
	// seen holds the ids of the changes enqueued through this Store: the
	// outbox skips an id it holds, so Poll leaves it out.
	mu   sync.Mutex
	seen map[string]bool
}

// Open opens the store kept in dir (created if missing), so that a poll
// continues from the last one's state; with dir "" it opens a throwaway
// store in a temporary directory, removed by Close. A kept store seals
// credentials with a development key of its own in dir.
func Open(ctx context.Context, dir string) (*Store, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := []store.Option{store.WithLogger(quiet)}
	s := &Store{}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "membrane-events-")
		if err != nil {
			return nil, fmt.Errorf("events: cannot make a temporary directory for the poll's store: %w", err)
		}
		s.temp, dir = tmp, tmp
		keys, err := crypt.New(crypt.Generate())
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, err
		}
		opts = append(opts, store.WithKeyring(keys))
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("events: cannot make the state directory: %w", err)
		}
		keys, err := crypt.DevKeyring(dir, quiet)
		if err != nil {
			return nil, fmt.Errorf("events: the state directory's key: %w", err)
		}
		opts = append(opts, store.WithKeyring(keys))
	}
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "events.db"), opts...)
	if err != nil {
		if s.temp != "" {
			_ = os.RemoveAll(s.temp)
		}
		return nil, err
	}
	s.st = st
	return s, nil
}

// Close closes the store and removes a throwaway one.
func (s *Store) Close() error {
	err := s.st.Close()
	if s.temp != "" {
		err = errors.Join(err, os.RemoveAll(s.temp))
	}
	return err
}

// Connection is the connection a subscription polls on.
type Connection struct {
	Tenant, ID, Connector, Name string
	Parameters, Credentials     map[string]any
}

// Subscribe returns the subscription of conn to event, creating the
// tenant, the connection and the subscription the first time; the
// connection's credentials and parameters are brought up to date.
func (s *Store) Subscribe(ctx context.Context, conn Connection, event string) (*store.Subscription, error) {
	if _, err := s.st.EnsureTenant(ctx, conn.Tenant); err != nil {
		return nil, err
	}
	ts := s.st.Tenant(conn.Tenant)
	_, err := ts.Connections().Get(ctx, conn.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = ts.Connections().Create(ctx, store.Connection{
			ID: conn.ID, Tenant: conn.Tenant, Connector: conn.Connector, Name: conn.Name,
			State: store.Connected, Parameters: conn.Parameters, Credentials: conn.Credentials,
		})
	case err == nil:
		_, err = ts.Connections().Update(ctx, conn.ID, func(c *store.Connection) error {
			c.Parameters, c.Credentials = conn.Parameters, conn.Credentials
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	page, err := ts.Subscriptions().List(ctx, store.SubscriptionFilter{ConnectionID: conn.ID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, sub := range page.Items {
		if sub.Event == event {
			return sub, nil
		}
	}
	return ts.Subscriptions().Create(ctx, store.Subscription{
		Tenant: conn.Tenant, ConnectionID: conn.ID, Connector: conn.Connector, Event: event,
		Status: store.SubscriptionActive,
	})
}

// SetBaselined marks a subscription's baseline as taken (or not), so that
// its next poll emits what it sees (or only records it).
func (s *Store) SetBaselined(ctx context.Context, sub *store.Subscription, baselined bool) error {
	updated, err := s.st.Tenant(sub.Tenant).Subscriptions().Update(ctx, sub.ID, func(x *store.Subscription) error {
		x.Baselined = baselined
		return nil
	})
	if err == nil {
		*sub = *updated
	}
	return err
}

// Poll runs one poll of sub with p and returns its result and the changes
// it enqueued into the outbox, in the order it enqueued them. A change
// whose id an earlier poll through this Store enqueued is left out: the
// outbox skips it.
func (s *Store) Poll(ctx context.Context, p *events.Poller, req events.PollRequest) (*events.PollResult, []events.Payload, error) {
	rec := &recording{s: s}
	req.Store = recorder{TenantStore: s.st.Tenant(req.Subscription.Tenant), rec: rec}
	res, err := p.Poll(ctx, req)
	out := make([]events.Payload, 0, len(rec.committed))
	for _, e := range rec.committed {
		var pl events.Payload
		if jerr := json.Unmarshal(e.Payload, &pl); jerr != nil {
			return res, out, fmt.Errorf("events: an outbox payload is not JSON: %w", jerr)
		}
		out = append(out, pl)
	}
	return res, out, err
}

// recording keeps the outbox entries of committed transactions.
type recording struct {
	s         *Store
	committed []store.Event
}

// recorder is a tenant store whose outbox entries are recorded once their
// transaction commits.
type recorder struct {
	store.TenantStore
	rec *recording
	// pending holds the entries of the transaction under way; nil outside
	// one.
	pending *[]store.Event
}

func (r recorder) Outbox() store.TenantOutbox {
	return recOutbox{TenantOutbox: r.TenantStore.Outbox(), r: r}
}

func (r recorder) Tx(ctx context.Context, fn func(tx store.TenantStore) error) error {
	var mine []store.Event
	err := r.TenantStore.Tx(ctx, func(tx store.TenantStore) error {
		return fn(recorder{TenantStore: tx, rec: r.rec, pending: &mine})
	})
	if err != nil {
		return err
	}
	if r.pending != nil { // a savepoint: its entries commit with the outer transaction
		*r.pending = append(*r.pending, mine...)
		return nil
	}
	r.rec.commit(mine)
	return nil
}

func (rec *recording) commit(evs []store.Event) {
	s := rec.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, e := range evs {
		if !s.seen[e.ID] {
			s.seen[e.ID] = true
			rec.committed = append(rec.committed, e)
		}
	}
}

type recOutbox struct {
	store.TenantOutbox
	r recorder
}

func (o recOutbox) Enqueue(ctx context.Context, evs ...store.Event) error {
	if err := o.TenantOutbox.Enqueue(ctx, evs...); err != nil {
		return err
	}
	if o.r.pending != nil {
		*o.r.pending = append(*o.r.pending, evs...)
	} else {
		o.r.rec.commit(evs)
	}
	return nil
}
