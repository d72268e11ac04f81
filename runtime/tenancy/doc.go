// Package tenancy turns the token on every API call into a tenant.
//
// A token is a JWT signed with the workspace secret (HS256 or HS512), or, when
// the operator configures public keys, with an RSA (RS256) or P-256 (ES256)
// private key held elsewhere. Its claims name the tenant (`sub`), whether the
// caller is an admin (`isAdmin`), an optional display name (`name`), and its
// lifetime (`exp` required; `nbf` and `iat` honoured). The issuer (`iss`) is
// the workspace key, so a token minted for one workspace is refused by
// another that happens to share the secret.
//
//	v, err := tenancy.NewVerifier("default", tenancy.Keys{HMACSecret: secret})
//	mux.Handle("/v1/", tenancy.Middleware(v, api))
//	// in a handler:
//	c, _ := tenancy.FromContext(r.Context()) // c.Tenant == "acme"
//
// What is refused, and why it matters:
//
//   - `alg: none`, and any algorithm outside the set the keys allow. The
//     algorithm is taken from the configured keys, never from the token, so
//     an RS256 verifier cannot be fooled by an HS256 token whose "secret" is
//     the RSA public key (key confusion).
//   - a token without `exp`: a token that never expires is a password that
//     cannot be changed without rotating the workspace secret.
//   - a `sub` that is not a valid tenant key (see ValidTenantKey).
//
// Every refusal is an *UnauthorizedError (errors.Is ErrUnauthorized) with a
// short fixed reason for logs. Reasons are constants of this package: they
// never contain the token, the secret, or any text taken from the token,
// so they are safe to log and cannot be used to inject log lines.
//
// The HTTP middleware answers every refusal with the same 401 problem
// details body (RFC 9457), so a caller learns nothing about why its token
// failed; the operator reads the reason in the log.
package tenancy
