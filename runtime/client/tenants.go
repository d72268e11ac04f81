package client

import (
	"context"
	"net/url"
)

// ListTenants pages through the workspace's tenants (admin token).
func (c *Client) ListTenants(ctx context.Context, cursor string, limit int) (*Page[Tenant], error) {
	var out Page[Tenant]
	_, err := c.call(ctx, "GET", "/v1/tenants", paging(url.Values{}, cursor, limit), nil, nil, &out)
	return pageOrNil(&out, err)
}

// PutTenant creates a tenant unless it exists (admin token).
func (c *Client) PutTenant(ctx context.Context, key string) (*Tenant, error) {
	var out Tenant
	_, err := c.call(ctx, "PUT", "/v1/tenants/"+esc(key), nil, nil, nil, &out)
	return orNil(&out, err)
}

// DeleteTenant deletes a tenant and everything it owns (admin token).
func (c *Client) DeleteTenant(ctx context.Context, key string) error {
	_, err := c.call(ctx, "DELETE", "/v1/tenants/"+esc(key), nil, nil, nil, nil)
	return err
}
