package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
)

// stateHash is how a state is stored: whoever reads the table cannot
// replay a pending state in a callback.
func stateHash(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

func (s *sqlStore) SaveState(ctx context.Context, state string, data []byte, expiresAt time.Time) error {
	if len(state) < 16 || len(state) > 512 {
		return fmt.Errorf("%w: an OAuth state must be 16 to 512 bytes long (and random)", ErrInvalid)
	}
	h := stateHash(state)
	sealedData := s.keys.Seal(data, stateAAD(h))
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO oauth_states (state_hash, data, secret_kid, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
			h, sealedData, s.keys.CurrentID(), micros(expiresAt), micros(s.clock()))
		if err != nil && s.e.Classify(err) == sqldb.Unique {
			return fmt.Errorf("oauth state: %w: already saved", ErrConflict)
		}
		return err
	})
	return wrap("save oauth state", err)
}

// TakeState deletes and returns in one statement, so the state is used
// once even when two callbacks race.
func (s *sqlStore) TakeState(ctx context.Context, state string) ([]byte, error) {
	h := stateHash(state)
	var sealedData []byte
	var expires int64
	err := s.root().write(ctx, func(tx sqldb.Tx) error {
		return tx.QueryRow(ctx, `DELETE FROM oauth_states WHERE state_hash = $1 RETURNING data, expires_at`, h).Scan(&sealedData, &expires)
	})
	if errors.Is(err, sqldb.ErrNoRows) || (err == nil && !s.clock().Before(fromMicros(expires))) {
		return nil, fmt.Errorf("oauth state: %w (unknown, used, or expired)", ErrNotFound)
	}
	if err != nil {
		return nil, wrap("take oauth state", err)
	}
	return s.open(sealedData, stateAAD(h), "oauth state")
}

func (s *sqlStore) PruneStates(ctx context.Context) (int64, error) {
	n, err := s.prune(ctx, `DELETE FROM oauth_states WHERE state_hash IN (SELECT state_hash FROM oauth_states WHERE expires_at <= $1 LIMIT $2)`, micros(s.clock()))
	return n, wrap("prune oauth states", err)
}
