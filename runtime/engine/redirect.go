package engine

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

// unfollowed reports a redirect status that reached the engine: the HTTP
// client follows same-origin redirects itself, so one that arrives here
// points to another origin, or nowhere usable. 304 Not Modified is an
// answer, not a redirect.
func unfollowed(status int) bool {
	return status >= 300 && status < 400 && status != http.StatusNotModified
}

// redirectError makes a redirect to another origin a failed run rather
// than a success with an empty output: the connection's credentials
// never follow it, and the answer holds no data. The error names the
// status and the host the Location points to (never its path or query,
// which may carry a token).
func (r *run) redirectError(b *built, resp *httpx.Response) *Error {
	where := "without a Location header"
	if loc := resp.Header.Get("Location"); loc != "" {
		where = "to a Location that is not a URL"
		if u, err := url.Parse(loc); err == nil {
			if base, err := url.Parse(resp.URL); err == nil {
				u = base.ResolveReference(u)
			}
			where = "to host " + u.Host
			if u.Host == "" {
				where = "to a Location without a host"
			}
		}
	}
	msg := fmt.Sprintf("the API answered %d %s, a redirect %s, which is not followed: a connection's credentials only go to the origin they were made for. "+
		"Point the connector's baseUrl or the request's path where the API answers, or map this status with an error rule",
		resp.Status, http.StatusText(resp.Status), where)
	return &Error{Type: ErrUpstream, Status: resp.Status, Message: r.redact.String(msg), Request: b.label, Body: r.redact.Excerpt(resp.Body)}
}
