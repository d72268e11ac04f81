package client

import (
	"context"
	"net/url"
	"time"
)

// ListDestinations pages through the workspace's destinations, oldest
// first (admin token). Secrets are never listed.
func (c *Client) ListDestinations(ctx context.Context, cursor string, limit int) (*Page[Destination], error) {
	var out Page[Destination]
	_, err := c.call(ctx, "GET", "/v1/destinations", paging(url.Values{}, cursor, limit), nil, nil, &out)
	return pageOrNil(&out, err)
}

// CreateDestination makes a destination (admin token). A webhook one is
// answered with its signing secret, shown this once.
func (c *Client) CreateDestination(ctx context.Context, r CreateDestinationRequest) (*DestinationWithSecret, error) {
	var out DestinationWithSecret
	_, err := c.call(ctx, "POST", "/v1/destinations", nil, nil, r, &out)
	return orNil(&out, err)
}

// GetDestination returns one destination, with its health (admin token).
func (c *Client) GetDestination(ctx context.Context, id string) (*Destination, error) {
	var out Destination
	_, err := c.call(ctx, "GET", destinationPath(id), nil, nil, nil, &out)
	return orNil(&out, err)
}

// UpdateDestination replaces each member p sets (admin token). A
// destination of membrane.yaml is a *Problem of kind "file-destination".
func (c *Client) UpdateDestination(ctx context.Context, id string, p DestinationPatch) (*Destination, error) {
	var out Destination
	_, err := c.call(ctx, "PATCH", destinationPath(id), nil, nil, p, &out)
	return orNil(&out, err)
}

// DeleteDestination deletes a destination and its pending deliveries
// (admin token).
func (c *Client) DeleteDestination(ctx context.Context, id string) error {
	_, err := c.call(ctx, "DELETE", destinationPath(id), nil, nil, nil, nil)
	return err
}

// RotateDestinationSecret gives a webhook destination a new signing
// secret, returned this once (admin token). The previous secret keeps
// signing for grace; a negative grace is the server's default (24h), zero
// stops the previous secret at once.
func (c *Client) RotateDestinationSecret(ctx context.Context, id string, grace time.Duration) (*DestinationWithSecret, error) {
	var in any = struct{}{}
	if grace >= 0 {
		in = map[string]string{"grace": grace.String()}
	}
	var out DestinationWithSecret
	_, err := c.call(ctx, "POST", destinationPath(id)+"/rotate-secret", nil, nil, in, &out)
	return orNil(&out, err)
}

// DisableDestination stops delivering to a destination until it is
// enabled; reason is shown with it (admin token).
func (c *Client) DisableDestination(ctx context.Context, id, reason string) (*Destination, error) {
	in := map[string]string{}
	if reason != "" {
		in["reason"] = reason
	}
	var out Destination
	_, err := c.call(ctx, "POST", destinationPath(id)+"/disable", nil, nil, in, &out)
	return orNil(&out, err)
}

// EnableDestination delivers to a disabled destination again, its
// failures forgotten (admin token).
func (c *Client) EnableDestination(ctx context.Context, id string) (*Destination, error) {
	var out Destination
	_, err := c.call(ctx, "POST", destinationPath(id)+"/enable", nil, nil, nil, &out)
	return orNil(&out, err)
}

func destinationPath(id string) string { return "/v1/destinations/" + esc(id) }

// DeliveryFilter narrows ListDeliveries; the zero filter lists every
// delivery.
type DeliveryFilter struct {
	Destination, Event, Tenant string
	// Status is pending, delivered or dead (the dead letters).
	Status string
	// From and To bound the events' creation time.
	From, To time.Time
	Cursor   string
	Limit    int
}

// ListDeliveries pages through the deliveries of events to destinations,
// oldest first (admin token).
func (c *Client) ListDeliveries(ctx context.Context, f DeliveryFilter) (*Page[Delivery], error) {
	q := paging(url.Values{}, f.Cursor, f.Limit)
	set(q, "destination", f.Destination)
	set(q, "event", f.Event)
	set(q, "tenant", f.Tenant)
	set(q, "status", f.Status)
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	var out Page[Delivery]
	_, err := c.call(ctx, "GET", "/v1/deliveries", q, nil, nil, &out)
	return pageOrNil(&out, err)
}

// AttemptFilter narrows ListAttempts.
type AttemptFilter struct {
	Event, Destination, Tenant string
	Cursor                     string
	Limit                      int
}

// ListAttempts pages through the delivery log, newest first (admin
// token).
func (c *Client) ListAttempts(ctx context.Context, f AttemptFilter) (*Page[Attempt], error) {
	q := paging(url.Values{}, f.Cursor, f.Limit)
	set(q, "event", f.Event)
	set(q, "destination", f.Destination)
	set(q, "tenant", f.Tenant)
	var out Page[Attempt]
	_, err := c.call(ctx, "GET", "/v1/deliveries/attempts", q, nil, nil, &out)
	return pageOrNil(&out, err)
}

// Replay delivers again what r names and returns how many deliveries are
// pending again (admin token). An event without deliveries is a *Problem
// of kind "not-found"; a range without dead deliveries one of kind
// "no-match".
func (c *Client) Replay(ctx context.Context, r ReplayRequest) (int64, error) {
	var out struct {
		Replayed int64 `json:"replayed"`
	}
	_, err := c.call(ctx, "POST", "/v1/deliveries/replay", nil, nil, r, &out)
	return out.Replayed, err
}
