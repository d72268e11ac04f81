package engine

import (
	"net/http"
	"strings"
)

const redacted = "[redacted]"

// sensitiveHeaders never appear in a log, whatever the connector says.
var sensitiveHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
	"X-Api-Key": true, "Api-Key": true, "X-Auth-Token": true,
}

// Redactor hides secrets (credentials, tokens) in text that leaves the
// engine: logs, errors, traces.
type Redactor struct {
	secrets []string
	headers map[string]bool
	r       *strings.Replacer
}

// NewRedactor hides the given secret values and, beyond the usual ones,
// the named headers (canonical form).
func NewRedactor(secrets []string, headers ...string) *Redactor {
	rd := &Redactor{headers: map[string]bool{}}
	var pairs []string
	for _, s := range secrets {
		// Very short values would redact ordinary text; nobody's key is 3 bytes.
		if len(s) >= 4 {
			rd.secrets = append(rd.secrets, s)
			pairs = append(pairs, s, redacted)
		}
	}
	for _, h := range headers {
		rd.headers[http.CanonicalHeaderKey(h)] = true
	}
	rd.r = strings.NewReplacer(pairs...)
	return rd
}

// String hides every secret in s.
func (rd *Redactor) String(s string) string {
	if rd == nil || len(rd.secrets) == 0 {
		return s
	}
	return rd.r.Replace(s)
}

// Header returns a copy of h with sensitive headers hidden.
func (rd *Redactor) Header(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if sensitiveHeaders[k] || (rd != nil && rd.headers[k]) {
			out[k] = []string{redacted}
			continue
		}
		c := make([]string, len(vs))
		for i, v := range vs {
			c[i] = rd.String(v)
		}
		out[k] = c
	}
	return out
}

// secretsOf collects the string values of credentials (nested too).
func secretsOf(v any, out []string) []string {
	switch t := v.(type) {
	case string:
		return append(out, t)
	case map[string]any:
		for _, x := range t {
			out = secretsOf(x, out)
		}
	case []any:
		for _, x := range t {
			out = secretsOf(x, out)
		}
	}
	return out
}
