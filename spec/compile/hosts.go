package compile

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// The URL fields of a connector: where its requests, and the secrets they
// carry, are sent. Errors name them this way.
const (
	FieldBaseURL          = "baseUrl"
	FieldServers          = "servers"
	FieldAuthorizationURL = "auth.authorizationUrl"
	FieldTokenURL         = "auth.tokenUrl"
)

// HostPattern is one host a connector's URLs may render to: dotted DNS
// labels where `*` stands for exactly one label (as in a TLS wildcard, but
// anywhere in the name), and an optional port. "*.zendesk.com" matches
// "acme.zendesk.com", not "zendesk.com" nor "a.b.zendesk.com".
type HostPattern struct {
	Text   string
	labels []string // lower case
	port   string   // "" when the pattern names none
}

// maxHost bounds a host name (RFC 1035 §2.3.4, as written in text).
const maxHost = 253

// ParseHostPattern reads one entry of a connector's `hosts:`. A `*` must be
// followed by a registrable domain: "*.com" or "*.github.io" (public
// suffixes, whose names belong to many owners) would let a connection
// choose any host under them.
func ParseHostPattern(s string) (HostPattern, error) {
	p := HostPattern{Text: s}
	host := asciiLower(s)
	if strings.Contains(host, "://") || strings.ContainsAny(host, "/?#@[]") {
		return p, fmt.Errorf("%q is not a host pattern: write a host name, optionally with a port (api.example.com, *.example.com, jira.example.com:8443), without scheme, path or user", s)
	}
	if h, port, ok := strings.Cut(host, ":"); ok {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return p, fmt.Errorf("%q: the port must be a number from 1 to 65535", s)
		}
		host, p.port = h, port
	}
	if host == "" || len(host) > maxHost {
		return p, fmt.Errorf("%q is not a host pattern: a host name has 1 to %d characters", s, maxHost)
	}
	p.labels = strings.Split(host, ".")
	wild := -1
	for i, l := range p.labels {
		if l == "*" {
			wild = i
			continue
		}
		if why := labelProblem(l); why != "" {
			return p, fmt.Errorf("%q: label %q %s", s, l, why)
		}
	}
	if wild >= 0 {
		if fixed := strings.Join(p.labels[wild+1:], "."); !registrable(fixed) {
			what := "nothing"
			if fixed != "" {
				what = "only " + strconv.Quote(fixed) + ", a public suffix"
			}
			return p, fmt.Errorf("%q: the text after the last `*` fixes %s, so a connection could choose a host nobody vetted; name the app's own domain, e.g. *.example.com", s, what)
		}
	}
	return p, nil
}

// registrable reports whether domain is more than a public suffix: a name
// one party owns (example.com, acme.co.uk), under which `*` stays theirs.
func registrable(domain string) bool {
	if domain == "" {
		return false
	}
	ps, _ := publicsuffix.PublicSuffix(domain)
	return ps != domain
}

// Match reports whether a host (lower case, as checked by hostProblem)
// and its port fit the pattern. fromFile says the port was written in a
// file or is the scheme's default; a port that came from an expression
// must be the one the pattern names.
func (p HostPattern) Match(host, port string, fromFile bool) bool {
	labels := strings.Split(host, ".")
	if len(labels) != len(p.labels) {
		return false
	}
	for i, l := range p.labels {
		if l != "*" && l != labels[i] {
			return false
		}
	}
	if p.port != "" {
		return port == p.port
	}
	return fromFile
}

func (p HostPattern) String() string { return p.Text }

// labelProblem says why l is not a DNS label (RFC 1123: letters, digits
// and hyphens, 1 to 63 of them, not starting or ending with a hyphen), or
// "" when it is one. l is lower case.
func labelProblem(l string) string {
	switch {
	case l == "":
		return "is empty"
	case len(l) > 63:
		return "is longer than 63 characters"
	case l[0] == '-' || l[len(l)-1] == '-':
		return "starts or ends with '-'"
	}
	for i := 0; i < len(l); i++ {
		if !ldh(l[i]) {
			return "holds " + describeChar(l[i:]) + ", which a DNS label cannot hold (letters, digits and '-' only)"
		}
	}
	return ""
}

// ldh reports a letter (lower case), digit or hyphen.
func ldh(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

// describeChar names the first character of s for an error: a character
// of URL syntax by itself (it is what tried to reshape the URL), any
// other as its class, so that an error never quotes a value.
func describeChar(s string) string {
	c := s[0]
	switch {
	case c >= 0x80:
		return "a character that is not ASCII (an internationalized name is given in its xn-- form)"
	case c < 0x20 || c == 0x7f:
		return "a control character"
	case c == ' ':
		return "a space"
	case 'A' <= c && c <= 'Z':
		return "an upper-case letter"
	}
	return "'" + string(c) + "'"
}

// asciiLower lower-cases ASCII letters only: strings.ToLower would turn
// the Kelvin sign (U+212A) into a "k" and let a non-ASCII value pass.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// compileHosts reads a connector's `hosts:`, each problem at its entry.
func compileHosts(c *spec.Connector, diags *diag.List) []HostPattern {
	return compileHostList(c, "hosts", c.Hosts, diags)
}

// compileHostList reads a list of host patterns of a connector (`hosts:`,
// `redirectHosts:`), each problem at its entry.
func compileHostList(c *spec.Connector, field string, list []string, diags *diag.List) []HostPattern {
	if len(list) == 0 {
		return nil
	}
	items := c.Source.Doc.Get(field)
	out := make([]HostPattern, 0, len(list))
	for i, h := range list {
		p, err := ParseHostPattern(h)
		if err != nil {
			pos := c.Source.Pos
			if items != nil && i < len(items.Items) {
				pos = items.Items[i].Pos
			}
			diags.Errorf(pos, "host-policy", "%s[%d]: %v", field, i, err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// HostAllowed reports whether a URL's host and port (the scheme's
// default when "") match one of patterns: a pattern without a port
// allows the default port only, since the value comes from a response
// (a redirect's Location), not from a file.
func HostAllowed(patterns []HostPattern, host, port, defaultPort string) bool {
	host = strings.TrimSuffix(asciiLower(host), ".")
	if hostProblem(host) != "" {
		return false
	}
	if port == "" {
		port = defaultPort
	}
	for _, p := range patterns {
		if p.Match(host, port, port == defaultPort) {
			return true
		}
	}
	return false
}
