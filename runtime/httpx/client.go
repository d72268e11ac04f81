package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults of Config.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultMaxResponseBytes = 16 << 20
	DefaultMaxRedirects     = 5
	// Below the 5s keep-alive timeout of Node's HTTP server and several
	// gateways, so a pooled connection is rarely one the server has just
	// closed (which would fail a POST: it is not retried).
	DefaultMaxIdleConnDuration = 4 * time.Second
)

// Config is fixed for the life of a Client.
type Config struct {
	// Defaults of the per-request Settings.
	ConnectTimeout   time.Duration
	ReadTimeout      time.Duration // the whole response, body included
	WriteTimeout     time.Duration // the whole request, body included
	MaxResponseBytes int64
	// MaxRedirects is how many same-origin redirects are followed: 0 means
	// DefaultMaxRedirects, negative means none (3xx returned as is).
	MaxRedirects int

	// Outbound safety: by default only public addresses are dialed.
	// AllowPrivate opens loopback, private, unique-local and CGNAT ranges
	// (local development, on-premises APIs); link-local (the cloud metadata
	// service), multicast, unspecified and reserved ranges stay closed
	// unless AllowedNetworks names them.
	AllowPrivate    bool
	AllowedNetworks []netip.Prefix

	// UserAgent is sent when the request has none; default "membrane".
	UserAgent           string
	MaxConnsPerHost     int           // default fasthttp's 512
	MaxIdleConnDuration time.Duration // default DefaultMaxIdleConnDuration
	TLSConfig           *tls.Config   // custom roots for an on-premises API

	// Limiter enforces Request.Rate per Request.RateKey; nil makes one for
	// this client. Share one across clients to share the buckets.
	Limiter *Limiter
	// Trace is called after every HTTP exchange (each attempt and each
	// redirect hop); nil costs nothing. It must not keep or modify what it
	// is given.
	Trace func(*Attempt)
	// Sleep waits between attempts and for the rate limiter, returning early
	// with ctx's error; Now is the clock for Retry-After dates and the
	// limiter. Both are for tests; nil means a timer and time.Now.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// Dial, when set, opens every connection ("host:port") in place of DNS
	// and the outbound-safety dialer: an in-process fake of the upstream
	// (membrane test) that no request may leave.
	Dial func(addr string) (net.Conn, error)
}

// Settings bound one request; zero fields take the Client's Config.
type Settings struct {
	ConnectTimeout   time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	MaxResponseBytes int64
}

// Request is one outbound request. Do neither modifies nor keeps it; Body
// must not change while Do runs.
type Request struct {
	Method string // default GET
	URL    string // absolute http or https URL
	Header http.Header
	Body   []byte
	// AllowedHost, when set, is the only host ("host" or "host:port", the
	// port defaulting to the scheme's) the request may go to: the connector's
	// resolved base URL host. Empty means any host that passes the address
	// checks (an OAuth token URL on another host).
	AllowedHost string
	Settings    Settings
	Retry       RetryPolicy
	// RateKey (a connection id) and Rate: every attempt waits for a slot of
	// that key's bucket. Empty key or zero rate: no limit.
	RateKey string
	Rate    Rate
	// RateHeaders name the API's rate-limit headers. With a RateKey, a
	// response whose remaining count is 0 makes the key's next requests
	// wait for the reset instead of spending themselves on refusals.
	RateHeaders RateHeaders
}

// RateHeaders name an API's rate-limit headers; empty names take the
// defaults.
type RateHeaders struct {
	Remaining string // default X-RateLimit-Remaining
	// Reset says when the window resets: seconds, a Unix time or an HTTP
	// date (see ParseReset). Default X-RateLimit-Reset.
	Reset string
}

// Default rate-limit header names.
const (
	DefaultRemainingHeader = "X-RateLimit-Remaining"
	DefaultResetHeader     = "X-RateLimit-Reset"
)

func (h RateHeaders) names() (remaining, reset string) {
	remaining, reset = h.Remaining, h.Reset
	if remaining == "" {
		remaining = DefaultRemainingHeader
	}
	if reset == "" {
		reset = DefaultResetHeader
	}
	return remaining, reset
}

// Response is what came back. It owns its memory: nothing refers to
// fasthttp's pooled objects.
type Response struct {
	Status int
	// Header in canonical form. A compressed body is decoded, and its
	// Content-Encoding and Content-Length are then dropped.
	Header http.Header
	Body   []byte
	// URL is the final URL, after redirects.
	URL string
	// Attempts is how many tries it took (1 without retry).
	Attempts int
	// RateWait is how long the attempts waited for the local rate limiter.
	RateWait time.Duration
}

// Attempt describes one HTTP exchange, for Config.Trace. The caller redacts
// secrets before printing it: RequestHeader holds the credentials.
type Attempt struct {
	Attempt       int // 1-based try
	Hop           int // 0 for the request, n for the nth redirect followed
	Method        string
	URL           string
	RequestHeader http.Header
	RequestBody   []byte
	Response      *Response // nil when none arrived
	Err           error
	Duration      time.Duration
	// Retry says another attempt follows, after Wait.
	Retry bool
	Wait  time.Duration
}

// maxPools bounds the per-Settings fasthttp clients; connectors rarely
// differ, and a dropped pool only costs new connections.
const maxPools = 64

// Client sends requests. Make it once with New and share it: it is safe for
// concurrent use and pools connections per host and per Settings.
type Client struct {
	cfg     Config
	guard   guard
	limiter *Limiter
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time
	rnd     func(int64) int64
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)

	mu    sync.RWMutex
	pools map[Settings]*fasthttp.Client
}

// New returns a Client for cfg, its zero fields set to the defaults.
func New(cfg Config) *Client {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "membrane"
	}
	if cfg.MaxIdleConnDuration <= 0 {
		cfg.MaxIdleConnDuration = DefaultMaxIdleConnDuration
	}
	c := &Client{
		cfg:     cfg,
		guard:   guard{allowPrivate: cfg.AllowPrivate, allowed: slices.Clone(cfg.AllowedNetworks)},
		limiter: cfg.Limiter,
		sleep:   sleeper(cfg.Sleep),
		now:     cfg.Now,
		rnd:     randInt64N,
		lookup:  lookupNetIP,
		dial:    netDialer.DialContext,
		pools:   make(map[Settings]*fasthttp.Client),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.limiter == nil {
		c.limiter = &Limiter{Now: cfg.Now, Sleep: cfg.Sleep}
	}
	return c
}

// Limiter returns the rate limiter the client waits on.
func (c *Client) Limiter() *Limiter { return c.limiter }

// CloseIdleConnections closes the pooled connections not in use.
func (c *Client) CloseIdleConnections() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.pools {
		p.CloseIdleConnections()
	}
}

// pool returns the fasthttp client of s (filled with the defaults). fasthttp
// takes timeouts and the body limit per client, so each distinct Settings
// gets its own.
func (c *Client) pool(s Settings) (*fasthttp.Client, Settings) {
	s = c.settings(s)
	c.mu.RLock()
	p := c.pools[s]
	c.mu.RUnlock()
	if p != nil {
		return p, s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p = c.pools[s]; p != nil {
		return p, s
	}
	if len(c.pools) >= maxPools {
		for k, old := range c.pools {
			// In-flight requests keep their pointer and finish normally.
			old.CloseIdleConnections()
			delete(c.pools, k)
			break
		}
	}
	d := &dialer{guard: &c.guard, connectTimeout: s.ConnectTimeout, lookup: c.lookup, dial: c.dial}
	dial := d.dialTimeout
	if c.cfg.Dial != nil {
		dial = func(addr string, _ time.Duration) (net.Conn, error) { return c.cfg.Dial(addr) }
	}
	p = &fasthttp.Client{
		Name:                c.cfg.UserAgent,
		DialTimeout:         dial,
		TLSConfig:           c.cfg.TLSConfig,
		MaxConnsPerHost:     c.cfg.MaxConnsPerHost,
		MaxIdleConnDuration: c.cfg.MaxIdleConnDuration,
		// Retries are ours: fasthttp's would skip backoff and the rate
		// limiter.
		MaxIdemponentCallAttempts: 1,
		ReadTimeout:               s.ReadTimeout,
		WriteTimeout:              s.WriteTimeout,
		// Buffered, never streamed: a body over the limit fails with
		// ErrBodyTooLarge as soon as its Content-Length (or the running
		// chunked total) says so.
		MaxResponseBodySize: int(s.MaxResponseBytes),
		StreamResponseBody:  false,
		// Wait for a free connection rather than fail at once; the request
		// deadline still bounds the wait.
		MaxConnWaitTimeout: s.ConnectTimeout,
		// Also bounds the response header size; 4 KiB is too small for some
		// APIs' cookies and CSP headers.
		ReadBufferSize: 16 << 10,
		// The runtime escapes path segments itself; normalizing would turn
		// an encoded slash in an id back into a separator.
		DisablePathNormalizing: true,
	}
	c.pools[s] = p
	return p, s
}

func (c *Client) settings(s Settings) Settings {
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = c.cfg.ConnectTimeout
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = c.cfg.ReadTimeout
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = c.cfg.WriteTimeout
	}
	if s.MaxResponseBytes <= 0 {
		s.MaxResponseBytes = c.cfg.MaxResponseBytes
	}
	return s
}

// call is the state of one Do shared by its attempts.
type call struct {
	pool     *fasthttp.Client
	req      *fasthttp.Request
	resp     *fasthttp.Response
	r        *Request
	limit    int64
	deadline time.Time
}

// Do sends r, following same-origin redirects and retrying per r.Retry,
// until a response is final or ctx ends.
//
// A response of any status is returned with a nil error: mapping statuses to
// errors is the caller's (the connector's error rules); a retryable status
// comes back once retries are spent. The error is an *Error when no usable
// response arrived.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	method := r.Method
	if method == "" {
		method = fasthttp.MethodGet
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	var abandoned bool // an exchange still running owns req and resp
	defer func() {
		if !abandoned {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	}()

	if err := fill(req, r, method); err != nil {
		err.Method = method
		return nil, err
	}
	var rateWait time.Duration // waited for the limiter, all attempts
	fail := func(e *Error, attempts int) (*Response, error) {
		e.Method, e.Origin, e.Attempts, e.RateWait = method, originOf(r.URL), attempts, rateWait
		return nil, e
	}
	if r.AllowedHost != "" && !hostAllowed(req.URI(), r.AllowedHost) {
		return fail(&Error{Kind: KindRefused, Message: "host is not the connector's (" + r.AllowedHost + ")"}, 0)
	}
	pool, s := c.pool(r.Settings)
	cl := &call{pool: pool, req: req, resp: resp, r: r, limit: s.MaxResponseBytes}
	pol := r.Retry.withDefaults()
	idem := idempotent(method, r.Header, &pol)
	deadline, _ := ctx.Deadline()
	cl.deadline = deadline

	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fail(ctxError(err), attempt-1)
		}
		if err := c.waitRate(ctx, r, &rateWait); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = &Error{Kind: KindRateLimited, Message: err.Error(), err: err}
			}
			return fail(e, attempt-1)
		}
		if attempt > 1 {
			req.Reset()
			fill(req, r, method) // it passed before
		}
		start := time.Now()
		hops, gone, err := c.exchangeCtx(ctx, cl, attempt)
		if gone {
			abandoned = true
			return fail(ctxError(ctx.Err()), attempt)
		}
		redirected := hops > 0
		dur := time.Since(start)

		var (
			fe    *Error
			retry bool
			wait  time.Duration
		)
		if err != nil {
			deadlineHit := !deadline.IsZero() && !time.Now().Before(deadline)
			var transient, unsent bool
			fe, transient, unsent = failure(err, deadlineHit)
			fe.Retryable = transient
			if fe.Kind == KindTooLarge && fe.Status == 0 {
				fe.Status = resp.Header.StatusCode() // headers were read
			}
			retry = transient && (unsent || idem)
			wait = pol.backoff(attempt, c.rnd)
		} else {
			c.followRateLimit(r, &resp.Header)
			st := resp.StatusCode()
			var seen *Response // built once for When and After
			view := func() *Response {
				if seen == nil {
					seen, _ = buildResponse(req, resp, r, redirected, attempt, s.MaxResponseBytes)
				}
				return seen
			}
			turnedAway := false
			if !retryableStatus(&pol, st) && st >= 400 && pol.When != nil {
				if v := view(); v != nil && pol.When(v) {
					turnedAway = true
				}
			}
			if turnedAway || retryableStatus(&pol, st) {
				// 429 (or a response When names) means the request was
				// turned away unprocessed: safe to send again whatever the
				// method.
				retry = turnedAway || st == fasthttp.StatusTooManyRequests || idem
				if w, ok := c.retryWait(&pol, r, resp, view); ok {
					wait = w
					retry = retry && w <= pol.MaxRetryAfter
				} else {
					wait = pol.backoff(attempt, c.rnd)
				}
			}
		}
		if attempt >= pol.MaxAttempts {
			retry = false
		}
		// A retry that cannot start before the deadline would only turn a
		// real answer into a timeout.
		if retry && !deadline.IsZero() && time.Until(deadline) <= wait {
			retry = false
		}

		var out *Response
		if err == nil && (!retry || c.cfg.Trace != nil) {
			var be *Error
			if out, be = buildResponse(req, resp, r, redirected, attempt, s.MaxResponseBytes); be != nil {
				fe, out, retry = be, nil, false
			} else {
				out.RateWait = rateWait
			}
		}
		if c.cfg.Trace != nil {
			a := c.attempt(req, r, attempt, redirected, dur)
			a.Hop, a.Response, a.Retry = hops, out, retry
			if fe != nil {
				a.Err = fe
			}
			if retry {
				a.Wait = wait
			}
			c.cfg.Trace(a)
		}
		if !retry {
			if fe != nil {
				return fail(fe, attempt)
			}
			return out, nil
		}
		if err := c.sleep(ctx, wait); err != nil {
			return fail(ctxError(err), attempt)
		}
	}
}

// retryWait is the wait the API asks for before a retry: After's, then
// Retry-After (seconds or an HTTP date), then the rate limit's reset.
func (c *Client) retryWait(pol *RetryPolicy, r *Request, resp *fasthttp.Response, view func() *Response) (time.Duration, bool) {
	if pol.After != nil {
		if v := view(); v != nil {
			if w, ok := pol.After(v); ok {
				return w, true
			}
		}
	}
	now := c.now()
	if w, ok := ParseRetryAfter(string(resp.Header.Peek("Retry-After")), now); ok {
		return w, true
	}
	_, reset := r.RateHeaders.names()
	return ParseReset(string(resp.Header.Peek(reset)), now)
}

// followRateLimit pauses the request's key until the API's window resets
// when a response says no requests remain in it.
func (c *Client) followRateLimit(r *Request, h *fasthttp.ResponseHeader) {
	if r.RateKey == "" {
		return
	}
	remaining, reset := r.RateHeaders.names()
	v := strings.TrimSpace(string(h.Peek(remaining)))
	if v == "" {
		return
	}
	if n, err := strconv.ParseFloat(v, 64); err != nil || n > 0 {
		return
	}
	now := c.now()
	if d, ok := ParseReset(string(h.Peek(reset)), now); ok && d > 0 {
		c.limiter.Pause(r.RateKey, now.Add(d))
	}
}

// waitRate waits for the limiter's slot, adding the time waited to
// *waited.
func (c *Client) waitRate(ctx context.Context, r *Request, waited *time.Duration) error {
	if r.RateKey == "" {
		return nil // no clock read on the common path
	}
	// Even without a rate of its own, the key may be paused until the
	// API's window resets (followRateLimit).
	start := time.Now()
	err := c.limiter.Wait(ctx, r.RateKey, r.Rate)
	*waited += time.Since(start)
	return err
}

func (c *Client) attempt(req *fasthttp.Request, r *Request, attempt int, redirected bool, dur time.Duration) *Attempt {
	a := &Attempt{
		Attempt:       attempt,
		Method:        string(req.Header.Method()),
		URL:           r.URL,
		RequestHeader: r.Header,
		RequestBody:   req.Body(),
		Duration:      dur,
	}
	if redirected {
		a.URL = req.URI().String()
	}
	return a
}

// exchangeCtx runs exchange so that a canceled ctx returns at once: fasthttp
// has no context, only deadlines, so the exchange goes on in its goroutine
// until its own timeout and then releases req and resp itself. gone says it
// was left running; the caller must then not touch req or resp again.
func (c *Client) exchangeCtx(ctx context.Context, cl *call, attempt int) (hops int, gone bool, err error) {
	if ctx.Done() == nil {
		hops, err = c.exchange(cl, attempt)
		return hops, false, err
	}
	type result struct {
		hops int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		h, e := c.exchange(cl, attempt)
		done <- result{h, e}
	}()
	select {
	case r := <-done:
		return r.hops, false, r.err
	case <-ctx.Done():
		go func() {
			<-done
			fasthttp.ReleaseRequest(cl.req)
			fasthttp.ReleaseResponse(cl.resp)
		}()
		return 0, true, nil
	}
}
