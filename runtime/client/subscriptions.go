package client

import (
	"context"
	"net/url"
)

// ListSubscriptions pages through a connection's subscriptions, oldest
// first.
func (c *Client) ListSubscriptions(ctx context.Context, connectionID, cursor string, limit int) (*Page[Subscription], error) {
	var out Page[Subscription]
	_, err := c.call(ctx, "GET", subscriptionsPath(connectionID), paging(url.Values{}, cursor, limit), nil, nil, &out)
	return pageOrNil(&out, err)
}

// Subscribe subscribes a connection to an event of its connector. A
// webhook event is registered at the app before it returns; a refusal is
// a *Problem of kind "subscribe-failed" and nothing is kept.
func (c *Client) Subscribe(ctx context.Context, connectionID string, r SubscribeRequest) (*Subscription, error) {
	var out Subscription
	_, err := c.call(ctx, "POST", subscriptionsPath(connectionID), nil, nil, r, &out)
	return orNil(&out, err)
}

// GetSubscription returns one subscription of a connection.
func (c *Client) GetSubscription(ctx context.Context, connectionID, id string) (*Subscription, error) {
	var out Subscription
	_, err := c.call(ctx, "GET", subscriptionsPath(connectionID)+"/"+esc(id), nil, nil, nil, &out)
	return orNil(&out, err)
}

// DeleteSubscription removes the subscription's webhook at the app, then
// the subscription. When the app refuses, the subscription is kept and
// the error is a *Problem of kind "unsubscribe-failed"; force deletes it
// anyway.
func (c *Client) DeleteSubscription(ctx context.Context, connectionID, id string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	_, err := c.call(ctx, "DELETE", subscriptionsPath(connectionID)+"/"+esc(id), q, nil, nil, nil)
	return err
}

// PauseSubscription stops polling a subscription and ignores the app's
// pushes for it until it is resumed.
func (c *Client) PauseSubscription(ctx context.Context, connectionID, id string) (*Subscription, error) {
	var out Subscription
	_, err := c.call(ctx, "POST", subscriptionsPath(connectionID)+"/"+esc(id)+"/pause", nil, nil, nil, &out)
	return orNil(&out, err)
}

// ResumeSubscription runs a paused subscription again; a polled one is due
// at once.
func (c *Client) ResumeSubscription(ctx context.Context, connectionID, id string) (*Subscription, error) {
	var out Subscription
	_, err := c.call(ctx, "POST", subscriptionsPath(connectionID)+"/"+esc(id)+"/resume", nil, nil, nil, &out)
	return orNil(&out, err)
}

func subscriptionsPath(connectionID string) string {
	return "/v1/connections/" + esc(connectionID) + "/subscriptions"
}
