package client

import (
	"context"
	"net/url"
)

// ListRunLogs pages through the tenant's run logs, newest first.
func (c *Client) ListRunLogs(ctx context.Context, f RunLogFilter) (*Page[RunLog], error) {
	q := url.Values{}
	set(q, "connectionId", f.ConnectionID)
	set(q, "action", f.Action)
	set(q, "origin", f.Origin)
	set(q, "status", f.Status)
	set(q, "requestId", f.RequestID)
	var out Page[RunLog]
	_, err := c.call(ctx, "GET", "/v1/run-logs", paging(q, f.Cursor, f.Limit), nil, nil, &out)
	return pageOrNil(&out, err)
}

// GetRunLog returns one run log, its exchanges included.
func (c *Client) GetRunLog(ctx context.Context, id string) (*RunLog, error) {
	var out RunLog
	_, err := c.call(ctx, "GET", "/v1/run-logs/"+esc(id), nil, nil, nil, &out)
	return orNil(&out, err)
}
