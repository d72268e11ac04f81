// Package requestid gives every request served a request id: the
// caller's X-Request-Id when it is a sensible one, else a new one. The id
// is returned in the response, carried in the request's context, and
// written on every log line logged with that context (LogHandler), so the
// log lines, the run log and the trace of one request share it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// Header is the request and response header of the id.
const Header = "X-Request-Id"

// MaxLen bounds an id taken from a caller: longer ones are replaced.
const MaxLen = 128

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request id ctx carries, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Valid reports whether a caller's id may be kept: 1 to MaxLen
// characters among letters, digits and - _ . : (a UUID, a ULID, a
// gateway's hex id), so that it is safe in a header, a log line and a
// database column as it is.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return false
		}
	}
	return true
}

// New returns a new id: 16 random bytes in hex.
func New() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Middleware gives each request its id (the caller's valid X-Request-Id,
// else a new one), sets it on the response before the handler runs and
// puts it in the request's context.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !Valid(id) {
			id = New()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}
