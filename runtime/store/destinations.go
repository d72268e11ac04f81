package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// FileDestinationPrefix starts the id of every membrane.yaml destination:
// "file:<name>".
const FileDestinationPrefix = "file:"

const destinationColumns = `id, source, name, kind, url, subject, secret, previous_secret, previous_until, event_types, connectors, tenants,
	concurrency, timeout_us, status, disabled_reason, disabled_at, failing_since, version, created_at, updated_at`

func destAAD(id, column string) []byte { return []byte("membrane/destinations/" + id + "/" + column) }

var destinationsSealed = sealedTable{table: "destinations", what: "destination", cols: [2]string{"secret", "previous_secret"},
	where: "AND secret_kid <> ''", aad: destAAD}

type destinations struct{ s *sqlStore }

func (s *sqlStore) Destinations() Destinations { return destinations{s} }

// scanDestination reads a row and opens its secrets.
func (s *sqlStore) scanDestination(row scanner) (*Destination, error) {
	var d Destination
	var secret, previous []byte
	var until, disabled, failing *int64
	var types, connectors, tenants string
	var timeout, created, updated int64
	if err := row.Scan(&d.ID, &d.Source, &d.Name, &d.Kind, &d.URL, &d.Subject, &secret, &previous, &until, &types, &connectors, &tenants,
		&d.Concurrency, &timeout, &d.Status, &d.DisabledReason, &disabled, &failing, &d.Version, &created, &updated); err != nil {
		return nil, err
	}
	d.PreviousUntil, d.DisabledAt, d.FailingSince = fromOptMicros(until), fromOptMicros(disabled), fromOptMicros(failing)
	d.Timeout, d.CreatedAt, d.UpdatedAt = time.Duration(timeout)*time.Microsecond, fromMicros(created), fromMicros(updated)
	for _, f := range []struct {
		text string
		to   *[]string
	}{{types, &d.EventTypes}, {connectors, &d.Connectors}, {tenants, &d.Tenants}} {
		if err := json.Unmarshal([]byte(f.text), f.to); err != nil {
			return nil, fmt.Errorf("destination %q: a stored list is not JSON: %w", d.ID, err)
		}
		if len(*f.to) == 0 {
			*f.to = nil
		}
	}
	for _, v := range []struct {
		sealed []byte
		col    string
		to     *string
	}{{secret, "secret", &d.Secret}, {previous, "previous_secret", &d.PreviousSecret}} {
		if v.sealed == nil {
			continue
		}
		b, err := s.open(v.sealed, destAAD(d.ID, v.col), strings.ReplaceAll(v.col, "_", " ")+" of destination "+quote(d.ID))
		if err != nil {
			return nil, err
		}
		*v.to = string(b)
	}
	return &d, nil
}

// checkDestination validates what the store relies on; the API and the
// config check the rest (URL schemes, patterns) with better messages.
func checkDestination(d *Destination) error {
	var errs []error
	if err := checkKey("destination name", d.Name); err != nil {
		errs = append(errs, err)
	}
	switch d.Kind {
	case DestinationWebhook:
	case DestinationNATS:
		if d.Subject == "" {
			errs = append(errs, fmt.Errorf("%w: destination %q: a NATS destination needs a subject", ErrInvalid, d.Name))
		}
	default:
		errs = append(errs, fmt.Errorf("%w: destination %q: kind %q is not %q or %q", ErrInvalid, d.Name, d.Kind, DestinationWebhook, DestinationNATS))
	}
	if d.URL == "" {
		errs = append(errs, fmt.Errorf("%w: destination %q has no URL", ErrInvalid, d.Name))
	}
	if d.Status != DestinationActive && d.Status != DestinationDisabled {
		errs = append(errs, fmt.Errorf("%w: destination %q: status %q is not %q or %q", ErrInvalid, d.Name, d.Status, DestinationActive, DestinationDisabled))
	}
	if d.Concurrency < 0 || d.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%w: destination %q: negative concurrency or timeout", ErrInvalid, d.Name))
	}
	return errors.Join(errs...)
}

func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// sealDestination seals the secrets of d with the current key: the
// values and key id to store.
func (s *sqlStore) sealDestination(d *Destination) (secret, previous []byte, kid string) {
	if d.Secret != "" {
		secret = s.keys.Seal([]byte(d.Secret), destAAD(d.ID, "secret"))
	}
	if d.PreviousSecret != "" {
		previous = s.keys.Seal([]byte(d.PreviousSecret), destAAD(d.ID, "previous_secret"))
	}
	if secret != nil || previous != nil {
		kid = s.keys.CurrentID()
	}
	return secret, previous, kid
}

func (s *sqlStore) insertDestination(ctx context.Context, tx sqldb.Tx, d *Destination) error {
	secret, previous, kid := s.sealDestination(d)
	_, err := tx.Exec(ctx, `INSERT INTO destinations (id, source, name, kind, url, subject, secret, previous_secret, secret_kid, previous_until,
			event_types, connectors, tenants, concurrency, timeout_us, status, disabled_reason, disabled_at, failing_since, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		d.ID, d.Source, d.Name, d.Kind, d.URL, d.Subject, secret, previous, kid, optMicros(d.PreviousUntil),
		jsonList(d.EventTypes), jsonList(d.Connectors), jsonList(d.Tenants), d.Concurrency, d.Timeout.Microseconds(),
		d.Status, d.DisabledReason, optMicros(d.DisabledAt), optMicros(d.FailingSince), d.Version, micros(d.CreatedAt), micros(d.UpdatedAt))
	if err != nil && s.e.Classify(err) == sqldb.Unique {
		return fmt.Errorf("destination %q (name %q): %w: the id or the name is taken", d.ID, d.Name, ErrConflict)
	}
	return err
}

func (s *sqlStore) updateDestination(ctx context.Context, tx sqldb.Tx, d *Destination) error {
	secret, previous, kid := s.sealDestination(d)
	_, err := tx.Exec(ctx, `UPDATE destinations SET name = $1, kind = $2, url = $3, subject = $4, secret = $5, previous_secret = $6, secret_kid = $7,
			previous_until = $8, event_types = $9, connectors = $10, tenants = $11, concurrency = $12, timeout_us = $13, status = $14,
			disabled_reason = $15, disabled_at = $16, failing_since = $17, version = $18, updated_at = $19
		WHERE id = $20`,
		d.Name, d.Kind, d.URL, d.Subject, secret, previous, kid, optMicros(d.PreviousUntil),
		jsonList(d.EventTypes), jsonList(d.Connectors), jsonList(d.Tenants), d.Concurrency, d.Timeout.Microseconds(),
		d.Status, d.DisabledReason, optMicros(d.DisabledAt), optMicros(d.FailingSince), d.Version, micros(d.UpdatedAt), d.ID)
	if err != nil && s.e.Classify(err) == sqldb.Unique {
		return fmt.Errorf("destination %q: %w: the name %q is taken", d.ID, ErrConflict, d.Name)
	}
	return err
}

func (ds destinations) Create(ctx context.Context, d Destination) (*Destination, error) {
	s := ds.s
	if d.ID == "" {
		d.ID = newID("dst")
	} else if err := checkKey("destination id", d.ID); err != nil {
		return nil, err
	} else if strings.HasPrefix(d.ID, FileDestinationPrefix) {
		return nil, fmt.Errorf("%w: destination id %q: ids starting with %q are membrane.yaml's", ErrInvalid, d.ID, FileDestinationPrefix)
	}
	d.Source = SourceAPI
	if d.Status == "" {
		d.Status = DestinationActive
	}
	if err := checkDestination(&d); err != nil {
		return nil, err
	}
	now := s.clock()
	d.Version, d.CreatedAt, d.UpdatedAt = 1, now, now
	err := s.root().write(ctx, func(tx sqldb.Tx) error { return s.insertDestination(ctx, tx, &d) })
	if err != nil {
		return nil, wrap("create destination", err)
	}
	return &d, nil
}

func (ds destinations) get(ctx context.Context, q sqldb.Querier, id string, lock bool) (*Destination, error) {
	query := `SELECT ` + destinationColumns + ` FROM destinations WHERE id = $1`
	if lock {
		query += ds.s.e.ForUpdate
	}
	d, err := ds.s.scanDestination(q.QueryRow(ctx, query, id))
	if errors.Is(err, sqldb.ErrNoRows) {
		return nil, fmt.Errorf("destination %q: %w", id, ErrNotFound)
	}
	return d, err
}

func (ds destinations) Get(ctx context.Context, id string) (*Destination, error) {
	d, err := ds.get(ctx, ds.s.e.DB, id, false)
	return d, wrap(fmt.Sprintf("get destination %q", id), err)
}

func (ds destinations) List(ctx context.Context, cursorText string, limit int) (Page[*Destination], error) {
	var page Page[*Destination]
	limit, cur, after, err := pageRequest(limit, cursorText)
	if err != nil {
		return page, err
	}
	q, args := `SELECT `+destinationColumns+` FROM destinations`, []any{}
	if after {
		q, args = q+` WHERE (created_at, id) > ($1, $2)`, append(args, cur.T, cur.ID)
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d`, len(args))
	return queryPage(ctx, ds.s.e.DB, "list destinations", limit, ds.s.scanDestination,
		func(d *Destination) cursor { return cursor{T: micros(d.CreatedAt), ID: d.ID} }, q, args...)
}

func (ds destinations) Update(ctx context.Context, id string, fn func(d *Destination) error) (*Destination, error) {
	s := ds.s
	var out *Destination
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		cur, err := ds.get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		d := *cur
		d.EventTypes, d.Connectors, d.Tenants = slices.Clone(cur.EventTypes), slices.Clone(cur.Connectors), slices.Clone(cur.Tenants)
		if err := fn(&d); err != nil {
			return err
		}
		d.ID, d.Source, d.CreatedAt = cur.ID, cur.Source, cur.CreatedAt
		if err := checkDestination(&d); err != nil {
			return err
		}
		d.Version, d.UpdatedAt = cur.Version+1, s.clock()
		if err := s.updateDestination(ctx, tx, &d); err != nil {
			return err
		}
		out = &d
		return nil
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("update destination %q", id), err)
	}
	return out, nil
}

func (ds destinations) Delete(ctx context.Context, id string) error {
	err := ds.s.root().write(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM destinations WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("destination %q: %w", id, ErrNotFound)
		}
		return err
	})
	return wrap(fmt.Sprintf("delete destination %q", id), err)
}

// sameDefinition: a and b send the same events to the same place the same
// way (the status and health aside).
func sameDefinition(a, b *Destination) bool {
	return a.Name == b.Name && a.Kind == b.Kind && a.URL == b.URL && a.Subject == b.Subject &&
		slices.Equal(a.EventTypes, b.EventTypes) && slices.Equal(a.Connectors, b.Connectors) && slices.Equal(a.Tenants, b.Tenants) &&
		a.Concurrency == b.Concurrency && a.Timeout == b.Timeout && a.Secret == b.Secret && a.PreviousSecret == b.PreviousSecret &&
		a.PreviousUntil.Equal(b.PreviousUntil)
}

func (ds destinations) Sync(ctx context.Context, want []Destination) error {
	s := ds.s
	var errs []error
	ids := map[string]bool{}
	for i := range want {
		d := &want[i]
		if d.ID == "" {
			d.ID = FileDestinationPrefix + d.Name
		}
		if !strings.HasPrefix(d.ID, FileDestinationPrefix) {
			errs = append(errs, fmt.Errorf("%w: file destination %q: its id %q does not start with %q", ErrInvalid, d.Name, d.ID, FileDestinationPrefix))
		}
		if ids[d.ID] {
			errs = append(errs, fmt.Errorf("%w: file destination %q is given twice", ErrInvalid, d.ID))
		}
		ids[d.ID] = true
		d.Source = SourceFile
		if d.Status == "" {
			d.Status = DestinationActive
		}
		if err := checkDestination(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	now := s.clock()
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		have, err := queryAll(ctx, tx, s.scanDestination, `SELECT `+destinationColumns+` FROM destinations WHERE source = 'file' ORDER BY id`+s.e.ForUpdate)
		if err != nil {
			return err
		}
		byID := map[string]*Destination{}
		for _, d := range have {
			byID[d.ID] = d
			if !ids[d.ID] {
				if _, err := tx.Exec(ctx, `DELETE FROM destinations WHERE id = $1`, d.ID); err != nil {
					return fmt.Errorf("destination %q: %w", d.ID, err)
				}
			}
		}
		for i := range want {
			d := want[i]
			cur := byID[d.ID]
			switch {
			case cur == nil:
				d.Version, d.CreatedAt, d.UpdatedAt = 1, now, now
				if err := s.insertDestination(ctx, tx, &d); err != nil {
					return err
				}
			case sameDefinition(cur, &d):
				// Kept as it stands: disabled stays disabled, failing
				// stays failing.
			default:
				d.Version, d.CreatedAt, d.UpdatedAt = cur.Version+1, cur.CreatedAt, now
				d.DisabledReason, d.DisabledAt, d.FailingSince = "", time.Time{}, time.Time{}
				if err := s.updateDestination(ctx, tx, &d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return wrap("sync file destinations", err)
}
