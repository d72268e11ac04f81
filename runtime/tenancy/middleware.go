package tenancy

import (
	"log/slog"
	"net/http"
	"strings"
)

// MiddlewareOption tunes Middleware.
type MiddlewareOption func(*middleware)

// AllowQueryToken also reads the token from a `token` query parameter when
// no Authorization header is present. Use it for the connect page only:
// a browser is sent there by a plain link and cannot set a header. A URL
// ends up in logs and histories, so the parameter is removed from the
// request before next sees it, and the response asks the browser not to
// pass the page's URL on as a Referer.
func AllowQueryToken() MiddlewareOption {
	return func(m *middleware) { m.query = true }
}

// WithLogger logs each refusal at Info with its reason, method and path
// (never the query, which may hold the token). Without it refusals are
// silent.
func WithLogger(l *slog.Logger) MiddlewareOption {
	return func(m *middleware) { m.log = l }
}

type middleware struct {
	v     *Verifier
	next  http.Handler
	query bool
	log   *slog.Logger
}

// Middleware verifies the request's bearer token and calls next with the
// claims in the request context (see FromContext). Any failure is a 401
// with the same problem details body and `WWW-Authenticate: Bearer`,
// sent at once: the request's body is never read for a refused token.
func Middleware(v *Verifier, next http.Handler, opts ...MiddlewareOption) http.Handler {
	if v == nil || next == nil {
		// A nil Verifier would be an open door or a crash per request;
		// fail at wiring time instead.
		panic("tenancy: Middleware needs a Verifier and a handler")
	}
	m := &middleware{v: v, next: next}
	for _, o := range opts {
		o(m)
	}
	return m
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, fromQuery, reason := m.token(r)
	if reason != "" {
		m.refuse(w, r, reason)
		return
	}
	c, err := m.v.Verify(token)
	if err != nil {
		m.refuse(w, r, RefusalReason(err))
		return
	}
	r = r.WithContext(NewContext(r.Context(), c))
	if fromQuery {
		r = withoutTokenParam(r)
		w.Header().Set("Referrer-Policy", "no-referrer")
	}
	m.next.ServeHTTP(w, r)
}

// token finds the token, or the reason there is none usable. The header
// wins over the query parameter; two of either is refused, since a proxy
// and the handler might each pick a different one.
func (m *middleware) token(r *http.Request) (token string, fromQuery bool, reason string) {
	switch hs := r.Header.Values("Authorization"); len(hs) {
	case 0:
	case 1:
		// The scheme is case-insensitive (RFC 9110 §11.1).
		scheme, rest, _ := strings.Cut(hs[0], " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", false, reasonBadScheme
		}
		return strings.TrimSpace(rest), false, ""
	default:
		return "", false, reasonManyHeaders
	}
	if m.query {
		switch ts := r.URL.Query()["token"]; len(ts) {
		case 0:
		case 1:
			return ts[0], true, ""
		default:
			return "", false, reasonManyHeaders
		}
	}
	return "", false, reasonNoToken
}

func (m *middleware) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	if m.log != nil {
		m.log.LogAttrs(r.Context(), slog.LevelInfo, "tenancy: token refused",
			slog.String("reason", reason),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("remote", r.RemoteAddr))
	}
	refuseUnread(w, r)
	writeProblem(w, http.StatusUnauthorized, unauthorizedBody)
}

// refuseUnread closes the connection after a refusal of a request whose
// body was not read. Otherwise net/http reads the rest of the body before
// sending the answer, to reuse the connection: a client trickling its
// body would hold the refusal (and the connection) as long as it likes.
func refuseUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// withoutTokenParam returns r with the token parameter removed from its
// URL, so handlers and their logs never hold it.
func withoutTokenParam(r *http.Request) *http.Request {
	u := *r.URL
	q := u.Query()
	q.Del("token")
	u.RawQuery = q.Encode()
	r.URL = &u
	r.RequestURI = u.RequestURI()
	return r
}

// RequireAdmin lets only admin tokens through to next; others get a 403
// problem details body. It belongs inside Middleware; a request that did
// not pass through it gets a 401, never next.
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		switch {
		case !ok:
			refuseUnread(w, r)
			writeProblem(w, http.StatusUnauthorized, unauthorizedBody)
		case !c.Admin:
			refuseUnread(w, r)
			writeProblem(w, http.StatusForbidden, forbiddenBody)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
