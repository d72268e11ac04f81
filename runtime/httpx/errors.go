package httpx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/membrane-dev/membrane/spec/errtype"
)

// Kind says why a request failed, in the transport's terms; ErrorType maps
// it to the error type of the run that made the request.
type Kind string

const (
	// KindNetwork: the connection failed, was reset or closed early, or the
	// response could not be parsed.
	KindNetwork Kind = "network"
	// KindTimeout: connect, write or read took longer than allowed, or the
	// context's deadline passed.
	KindTimeout Kind = "timeout"
	// KindTooLarge: the response body is over the size limit.
	KindTooLarge Kind = "too-large"
	// KindRefused: outbound safety refused the host or the address it
	// resolves to. Nothing left the machine.
	KindRefused Kind = "refused-address"
	// KindRedirect: more same-origin redirects than allowed, or a Location
	// that cannot be parsed.
	KindRedirect Kind = "redirect"
	// KindRateLimited: the local rate limiter could not grant a slot before
	// the context's deadline.
	KindRateLimited Kind = "rate-limited"
	// KindCanceled: the context was canceled.
	KindCanceled Kind = "canceled"
	// KindInvalid: the request itself is unusable (bad URL or scheme).
	KindInvalid Kind = "invalid-request"
	// KindStatus: built by StatusError from a response the caller treats as
	// a failure; Do itself never returns it.
	KindStatus Kind = "status"
)

// ErrorType is the error type of a run whose request failed with kind k:
// the one place the transport's kinds meet the error types callers see.
// An oversized body is the upstream's fault; a redirect loop, a status
// error and an unknown kind leave no usable connection: network.
func (k Kind) ErrorType() errtype.ErrorType {
	switch k {
	case KindTimeout:
		return errtype.Timeout
	case KindTooLarge:
		return errtype.Upstream
	case KindRefused:
		return errtype.Refused
	case KindRateLimited:
		return errtype.RateLimited
	case KindCanceled:
		return errtype.Canceled
	case KindInvalid:
		return errtype.InvalidInput
	}
	return errtype.Network
}

// excerptLimit bounds Error.BodyExcerpt: enough to read an API's error
// message, small enough for logs.
const excerptLimit = 512

// Error is the one error type Do returns. It never holds request headers,
// the request body or the URL's path and query (a token may live there); the
// caller still redacts BodyExcerpt, which comes from the server.
type Error struct {
	Kind Kind
	// Status of the last response, when one was received (too-large,
	// redirect, status).
	Status int
	// Method and Origin (scheme://host[:port]) of the request.
	Method string
	Origin string
	// Message is a short human description.
	Message string
	// BodyExcerpt is at most 512 bytes of the response body, cut on a UTF-8
	// boundary.
	BodyExcerpt string
	// Retryable says whether the same request may succeed later: transient
	// network failures, timeouts and retryable statuses.
	Retryable bool
	// Attempts made before giving up (0 when none was sent).
	Attempts int
	// RateWait is how long the attempts waited for the local rate limiter.
	RateWait time.Duration

	err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("httpx: ")
	b.WriteString(string(e.Kind))
	if e.Method != "" || e.Origin != "" {
		b.WriteString(": ")
		b.WriteString(e.Method)
		if e.Origin != "" {
			b.WriteByte(' ')
			b.WriteString(e.Origin)
		}
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap gives the cause: context.DeadlineExceeded, context.Canceled, a
// net.Error, fasthttp.ErrBodyTooLarge...
func (e *Error) Unwrap() error { return e.err }

// Is matches another *Error of the same Kind, so
// errors.Is(err, &httpx.Error{Kind: httpx.KindTimeout}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// KindOf returns the Kind of err, or "" when err is not (or does not wrap)
// an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// StatusError turns a response the caller considers a failure into an
// *Error of KindStatus with a body excerpt, for callers without error rules
// of their own (token refresh, webhook subscription).
func StatusError(r *Response) *Error {
	return &Error{
		Kind:        KindStatus,
		Status:      r.Status,
		Message:     fmt.Sprintf("unexpected status %d", r.Status),
		BodyExcerpt: Excerpt(r.Body),
		Retryable:   r.Status == 429 || r.Status >= 500,
		Attempts:    r.Attempts,
	}
}

// Excerpt returns at most 512 bytes of b as valid UTF-8: invalid bytes
// become U+FFFD and the cut falls on a rune boundary.
func Excerpt(b []byte) string {
	if len(b) > excerptLimit {
		// Back off a split rune so it does not turn into U+FFFD.
		n := excerptLimit
		for n > excerptLimit-utf8.UTFMax && !utf8.RuneStart(b[n]) {
			n--
		}
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) > excerptLimit {
		n := excerptLimit
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return s
}

// ctxError maps a done context onto an *Error.
func ctxError(err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Message: "context deadline exceeded", err: err}
	}
	return &Error{Kind: KindCanceled, Message: "context canceled", err: err}
}
