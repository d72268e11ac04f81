package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// MaxSigned bounds a signed value read from a request (a cookie, a URL),
// so a forged one costs little to refuse.
const MaxSigned = 8 << 10

var (
	// ErrInvalid is a signed value that is missing, malformed, too long,
	// or whose signature does not hold.
	ErrInvalid = errors.New("missing, malformed or wrongly signed")
	// ErrExpired is a value whose signature holds but whose expiry has
	// passed; Open fills the value anyway, so a caller can still tell the
	// user where to go back to.
	ErrExpired = errors.New("expired")
)

// Expiry is embedded in every signed value: when it stops being valid, in
// Unix seconds. Embedded, its field sits beside the value's own in the
// JSON ("exp").
type Expiry struct {
	Exp int64 `json:"exp"`
}

// ExpiresAt is the expiry as a time.
func (e *Expiry) ExpiresAt() time.Time { return time.Unix(e.Exp, 0) }

func (e *Expiry) expiry() *Expiry { return e }

// Value is a struct that embeds Expiry.
type Value interface{ expiry() *Expiry }

// Signer signs values for one purpose. The purpose goes into every MAC,
// so one key can sign values of several kinds and none passes for
// another.
type Signer struct {
	key     []byte
	purpose string
}

// NewSigner returns a signer with key (HMAC-SHA256; callers require at
// least 32 bytes) for purpose, such as "membrane connect session v1".
func NewSigner(key []byte, purpose string) *Signer {
	return &Signer{key: key, purpose: purpose}
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(s.purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Sign sets v's expiry and returns it signed: its JSON in base64url, a
// dot, and the MAC in base64url. It is signed, not encrypted: v must hold
// nothing a reader of the value may not see.
func (s *Signer) Sign(v Value, exp time.Time) (string, error) {
	v.expiry().Exp = exp.Unix()
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Open checks a signed value's signature and expiry at now and decodes
// it into v: ErrInvalid leaves v as it was; ErrExpired fills it.
func (s *Signer) Open(signed string, now time.Time, v Value) error {
	if signed == "" || len(signed) > MaxSigned {
		return ErrInvalid
	}
	payload, sig, ok := strings.Cut(signed, ".")
	if !ok {
		return ErrInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ErrInvalid
	}
	if err := json.Unmarshal(b, v); err != nil {
		return ErrInvalid
	}
	if now.Unix() >= v.expiry().Exp {
		return ErrExpired
	}
	return nil
}
