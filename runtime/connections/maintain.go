package connections

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
)

// errRetryTaken: the connection changed since it was listed for a retry
// (another replica claimed it, or it recovered).
var errRetryTaken = errors.New("retry taken")

// pruneEvery spaces the pruning of run logs and OAuth states.
const pruneEvery = 10 * time.Minute

// retryState is the backoff of one connection in the error state. It is
// kept in memory: after a restart an errored connection is retried at
// once, then backs off again.
type retryState struct {
	attempts int // failed retries so far
	next     time.Time
}

func (s *Service) forgetRetry(tenant, id string) {
	s.retryMu.Lock()
	delete(s.retries, TokenKey(tenant, id))
	s.retryMu.Unlock()
}

// MaintainReport counts what one maintenance pass did.
type MaintainReport struct {
	// Retried connections in the error state were tested; Recovered of
	// them are connected again, Disconnected were refused, and
	// StillFailing stay in the error state, retried later.
	Retried, Recovered, Disconnected, StillFailing int
	// Refreshed OAuth2 tokens were due before the next pass; refreshing
	// RefreshFailed of them did not work.
	Refreshed, RefreshFailed    int
	PrunedRunLogs, PrunedStates int64
	// PrunedIdempotencyKeys are the expired keys of the REST API's
	// Idempotency-Key header.
	PrunedIdempotencyKeys int64
}

// Maintain runs MaintainOnce every Options.MaintainInterval until ctx
// ends; serve runs it in a goroutine. Errors are logged and the next pass
// tries again.
func (s *Service) Maintain(ctx context.Context) error {
	t := time.NewTicker(s.o.MaintainInterval)
	defer t.Stop()
	for {
		rep, err := s.MaintainOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "connection maintenance failed", "error", err)
		} else if rep.Retried > 0 || rep.Refreshed > 0 || rep.RefreshFailed > 0 {
			s.log.InfoContext(ctx, "connections maintained", "retried", rep.Retried, "recovered", rep.Recovered,
				"disconnected", rep.Disconnected, "stillFailing", rep.StillFailing,
				"refreshed", rep.Refreshed, "refreshFailed", rep.RefreshFailed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// MaintainOnce retries the connections in the error state that are due,
// with the connector's test request (the first retry RetryBase after the
// error, then twice as long after each failure, up to RetryMax), refreshes
// the OAuth2 tokens due before the next pass, and prunes run logs older
// than RunLogRetention, expired OAuth states and expired idempotency keys
// (at most every 10 minutes).
func (s *Service) MaintainOnce(ctx context.Context) (MaintainReport, error) {
	var rep MaintainReport
	due, err := s.dueRetries(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.o.MaintainConcurrency)
	for _, d := range due {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return rep, ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			state, err := s.retry(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if state == "" {
				return // gone, or no longer in the error state
			}
			rep.Retried++
			switch state {
			case store.Connected:
				rep.Recovered++
			case store.Disconnected:
				rep.Disconnected++
			case store.Errored:
				rep.StillFailing++
			}
		})
	}
	wg.Wait()

	if err := s.refreshExpiring(ctx, &rep); err != nil {
		errs = append(errs, err)
	}
	if err := s.prune(ctx, &rep); err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// dueConn is a connection due for a retry, with when it last changed as
// it was listed: the retry is claimed only if it has not changed since.
type dueConn struct {
	tenant, id string
	listed     time.Time
}

// dueRetries pages through the connections in the error state (one
// indexed query across tenants) for those whose retry is due, and forgets
// the backoff of connections no longer in it.
func (s *Service) dueRetries(ctx context.Context) ([]dueConn, error) {
	now := s.now()
	seen := map[string]bool{}
	var due []dueConn
	cur := ""
	for {
		page, err := s.st.ErroredConnections(ctx, cur, 1000)
		if err != nil {
			return due, err
		}
		s.retryMu.Lock()
		for _, c := range page.Items {
			key := TokenKey(c.Tenant, c.ConnectionID)
			seen[key] = true
			r := s.retries[key]
			if r == nil {
				r = &retryState{next: c.UpdatedAt.Add(s.o.RetryBase)}
				s.retries[key] = r
			}
			if !now.Before(r.next) {
				due = append(due, dueConn{tenant: c.Tenant, id: c.ConnectionID, listed: c.UpdatedAt})
			}
		}
		s.retryMu.Unlock()
		if cur = page.Next; cur == "" {
			break
		}
	}
	s.retryMu.Lock()
	for key := range s.retries {
		if !seen[key] {
			delete(s.retries, key)
		}
	}
	s.retryMu.Unlock()
	return due, nil
}

// retry tests one errored connection and schedules its next retry when it
// still fails. It returns the state the connection is left in; "" when it
// was not tested (deleted, or out of the error state meanwhile).
func (s *Service) retry(ctx context.Context, d dueConn) (store.ConnectionState, error) {
	tenant, id := d.tenant, d.id
	ts := s.st.Tenant(tenant)
	key := TokenKey(tenant, id)
	// Claim the retry: replicas list the same due connections, and the one
	// whose claim lands first tests it. The claim changes the connection
	// (its version), so the others find it changed since they listed it,
	// and later lists see it retried just now.
	c, err := ts.Connections().Update(ctx, id, func(c *store.Connection) error {
		if c.State != store.Errored || !c.UpdatedAt.Equal(d.listed) {
			return errRetryTaken
		}
		return nil
	})
	switch {
	case isNotFound(err):
		s.forgetRetry(tenant, id)
		return "", nil
	case errors.Is(err, errRetryTaken):
		s.retryMu.Lock()
		if r := s.retries[key]; r != nil {
			r.next = s.now().Add(s.backoff(r.attempts))
		}
		s.retryMu.Unlock()
		return "", nil
	case err != nil:
		return "", err
	}
	res, err := s.test(ctx, ts, c)
	state := store.Errored
	if errors.Is(err, engine.ErrNoTestRequest) {
		// Nothing to test with: the next run that works reconnects it.
		err = nil
	} else if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
	} else if res.Connection != nil {
		state = res.Connection.State
	}
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	if state != store.Errored {
		delete(s.retries, key)
		return state, err
	}
	r := s.retries[key]
	if r == nil {
		r = &retryState{}
		s.retries[key] = r
	}
	r.attempts++
	r.next = s.now().Add(s.backoff(r.attempts))
	return state, err
}

// backoff is the wait after the n-th failed retry: RetryBase doubled n
// times, at most RetryMax.
func (s *Service) backoff(n int) time.Duration {
	d := s.o.RetryBase
	for range n {
		if d >= s.o.RetryMax/2 {
			return s.o.RetryMax
		}
		d *= 2
	}
	return min(d, s.o.RetryMax)
}

// prune deletes old run logs, expired OAuth states and expired
// idempotency keys, at most every pruneEvery.
func (s *Service) prune(ctx context.Context, rep *MaintainReport) error {
	now := s.now()
	s.pruneMu.Lock()
	if !s.lastPrune.IsZero() && now.Sub(s.lastPrune) < pruneEvery {
		s.pruneMu.Unlock()
		return nil
	}
	s.lastPrune = now
	s.pruneMu.Unlock()
	var errs []error
	if s.o.RunLogRetention > 0 {
		n, err := s.st.PruneRunLogs(ctx, now.Add(-s.o.RunLogRetention))
		rep.PrunedRunLogs = n
		errs = append(errs, err)
	}
	n, err := s.st.PruneStates(ctx)
	rep.PrunedStates = n
	errs = append(errs, err)
	n, err = s.st.PruneIdempotencyKeys(ctx)
	rep.PrunedIdempotencyKeys = n
	errs = append(errs, err)
	return errors.Join(errs...)
}
