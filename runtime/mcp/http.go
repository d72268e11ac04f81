package mcp

import (
	"context"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// SessionTimeout closes an HTTP session that has had no request for this
// long; its client starts a new one.
const SessionTimeout = 30 * time.Minute

// Handler serves the Streamable HTTP transport (mount it at /v1/mcp).
// Every request carries a tenant token, refused as the REST API refuses
// one (401, the same problem body); a session serves the tenant whose
// token began it, and a request of another tenant's token on it is
// refused (403).
func (s *Server) Handler() http.Handler {
	if s.o.Verifier == nil {
		panic("mcp: Handler needs Options.Verifier")
	}
	stream := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		c, _ := tenancy.FromContext(r.Context())
		ts, err := s.tenant(r.Context(), c.Tenant)
		if err != nil {
			s.log.ErrorContext(r.Context(), "mcp: the tenant's tools could not be listed", "tenant", c.Tenant, "error", err)
			return nil // the SDK answers 400
		}
		return ts.srv
	}, &mcp.StreamableHTTPOptions{
		Logger:         s.log,
		SessionTimeout: SessionTimeout,
		// Every request needs a bearer token a browser would not send
		// for a page that rebinds DNS to this host, so the SDK's
		// localhost check would only refuse a reverse proxy on
		// loopback that keeps the public Host.
		DisableLocalhostProtection: true,
	})
	// The SDK binds a session to TokenInfo.UserID: the tenant.
	bind := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		c, _ := tenancy.FromContext(ctx)
		return &auth.TokenInfo{UserID: c.Tenant, Expiration: c.ExpiresAt}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers hold one tenant's data: no shared cache may keep them.
		w.Header().Set("Cache-Control", "no-store")
		bind(stream).ServeHTTP(w, r)
	})
	return tenancy.Middleware(s.o.Verifier, h, tenancy.WithLogger(s.log))
}
