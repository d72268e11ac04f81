// Package delivery takes events from the store's outbox to the user's
// backend: it routes each event to the destinations whose filters match,
// signs and sends webhooks (Standard Webhooks), retries with backoff,
// dead-letters what never arrives, and publishes to NATS JetStream.
package delivery

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// Envelope is what a backend receives for one event, whichever way it
// reads it: the body of a webhook, an item of GET /v1/events, the data of
// a stream message, a NATS message. ID is stable across retries and
// replays: it is the webhook-id a backend de-duplicates on.
type Envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Tenant     string          `json:"tenant"`
	Connection string          `json:"connection,omitempty"`
	Connector  string          `json:"connector,omitempty"`
	DetectedAt time.Time       `json:"detectedAt"`
	Data       json.RawMessage `json:"data"`
}

// EnvelopeOf wraps a stored event for delivery.
func EnvelopeOf(e *store.Event) Envelope {
	return Envelope{
		ID: e.ID, Type: e.Type, Tenant: e.Tenant,
		Connection: e.ConnectionID, Connector: e.Connector,
		DetectedAt: e.CreatedAt.UTC(), Data: e.Payload,
	}
}

// Encode is the envelope's JSON, the exact bytes that are signed.
func Encode(e *store.Event) ([]byte, error) {
	return json.Marshal(EnvelopeOf(e))
}

// Cursor is the opaque position of an event in the delivery log, as the
// pull API and the stream's Last-Event-ID carry it.
func Cursor(seq int64) string { return strconv.FormatInt(seq, 10) }

// ParseCursor reads a Cursor; the empty cursor is the log's start.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, &CursorError{Cursor: s}
	}
	return n, nil
}

// CursorError is a cursor that no listing handed out.
type CursorError struct{ Cursor string }

func (e *CursorError) Error() string {
	return "cursor " + strconv.Quote(e.Cursor) + " is not one this server handed out: use the cursor of an event it returned, or none to start from the oldest kept event"
}
