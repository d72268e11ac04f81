package tenancy

import "context"

type ctxKey struct{}

// NewContext returns ctx carrying c. Middleware calls it; tests and
// in-process callers (the Go SDK, jobs acting for a tenant) may too.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the claims Middleware verified for this request.
// ok is false outside Middleware: a handler must then refuse, never fall
// back to some default tenant.
func FromContext(ctx context.Context) (c Claims, ok bool) {
	c, ok = ctx.Value(ctxKey{}).(Claims)
	return c, ok
}
