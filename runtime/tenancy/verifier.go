package tenancy

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// maxTokenLen bounds what is parsed at all. A real token is a few hundred
// bytes (an RS256 one under 1 KiB); refusing early keeps a flood of huge
// headers from costing base64 and JSON decoding.
const maxTokenLen = 8 << 10

// Verifier checks tokens. It is safe for concurrent use. Keys are parsed
// and the parser built once, in NewVerifier. A client sends the same token
// on every call until it expires, so a token that verified is remembered
// (by its exact text) and its signature not checked again; its expiry
// still is, at every call. Refusals are never remembered.
type Verifier struct {
	workspace string
	parser    *jwt.Parser
	algs      map[string]bool
	leeway    time.Duration
	now       func() time.Time
	verified  verifiedCache

	// The key each family of algorithms verifies with, boxed once so that
	// the key function allocates nothing. Nil when the family is not
	// configured; the parser's method list already refuses it then, this
	// is the second lock on the same door.
	hmacKey, rsaKey, ecKey any
}

// VerifierOption tunes a Verifier.
type VerifierOption func(*verifierConfig)

type verifierConfig struct {
	leeway time.Duration
	now    func() time.Time
}

// WithLeeway sets the clock skew allowed on exp, nbf and iat
// (DefaultLeeway otherwise). Negative values count as zero.
func WithLeeway(d time.Duration) VerifierOption {
	return func(c *verifierConfig) { c.leeway = max(d, 0) }
}

// WithClock sets the source of the current time, for tests.
func WithClock(now func() time.Time) VerifierOption {
	return func(c *verifierConfig) { c.now = now }
}

// NewVerifier builds a Verifier for tokens issued by workspace (their
// `iss`) and signed with one of keys.
func NewVerifier(workspace string, keys Keys, opts ...VerifierOption) (*Verifier, error) {
	if workspace == "" {
		// An empty expected issuer would switch the issuer check off.
		return nil, errors.New("tenancy: the workspace key (token issuer) is empty")
	}
	cfg := verifierConfig{leeway: DefaultLeeway}
	for _, o := range opts {
		o(&cfg)
	}

	v := &Verifier{workspace: workspace, algs: map[string]bool{}, leeway: cfg.leeway, now: cfg.now}
	if v.now == nil {
		v.now = time.Now
	}
	var methods []string
	if keys.HMACSecret != nil {
		if len(keys.HMACSecret) < MinSecretLen {
			return nil, fmt.Errorf("tenancy: the HMAC secret has %d bytes; at least %d random bytes are needed", len(keys.HMACSecret), MinSecretLen)
		}
		// A copy, so a caller reusing its buffer cannot change the key.
		v.hmacKey = append([]byte(nil), keys.HMACSecret...)
		methods = append(methods, jwt.SigningMethodHS256.Alg(), jwt.SigningMethodHS512.Alg())
	}
	pub, err := parsePublicKeys(keys.PublicKeysPEM)
	if err != nil {
		return nil, err
	}
	if len(pub.rsa) > 0 {
		v.rsaKey = keyOrSet(pub.rsa)
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	if len(pub.ec) > 0 {
		v.ecKey = keyOrSet(pub.ec)
		methods = append(methods, jwt.SigningMethodES256.Alg())
	}
	if len(methods) == 0 {
		return nil, errors.New("tenancy: no key to verify tokens with: set an HMAC secret or public keys")
	}
	for _, m := range methods {
		v.algs[m] = true
	}

	popts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(workspace),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.leeway),
		// Canonical base64 only, so one token has one spelling.
		jwt.WithStrictDecoding(),
	}
	if cfg.now != nil {
		popts = append(popts, jwt.WithTimeFunc(cfg.now))
	}
	v.parser = jwt.NewParser(popts...)
	return v, nil
}

// keyOrSet returns the single key itself, so the library reports its own
// verification error, or a set that is tried key by key.
func keyOrSet[K any](keys []K) any {
	if len(keys) == 1 {
		return keys[0]
	}
	set := jwt.VerificationKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k)
	}
	return set
}

// Workspace is the issuer this Verifier expects.
func (v *Verifier) Workspace() string { return v.workspace }

// Verify checks token and returns its claims. Any failure is an
// *UnauthorizedError.
func (v *Verifier) Verify(token string) (Claims, error) {
	switch {
	case token == "":
		return Claims{}, unauthorized(reasonEmpty)
	case len(token) > maxTokenLen:
		return Claims{}, unauthorized(reasonTooLong)
	}
	if c, ok := v.verified.get(token); ok {
		if v.now().After(c.ExpiresAt.Add(v.leeway)) {
			v.verified.drop(token)
			return Claims{}, unauthorized(reasonExpired)
		}
		return c, nil
	}
	var tc tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &tc, v.key)
	if err != nil {
		return Claims{}, unauthorized(v.reason(tok, &tc, err))
	}
	switch {
	case tc.Subject == "":
		return Claims{}, unauthorized(reasonNoSubject)
	case !ValidTenantKey(tc.Subject):
		return Claims{}, unauthorized(reasonBadTenant)
	}
	// exp is required by the parser, so ExpiresAt is not nil here.
	c := Claims{Tenant: tc.Subject, Admin: tc.Admin, Name: tc.Name, ExpiresAt: tc.ExpiresAt.Time}
	v.verified.put(token, c)
	return c, nil
}

// key picks the key by the type of the algorithm the parser already
// accepted, never by anything else in the token.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	var k any
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		k = v.hmacKey
	case *jwt.SigningMethodRSA:
		k = v.rsaKey
	case *jwt.SigningMethodECDSA:
		k = v.ecKey
	}
	if k == nil {
		return nil, errNoKey
	}
	return k, nil
}

var errNoKey = errors.New("no key for this algorithm")

// reason maps the library's error to one of our fixed phrases. The
// library's own messages are not used: some quote the token's header.
func (v *Verifier) reason(tok *jwt.Token, tc *tokenClaims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reasonMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// An unknown or missing alg, or one we hold no key for.
		return reasonAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// The library reports a method outside the list as a bad signature.
		if tok == nil || tok.Method == nil || !v.algs[tok.Method.Alg()] {
			return reasonAlgorithm
		}
		return reasonSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// exp and iss are the claims the parser requires; the payload was
		// decoded before validation, so look which one is absent.
		if tc.ExpiresAt == nil {
			return reasonNoExpiry
		}
		return reasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reasonIssuer
	case errors.Is(err, jwt.ErrTokenExpired):
		return reasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return reasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reasonIssuedLater
	}
	return reasonInvalid
}
