package connections

import (
	"context"
	"errors"
	"fmt"

	"github.com/membrane-dev/membrane/runtime/oauth"
)

// refreshBatch bounds the tokens one maintenance pass refreshes; the rest
// wait for the next pass, soonest expiry first.
const refreshBatch = 500

// freshener is the OAuth2 authenticator's Fresh: refresh when due.
type freshener interface {
	Fresh(ctx context.Context) error
}

// refreshExpiring refreshes the OAuth2 tokens that are due before the
// next maintenance pass, so runs seldom wait on the token endpoint and a
// revoked grant disconnects its connection (with its event) before anyone
// needs it. Each refresh takes the connection's lock, so replicas walking
// the same tokens refresh each one once.
func (s *Service) refreshExpiring(ctx context.Context, rep *MaintainReport) error {
	if s.m == nil {
		return nil
	}
	margin := s.o.MaintainInterval + oauth.DefaultRefreshMargin
	due, err := s.st.ExpiringTokens(ctx, s.now().Add(margin), refreshBatch)
	if err != nil {
		return fmt.Errorf("listing expiring tokens: %w", err)
	}
	var errs []error
	ws := s.ws()
	for _, t := range due {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		ts := s.st.Tenant(t.Tenant)
		c, err := ts.Connections().Get(ctx, t.ConnectionID)
		if isNotFound(err) {
			continue // deleted since it was listed
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID, c.AuthMode)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ec, err := s.engineConnection(ws, c, ovs, s.m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, ok := ec.Auth.(freshener)
		if !ok {
			continue
		}
		if err := f.Fresh(ctx); err != nil {
			// invalid_grant has disconnected it already; anything else is
			// retried at the next pass or by the next run.
			rep.RefreshFailed++
			s.log.WarnContext(ctx, "token refresh failed", "tenant", t.Tenant, "connection", t.ConnectionID, "error", err)
			continue
		}
		rep.Refreshed++
	}
	return errors.Join(errs...)
}
