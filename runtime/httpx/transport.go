package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// DefaultMaxRequestBytes bounds the request body a Transport reads.
const DefaultMaxRequestBytes = 1 << 20

// Transport is an http.RoundTripper that sends through a Client, for a
// library that takes an *http.Client (golang.org/x/oauth2): its requests
// then get the same outbound safety as the runtime's own — addresses
// checked at dial time, the Client's timeouts and response size cap, and
// only same-origin redirects followed. Use it through HTTPClient, which
// also stops net/http from following the redirects the Client returns.
type Transport struct {
	Client *Client
	// Retry is the policy of every request. The zero value is the
	// default: a POST is resent only when it was never sent (or got a
	// 429), never after the server may have acted on it.
	Retry RetryPolicy
	// Settings bound each request; zero fields take the Client's Config.
	Settings Settings
	// MaxRequestBytes bounds the request body read into memory; 0 is
	// DefaultMaxRequestBytes.
	MaxRequestBytes int64
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip sends req with the Client and returns its response, whatever
// the status, as net/http does. An error is the Client's *Error (net/http
// wraps it in a *url.Error; errors.As finds it), or an *Error of
// KindInvalid for a request the Client cannot send as asked.
//
// The whole response body is read (within the size cap) before RoundTrip
// returns; the body handed back reads from memory.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, ierr := t.readBody(req)
	if ierr != nil {
		return nil, ierr
	}
	if t.Client == nil {
		return nil, errNoClient
	}
	if req.URL == nil {
		return nil, &Error{Kind: KindInvalid, Method: req.Method, Message: "request has no URL"}
	}
	// The Client derives Host from the URL; a different one would be
	// silently dropped, so it is refused instead.
	if req.Host != "" && req.Host != req.URL.Host {
		return nil, &Error{Kind: KindInvalid, Method: req.Method, Origin: originOf(req.URL.String()), Message: "a Host other than the URL's is not supported"}
	}
	resp, err := t.Client.Do(req.Context(), &Request{
		Method:   req.Method,
		URL:      req.URL.String(),
		Header:   req.Header,
		Body:     body,
		Settings: t.Settings,
		Retry:    t.Retry,
	})
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        strconv.Itoa(resp.Status) + " " + http.StatusText(resp.Status),
		StatusCode:    resp.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}

// readBody reads and closes the request body, as a RoundTripper must
// even when it fails.
func (t *Transport) readBody(req *http.Request) ([]byte, *Error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	limit := t.MaxRequestBytes
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Method: req.Method, Message: "reading the request body: " + err.Error(), err: err}
	}
	if int64(len(b)) > limit {
		return nil, &Error{Kind: KindInvalid, Method: req.Method, Message: fmt.Sprintf("request body over %d bytes", limit)}
	}
	return b, nil
}

// HTTPClient returns an *http.Client whose requests go through c (a
// Transport with retry). It follows no redirect itself: c follows the
// same-origin ones, and a redirect to another origin comes back as the
// response, so no credential of the request is carried to a host that was
// not asked for. It has no cookie jar and no timeout of its own (the
// context's deadline and c's timeouts bound each request).
func (c *Client) HTTPClient(retry RetryPolicy) *http.Client {
	return &http.Client{
		Transport:     &Transport{Client: c, Retry: retry},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errNoClient is a Transport used without a Client.
var errNoClient = errors.New("httpx: Transport has no Client")
