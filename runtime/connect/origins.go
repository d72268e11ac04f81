package connect

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/spec"
)

// maxReturnURL bounds a returnUrl: it travels in the session cookie.
const maxReturnURL = 2048

// origins decides where a user may be sent back to: the configured
// origins and PublicURL's, and loopback ones while none is configured.
type origins struct {
	public     string
	configured []string
	allowed    map[string]bool
}

func newOrigins(public string, configured []string) (*origins, error) {
	o := &origins{public: public, allowed: map[string]bool{public: true}}
	for _, c := range configured {
		n, err := spec.ParseOrigin(c)
		if err != nil {
			return nil, fmt.Errorf("connect: return origin %q %v", c, err)
		}
		o.configured = append(o.configured, n)
		o.allowed[n] = true
	}
	return o, nil
}

// returnURLError says why a returnUrl is refused and what to change.
type returnURLError struct {
	Problem string
	// Origin is the one to add to connect.returnOrigins; empty when the
	// URL itself is wrong.
	Origin string
}

// check parses a returnUrl and refuses it unless it is an absolute http(s)
// URL on an allowed origin. The URL given back is the one to redirect to.
func (o *origins) check(raw string) (*url.URL, *returnURLError) {
	const example = "an absolute http(s) URL of your app, such as https://app.example.com/integrations/done"
	if len(raw) > maxReturnURL {
		return nil, &returnURLError{Problem: fmt.Sprintf("returnUrl is longer than %d characters; it must be %s", maxReturnURL, example)}
	}
	// Browsers read a backslash as a slash and drop tabs and newlines, so
	// such a URL may not go where it seems to.
	if strings.ContainsFunc(raw, func(r rune) bool { return r == '\\' || r <= ' ' || r == 0x7f }) {
		return nil, &returnURLError{Problem: "returnUrl holds a backslash, a space or a control character; it must be " + example}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, &returnURLError{Problem: "returnUrl must be " + example}
	}
	if u.User != nil {
		return nil, &returnURLError{Problem: "returnUrl carries a user name; it must be " + example}
	}
	origin, err := spec.ParseOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return nil, &returnURLError{Problem: "returnUrl's origin " + err.Error() + "; it must be " + example}
	}
	if o.allowed[origin] || (len(o.configured) == 0 && web.LoopbackHost(u.Hostname())) {
		return u, nil
	}
	return nil, &returnURLError{Problem: fmt.Sprintf("returnUrl is on %s, which is not an allowed origin", origin), Origin: origin}
}

// list is the allowed origins, for the refusal page.
func (o *origins) list() []string {
	out := append([]string{o.public}, o.configured...)
	slices.Sort(out)
	return slices.Compact(out)
}

// withParams returns u with the query parameters set (an existing one of
// the same name is replaced), the fragment kept.
func withParams(u *url.URL, kv ...string) string {
	c := *u
	q := c.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	c.RawQuery = q.Encode()
	return c.String()
}
