package store

import (
	"context"
	"errors"
	"time"
)

var errTODO = errors.New("store: not implemented yet")

type recordHashes struct {
	t   *tenantStore
	sub string
}

func (r recordHashes) Mark(ctx context.Context, gen int64, recs []RecordHash) ([]RecordSeen, error) {
	return nil, errTODO
}
func (r recordHashes) Sweep(ctx context.Context, gen int64, limit int) ([]RecordHash, error) {
	return nil, errTODO
}
func (r recordHashes) Forget(ctx context.Context, ids ...string) error { return errTODO }

type polls struct{ s *sqlStore }

func (s *sqlStore) Polls() Polls { return polls{s} }
func (p polls) ClaimDue(ctx context.Context, worker string, now time.Time, n int, lease time.Duration) ([]*Subscription, error) {
	return nil, errTODO
}
func (p polls) Extend(ctx context.Context, worker, id string, lease time.Duration) error {
	return errTODO
}
func (p polls) Release(ctx context.Context, worker, id string, next time.Time) error { return errTODO }

type inbox struct{ s *sqlStore }

func (s *sqlStore) Inbox() Inbox                                          { return inbox{s} }
func (i inbox) Append(ctx context.Context, e *InboxEntry) (string, error) { return "", errTODO }
func (i inbox) Claim(ctx context.Context, worker string, n int, lease time.Duration) ([]*InboxEntry, error) {
	return nil, errTODO
}
func (i inbox) Done(ctx context.Context, worker, id string) error { return errTODO }
func (i inbox) Fail(ctx context.Context, worker, id string, next time.Time, errText string) (bool, error) {
	return false, errTODO
}
