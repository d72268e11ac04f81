package verify

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/runtime/internal/fastjson"
	"github.com/membrane-dev/membrane/spec/expr"
)

// Request is an incoming webhook request as the expressions of a webhook
// see it: the `request` variable.
type Request struct {
	Method string
	// URL is the public URL the app called: the workspace's public URL,
	// then the path and query exactly as they arrived. Schemes that sign
	// the URL (HubSpot v3, Twilio) sign this one.
	URL  string
	Path string
	// Headers maps each lower-case header name to its first value.
	Headers map[string]string
	// Query maps each query parameter to its first value.
	Query map[string]string
	// Form maps each parameter of a form-encoded body to its first value;
	// empty for any other body.
	Form map[string]string
	// Body is the parsed body: JSON, or the form as an object of strings;
	// nil when empty, unreadable (see BodyErr) or of another type.
	Body any
	// BodyErr says why a body that claims to be JSON or a form could not
	// be read; the signature check does not need it, the records do.
	BodyErr error
	// RawBody is the body as it arrived, byte for byte: what most schemes
	// sign.
	RawBody []byte
}

// NewRequest builds the Request of an incoming HTTP request whose body
// was read already. publicURL is where the app reaches the server (the
// workspace's public URL, e.g. https://hooks.example.com); the request's
// path and query are appended to it as they arrived. An empty publicURL
// falls back to the Host the request names, over https when it came over
// TLS and http otherwise (headers such as X-Forwarded-Proto are not
// trusted). NewRequest never fails: a body that cannot be parsed leaves
// Body nil and says why in BodyErr.
func NewRequest(r *http.Request, body []byte, publicURL string) *Request {
	req := &Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		Headers: make(map[string]string, len(r.Header)),
		Query:   map[string]string{},
		Form:    map[string]string{},
		RawBody: body,
	}
	for k, vs := range r.Header {
		if len(vs) > 0 {
			req.Headers[strings.ToLower(k)] = vs[0]
		}
	}
	for k, vs := range r.URL.Query() {
		req.Query[k] = vs[0]
	}
	base := strings.TrimSuffix(publicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	req.URL = base + r.URL.RequestURI()
	req.Body, req.BodyErr = parseBody(req.Headers["content-type"], body, req.Form)
	return req
}

// parseBody reads a body by its content type: JSON (numbers as int64
// where integral, as CEL expects) or a form, whose first values it also
// puts in form.
func parseBody(contentType string, body []byte, form map[string]string) (any, error) {
	if len(body) == 0 {
		return nil, nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "" && looksLikeJSON(body):
		if v, ok := fastjson.Decode(body); ok {
			return v, nil
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, &BodyError{What: "JSON", Err: err}
		}
		return expr.Normalize(nil, v), nil
	case mt == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &BodyError{What: "form data", Err: err}
		}
		m := make(map[string]any, len(q))
		for k, vs := range q {
			form[k] = vs[0]
			m[k] = vs[0]
		}
		return m, nil
	}
	return nil, nil
}

// BodyError is a body that is not the JSON or form data its content type
// (or its first bytes) claim.
type BodyError struct {
	What string
	Err  error
}

func (e *BodyError) Error() string {
	return "the webhook body is not valid " + e.What + ": " + e.Err.Error()
}

func (e *BodyError) Unwrap() error { return e.Err }

func looksLikeJSON(b []byte) bool {
	s := bytes.TrimLeft(b[:min(len(b), 64)], " \t\r\n")
	return len(s) > 0 && (s[0] == '{' || s[0] == '[')
}

// Var is the `request` variable of webhook expressions.
func (r *Request) Var() map[string]any {
	return map[string]any{
		"method":  r.Method,
		"url":     r.URL,
		"path":    r.Path,
		"headers": nonNil(r.Headers),
		"query":   nonNil(r.Query),
		"form":    nonNil(r.Form),
		"body":    r.Body,
		"rawBody": string(r.RawBody),
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
