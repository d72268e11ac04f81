// Package client is a Go client of Membrane's REST API (runtime/api).
//
//	c := client.New("https://integrations.acme.example", token)
//	conn, err := c.CreateConnection(ctx, client.CreateConnectionRequest{Connector: "stripe",
//		Credentials: map[string]any{"apiKey": key}})
//	res, err := c.RunAction(ctx, conn.ID, "create-contact", map[string]any{"email": "ada@example.com"}, nil)
//	var p *client.Problem
//	if errors.As(err, &p) && p.Kind() == "run-invalid-input" { … p.Errors … }
//
// Every error the API answers is a *Problem. The client keeps no state
// beyond its token and is safe for concurrent use.
//
// The types the API sends and takes (types.go) are generated from the
// server's: go generate ./runtime/client/... rewrites them.
package client

//go:generate go run ./internal/cmd/wiregen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one Membrane server with one token.
type Client struct {
	base      string
	token     string
	hc        *http.Client
	userAgent string
}

// Option tunes a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc (timeouts, proxies, tracing).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent names the caller in the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL (without /v1) acting with
// token, a tenant JWT.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, userAgent: "membrane-go-client",
		hc: &http.Client{Timeout: 2 * time.Minute}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// maxResponse bounds what is read of an answer.
const maxResponse = 64 << 20

// call is one request. in is nil, a rawBody, or a value sent as JSON;
// out, when not nil, receives the JSON answer. It returns the response
// headers.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, header http.Header, in, out any) (http.Header, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	ctype := ""
	switch b := in.(type) {
	case nil:
	case rawBody:
		body, ctype = bytes.NewReader(b.data), b.contentType
	default:
		j, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("membrane: encode the request: %w", err)
		}
		body, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("membrane: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.userAgent)
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("membrane: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("membrane: %s %s: reading the answer: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		return res.Header, problemOf(res, data)
	}
	switch o := out.(type) {
	case nil:
	case *string:
		*o = string(data)
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("membrane: %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return res.Header, nil
}

// NewIdempotencyKey returns a random key (a UUID, version 4) for one
// logical request: send it with the request and with each of its
// retries.
func NewIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// idempotencyHeader is the Idempotency-Key header of key, nil without one.
func idempotencyHeader(key string) http.Header {
	if key == "" {
		return nil
	}
	return http.Header{"Idempotency-Key": {key}}
}

// rawBody is a request body sent as is.
type rawBody struct {
	data        []byte
	contentType string
}

// problemOf reads an error answer: the API's problem, or one made up
// from whatever a proxy on the way answered.
func problemOf(res *http.Response, data []byte) *Problem {
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	var retryAfter time.Duration
	if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && n >= 0 {
		retryAfter = time.Duration(n) * time.Second
	}
	if mt == "application/problem+json" || mt == "application/json" {
		var p Problem
		if json.Unmarshal(data, &p) == nil && p.Title != "" {
			if p.Status == 0 {
				p.Status = res.StatusCode
			}
			p.RetryAfter = retryAfter
			return &p
		}
	}
	detail := strings.TrimSpace(string(data))
	if len(detail) > 200 {
		detail = detail[:200] + "…"
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(res.StatusCode), Status: res.StatusCode, Detail: detail, RetryAfter: retryAfter}
}

func esc(s string) string { return url.PathEscape(s) }

// paging adds a listing's cursor and limit to q.
func paging(q url.Values, cursor string, limit int) url.Values {
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return q
}

func set(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
