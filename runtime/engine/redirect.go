package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec/compile"
)

// maxRedirectHops bounds the redirects to other origins one request
// follows (httpx follows same-origin ones itself).
const maxRedirectHops = 5

// unfollowed reports a redirect status that reached the engine: the HTTP
// client follows same-origin redirects itself, so one that arrives here
// points to another origin, or nowhere usable. 304 Not Modified is an
// answer, not a redirect.
func unfollowed(status int) bool {
	return status >= 300 && status < 400 && status != http.StatusNotModified
}

// redirectTarget is the URL a redirect's Location names, resolved
// against the URL that answered; nil when there is none.
func redirectTarget(resp *httpx.Response) *url.URL {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil
	}
	if base, err := url.Parse(resp.URL); err == nil {
		u = base.ResolveReference(u)
	}
	return u
}

// redirectAllowed reports whether a redirect to u may be followed: over
// https, to a host of the connector's redirectHosts.
func (r *run) redirectAllowed(u *url.URL) bool {
	return u.Scheme == "https" && u.User == nil && r.hostListed(u)
}

func (r *run) hostListed(u *url.URL) bool {
	return compile.HostAllowed(r.plan.connector.RedirectHosts, u.Hostname(), u.Port(), "443")
}

// followRedirects follows a redirect to another origin when the
// connector lists its host in redirectHosts (a download on a CDN), and
// returns the response at the end of the chain; one it may not follow is
// returned as is, for the error rules and redirectError. The request
// sent there is a new GET that carries nothing of the one redirected:
// no credential, no header of the connector or the request, no body,
// only Accept. It goes through the same client, so the outbound guard
// applies, and into the run log like any exchange, the link's path and
// query hidden.
func (r *run) followRedirects(ctx context.Context, b *built, resp *httpx.Response) (*httpx.Response, error) {
	for hop := 0; unfollowed(resp.Status); hop++ {
		u := redirectTarget(resp)
		if u == nil || !r.redirectAllowed(u) {
			return resp, nil
		}
		if hop == maxRedirectHops {
			return nil, &Error{Type: ErrUpstream, Status: resp.Status, Request: b.label,
				Message: fmt.Sprintf("the API redirected more than %d times between hosts; the last redirect, %d to host %s, is not followed", maxRedirectHops, resp.Status, u.Host)}
		}
		// A CDN's link is signed in its path or query: a credential of
		// its own for as long as it lives, hidden in the run log (the
		// Location header and the followed request) and in errors.
		r.hideSecret(afterHost(resp.Header.Get("Location")), afterHost(u.String()))
		method := http.MethodGet
		if b.req.Method == http.MethodHead {
			method = http.MethodHead
		}
		h := http.Header{}
		if accept := b.req.Header.Get("Accept"); accept != "" {
			h.Set("Accept", accept)
		}
		req := &httpx.Request{Method: method, URL: u.String(), Header: h, AllowedHost: u.Host, Settings: r.plan.settings, Retry: b.req.Retry}
		next, err := r.do(ctx, req, u)
		if err != nil {
			// The label names the host alone: a signed link's path and
			// query are a credential of their own.
			return nil, r.tooLarge(fromHTTP(err, method+" "+u.Scheme+"://"+u.Host+" (a redirect followed)"), b)
		}
		resp = next
	}
	return resp, nil
}

// redirectError makes a redirect to another origin a failed run rather
// than a success with an empty output: the connection's credentials
// never follow it, and the answer holds no data. The error names the
// status and the host the Location points to (never its path or query,
// which may carry a token), and how to follow it.
func (r *run) redirectError(b *built, resp *httpx.Response) *Error {
	where := "without a Location header"
	remedy := "Point the connector's baseUrl or the request's path where the API answers, or map this status with an error rule"
	if loc := resp.Header.Get("Location"); loc != "" {
		where = "to a Location that is not a URL"
		if u := redirectTarget(resp); u != nil {
			where = "to host " + u.Host
			switch {
			case u.Host == "":
				where = "to a Location without a host"
			case r.hostListed(u) && u.Scheme != "https":
				where += " over " + u.Scheme + ", not https"
				remedy = "A redirect is followed over https only; map this status with an error rule if the API answers so"
			default:
				remedy = fmt.Sprintf("If the API sends its content from there (a download on a CDN), list the host in the connector's redirectHosts: (e.g. redirectHosts: [%q]) to follow it without credentials; "+
					"otherwise point the connector's baseUrl or the request's path where the API answers, or map this status with an error rule", strings.ToLower(u.Hostname()))
			}
		}
	}
	msg := fmt.Sprintf("the API answered %d %s, a redirect %s, which is not followed: a connection's credentials only go to the origin they were made for. %s",
		resp.Status, http.StatusText(resp.Status), where, remedy)
	return &Error{Type: ErrUpstream, Status: resp.Status, Message: r.redact.String(msg), Request: b.label, Body: r.redact.Excerpt(resp.Body)}
}

// afterHost is what follows a URL's host (its path, query and fragment),
// or the whole text of a reference without one.
func afterHost(ref string) string {
	if _, rest, ok := strings.Cut(ref, "://"); ok {
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			return rest[i:]
		}
		return ""
	}
	return ref
}
