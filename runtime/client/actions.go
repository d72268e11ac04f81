package client

import (
	"context"
	"net/http"
)

// ListActions lists what a connection can run, with its schemas after
// the connection's overrides.
func (c *Client) ListActions(ctx context.Context, connID string) ([]ActionInfo, error) {
	var out Page[ActionInfo]
	_, err := c.call(ctx, "GET", "/v1/connections/"+esc(connID)+"/actions", nil, nil, nil, &out)
	return out.Items, err
}

// GetAction returns one action of a connection, by its key or the
// universal action it implements.
func (c *Client) GetAction(ctx context.Context, connID, action string) (*ActionInfo, error) {
	var out ActionInfo
	_, err := c.call(ctx, "GET", "/v1/connections/"+esc(connID)+"/actions/"+esc(action), nil, nil, nil, &out)
	return orNil(&out, err)
}

// ExplainAction returns the action merged through its layers, as YAML
// with a "# layer file:line" comment on each field.
func (c *Client) ExplainAction(ctx context.Context, connID, action string) (string, error) {
	var out string
	_, err := c.call(ctx, "GET", "/v1/connections/"+esc(connID)+"/actions/"+esc(action)+"/explain", nil, nil, nil, &out)
	return out, err
}

// RunAction runs an action on a connection. A failed run is a *Problem
// whose Cause is the engine error and RunID its run log.
func (c *Client) RunAction(ctx context.Context, connID, action string, input any, opts *RunOptions) (*RunResult, error) {
	body := struct {
		Input any  `json:"input"`
		Log   bool `json:"log,omitempty"`
	}{Input: input}
	var header http.Header
	if opts != nil {
		body.Log = opts.Log
		header = idempotencyHeader(opts.IdempotencyKey)
	}
	var out RunResult
	_, err := c.call(ctx, "POST", "/v1/connections/"+esc(connID)+"/actions/"+esc(action)+"/run", nil, header, body, &out)
	return orNil(&out, err)
}

// ListConnectors lists the workspace's connectors.
func (c *Client) ListConnectors(ctx context.Context) ([]ConnectorInfo, error) {
	var out Page[ConnectorInfo]
	_, err := c.call(ctx, "GET", "/v1/connectors", nil, nil, nil, &out)
	return out.Items, err
}

// GetConnector returns one connector of the catalogue.
func (c *Client) GetConnector(ctx context.Context, key string) (*ConnectorInfo, error) {
	var out ConnectorInfo
	_, err := c.call(ctx, "GET", "/v1/connectors/"+esc(key), nil, nil, nil, &out)
	return orNil(&out, err)
}
