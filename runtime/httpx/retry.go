package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// RetryPolicy says how a request is retried: network errors, timeouts and
// the retryable statuses, with exponential backoff and full jitter, honouring
// Retry-After. Zero fields take the defaults below.
type RetryPolicy struct {
	// MaxAttempts counts the first try: 1 disables retries. Default 3.
	MaxAttempts int
	// Backoff before retry n is uniform in [0, min(MaxBackoff,
	// InitialBackoff*2^(n-1))]. Defaults 250ms and 10s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter is the longest Retry-After honoured: when a server asks
	// for more, Do returns its response at once rather than sleep (the
	// caller sees the status and the header). Default 60s.
	MaxRetryAfter time.Duration
	// Statuses replaces the retryable statuses (429, 500, 502, 503, 504).
	Statuses []int
	// NonIdempotent retries POST and PATCH too, for APIs that deduplicate
	// them. A request with an Idempotency-Key header is retried anyway.
	NonIdempotent bool
	// When also retries a 4xx or 5xx response that Statuses does not (a
	// 403 that is a rate limit), whatever the method: the API turned the
	// request away. It is not asked about successes.
	When func(*Response) bool
	// After gives the wait before retrying a response; false takes the
	// default: Retry-After, then the request's rate-limit reset header,
	// then backoff.
	After func(*Response) (time.Duration, bool)
}

// Defaults of RetryPolicy.
const (
	DefaultMaxAttempts    = 3
	DefaultInitialBackoff = 250 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultMaxRetryAfter  = 60 * time.Second
)

var defaultStatuses = []int{429, 500, 502, 503, 504}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.InitialBackoff)
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if p.Statuses == nil {
		p.Statuses = defaultStatuses
	}
	return p
}

// backoff returns the full-jitter wait before retry n (1-based); rnd returns
// a value in [0, n).
func (p RetryPolicy) backoff(n int, rnd func(int64) int64) time.Duration {
	ceiling := p.MaxBackoff
	if shift := n - 1; shift < 32 {
		if b := p.InitialBackoff << shift; b > 0 && b < ceiling {
			ceiling = b
		}
	}
	return time.Duration(rnd(int64(ceiling) + 1))
}

func randInt64N(n int64) int64 { return rand.Int64N(n) }

// idempotent says whether a request may be sent twice: the method is
// idempotent (RFC 9110), the policy allows it, or the request carries an
// idempotency key the API deduplicates on.
func idempotent(method string, h http.Header, p *RetryPolicy) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return p.NonIdempotent || h.Get("Idempotency-Key") != "" || h.Get("X-Idempotency-Key") != ""
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// A date in the past means no wait.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // no overflow
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// ParseReset reads a rate-limit reset value: seconds to wait (below
// 10^9), a Unix time in seconds (at or above it; GitHub, Intercom), or
// an HTTP date. A time in the past means no wait.
func ParseReset(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f != f {
			return 0, false
		}
		if f >= 1e9 {
			return max(time.Unix(0, 0).Add(time.Duration(min(f, 1e10)*float64(time.Second))).Sub(now), 0), true
		}
		return time.Duration(min(f, float64(24*time.Hour/time.Second)) * float64(time.Second)), true
	}
	return ParseRetryAfter(v, now)
}

// failure classifies a transport error: the *Error to return, and whether a
// retry could help (transient) and is safe for any method (nothing reached
// the server).
func failure(err error, deadlineHit bool) (e *Error, transient, unsent bool) {
	var he *Error
	if errors.As(err, &he) {
		// Made by the dialer (refused address) or the redirect logic: final.
		c := *he
		return &c, false, true
	}
	var de *dialError
	unsent = errors.As(err, &de) || errors.Is(err, fasthttp.ErrNoFreeConns)
	switch {
	case deadlineHit:
		return &Error{Kind: KindTimeout, Message: "context deadline exceeded", err: errors.Join(context.DeadlineExceeded, err)}, false, unsent
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &Error{Kind: KindTooLarge, Message: "response body over the size limit", err: err}, false, false
	case isTimeout(err):
		msg := "read or write timed out"
		if unsent {
			msg = "connect timed out"
		}
		return &Error{Kind: KindTimeout, Message: msg, err: err}, true, unsent
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return &Error{Kind: KindNetwork, Message: "no such host", err: err}, false, true
	}
	if badCertificate(err) {
		return &Error{Kind: KindNetwork, Message: "TLS certificate rejected: " + err.Error(), err: err}, false, true
	}
	msg := err.Error()
	switch {
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		msg = "connection closed before the response was complete"
	case errors.Is(err, syscall.ECONNRESET):
		msg = "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "connection refused"
	}
	return &Error{Kind: KindNetwork, Message: msg, err: err}, true, unsent
}

// badCertificate: the same certificate will be rejected again.
func badCertificate(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		hn x509.HostnameError
		ua x509.UnknownAuthorityError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &hn) || errors.As(err, &ua) || errors.As(err, &ci)
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func retryableStatus(p *RetryPolicy, status int) bool {
	return slices.Contains(p.Statuses, status)
}
