package spec

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ParseOrigin checks that s is a web origin, scheme://host[:port] with an
// http or https scheme and nothing after the host, and returns it in the
// form a browser compares (lower case, default port dropped). Its error
// says what to remove or fix.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return "", fmt.Errorf("is not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("starts with neither https:// nor http://")
	case u.User != nil:
		return "", fmt.Errorf("carries a user name; an origin has none")
	case u.Hostname() == "":
		return "", fmt.Errorf("has no host")
	case u.Path != "" || u.RawPath != "":
		return "", fmt.Errorf("has a path; drop %q", u.EscapedPath())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "", fmt.Errorf("has a query or fragment; drop it")
	}
	host := strings.ToLower(u.Hostname())
	if strings.ContainsAny(host, " %") {
		return "", fmt.Errorf("has an invalid host")
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("has port %q; a port is a number from 1 to 65535", port)
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		} else {
			port = strconv.Itoa(n)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("ends with ':' but gives no port")
	}
	if port == "" {
		if strings.Contains(host, ":") {
			return scheme + "://[" + host + "]", nil
		}
		return scheme + "://" + host, nil
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}
