package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers every webhook delivery carries.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret: "whsec_" and the base64 of the
// HMAC key, as Standard Webhooks writes them.
const SecretPrefix = "whsec_"

// NewSecret makes a signing secret: "whsec_" and the base64 of 32 random
// bytes.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// SecretError is a signing secret that is not "whsec_" and base64. It
// never carries the secret.
type SecretError struct {
	// Index is the secret's place in the list given (0 = current).
	Index  int
	Reason string
}

func (e *SecretError) Error() string {
	which := "the current signing secret"
	if e.Index > 0 {
		which = "the previous signing secret"
	}
	return which + " " + e.Reason + ": a secret is " + SecretPrefix +
		" and the base64 of at least 24 random bytes (make one with `echo whsec_$(openssl rand -base64 32)`)"
}

// SecretKey is the HMAC key of a "whsec_" secret. The prefix is optional,
// as Standard Webhooks' verifiers accept either.
func SecretKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	if s == "" {
		return nil, &SecretError{Reason: "is empty"}
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &SecretError{Reason: "is not base64 after " + SecretPrefix}
	}
	if len(key) < 24 {
		return nil, &SecretError{Reason: "is shorter than 24 bytes"}
	}
	return key, nil
}

// Signer signs a delivery with every live secret of a destination.
type Signer struct {
	keys [][]byte
}

// NewSigner reads the live secrets, the current one first. It needs at
// least one.
func NewSigner(secrets []string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no signing secret: a webhook destination needs one (its secretEnv, or the one the API generated)")
	}
	s := &Signer{}
	var errs []error
	for i, sec := range secrets {
		k, err := SecretKey(sec)
		if err != nil {
			err.(*SecretError).Index = i
			errs = append(errs, err)
			continue
		}
		s.keys = append(s.keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Signature is the webhook-signature header for body sent as id at ts:
// "v1,<base64 HMAC-SHA256(key, id.ts.body)>" per secret, space-separated.
func (s *Signer) Signature(id string, ts time.Time, body []byte) string {
	unix := strconv.FormatInt(ts.Unix(), 10)
	var b strings.Builder
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		h := hmac.New(sha256.New, k)
		h.Write([]byte(id))
		h.Write([]byte{'.'})
		h.Write([]byte(unix))
		h.Write([]byte{'.'})
		h.Write(body)
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(h.Sum(nil)))
	}
	return b.String()
}

// Headers are the three Standard Webhooks headers of one attempt.
func (s *Signer) Headers(id string, ts time.Time, body []byte) map[string]string {
	return map[string]string{
		HeaderID:        id,
		HeaderTimestamp: strconv.FormatInt(ts.Unix(), 10),
		HeaderSignature: s.Signature(id, ts, body),
	}
}
