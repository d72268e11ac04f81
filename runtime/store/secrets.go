package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

// Sealed values are bound to their row and column through the AEAD's
// additional data: a value copied into another row does not open.
func connAAD(id, column string) []byte { return []byte("membrane/connections/" + id + "/" + column) }
func stateAAD(hash string) []byte      { return []byte("membrane/oauth_states/" + hash + "/data") }

// sealed is a connection's secrets as stored.
type sealed struct {
	creds, token []byte
	kid          string // key id of both, '' when there are none
}

// sealConnection seals the credentials and the token with the current key.
func (s *sqlStore) sealConnection(c *Connection) (sealed, error) {
	var out sealed
	if len(c.Credentials) > 0 {
		b, err := json.Marshal(c.Credentials)
		if err != nil {
			// json's message names the Go type that failed, never a value.
			return out, fmt.Errorf("%w: credentials of connection %q are not JSON-encodable: %v", ErrInvalid, c.ID, err)
		}
		out.creds = s.keys.Seal(b, connAAD(c.ID, "credentials"))
	}
	if c.Token != nil {
		b, err := json.Marshal(c.Token)
		if err != nil {
			return out, fmt.Errorf("%w: token of connection %q is not JSON-encodable: %v", ErrInvalid, c.ID, err)
		}
		out.token = s.keys.Seal(b, connAAD(c.ID, "token"))
	}
	if out.creds != nil || out.token != nil {
		out.kid = s.keys.CurrentID()
	}
	return out, nil
}

// openConnection fills the credentials and the token from their sealed
// form.
func (s *sqlStore) openConnection(c *Connection, v sealed) error {
	if v.creds != nil {
		b, err := s.open(v.creds, connAAD(c.ID, "credentials"), "credentials of connection "+quote(c.ID))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &c.Credentials); err != nil {
			return fmt.Errorf("credentials of connection %q %w: not JSON once decrypted", c.ID, ErrUndecryptable)
		}
	}
	if v.token != nil {
		b, err := s.open(v.token, connAAD(c.ID, "token"), "token of connection "+quote(c.ID))
		if err != nil {
			return err
		}
		c.Token = new(Token)
		if err := json.Unmarshal(b, c.Token); err != nil {
			return fmt.Errorf("token of connection %q %w: not JSON once decrypted", c.ID, ErrUndecryptable)
		}
	}
	return nil
}

// open decrypts and names what failed without quoting anything secret:
// "credentials of connection "conn_…" cannot be decrypted: unknown key id 1a2b…".
func (s *sqlStore) open(v, aad []byte, what string) ([]byte, error) {
	b, err := s.keys.Open(v, aad)
	if err != nil {
		reason := "corrupt, tampered with, or moved from another row"
		if errors.Is(err, crypt.ErrUnknownKey) {
			reason = err.Error() + " (add that key to " + crypt.EnvOldKey + ")"
		}
		return nil, fmt.Errorf("%s %w: %s", what, ErrUndecryptable, reason)
	}
	return b, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func subAAD(id, column string) []byte { return []byte("membrane/subscriptions/" + id + "/" + column) }

// sealSubscription seals the webhook token and the remote with the
// current key.
func (s *sqlStore) sealSubscription(sub *Subscription) (token, remote []byte, err error) {
	token = s.keys.Seal([]byte(sub.WebhookToken), subAAD(sub.ID, "webhook_token"))
	if len(sub.Remote) > 0 {
		b, err := json.Marshal(sub.Remote)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: remote of subscription %q is not JSON-encodable: %v", ErrInvalid, sub.ID, err)
		}
		remote = s.keys.Seal(b, subAAD(sub.ID, "remote"))
	}
	return token, remote, nil
}

// openSubscription fills the webhook token and the remote from their
// sealed form.
func (s *sqlStore) openSubscription(sub *Subscription, token, remote []byte) error {
	b, err := s.open(token, subAAD(sub.ID, "webhook_token"), "webhook token of subscription "+quote(sub.ID))
	if err != nil {
		return err
	}
	sub.WebhookToken = string(b)
	if remote != nil {
		b, err := s.open(remote, subAAD(sub.ID, "remote"), "remote of subscription "+quote(sub.ID))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &sub.Remote); err != nil {
			return fmt.Errorf("remote of subscription %q %w: not JSON once decrypted", sub.ID, ErrUndecryptable)
		}
	}
	return nil
}
