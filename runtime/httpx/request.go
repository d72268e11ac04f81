package httpx

import (
	"net/http"

	"github.com/valyala/fasthttp"
)

// fill sets req from r.
func fill(req *fasthttp.Request, r *Request, method string) *Error {
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, []byte(r.URL)); err != nil {
		return &Error{Kind: KindInvalid, Message: "unparsable URL", err: err}
	}
	if scheme := string(u.Scheme()); scheme != "http" && scheme != "https" {
		return &Error{Kind: KindInvalid, Message: "URL scheme must be http or https"}
	}
	if len(u.Host()) == 0 {
		return &Error{Kind: KindInvalid, Message: "URL has no host"}
	}
	req.SetURI(u)
	req.Header.SetMethod(method)
	for k, vs := range r.Header {
		if !validHeaderName(k) {
			return &Error{Kind: KindInvalid, Origin: originOf(r.URL), Message: "invalid header name"}
		}
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding":
			// Derived from the URL and the body; a caller's value could
			// only desynchronise them.
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if len(r.Body) > 0 {
		req.SetBodyRaw(r.Body)
	}
	return nil
}

// originOf returns scheme://host[:port] of a URL, for error messages: the
// path and query may hold a token.
func originOf(rawURL string) string {
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if u.Parse(nil, []byte(rawURL)) != nil {
		return ""
	}
	return string(u.Scheme()) + "://" + string(u.Host())
}

// validHeaderName reports whether k is an RFC 9110 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		ch := k[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case ch < 0x80 && isTokenPunct[ch]:
		default:
			return false
		}
	}
	return true
}

var isTokenPunct = [128]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true,
	'+': true, '-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true,
}
