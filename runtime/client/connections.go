package client

import (
	"context"
	"net/url"
)

// ListConnections pages through the tenant's connections, oldest first.
func (c *Client) ListConnections(ctx context.Context, f ConnectionFilter) (*Page[Connection], error) {
	q := url.Values{}
	set(q, "connector", f.Connector)
	var out Page[Connection]
	_, err := c.call(ctx, "GET", "/v1/connections", paging(q, f.Cursor, f.Limit), nil, nil, &out)
	return pageOrNil(&out, err)
}

// CreateConnection checks the credentials with the connector's test
// request and saves the connection. With r.IdempotencyKey a retry is
// safe.
func (c *Client) CreateConnection(ctx context.Context, r CreateConnectionRequest) (*Connection, error) {
	var out Connection
	_, err := c.call(ctx, "POST", "/v1/connections", nil, idempotencyHeader(r.IdempotencyKey), r, &out)
	return orNil(&out, err)
}

// GetConnection returns one connection.
func (c *Client) GetConnection(ctx context.Context, id string) (*Connection, error) {
	var out Connection
	_, err := c.call(ctx, "GET", "/v1/connections/"+esc(id), nil, nil, nil, &out)
	return orNil(&out, err)
}

// DeleteConnection deletes a connection and its stored overrides.
func (c *Client) DeleteConnection(ctx context.Context, id string) error {
	_, err := c.call(ctx, "DELETE", "/v1/connections/"+esc(id), nil, nil, nil, nil)
	return err
}

// TestConnection sends the connector's test request; a refusal is a
// result with OK false, not an error.
func (c *Client) TestConnection(ctx context.Context, id string) (*TestResult, error) {
	var out TestResult
	_, err := c.call(ctx, "POST", "/v1/connections/"+esc(id)+"/test", nil, nil, nil, &out)
	return orNil(&out, err)
}

// Reconnect replaces a connection's credentials once the API accepts them.
func (c *Client) Reconnect(ctx context.Context, id string, credentials map[string]any) (*Connection, error) {
	var out Connection
	body := struct {
		Credentials map[string]any `json:"credentials"`
	}{credentials}
	_, err := c.call(ctx, "POST", "/v1/connections/"+esc(id)+"/reconnect", nil, nil, body, &out)
	return orNil(&out, err)
}

// AuthorizeOAuth returns the link to send the user's browser to: the
// server's connect page, which goes on to the provider's consent page.
func (c *Client) AuthorizeOAuth(ctx context.Context, r AuthorizeRequest) (string, error) {
	var out struct {
		AuthorizationURL string `json:"authorizationUrl"`
	}
	_, err := c.call(ctx, "POST", "/v1/oauth/authorize", nil, nil, r, &out)
	return out.AuthorizationURL, err
}

func orNil[T any](v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func pageOrNil[T any](p *Page[T], err error) (*Page[T], error) {
	if err != nil {
		return nil, err
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, nil
}
