package delivery

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Defaults of the sender.
const (
	DefaultMaxBody = 64 << 10
	DefaultTimeout = 10 * time.Second
	// ExcerptMax bounds the part of an answer an attempt keeps.
	ExcerptMax = 512
	// MaxRetryAfter caps how long a Retry-After can push an attempt back.
	MaxRetryAfter = 24 * time.Hour
)

// result is what one attempt came to.
type result struct {
	Status  int
	Err     error // nil: delivered (2xx)
	Excerpt string
	// RetryAfter is the wait the answer asked for (0: none).
	RetryAfter time.Duration
	// Gone: the backend answered 410, the destination is to be disabled.
	Gone bool
}

// webhookSender posts envelopes. One serves every destination: fasthttp
// keeps a connection pool per host.
type webhookSender struct {
	client  *fasthttp.Client
	maxBody int
}

func newWebhookSender(guard *dialGuard, maxBody int) *webhookSender {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return &webhookSender{
		maxBody: maxBody,
		client: &fasthttp.Client{
			Name:        "Membrane-Delivery",
			DialTimeout: guard.dial,
			// One attempt is one request: a retry is the schedule's to make.
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			// The body is read by hand, up to maxBody, so a huge or endless
			// answer never sits in memory.
			StreamResponseBody:     true,
			ReadBufferSize:         16 << 10,
			MaxConnWaitTimeout:     5 * time.Second,
			MaxIdleConnDuration:    30 * time.Second,
			DisablePathNormalizing: true,
		},
	}
}

// send posts body to rawURL with headers, within timeout. redact lists the
// strings (secrets, signatures) that must not appear in what is kept.
func (s *webhookSender) send(rawURL string, timeout time.Duration, headers map[string]string, body []byte, now time.Time, redact []string) result {
	if err := checkWebhookURL(rawURL); err != nil {
		return result{Err: err}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(rawURL)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.SetBodyRaw(body)
	req.SetTimeout(timeout)

	if err := s.client.Do(req, resp); err != nil {
		return result{Err: redactErr(transportError(err, timeout), redact)}
	}
	r := result{Status: resp.StatusCode()}
	prefix, n, err := s.readBody(resp)
	r.Excerpt = excerpt(prefix, redact)
	switch {
	case err != nil && errors.Is(err, fasthttp.ErrBodyTooLarge):
		r.Err = fmt.Errorf("answered HTTP %d with a body over %d bytes (the limit of delivery answers): answer with a short body", r.Status, s.maxBody)
		return r
	case err != nil:
		r.Err = redactErr(fmt.Errorf("answered HTTP %d but its body could not be read after %d bytes: %w", r.Status, n, transportError(err, timeout)), redact)
		return r
	}
	switch {
	case r.Status >= 200 && r.Status < 300:
		return r
	case r.Status == http.StatusGone:
		r.Gone = true
		r.Err = errors.New("answered HTTP 410 Gone: the destination is disabled until it is enabled again")
	case r.Status >= 300 && r.Status < 400:
		where := "nowhere (no Location)"
		if loc := string(resp.Header.Peek("Location")); loc != "" {
			if u, err := url.Parse(loc); err == nil && u.Host != "" {
				where = u.Host
			} else {
				where = "a relative location on the same host"
			}
		}
		r.Err = fmt.Errorf("answered HTTP %d redirecting to %s: redirects are not followed, point the destination at the final URL", r.Status, where)
	default:
		r.Err = fmt.Errorf("answered HTTP %d", r.Status)
	}
	if d, ok := ParseRetryAfter(string(resp.Header.Peek("Retry-After")), now); ok {
		r.RetryAfter = d
	}
	return r
}

// readBody reads the answer up to maxBody, keeping only its first bytes
// (for the excerpt, with room to redact across the cut). A declared or
// actual length over maxBody is ErrBodyTooLarge without reading the rest:
// the connection is closed instead.
func (s *webhookSender) readBody(resp *fasthttp.Response) (prefix []byte, n int64, err error) {
	stream := resp.BodyStream()
	if stream == nil {
		return resp.Body(), int64(len(resp.Body())), nil
	}
	closer, _ := stream.(fasthttp.ReadCloserWithError)
	closeWith := func(err error) {
		if closer != nil {
			_ = closer.CloseWithError(err)
		} else {
			_ = resp.CloseBodyStream()
		}
	}
	if cl := resp.Header.ContentLength(); cl > s.maxBody {
		closeWith(fasthttp.ErrBodyTooLarge)
		return nil, 0, fasthttp.ErrBodyTooLarge
	}
	keep := &prefixWriter{max: 2 * ExcerptMax}
	n, err = io.Copy(keep, io.LimitReader(stream, int64(s.maxBody)+1))
	if err != nil {
		closeWith(err)
		return keep.b, n, err
	}
	if n > int64(s.maxBody) {
		closeWith(fasthttp.ErrBodyTooLarge)
		return keep.b, n, fasthttp.ErrBodyTooLarge
	}
	return keep.b, n, resp.CloseBodyStream()
}

// prefixWriter keeps the first max bytes written and counts the rest.
type prefixWriter struct {
	b   []byte
	max int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// transportError says in a sentence what went wrong before an answer.
func transportError(err error, timeout time.Duration) error {
	var pe *PrivateAddressError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), isTimeout(err):
		return fmt.Errorf("no answer within %s (the destination's timeout)", timeout)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return err
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the connection was closed before a complete answer")
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return fmt.Errorf("connection failed: %v", ne.Err)
	}
	return fmt.Errorf("unreadable answer: %v", err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// checkWebhookURL refuses what cannot be a webhook target before dialing.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("the destination URL is not an absolute http(s) URL: fix it in membrane.yaml or with PATCH /v1/destinations/{id}")
	}
	if u.User != nil {
		return errors.New("the destination URL carries user info: put credentials in the signing secret, not the URL")
	}
	return nil
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date, relative to now; capped at MaxRetryAfter. ok is false when
// the header is absent, unreadable or in the past.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d <= 0 {
			return 0, false
		}
	} else {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// excerpt is up to ExcerptMax bytes of an answer, valid UTF-8 without NUL,
// with every redact string replaced.
func excerpt(b []byte, redact []string) string {
	s := redactString(string(b), redact)
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) > ExcerptMax {
		cut := ExcerptMax
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

func redactString(s string, redact []string) string {
	for _, r := range redact {
		if len(r) >= 8 && strings.Contains(s, r) {
			s = strings.ReplaceAll(s, r, "[redacted]")
		}
	}
	return s
}

func redactErr(err error, redact []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := redactString(msg, redact); red != msg {
		return errors.New(red)
	}
	return err
}

// redactions are the strings of a signed attempt that must never be kept:
// each secret, its key part, each signature.
func redactions(secrets []string, signature string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, strings.TrimPrefix(s, SecretPrefix))
	}
	for _, sig := range strings.Fields(signature) {
		out = append(out, sig, strings.TrimPrefix(sig, "v1,"))
	}
	return out
}

// PrivateAddressError is a target that resolved into a network delivery
// may not reach.
type PrivateAddressError struct {
	Addr netip.Addr
	Kind string
}

func (e *PrivateAddressError) Error() string {
	return fmt.Sprintf("refused to connect to %s, a %s address: delivery reaches only public addresses unless delivery.allowPrivateNetworks lists the network", e.Addr, e.Kind)
}

// dialGuard dials only addresses delivery may reach. It checks the address
// actually dialled, after resolution, so a name that resolves to a public
// address when checked and a private one when used cannot slip through.
type dialGuard struct {
	allow []netip.Prefix
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// classify names why a is not public ("" when it is).
func classify(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsUnspecified() || (a.Is4() && thisNetwork.Contains(a)):
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	case a.IsPrivate() || sharedSpace.Contains(a):
		return "private"
	}
	return ""
}

func (g *dialGuard) check(a netip.Addr) error {
	a = a.Unmap()
	kind := classify(a)
	if kind == "" {
		return nil
	}
	for _, p := range g.allow {
		if p.Contains(a) {
			return nil
		}
	}
	return &PrivateAddressError{Addr: a, Kind: kind}
}

// control runs on every address the dialer is about to connect to.
func (g *dialGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused to connect to %q: not an IP address and port", address)
	}
	return g.check(ap.Addr())
}

func (g *dialGuard) dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
}

func (g *dialGuard) dial(addr string, timeout time.Duration) (net.Conn, error) {
	return g.dialer(timeout).Dial("tcp", addr)
}
