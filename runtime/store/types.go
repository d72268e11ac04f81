package store

import (
	"encoding/json"
	"time"
)

// ConnectionState is where a connection stands.
type ConnectionState string

// Connection states.
const (
	// Connected: the last use or refresh worked.
	Connected ConnectionState = "connected"
	// Errored: the last use failed in a way that may pass (the API was
	// down); LastError says how.
	Errored ConnectionState = "error"
	// Disconnected: a human must authorise again (a refresh token revoked).
	Disconnected ConnectionState = "disconnected"
)

func (s ConnectionState) valid() bool {
	return s == Connected || s == Errored || s == Disconnected
}

// Connection is one tenant's authenticated link to an app.
type Connection struct {
	// ID is assigned by Create ("conn_" and 20 base32 characters) unless
	// the caller sets one.
	ID        string `json:"id"`
	Tenant    string `json:"tenant"`
	Connector string `json:"connector"`
	Name      string `json:"name,omitempty"`
	// AuthMode is the connector's auth mode the connection was created
	// with, by key; "" is the connector's first (or only) one. It never
	// changes: another mode is another connection.
	AuthMode  string          `json:"authMode,omitempty"`
	State     ConnectionState `json:"state"`
	LastError string          `json:"lastError,omitempty"`
	// Parameters given when connecting (a subdomain); not secret.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Credentials for API-key, basic and custom auth. Sealed at rest.
	Credentials map[string]any `json:"-"`
	// Token of OAuth2 connections. Sealed at rest.
	Token *Token `json:"-"`
	// Info the connection learnt about its account.
	Info      map[string]any `json:"info,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
	// Version counts the changes of the connection, starting at 1. Compare
	// it inside Update to refuse a change based on a stale read.
	Version int64 `json:"version"`
}

// Token is an OAuth2 token. Its JSON form is what gets sealed.
type Token struct {
	AccessToken  string    `json:"accessToken"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	TokenType    string    `json:"tokenType,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
	// Extra keeps the token response's other fields (id_token,
	// instance_url, …).
	Extra map[string]any `json:"extra,omitempty"`
}

// IdempotencyRecord is an idempotency key as stored: a claim in flight
// (Status 0) or the answer of its request.
type IdempotencyRecord struct {
	Key         string
	Fingerprint string
	// Owner is the claim's holder; compare it to the Owner Claim gave.
	Owner string
	IdempotentResponse
	// LockedUntil is when a claim in flight lapses unless renewed.
	LockedUntil time.Time
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

// IdempotentResponse is the answer kept for an idempotency key: an HTTP
// status, the few headers that describe the body, and the body.
type IdempotentResponse struct {
	Status int
	Header map[string]string
	Body   []byte
}

// Tenant is a customer of the workspace: a key the user chooses.
type Tenant struct {
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
}

// Override is a ConnectionOverride stored through the API: a YAML or JSON
// document, kept as given.
type Override struct {
	Tenant    string `json:"tenant"`
	Connector string `json:"connector"`
	// ConnectionID is empty for the tenant-wide override of the connector.
	ConnectionID string `json:"connectionId,omitempty"`
	Doc          []byte `json:"-"`
	// Revision grows by one with every Put and never repeats, even after
	// a Delete. On Put, a non-zero Revision is a precondition: the stored
	// revision must equal it.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// RunLog records one action run. Entries are already redacted by the
// caller; the store keeps them as given.
type RunLog struct {
	ID           string `json:"id"`
	Tenant       string `json:"tenant"`
	ConnectionID string `json:"connectionId,omitempty"`
	Action       string `json:"action"`
	// Origin is the front end that asked for the run: api, mcp,
	// console, poll or webhook; empty for runs logged before origins
	// were kept.
	Origin     string          `json:"origin,omitempty"`
	Status     string          `json:"status"`
	Error      string          `json:"error,omitempty"`
	DurationMs int64           `json:"durationMs"`
	Entries    json.RawMessage `json:"entries,omitempty"`
	CreatedAt  time.Time       `json:"createdAt"`
	// RequestID is the id of the API request the run served (its
	// X-Request-Id), as in the server's log lines and the trace.
	RequestID string `json:"requestId,omitempty"`
}

// Event is an outbox entry: something to deliver to the user's backend.
type Event struct {
	// ID is stable and global (it becomes the webhook-id): enqueueing an ID
	// twice keeps the first, so a retried producer does not duplicate; an
	// ID of another tenant's event is ErrConflict. Derive stable ids from
	// the tenant, the connection and the source event. Empty gets a random
	// "evt_" id.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Type   string `json:"type"`
	// Connector and ConnectionID name where the event comes from, when it
	// concerns a connection: destinations filter on them and the delivered
	// envelope carries them.
	Connector    string          `json:"connector,omitempty"`
	ConnectionID string          `json:"connectionId,omitempty"`
	Payload      json.RawMessage `json:"payload"`
	CreatedAt    time.Time       `json:"createdAt"`
	// Seq is the event's place in the delivery log, increasing in commit
	// order across replicas: the cursor of the pull API and of the stream.
	// Zero until the event is routed.
	Seq int64 `json:"seq,omitempty"`
}

// WorkspaceTenant is the reserved tenant key of workspace-level events
// (endpoint.disabled): the admin's log sees them, no tenant ever does.
// Keys starting with "_" are reserved: ListTenants omits them.
const WorkspaceTenant = "_workspace"

// DeliveryStatus is where a delivery stands; an outbox entry (Delivery)
// is Pending until routed, then Routed.
type DeliveryStatus string

// Delivery statuses.
const (
	Pending   DeliveryStatus = "pending"
	Delivered DeliveryStatus = "delivered"
	Dead      DeliveryStatus = "dead"
	// Routed is an outbox entry in the log (Seq set): its deliveries, one
	// per destination, have their own status.
	Routed DeliveryStatus = "routed"
)

// Delivery is an outbox entry as TenantOutbox.Recent lists it: Status is
// Pending until the router gives it its Seq, then Routed.
type Delivery struct {
	Event
	Status DeliveryStatus `json:"status"`
}

// Destination kinds and sources.
const (
	DestinationWebhook = "webhook"
	DestinationNATS    = "nats"
	SourceFile         = "file"
	SourceAPI          = "api"
	// DestinationActive and DestinationDisabled are the statuses of a
	// destination: Claim never hands out a disabled one's deliveries.
	DestinationActive   = "active"
	DestinationDisabled = "disabled"
)

// Destination is where events go: a webhook endpoint or a NATS subject.
type Destination struct {
	// ID is "dst_…" for API-made destinations, "file:<name>" for those of
	// membrane.yaml.
	ID     string `json:"id"`
	Source string `json:"source"` // SourceFile | SourceAPI
	Name   string `json:"name"`
	Kind   string `json:"kind"` // DestinationWebhook | DestinationNATS
	// URL is the webhook URL, or the NATS server URL.
	URL     string `json:"url"`
	Subject string `json:"subject,omitempty"` // NATS subject
	// Secret signs webhooks ("whsec_…"); sealed at rest. Empty for file
	// destinations, whose secret the runtime reads from the environment.
	Secret string `json:"-"`
	// PreviousSecret still signs until PreviousUntil (a rotation's grace
	// period); sealed at rest.
	PreviousSecret string    `json:"-"`
	PreviousUntil  time.Time `json:"previousUntil,omitzero"`
	// EventTypes are patterns ("*", "connection.*",
	// "contact-changed.created"); empty matches every event.
	EventTypes []string `json:"eventTypes,omitempty"`
	Connectors []string `json:"connectors,omitempty"` // empty: all
	Tenants    []string `json:"tenants,omitempty"`    // empty: all
	// Concurrency is the deliveries in flight per replica; 0 is the
	// runtime's default.
	Concurrency int `json:"concurrency,omitempty"`
	// Timeout bounds an attempt; 0 is the runtime's default.
	Timeout        time.Duration `json:"timeout,omitempty"`
	Status         string        `json:"status"` // DestinationActive | DestinationDisabled
	DisabledReason string        `json:"disabledReason,omitempty"`
	DisabledAt     time.Time     `json:"disabledAt,omitzero"`
	// FailingSince is the first failed attempt since the last success;
	// zero when healthy.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// Version counts the changes of the destination, starting at 1.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// DeliveryTask is a claimed delivery: the event, where it goes, and the
// attempt this is (counting this one).
type DeliveryTask struct {
	Event
	Destination string `json:"destination"`
	Attempts    int    `json:"attempts"`
}

// DeliveryState is a delivery of an event to a destination.
type DeliveryState struct {
	EventID     string         `json:"eventId"`
	Destination string         `json:"destination"`
	Tenant      string         `json:"tenant"`
	Type        string         `json:"type"`
	Seq         int64          `json:"seq"`
	Status      DeliveryStatus `json:"status"`
	Attempts    int            `json:"attempts"`
	// NextAttemptAt is when a pending delivery is due; while claimed, the
	// end of the lease.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	LastStatus    int       `json:"lastStatus,omitempty"`
	// CreatedAt is the event's.
	CreatedAt   time.Time `json:"createdAt"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

// Attempt is one try at a delivery, as recorded.
type Attempt struct {
	EventID     string    `json:"eventId"`
	Destination string    `json:"destination"`
	Tenant      string    `json:"tenant"`
	Attempt     int       `json:"attempt"`
	At          time.Time `json:"at"`
	// Status is the HTTP status answered, 0 when there was none.
	Status  int           `json:"status,omitempty"`
	Latency time.Duration `json:"latency"`
	// Error is short and redacted; Excerpt is at most MaxExcerpt bytes of
	// the answer, redacted. The store cuts longer ones.
	Error   string `json:"error,omitempty"`
	Excerpt string `json:"excerpt,omitempty"`
}

// MaxExcerpt bounds Attempt.Excerpt.
const MaxExcerpt = 512

// Outcome is what an attempt leaves its delivery: delivered, dead, or
// pending again at Next.
type Outcome struct {
	Delivered bool
	Next      time.Time
	Dead      bool
}

// AttemptOutcome is one attempt and its outcome, for RecordBatch.
type AttemptOutcome struct {
	Attempt Attempt
	Outcome Outcome
}

// DeliveryFilter selects deliveries, oldest (lowest Seq) first; empty
// fields match everything. From and To bound the event's CreatedAt
// ([From, To)).
type DeliveryFilter struct {
	Tenant, Destination, EventID string
	Status                       DeliveryStatus
	From, To                     time.Time
	Cursor                       string
	Limit                        int
}

// AttemptFilter selects attempts, newest first.
type AttemptFilter struct {
	Tenant, Destination, EventID string
	Cursor                       string
	Limit                        int
}

// ReplayFilter selects deliveries to replay. EventID set: that event's
// deliveries (of Destination if set), dead or delivered. Otherwise
// Destination (required) and From/To (the event's CreatedAt, [From, To),
// zero: unbounded): its dead deliveries in range. Tenant narrows either.
type ReplayFilter struct {
	EventID, Destination, Tenant string
	From, To                     time.Time
}

// Page is one page of a listing. Next is an opaque cursor for the
// following page, empty on the last.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// ConnectionFilter selects connections to list, oldest first.
type ConnectionFilter struct {
	Connector string
	// Cursor is a Page.Next from the previous page.
	Cursor string
	// Limit is the page size: 1 to 1000, 0 means 50.
	Limit int
	// Secrets fills Credentials and Token. Listings feed UIs and lists,
	// which never need them, so by default they stay sealed.
	Secrets bool
}

// OverrideFilter selects overrides; empty fields match everything.
type OverrideFilter struct {
	Connector    string
	ConnectionID string
	Cursor       string
	Limit        int
}

// RunLogFilter selects run logs, newest first; empty fields match everything.
type RunLogFilter struct {
	ConnectionID string
	Action       string
	Origin       string
	Status       string
	RequestID    string
	Cursor       string
	Limit        int
}

// ExpiringToken names a connection whose OAuth2 token expires soon.
type ExpiringToken struct {
	ConnectionID string    `json:"connectionId"`
	Tenant       string    `json:"tenant"`
	Connector    string    `json:"connector"`
	Expiry       time.Time `json:"expiry"`
}

// ConnectionRef names a connection of some tenant, with when it last
// changed.
type ConnectionRef struct {
	ConnectionID string    `json:"connectionId"`
	Tenant       string    `json:"tenant"`
	Connector    string    `json:"connector"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// RotateResult counts what RotateKeys re-sealed.
type RotateResult struct {
	Connections   int `json:"connections"`
	States        int `json:"states"`
	Subscriptions int `json:"subscriptions"`
	Destinations  int `json:"destinations"`
}

// SubscriptionStatus says whether a subscription runs.
type SubscriptionStatus string

// Subscription statuses.
const (
	SubscriptionActive SubscriptionStatus = "active"
	SubscriptionPaused SubscriptionStatus = "paused"
)

func (s SubscriptionStatus) valid() bool { return s == SubscriptionActive || s == SubscriptionPaused }

// Subscription is (tenant, connection, event) with its detection state.
type Subscription struct {
	// ID is assigned by Create ("sub_" and 20 base32 characters) unless
	// the caller sets one.
	ID           string `json:"id"`
	Tenant       string `json:"tenant"`
	ConnectionID string `json:"connectionId"`
	// Connector is the connection's; Create fills it in.
	Connector string `json:"connector"`
	// Event is the key asked for: a connector event key or a universal key.
	Event  string             `json:"event"`
	Status SubscriptionStatus `json:"status"`
	// State is the event's `state` (cursor…) as JSON; opaque to the store.
	State json.RawMessage `json:"state,omitempty"`
	// Generation counts completed full scans (record hashes carry the
	// generation they were last seen in).
	Generation int64 `json:"generation"`
	// Baselined: the first poll took its baseline.
	Baselined bool `json:"baselined"`
	// Interval between polls; 0 is the event's default.
	Interval time.Duration `json:"interval"`
	// NextRunAt is when the next poll is due; zero for webhook-only
	// subscriptions, which Polls never claims.
	NextRunAt time.Time `json:"nextRunAt,omitzero"`
	LastRunAt time.Time `json:"lastRunAt,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	// Failures counts consecutive failed polls (backoff).
	Failures int `json:"failures"`
	// WebhookToken is the unguessable token of the subscription's own
	// webhook URL. Sealed at rest; found by SubscriptionByToken.
	WebhookToken string `json:"-"`
	// RouteKey is what a connector-wide webhook URL routes by (e.g. a
	// portal id), computed at subscribe time.
	RouteKey string `json:"-"`
	// Remote is what the app answered to subscribe (its id, a signing
	// secret): sealed at rest like credentials.
	Remote map[string]any `json:"-"`
	// RemoteExpiresAt is when the app's subscription must be renewed.
	RemoteExpiresAt time.Time `json:"remoteExpiresAt,omitzero"`
	// Version counts the changes of the subscription, starting at 1.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// SubscriptionFilter selects a tenant's subscriptions, oldest first.
type SubscriptionFilter struct {
	ConnectionID string
	Cursor       string
	Limit        int
}

// RecordHash is a record's id and the hash of its content.
type RecordHash struct {
	ID   string
	Hash string
}

// RecordSeen is what the store knew of a record before Mark.
type RecordSeen struct {
	ID string
	// Previous is the hash stored before, "" when the record was never seen.
	Previous string
}

// InboxEntry is a webhook request as received, kept until processed.
type InboxEntry struct {
	// ID is assigned by Append ("whk_" and 20 base32 characters).
	ID         string
	ReceivedAt time.Time
	Connector  string
	// Event is "" for a connector-wide URL: every webhook event of the
	// connector looks at it.
	Event string
	// SubscriptionID and Tenant are set for a per-subscription URL.
	SubscriptionID string
	Tenant         string
	Method, URL    string
	Headers        map[string][]string
	Body           []byte
	// Attempts counts the claims of the entry, this one included.
	Attempts  int
	LastError string
}
