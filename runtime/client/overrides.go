package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
)

func connectionOverride(connID string) string { return "/v1/connections/" + esc(connID) + "/override" }
func connectorOverride(key string) string     { return "/v1/connectors/" + esc(key) + "/override" }

// GetConnectionOverride returns a connection's stored override.
func (c *Client) GetConnectionOverride(ctx context.Context, connID string) (*Override, error) {
	return c.getOverride(ctx, connectionOverride(connID))
}

// PutConnectionOverride validates a ConnectionOverride document (YAML or
// JSON) and stores it for one connection.
func (c *Client) PutConnectionOverride(ctx context.Context, connID string, doc []byte, opts *PutOverrideOptions) (*Override, error) {
	return c.putOverride(ctx, connectionOverride(connID), doc, opts)
}

// DeleteConnectionOverride deletes a connection's stored override.
func (c *Client) DeleteConnectionOverride(ctx context.Context, connID string) error {
	_, err := c.call(ctx, "DELETE", connectionOverride(connID), nil, nil, nil, nil)
	return err
}

// CheckConnectionOverride validates a document for a connection without
// storing it. An invalid document is a result with Valid false.
func (c *Client) CheckConnectionOverride(ctx context.Context, connID string, doc []byte) (*CheckResult, error) {
	var out CheckResult
	_, err := c.call(ctx, "POST", connectionOverride(connID)+"/check", nil, nil, rawBody{doc, guessType(doc, "")}, &out)
	return orNil(&out, err)
}

// GetConnectorOverride returns the tenant-wide override of a connector.
func (c *Client) GetConnectorOverride(ctx context.Context, connector string) (*Override, error) {
	return c.getOverride(ctx, connectorOverride(connector))
}

// PutConnectorOverride stores the override of every connection of the
// tenant to a connector.
func (c *Client) PutConnectorOverride(ctx context.Context, connector string, doc []byte, opts *PutOverrideOptions) (*Override, error) {
	return c.putOverride(ctx, connectorOverride(connector), doc, opts)
}

// DeleteConnectorOverride deletes the tenant-wide override of a connector.
func (c *Client) DeleteConnectorOverride(ctx context.Context, connector string) error {
	_, err := c.call(ctx, "DELETE", connectorOverride(connector), nil, nil, nil, nil)
	return err
}

// ListOverrides pages through the tenant's stored overrides.
func (c *Client) ListOverrides(ctx context.Context, f OverrideFilter) (*Page[Override], error) {
	q := url.Values{}
	set(q, "connector", f.Connector)
	set(q, "connectionId", f.ConnectionID)
	var out Page[Override]
	_, err := c.call(ctx, "GET", "/v1/overrides", paging(q, f.Cursor, f.Limit), nil, nil, &out)
	return pageOrNil(&out, err)
}

func (c *Client) getOverride(ctx context.Context, path string) (*Override, error) {
	var out Override
	_, err := c.call(ctx, "GET", path, nil, nil, nil, &out)
	return orNil(&out, err)
}

func (c *Client) putOverride(ctx context.Context, path string, doc []byte, opts *PutOverrideOptions) (*Override, error) {
	var o PutOverrideOptions
	if opts != nil {
		o = *opts
	}
	h := http.Header{}
	if o.IfRevision != 0 {
		h.Set("If-Match", strconv.Quote(strconv.FormatInt(o.IfRevision, 10)))
	}
	var out Override
	_, err := c.call(ctx, "PUT", path, nil, h, rawBody{doc, guessType(doc, o.ContentType)}, &out)
	return orNil(&out, err)
}

// guessType is the media type of an override document: JSON when it
// starts with '{', YAML otherwise.
func guessType(doc []byte, given string) string {
	switch {
	case given != "":
		return given
	case bytes.HasPrefix(bytes.TrimSpace(doc), []byte("{")):
		return "application/json"
	}
	return "application/yaml"
}
