package events

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// ChangeType is what happened to a record.
type ChangeType string

// Change types.
const (
	Created ChangeType = "created"
	Updated ChangeType = "updated"
	Deleted ChangeType = "deleted"
)

// Change is one detected change of one record.
type Change struct {
	Type     ChangeType
	RecordID string
	// Version tells two states of a record apart: the app's updatedAt when
	// the event gives it, else a hash of the raw record. A deletion's is
	// "deleted:" and the last hash, or the app's version.
	Version string
	// Record is the mapped record (the event's record mapping), validated
	// against the resolved record schema; nil for a deletion without data.
	Record any
}

var changeEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ChangeID is the stable id of a change: the same connection, event,
// record id and version always give the same id, so a retried poll or a
// duplicate push never becomes a second outbox entry (the outbox skips an
// id already enqueued). It is "chg_" and 26 base32 characters of a
// SHA-256 over the four parts.
func ChangeID(connectionID, event, recordID, version string) string {
	h := sha256.New()
	for _, p := range []string{connectionID, event, recordID, version} {
		// Length-prefixed so ("a","bc") and ("ab","c") differ.
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	return "chg_" + changeEncoding.EncodeToString(h.Sum(nil))[:26]
}

// Source says where changes were detected: it is what every outbox entry
// of a subscription carries besides the change itself.
type Source struct {
	Tenant       string
	ConnectionID string
	Connector    string
	// Event is the key the subscription asked for.
	Event string
	// TypeKey prefixes the outbox event type: the universal key when the
	// event implements one, else the connector's event key.
	TypeKey        string
	SubscriptionID string
}

// Payload is the JSON body of a change's outbox entry.
type Payload struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Tenant       string     `json:"tenant"`
	Connection   string     `json:"connection"`
	Connector    string     `json:"connector"`
	Event        string     `json:"event"`
	Subscription string     `json:"subscription,omitempty"`
	Change       ChangeType `json:"change"`
	RecordID     string     `json:"recordId"`
	DetectedAt   time.Time  `json:"detectedAt"`
	Record       any        `json:"record,omitempty"`
}

// OutboxEvent is the outbox entry of a change detected at detectedAt.
// Its id is ChangeID of the change, its type "<TypeKey>.<change>".
func (s Source) OutboxEvent(c Change, detectedAt time.Time) (store.Event, error) {
	key := s.TypeKey
	if key == "" {
		key = s.Event
	}
	id := ChangeID(s.ConnectionID, s.Event, c.RecordID, c.Version)
	typ := key + "." + string(c.Type)
	body, err := json.Marshal(Payload{
		ID: id, Type: typ, Tenant: s.Tenant, Connection: s.ConnectionID,
		Connector: s.Connector, Event: s.Event, Subscription: s.SubscriptionID,
		Change: c.Type, RecordID: c.RecordID, DetectedAt: detectedAt.UTC(), Record: c.Record,
	})
	if err != nil {
		return store.Event{}, fmt.Errorf("events: record %q of %s cannot be encoded as JSON: %w", c.RecordID, s.Event, err)
	}
	return store.Event{ID: id, Tenant: s.Tenant, Type: typ, Connector: s.Connector, ConnectionID: s.ConnectionID, Payload: body, CreatedAt: detectedAt}, nil
}

// OutboxEvents is OutboxEvent of each change.
func (s Source) OutboxEvents(cs []Change, detectedAt time.Time) ([]store.Event, error) {
	out := make([]store.Event, 0, len(cs))
	for _, c := range cs {
		e, err := s.OutboxEvent(c, detectedAt)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// DeletedVersion is the version of a deletion whose last known hash is
// hash (or the app's own version of the deleted record).
func DeletedVersion(hash string) string {
	return "deleted:" + strings.TrimPrefix(hash, "deleted:")
}
