// Package verify checks that a webhook payload came from the app: the
// signature schemes an event's `webhook.signature` expresses (GitHub,
// Stripe, Slack, HubSpot v3, Shopify, Twilio, Standard Webhooks and any
// HMAC of the same shape, and the public-key schemes ECDSA P-256 (SendGrid)
// and Ed25519), with a signed timestamp's replay window where the scheme
// has one.
//
// Errors say what was wrong and which header to look at; they never hold
// the secret, the key or the signature Membrane expected.
package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/spec/compile"
)

// The kinds of refusal; test them with errors.Is. Every error Verify
// returns is an *Error wrapping one of them.
var (
	// ErrMissingSignature: the request lacks the signature header (or it
	// is empty). 401.
	ErrMissingSignature = errors.New("missing signature")
	// ErrBadSignature: no candidate signature is the HMAC of the payload
	// with the secret (or a signature of it by the public key). 401.
	ErrBadSignature = errors.New("bad signature")
	// ErrStaleTimestamp: the signature is right but was made longer ago
	// than the tolerance: a replay, or a delivery retried too late. 401.
	ErrStaleTimestamp = errors.New("stale timestamp")
	// ErrFutureTimestamp: the signed timestamp is further ahead of now
	// than the tolerance. 401.
	ErrFutureTimestamp = errors.New("timestamp in the future")
	// ErrMalformed: the request lacks what the scheme reads (a timestamp
	// header, a part of a compound header), so it cannot be checked. 400.
	ErrMalformed = errors.New("malformed signed request")
	// ErrNoSecret: no usable secret for this subscription (the secret
	// expression failed, gave nothing, or is not the encoding it is
	// declared in). A configuration problem on Membrane's side, not the
	// sender's: the request is refused all the same.
	ErrNoSecret = errors.New("no signing secret")
	// ErrNoKey: no usable public key for this subscription (the publicKey
	// expression failed, gave nothing, or is not a key of the algorithm):
	// ErrNoSecret of ecdsa-p256-sha256 and ed25519.
	ErrNoKey = errors.New("no public key")
)

// Error is a refused webhook request.
type Error struct {
	// Kind is one of the Err* values above.
	Kind error
	// Header is the signature header of the scheme.
	Header string
	// Detail says what was wrong and what to do; it never holds a secret
	// or an expected signature.
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("webhook signature (%s): %s: %s", e.Header, e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Kind }

// Verify checks a webhook request against a compiled signature check:
// it reads the candidate signatures, computes the HMAC of the payload
// with the secret (evaluated over vars: `subscription`, `app`,
// `credentials`, `connection`, `tenant`), compares it in constant time with each
// candidate, and then checks that the signed timestamp, when the scheme
// has one, is within the tolerance of now. For ecdsa-p256-sha256 and
// ed25519 it checks each candidate against the payload with the public
// key instead. A nil sig accepts everything (the event has no signature
// check).
func Verify(ctx context.Context, sig *compile.Signature, req *Request, vars map[string]any, now time.Time) error {
	if sig == nil {
		return nil
	}
	if compile.IsPublicKeyAlgorithm(sig.Algorithm) && sig.Key != nil {
		return verify(ctx, sig, req, nil, sig.Key, now)
	}
	secret, err := evalSecret(ctx, sig, vars)
	if err != nil {
		return err
	}
	return VerifySecret(ctx, sig, req, secret, now)
}

// VerifySecret is Verify with the secret's text already known (as stored
// or as a test gives it): SecretPrefix and SecretEncoding still apply.
// For ecdsa-p256-sha256 and ed25519 the text is the public key.
func VerifySecret(ctx context.Context, sig *compile.Signature, req *Request, secret string, now time.Time) error {
	if sig == nil {
		return nil
	}
	if compile.IsPublicKeyAlgorithm(sig.Algorithm) {
		pub, err := compile.ParsePublicKey(sig.Algorithm, secret)
		if err != nil {
			return &Error{Kind: ErrNoKey, Header: headerName(sig), Detail: keyProblem(sig, err)}
		}
		return verify(ctx, sig, req, nil, pub, now)
	}
	key, err := decodeSecret(sig, secret)
	if err != nil {
		return &Error{Kind: ErrNoSecret, Header: headerName(sig), Detail: err.Error()}
	}
	return verify(ctx, sig, req, key, nil, now)
}

// keyProblem says why a public key cannot be used, and where it comes
// from.
func keyProblem(sig *compile.Signature, err error) string {
	if sig.PublicKey == nil {
		return err.Error()
	}
	return fmt.Sprintf("%v (publicKey at %s)", err, sig.PublicKey.Src.Pos)
}

// verify checks the request with an HMAC key, or with pub for a
// public-key algorithm.
func verify(ctx context.Context, sig *compile.Signature, req *Request, key []byte, pub crypto.PublicKey, now time.Time) error {
	header := headerName(sig)
	fail := func(kind error, format string, args ...any) error {
		return &Error{Kind: kind, Header: header, Detail: fmt.Sprintf(format, args...)}
	}
	if req == nil {
		req = &Request{}
	}
	if req.Headers[sig.Header] == "" {
		return fail(ErrMissingSignature, "the request has no %s header; was it sent by the app, to the URL the app was given?", header)
	}
	vars := map[string]any{compile.VarRequest: req.Var()}
	candidates, err := evalCandidates(ctx, sig, req, vars)
	if err != nil {
		return fail(ErrMalformed, "%v", err)
	}
	payload, err := evalPayload(ctx, sig, req, vars)
	if err != nil {
		return fail(ErrMalformed, "%v", err)
	}
	var want []byte
	if pub == nil {
		mac := hmac.New(newHash(sig.Algorithm), key)
		mac.Write(payload)
		want = mac.Sum(nil)
	}
	matched, considered := false, 0
	for _, c := range candidates {
		c = strings.TrimSpace(c)
		if sig.Prefix != "" {
			var ok bool
			if c, ok = strings.CutPrefix(c, sig.Prefix); !ok {
				continue
			}
		}
		got, ok := decodeSignature(sig.Encoding, c)
		if !ok {
			continue
		}
		considered++
		switch {
		case pub != nil:
			// Nothing secret is compared: one good signature will do.
			if !matched && checkPublic(pub, payload, got) {
				matched = true
			}
		case hmac.Equal(got, want):
			// Every candidate is compared, so the time taken does not
			// tell which one matched.
			matched = true
		}
	}
	switch {
	case considered == 0 && sig.Prefix != "":
		return fail(ErrBadSignature, "no %s signature starting with %q in the %s header", sig.Encoding, sig.Prefix, header)
	case considered == 0:
		return fail(ErrBadSignature, "the %s header holds no %s signature", header, sig.Encoding)
	case !matched && pub != nil:
		return fail(ErrBadSignature, "the signature does not match the payload (%s of %d bytes); check the public key (the app gives a new one when signing is turned off and on), and that nothing between the app and Membrane rewrites the body", sig.Algorithm, len(payload))
	case !matched:
		return fail(ErrBadSignature, "the signature does not match the payload (%s of %d bytes); check the signing secret, and that nothing between the app and Membrane rewrites the body", sig.Algorithm, len(payload))
	}
	if sig.Timestamp == nil {
		return nil
	}
	v, err := sig.Timestamp.Eval(ctx, vars)
	if err != nil {
		return fail(ErrMalformed, "the timestamp cannot be read: %v", err)
	}
	ts, err := unixTime(v)
	if err != nil {
		return fail(ErrMalformed, "the timestamp (%s) %v", sig.Timestamp.Src.Pos, err)
	}
	tol := sig.Tolerance
	if tol <= 0 {
		tol = compile.DefaultSignatureTolerance
	}
	switch skew := now.Sub(ts); {
	case skew > tol:
		return fail(ErrStaleTimestamp, "signed %s ago, more than the tolerance of %s: a replayed or late delivery", skew.Round(time.Second), tol)
	case skew < -tol:
		return fail(ErrFutureTimestamp, "signed %s ahead of this server's clock, more than the tolerance of %s; check the clock", (-skew).Round(time.Second), tol)
	}
	return nil
}

// headerName is the signature header as the file writes it.
func headerName(sig *compile.Signature) string {
	if sig.Src != nil && sig.Src.Header != "" {
		return sig.Src.Header
	}
	return sig.Header
}

// evalSecret evaluates the secret expression, or the public key's of a
// public-key algorithm. Its error names where the expression is written,
// never what it gave or failed on.
func evalSecret(ctx context.Context, sig *compile.Signature, vars map[string]any) (string, error) {
	x, kind, what := sig.Secret, ErrNoSecret, "secret"
	if compile.IsPublicKeyAlgorithm(sig.Algorithm) {
		x, kind, what = sig.PublicKey, ErrNoKey, "publicKey"
	}
	fail := func(detail string) error {
		return &Error{Kind: kind, Header: headerName(sig), Detail: detail}
	}
	if x == nil {
		return "", fail("the signature has no " + what)
	}
	v, err := x.Eval(ctx, vars)
	if err != nil {
		var ee *compile.ExprError
		if errors.As(err, &ee) {
			if slices.Contains(x.Vars(), compile.VarApp) {
				return "", fail(fmt.Sprintf("the %s expression at %s failed; check that membrane.yaml names the app's secret it reads (webhookSecrets.<connector>, or oauthClients.<connector>.clientSecretEnv for app.clientSecret) and that the variable is set", what, ee.Pos))
			}
			return "", fail(fmt.Sprintf("the %s expression at %s failed; check that the subscription or connection holds it (what subscribing kept)", what, ee.Pos))
		}
		return "", fail("the " + what + " expression failed")
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	case nil:
		return "", nil
	}
	return "", fail(fmt.Sprintf("the %s expression at %s gives %T, not text", what, x.Src.Pos, v))
}

// decodeSecret turns the secret's text into the HMAC key.
func decodeSecret(sig *compile.Signature, secret string) ([]byte, error) {
	secret = strings.TrimPrefix(secret, sig.SecretPrefix)
	if secret == "" {
		return nil, errors.New("the signing secret is empty: no request can be checked; store the secret the app gave when the webhook was registered")
	}
	if sig.SecretEncoding != "base64" {
		return []byte(secret), nil
	}
	key, ok := decodeBase64(secret)
	if !ok || len(key) == 0 {
		return nil, fmt.Errorf("the signing secret is not base64 (secretEncoding: base64, secretPrefix: %q)", sig.SecretPrefix)
	}
	return key, nil
}

// evalCandidates gives the candidate signatures: the header's value, or
// what `signatures` gives.
func evalCandidates(ctx context.Context, sig *compile.Signature, req *Request, vars map[string]any) ([]string, error) {
	if sig.Signatures == nil {
		return []string{req.Headers[sig.Header]}, nil
	}
	v, err := sig.Signatures.Eval(ctx, vars)
	if err != nil {
		return nil, fmt.Errorf("the signatures cannot be read: %v", err)
	}
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case []string:
		return t, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("signatures (%s) gives %T, not a list of strings", sig.Signatures.Src.Pos, v)
}

// evalPayload gives the signed bytes: the raw body, or what `payload`
// gives.
func evalPayload(ctx context.Context, sig *compile.Signature, req *Request, vars map[string]any) ([]byte, error) {
	if sig.Payload == nil {
		return req.RawBody, nil
	}
	v, err := sig.Payload.Eval(ctx, vars)
	if err != nil {
		return nil, fmt.Errorf("the signed payload cannot be built: %v", err)
	}
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case []byte:
		return t, nil
	case nil:
		return nil, nil
	}
	return fmt.Append(nil, v), nil
}

// checkPublic says whether sig is a signature of payload by pub: for
// ECDSA, ASN.1 DER of the SHA-256 (or r‖s, 32 bytes each, as JWS writes
// it); for Ed25519, of the payload itself.
func checkPublic(pub crypto.PublicKey, payload, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(payload)
		if ecdsa.VerifyASN1(k, digest[:], sig) {
			return true
		}
		if len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			return ecdsa.Verify(k, digest[:], r, s)
		}
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, payload, sig)
	}
	return false
}

func newHash(alg string) func() hash.Hash {
	switch alg {
	case "hmac-sha1":
		return sha1.New
	case "hmac-sha512":
		return sha512.New
	}
	return sha256.New
}

// decodeSignature reads one candidate: hex in either case, or base64
// with or without padding (standard or URL alphabet).
func decodeSignature(encoding, s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	if encoding == "base64" {
		return decodeBase64(s)
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// unixTime reads a signed timestamp: Unix seconds as a number or a
// string of digits (a fraction allowed), or an RFC 3339 time (a CEL
// timestamp).
func unixTime(v any) (time.Time, error) {
	var secs float64
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case int64:
		return time.Unix(t, 0), nil
	case uint64:
		if t > math.MaxInt64 {
			return time.Time{}, fmt.Errorf("is out of range")
		}
		return time.Unix(int64(t), 0), nil
	case float64:
		secs = t
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return time.Time{}, errors.New("is empty")
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			// A CEL timestamp reaches Go as RFC 3339 text.
			if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return tm, nil
			}
			return time.Time{}, fmt.Errorf("is neither Unix seconds nor an RFC 3339 time (%d characters)", len(s))
		}
		secs = f
	case nil:
		return time.Time{}, errors.New("is missing")
	default:
		return time.Time{}, fmt.Errorf("is %T, not Unix seconds", v)
	}
	if math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > 1<<40 {
		return time.Time{}, errors.New("is out of range")
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)), nil
}
