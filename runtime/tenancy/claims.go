package tenancy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified token says about its caller.
type Claims struct {
	// Tenant is the tenant key, the token's `sub`.
	Tenant string
	// Admin is the `isAdmin` claim: the caller may manage the workspace,
	// not only its own tenant's data.
	Admin bool
	// Name is an optional display name (`name`), for logs and the UI.
	Name string
	// ExpiresAt is the token's `exp`. Minter.Mint ignores it and uses its
	// ttl instead.
	ExpiresAt time.Time
}

// MaxTenantKeyLen is the longest tenant key accepted.
const MaxTenantKeyLen = 128

// ValidTenantKey reports whether s is a tenant key:
// ^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$. The alphabet leaves out '/', '?',
// '#', '%' and spaces, so a key is safe in a URL path segment, a file name
// and a log line without escaping. A key may not start with '_': those are
// reserved for the workspace's own records (the store's "_workspace"
// tenant, which holds workspace events such as endpoint.disabled), so no
// token, admin or not, can name one. It is a loop rather than a regexp since
// it runs on every API call.
func ValidTenantKey(s string) bool {
	if len(s) == 0 || len(s) > MaxTenantKeyLen || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !alnum(c) && c != '_' && c != '.' && c != ':' && c != '@' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// tokenClaims is the JSON shape of a token's payload. A claim of the wrong
// JSON type (isAdmin: "true") fails decoding, so the token is refused as
// malformed rather than read loosely.
type tokenClaims struct {
	jwt.RegisteredClaims
	Admin bool   `json:"isAdmin,omitempty"`
	Name  string `json:"name,omitempty"`
}

// timeClaims are the NumericDate claims: JSON numbers (RFC 7519 §2).
var timeClaims = []string{"exp", "nbf", "iat"}

// UnmarshalJSON refuses a time claim that is not a JSON number. The
// library reads a string of digits as a number, so "exp": "99999999999"
// would pass as an expiry; a token that spells its claims loosely is
// malformed, like any claim of the wrong type.
func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range timeClaims {
		v, ok := raw[k]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9') || string(v) == "null") {
			return fmt.Errorf("the %s claim is not a number", k)
		}
	}
	type plain tokenClaims // the same fields, without this method
	return json.Unmarshal(b, (*plain)(c))
}
