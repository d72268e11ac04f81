package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/internal/fastjson"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
)

// built is a request ready to send, before auth.
type built struct {
	req   *httpx.Request
	label string // "METHOD scheme://host/path", for errors and logs
	// rebuild builds the request again, for one that carries a credential
	// outside what the auth sets (a token in the body): after a refresh it
	// must carry the new one.
	rebuild func(context.Context) (*built, error)
	// pageURL is the next-page link the request was sent to instead.
	pageURL string
	// base64 reads a successful response's body as its bytes in base64
	// (responseFormat: base64, a download).
	base64 bool
	// base is the URL the path was joined to: the connector's base URL
	// or the server the request names. Its origin is where the request
	// and its credentials may go.
	base   *url.URL
	server string
}

// buildRequest evaluates a compiled request. extra adds parameters the
// engine sets (a page cursor), in the query or the body.
func (r *run) buildRequest(ctx context.Context, cr *compile.Request, vars map[string]any, extra map[string]any, extraIn string) (*built, error) {
	var rebuild func(context.Context) (*built, error)
	if _, given := vars[compile.VarCredentials]; !given && (cr.ReadsCredentials || r.plan.connector.HeadersReadCredentials) {
		creds, err := r.credentialsVar(ctx)
		if err != nil {
			return nil, err
		}
		orig := vars
		vars = withVar(vars, compile.VarCredentials, creds)
		rebuild = func(ctx context.Context) (*built, error) { return r.buildRequest(ctx, cr, orig, extra, extraIn) }
	}
	b, err := r.buildRequestWith(ctx, cr, vars, extra, extraIn)
	if err != nil {
		return nil, err
	}
	b.rebuild = rebuild
	return b, nil
}

// credentialsVar is `credentials` in a request's templates: the
// connection's credentials and, where an authenticator keeps an OAuth2
// token, its current access token as accessToken. Each is hidden in logs
// and errors.
func (r *run) credentialsVar(ctx context.Context) (map[string]any, error) {
	creds := r.conn.credentials()
	ts, ok := r.auth.(AccessTokener)
	if !ok {
		return creds, nil
	}
	tok, err := ts.AccessToken(ctx)
	if err != nil {
		return nil, fromURL(err)
	}
	r.hideSecret(tok)
	out := make(map[string]any, len(creds)+1)
	for k, v := range creds {
		out[k] = v
	}
	out["accessToken"] = tok
	return out, nil
}

func (r *run) buildRequestWith(ctx context.Context, cr *compile.Request, vars map[string]any, extra map[string]any, extraIn string) (*built, error) {
	path, err := evalPath(ctx, cr, vars)
	if err != nil {
		return nil, err
	}
	base, err := r.serverURL(ctx, cr.Server)
	if err != nil {
		return nil, err
	}
	u, err := r.resolveURL(base, cr.Server, path)
	if err != nil {
		return nil, err
	}
	// Without parameters the query is left as it is; with any, it is
	// parsed and encoded again (in key order).
	var q url.Values
	if u.RawQuery != "" || len(cr.Query) > 0 || (len(extra) > 0 && extraIn != "body") {
		q = u.Query()
	}
	for _, nv := range cr.Query {
		v, err := nv.Expr.Eval(ctx, vars)
		if err != nil {
			return nil, fromExpr(err)
		}
		addQuery(q, nv.Name, v)
	}
	var (
		body    any
		encoded []byte // the body written as JSON straight from its fields
	)
	if cr.Body != nil {
		bodyInExtra := len(extra) > 0 && extraIn == "body"
		if keys := cr.Body.Keys(); keys != nil && !bodyInExtra && (cr.Encoding == "" || cr.Encoding == "json") {
			if encoded, err = encodeFields(ctx, cr.Body, keys, vars); err != nil {
				return nil, fromExpr(err)
			}
		}
		if encoded == nil {
			if body, err = cr.Body.Eval(ctx, vars); err != nil {
				return nil, fromExpr(err)
			}
		}
	}
	if len(extra) > 0 {
		if extraIn == "body" {
			// A copy: the body may be the input's map or the plan's literal.
			orig, _ := body.(map[string]any)
			m := make(map[string]any, len(orig)+len(extra))
			for k, v := range orig {
				m[k] = v
			}
			for k, v := range extra {
				m[k] = v
			}
			body = m
		} else {
			for k, v := range extra {
				q.Del(k)
				addQuery(q, k, v)
			}
		}
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}

	hs := newHeaders(len(r.plan.connector.Headers) + len(cr.Headers) + 2)
	h := hs.h
	for _, list := range [][]compile.Named{r.plan.connector.Headers, cr.Headers} {
		for _, nv := range list {
			v, err := nv.Expr.Eval(ctx, vars)
			if err != nil {
				return nil, fromExpr(err)
			}
			if v != nil {
				hs.set(nv.Name, text(v))
			}
		}
	}
	req := &httpx.Request{
		Method:      cr.Method,
		URL:         u.String(),
		Header:      h,
		AllowedHost: base.Host,
		Settings:    r.plan.settings,
		Retry:       r.plan.retry,
		RateKey:     r.conn.ID,
		Rate:        r.plan.rate,
	}
	if encoded != nil {
		req.Body = encoded
		if h.Get("Content-Type") == "" {
			hs.set("Content-Type", "application/json")
		}
	} else if cr.Body != nil || (len(extra) > 0 && extraIn == "body") {
		formLists := ""
		if cr.Src != nil {
			formLists = cr.Src.FormLists
		}
		b, ct, err := encodeBody(body, cr.Encoding, formLists)
		if err != nil {
			return nil, &Error{Type: ErrExpression, Message: fmt.Sprintf("%s: cannot encode the body as %s: %v", bodyPos(cr), cr.Encoding, err)}
		}
		req.Body = b
		if h.Get("Content-Type") == "" {
			hs.set("Content-Type", ct)
		}
	}
	download := cr.Src != nil && cr.Src.ResponseFormat == "base64"
	if h.Get("Accept") == "" {
		if download {
			hs.set("Accept", "*/*")
		} else {
			hs.set("Accept", "application/json")
		}
	}
	if cr.IdempotencyKey != nil {
		// Built once per run of the request (per item), so every retry of
		// it carries the same key; httpx then retries a POST as well.
		v, err := cr.IdempotencyKey.Eval(ctx, vars)
		if err != nil {
			return nil, fromExpr(err)
		}
		if v != nil && text(v) != "" {
			hs.set("Idempotency-Key", text(v))
		}
	}
	return &built{req: req, label: cr.Method + " " + u.Scheme + "://" + u.Host + u.Path, base64: download, base: base, server: cr.Server}, nil
}

// bodyPos is where a request's body is written, or the request.
func bodyPos(cr *compile.Request) diag.Pos {
	if cr.Src.Body != nil {
		return cr.Src.Body.Pos
	}
	return cr.Src.Pos
}

// evalPath evaluates a request's path. A value interpolated into the path
// is escaped as one segment (after a literal `?`, as a query value), so
// input cannot reshape the URL; a path that is one expression is whole.
func evalPath(ctx context.Context, cr *compile.Request, vars map[string]any) (string, error) {
	if cr.PathParts == nil {
		v, err := cr.Path.Eval(ctx, vars)
		if err != nil {
			return "", fromExpr(err)
		}
		return text(v), nil
	}
	var b strings.Builder
	inQuery := false
	for _, pt := range cr.PathParts {
		if pt.Expr == nil {
			b.WriteString(pt.Text)
			inQuery = inQuery || strings.Contains(pt.Text, "?")
			continue
		}
		v, err := pt.Expr.Eval(ctx, vars)
		if err != nil {
			return "", fromExpr(err)
		}
		b.WriteString(compile.EscapeURLValue(text(v), inQuery))
	}
	return b.String(), nil
}

// headers builds an http.Header whose values share one array, as
// http.Header.Set would give them one by one.
type headers struct {
	h    http.Header
	vals []string
}

func newHeaders(n int) headers {
	return headers{h: make(http.Header, n), vals: make([]string, 0, n)}
}

func (hs *headers) set(name, value string) {
	hs.vals = append(hs.vals, value)
	n := len(hs.vals)
	// Capacity 1: appending to one value copies it, never writes over the
	// next.
	hs.h[textproto.CanonicalMIMEHeaderKey(name)] = hs.vals[n-1 : n : n]
}

// resolveURL joins a path to base, the base URL or the named server's.
// An absolute URL (a next-page link) must stay on base's origin; httpx
// enforces that at send.
func (r *run) resolveURL(base *url.URL, server, path string) (*url.URL, error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		u, err := url.Parse(path)
		if err != nil {
			return nil, &Error{Type: ErrInvalidInput, Message: fmt.Sprintf("invalid URL %q: %v", path, err)}
		}
		if err := sameOrigin(base, server, u, "the request URL"); err != nil {
			return nil, err
		}
		return u, nil
	}
	u := *base
	ref := &url.URL{Path: path}
	if !plainPath(path) {
		var err error
		if ref, err = url.Parse(path); err != nil {
			return nil, &Error{Type: ErrInvalidInput, Message: fmt.Sprintf("invalid path %q: %v", path, err)}
		}
	}
	baseEscaped := u.EscapedPath()
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(ref.Path, "/")
	u.RawPath = ""
	if ref.RawPath != "" {
		// Escapes the decoded path would lose (an escaped slash in an id).
		u.RawPath = strings.TrimSuffix(baseEscaped, "/") + "/" + strings.TrimPrefix(ref.RawPath, "/")
	}
	if ref.RawQuery != "" {
		u.RawQuery = ref.RawQuery
	}
	return &u, nil
}

// plainPath reports whether url.Parse would give path back as the URL's
// Path with nothing else set: a path of unreserved characters and slashes
// that starts with a slash (a colon in a first relative segment is an
// error, a percent is unescaped, ? and # start a query and a fragment).
func plainPath(path string) bool {
	if path == "" || path[0] != '/' || strings.HasPrefix(path, "//") {
		return false
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/' || c == '-' || c == '_' || c == '.' || c == '~':
		default:
			return false
		}
	}
	return true
}

// addQuery adds a parameter: nothing for null, one per item for a list.
func addQuery(q url.Values, name string, v any) {
	switch t := v.(type) {
	case nil:
	case []any:
		for _, it := range t {
			if it != nil {
				q.Add(name, text(it))
			}
		}
	default:
		q.Add(name, text(v))
	}
}

// text writes a scalar as it goes in a URL or a header, as the host
// policy writes it (compile.ScalarText).
func text(v any) string { return compile.ScalarText(v) }

// encodeBody writes the body in the request's encoding.
func encodeBody(v any, encoding, formLists string) ([]byte, string, error) {
	switch encoding {
	case "form":
		vals := url.Values{}
		if err := flattenForm(vals, "", v, formLists); err != nil {
			return nil, "", err
		}
		return []byte(encodeSorted(vals)), "application/x-www-form-urlencoded", nil
	case "text":
		return []byte(text(v)), "text/plain; charset=utf-8", nil
	case "multipart":
		return encodeMultipart(v)
	}
	if b, ok := fastjson.Encode(v); ok {
		return b, "application/json", nil
	}
	b, err := json.Marshal(v)
	return b, "application/json", err
}

// flattenForm writes nested values in the bracket form most form APIs read:
// a[b]=1, and a list as lists says: list[0]=x (indexed, the default),
// list[]=x (brackets) or list=x repeated (repeat). Nulls are left out.
func flattenForm(vals url.Values, prefix string, v any, lists string) error {
	switch t := v.(type) {
	case nil:
	case map[string]any:
		for k, x := range t {
			key := k
			if prefix != "" {
				key = prefix + "[" + k + "]"
			}
			if err := flattenForm(vals, key, x, lists); err != nil {
				return err
			}
		}
	case []any:
		for i, x := range t {
			key := prefix + "[" + strconv.Itoa(i) + "]"
			switch lists {
			case "brackets":
				key = prefix + "[]"
			case "repeat":
				key = prefix
			}
			if err := flattenForm(vals, key, x, lists); err != nil {
				return err
			}
		}
	default:
		if prefix == "" {
			return fmt.Errorf("a form body must be an object, not %T", v)
		}
		vals.Add(prefix, text(v))
	}
	return nil
}

// encodeSorted encodes form values in key order, so requests are stable.
func encodeSorted(v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, x := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(x))
		}
	}
	return b.String()
}

// decodeBody reads a response body by its content type: JSON (numbers as
// int64 where integral, as CEL expects), form-encoded, or text.
func decodeBody(resp *httpx.Response) (any, error) {
	if len(resp.Body) == 0 {
		return nil, nil
	}
	mt := mediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || (mt == "" && looksLikeJSON(resp.Body)):
		if v, ok := fastjson.Decode(resp.Body); ok {
			return v, nil
		}
		dec := json.NewDecoder(bytes.NewReader(resp.Body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("the response is not valid JSON: %v", err)
		}
		return expr.Normalize(nil, v), nil
	case mt == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(resp.Body))
		if err != nil {
			return nil, fmt.Errorf("the response is not valid form data: %v", err)
		}
		m := make(map[string]any, len(q))
		for k, vs := range q {
			if len(vs) == 1 {
				m[k] = vs[0]
			} else {
				l := make([]any, len(vs))
				for i, x := range vs {
					l[i] = x
				}
				m[k] = l
			}
		}
		return m, nil
	case mt == "text/html":
		return nil, fmt.Errorf("the API answered an HTML page, not data; check the base URL and path")
	}
	return string(resp.Body), nil
}

// mediaType is the media type of a Content-Type, lower case, as
// mime.ParseMediaType gives it; the usual JSON values skip the parse.
func mediaType(ct string) string {
	switch ct {
	case "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json;charset=utf-8":
		return "application/json"
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

func looksLikeJSON(b []byte) bool {
	s := strings.TrimLeft(string(b[:min(len(b), 64)]), " \t\r\n")
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}

// responseVar is the `response` variable of expressions.
func responseVar(resp *httpx.Response, body any) map[string]any {
	h := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		h[lowerHeader(k)] = strings.Join(vs, ", ")
	}
	return map[string]any{"status": int64(resp.Status), "headers": h, "body": body}
}

// lowerHeader is strings.ToLower of a header name, without allocating for
// the common ones.
func lowerHeader(k string) string {
	switch k {
	case "Content-Type":
		return "content-type"
	case "Content-Length":
		return "content-length"
	case "Date":
		return "date"
	case "Server":
		return "server"
	case "Connection":
		return "connection"
	case "Cache-Control":
		return "cache-control"
	case "Etag":
		return "etag"
	case "Vary":
		return "vary"
	case "Link":
		return "link"
	case "Location":
		return "location"
	case "Retry-After":
		return "retry-after"
	case "X-Request-Id":
		return "x-request-id"
	}
	return strings.ToLower(k)
}
