package httpx

import (
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
)

// buildResponse copies what the caller needs out of fasthttp's pooled
// response, decoding a compressed body within the size limit.
func buildResponse(req *fasthttp.Request, resp *fasthttp.Response, r *Request, redirected bool, attempts int, limit int64) (*Response, *Error) {
	out := &Response{
		Status:   resp.StatusCode(),
		Header:   make(http.Header, resp.Header.Len()),
		URL:      r.URL,
		Attempts: attempts,
	}
	if redirected {
		out.URL = req.URI().String()
	}
	body := resp.Body()
	decoded := false
	if ce := resp.Header.ContentEncoding(); len(ce) > 0 && len(body) > 0 && knownEncoding(ce) {
		b, err := resp.BodyUncompressedWithLimit(int(limit))
		if err != nil {
			e := &Error{Kind: KindNetwork, Status: out.Status, Message: "cannot decode " + string(ce) + " body", err: err}
			if err == fasthttp.ErrBodyTooLarge {
				e.Kind, e.Message = KindTooLarge, "decoded response body over the size limit"
			}
			return nil, e
		}
		body, decoded = b, true
	}
	copyHeader(out.Header, &resp.Header, decoded)
	if len(body) > 0 {
		out.Body = append([]byte(nil), body...)
	}
	return out, nil
}

// copyHeader copies h into dst with few allocations: the values share one
// string, and common names are not copied at all.
func copyHeader(dst http.Header, h *fasthttp.ResponseHeader, decoded bool) {
	skip := func(k []byte) bool {
		return decoded && (string(k) == fasthttp.HeaderContentEncoding || string(k) == fasthttp.HeaderContentLength)
	}
	n, size := 0, 0
	for k, v := range h.All() {
		if !skip(k) {
			n, size = n+1, size+len(v)
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	for k, v := range h.All() {
		if !skip(k) {
			sb.Write(v)
		}
	}
	all := sb.String()
	vals := make([]string, 0, n)
	for k, v := range h.All() {
		if skip(k) {
			continue
		}
		vals = append(vals, all[:len(v)])
		all = all[len(v):]
		key := commonHeader(k)
		if key == "" {
			key = string(k)
		}
		if prev, ok := dst[key]; ok {
			dst[key] = append(prev, vals[len(vals)-1])
		} else {
			// Capacity 1: a repeated header appends to a copy, not over
			// the next value.
			dst[key] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
}

// commonHeader returns a constant for frequent header names; the switch on
// string(k) does not allocate.
func commonHeader(k []byte) string {
	switch string(k) {
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Content-Encoding":
		return "Content-Encoding"
	case "Date":
		return "Date"
	case "Server":
		return "Server"
	case "Connection":
		return "Connection"
	case "Cache-Control":
		return "Cache-Control"
	case "Etag":
		return "Etag"
	case "Vary":
		return "Vary"
	case "Location":
		return "Location"
	case "Retry-After":
		return "Retry-After"
	case "Set-Cookie":
		return "Set-Cookie"
	case "Link":
		return "Link"
	case "X-Request-Id":
		return "X-Request-Id"
	case "X-Ratelimit-Limit":
		return "X-Ratelimit-Limit"
	case "X-Ratelimit-Remaining":
		return "X-Ratelimit-Remaining"
	case "X-Ratelimit-Reset":
		return "X-Ratelimit-Reset"
	}
	return ""
}

func knownEncoding(ce []byte) bool {
	switch string(ce) {
	case "gzip", "deflate", "br", "zstd":
		return true
	}
	return false
}
