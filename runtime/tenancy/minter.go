package tenancy

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minter signs tokens with the workspace secret. It is safe for concurrent
// use. It is for the user's backend and for development (`membrane token`);
// the server itself only verifies.
type Minter struct {
	workspace string
	secret    []byte
	method    jwt.SigningMethod
	now       func() time.Time
}

// MinterOption tunes a Minter.
type MinterOption func(*Minter)

// WithHS512 signs with HS512 instead of the default HS256.
func WithHS512() MinterOption {
	return func(m *Minter) { m.method = jwt.SigningMethodHS512 }
}

// NewMinter builds a Minter whose tokens name workspace as their issuer.
// The secret follows the same rules as Keys.HMACSecret.
func NewMinter(workspace string, secret []byte, opts ...MinterOption) (*Minter, error) {
	if workspace == "" {
		return nil, errors.New("tenancy: the workspace key (token issuer) is empty")
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("tenancy: the HMAC secret has %d bytes; at least %d random bytes are needed", len(secret), MinSecretLen)
	}
	m := &Minter{
		workspace: workspace,
		secret:    append([]byte(nil), secret...),
		method:    jwt.SigningMethodHS256,
		now:       time.Now,
	}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Mint signs a token for c that expires ttl from now. c.ExpiresAt is
// ignored. The token carries iat and a random jti, so two tokens minted in
// the same second differ and a future revocation list can name one.
func (m *Minter) Mint(c Claims, ttl time.Duration) (string, error) {
	if !ValidTenantKey(c.Tenant) {
		return "", fmt.Errorf("tenancy: %q is not a valid tenant key (letters, digits and _ . : @ -, starting with a letter or digit, at most %d)", c.Tenant, MaxTenantKeyLen)
	}
	// Under a second would truncate to an exp equal to iat: a token that
	// is born expired.
	if ttl < time.Second {
		return "", fmt.Errorf("tenancy: token lifetime %v is too short; give at least 1s", ttl)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("tenancy: token id: %w", err)
	}
	now := m.now()
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.workspace,
			Subject:   c.Tenant,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		},
		Admin: c.Admin,
		Name:  c.Name,
	}
	s, err := jwt.NewWithClaims(m.method, tc).SignedString(m.secret)
	if err != nil {
		return "", fmt.Errorf("tenancy: signing: %w", err)
	}
	return s, nil
}
