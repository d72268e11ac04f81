package tenancy

import "errors"

// ErrUnauthorized is matched (errors.Is) by every refusal of a token.
var ErrUnauthorized = errors.New("unauthorized")

// UnauthorizedError is a refused token. Reason is one of this package's
// fixed phrases ("token expired", "bad signature", ...): it is safe to log,
// and it must not reach the caller, who would learn which check failed.
type UnauthorizedError struct {
	Reason string
}

func (e *UnauthorizedError) Error() string { return "unauthorized: " + e.Reason }

// Is makes errors.Is(err, ErrUnauthorized) true.
func (e *UnauthorizedError) Is(target error) bool { return target == ErrUnauthorized }

// Reasons. They are constants on purpose: nothing read from the token
// (its algorithm name, issuer, subject) is ever echoed into a log line.
const (
	reasonEmpty       = "empty token"
	reasonTooLong     = "token too long"
	reasonMalformed   = "malformed token"
	reasonAlgorithm   = "algorithm not accepted"
	reasonSignature   = "bad signature"
	reasonExpired     = "token expired"
	reasonNoExpiry    = "token has no exp claim"
	reasonNotYetValid = "token not valid yet (nbf)"
	reasonIssuedLater = "token issued in the future (iat)"
	reasonIssuer      = "wrong issuer"
	reasonNoSubject   = "token has no sub claim"
	reasonBadTenant   = "sub is not a valid tenant key"
	reasonInvalid     = "invalid token"
	reasonNoToken     = "no bearer token"
	reasonBadScheme   = "authorization scheme is not Bearer"
	reasonManyHeaders = "several Authorization headers or token parameters"
)

func unauthorized(reason string) error { return &UnauthorizedError{Reason: reason} }

// RefusalReason says why Verify refused a token, in words safe to log
// (never to show the caller): the UnauthorizedError's reason, or
// the generic reason for any other error.
func RefusalReason(err error) string {
	if ue, ok := errors.AsType[*UnauthorizedError](err); ok {
		return ue.Reason
	}
	return reasonInvalid
}
