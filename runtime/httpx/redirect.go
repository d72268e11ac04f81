package httpx

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Redirect policy: only same-origin redirects (scheme, host and port all
// equal) are followed, at most Config.MaxRedirects of them. A redirect to
// another origin is returned as is, status and Location header, for the
// caller to act on (a download link on a CDN, say): following it here would
// either carry the connector's credentials to a host nobody vetted or need
// to guess which headers are secret. So credentials never leave the origin
// they were built for.

// exchange sends req and follows same-origin redirects. It returns how many
// redirects were followed; resp holds the last response.
func (c *Client) exchange(cl *call, attempt int) (int, error) {
	req, resp, r := cl.req, cl.resp, cl.r
	for hop := 0; ; hop++ {
		start := time.Now()
		var err error
		if cl.deadline.IsZero() {
			err = cl.pool.Do(req, resp)
		} else {
			err = cl.pool.DoDeadline(req, resp, cl.deadline)
		}
		if err != nil {
			return hop, err
		}
		status := resp.StatusCode()
		if !followable(status) || c.cfg.MaxRedirects < 0 {
			return hop, nil
		}
		loc := resp.Header.Peek(fasthttp.HeaderLocation)
		if len(loc) == 0 {
			return hop, nil
		}
		next := fasthttp.AcquireURI()
		req.URI().CopyTo(next)
		if err := next.UpdateBytesErr(loc); err != nil {
			fasthttp.ReleaseURI(next)
			return hop, &Error{Kind: KindRedirect, Status: status, Message: "unparsable Location", err: err}
		}
		if !sameOrigin(req.URI(), next) {
			fasthttp.ReleaseURI(next)
			return hop, nil
		}
		if hop >= c.cfg.MaxRedirects {
			fasthttp.ReleaseURI(next)
			return hop, &Error{Kind: KindRedirect, Status: status, Message: "more than " + strconv.Itoa(c.cfg.MaxRedirects) + " redirects"}
		}
		if c.cfg.Trace != nil {
			a := c.attempt(req, r, attempt, hop > 0, time.Since(start))
			a.Hop = hop
			a.Response, _ = buildResponse(req, resp, r, hop > 0, attempt, cl.limit)
			c.cfg.Trace(a)
		}
		req.SetURI(next)
		fasthttp.ReleaseURI(next)
		switch {
		case status == fasthttp.StatusSeeOther && !req.Header.IsHead(),
			req.Header.IsPost() && (status == fasthttp.StatusMovedPermanently || status == fasthttp.StatusFound):
			// RFC 9110 15.4: 303 always, and 301/302 after a POST as every
			// client does, continue with a GET without the body.
			req.Header.SetMethod(fasthttp.MethodGet)
			req.ResetBody()
			req.Header.Del(fasthttp.HeaderContentType)
			req.Header.Del(fasthttp.HeaderContentLength)
		}
	}
}

func followable(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// hostPort splits a URI's host into a lower-case name and a port, the
// scheme's default when absent.
func hostPort(scheme, host string) (string, string) {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return strings.TrimSuffix(strings.ToLower(name), "."), port
}

func sameOrigin(a, b *fasthttp.URI) bool {
	as, bs := string(a.Scheme()), string(b.Scheme())
	if as != bs {
		return false
	}
	an, ap := hostPort(as, string(a.Host()))
	bn, bp := hostPort(bs, string(b.Host()))
	return an == bn && ap == bp
}

// hostAllowed reports whether u goes to allowed ("host" or "host:port").
func hostAllowed(u *fasthttp.URI, allowed string) bool {
	scheme := string(u.Scheme())
	n, p := hostPort(scheme, string(u.Host()))
	an, ap := hostPort(scheme, allowed)
	return n == an && p == ap
}
