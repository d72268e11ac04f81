package engine

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/membrane-dev/membrane/runtime/httpx"
)

const redacted = "[redacted]"

// sensitiveHeaders never appear in a log, whatever the connector says.
var sensitiveHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
	"X-Api-Key": true, "Api-Key": true, "X-Auth-Token": true,
}

// Redactor hides secrets (credentials, tokens) in text that leaves the
// engine: logs, errors, traces. It is safe for concurrent use; a secret
// learnt during a run (a session token) is added with Add.
type Redactor struct {
	headers []string   // canonical names, beyond sensitiveHeaders
	mu      sync.Mutex // serialises Add
	state   atomic.Pointer[redactState]
}

type redactState struct {
	secrets []string
	// The replacer is built on first use: most runs only check their log
	// lines for secrets and find none, and building one costs more than
	// the whole check.
	once sync.Once
	r    *strings.Replacer
}

func (st *redactState) replacer() *strings.Replacer {
	st.once.Do(func() {
		pairs := make([]string, 0, 2*len(st.secrets))
		for _, s := range st.secrets {
			pairs = append(pairs, s, redacted)
		}
		st.r = strings.NewReplacer(pairs...)
	})
	return st.r
}

// NewRedactor hides the given secret values and, beyond the usual ones,
// the named headers (canonical form).
func NewRedactor(secrets []string, headers ...string) *Redactor {
	rd := &Redactor{}
	for _, h := range headers {
		if h == "" {
			continue // no header has an empty name
		}
		rd.headers = append(rd.headers, http.CanonicalHeaderKey(h))
	}
	rd.state.Store(noSecrets)
	rd.Add(secrets...)
	return rd
}

// noSecrets is the state of a redactor with nothing to hide; it is never
// modified, so every redactor starts from the same one.
var noSecrets = &redactState{}

// Add hides more secrets from now on; it reports whether one was new.
func (rd *Redactor) Add(secrets ...string) bool {
	if rd.known(secrets) {
		return false // the usual case: a session token already hidden
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	old := rd.state.Load()
	list := append([]string(nil), old.secrets...)
	for _, s := range secrets {
		// Very short values would redact ordinary text; nobody's key is 3 bytes.
		if len(s) < 4 {
			continue
		}
		// A secret in a query string or a path is escaped: hide that form too.
		// In a JSON body (a key in the body), as JSON escapes it.
		for _, form := range append([]string{s, url.QueryEscape(s), url.PathEscape(s)}, jsonForms(s)...) {
			if !containsString(list, form) {
				list = append(list, form)
			}
		}
	}
	if len(list) == len(old.secrets) {
		return false
	}
	// The longest first, so a secret that contains another is hidden whole.
	slices.SortStableFunc(list, func(a, b string) int { return len(b) - len(a) })
	rd.state.Store(&redactState{secrets: list})
	return true
}

// jsonForms are the ways a JSON encoder may write s inside a string,
// when they differ from s: with <, > and & escaped (encoding/json) or not.
func jsonForms(s string) []string {
	var out []string
	if b, err := json.Marshal(s); err == nil && string(b[1:len(b)-1]) != s {
		out = append(out, string(b[1:len(b)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		if f := strings.TrimSuffix(buf.String(), "\n"); len(f) >= 2 && f[1:len(f)-1] != s {
			out = append(out, f[1:len(f)-1])
		}
	}
	return out
}

// known reports whether every secret is already hidden (or too short).
func (rd *Redactor) known(secrets []string) bool {
	st := rd.state.Load()
	for _, s := range secrets {
		if len(s) >= 4 && !containsString(st.secrets, s) {
			return false
		}
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String hides every secret in s.
func (rd *Redactor) String(s string) string {
	if rd == nil {
		return s
	}
	st := rd.state.Load()
	for _, sec := range st.secrets {
		if strings.Contains(s, sec) {
			return st.replacer().Replace(s)
		}
	}
	return s // nothing to hide
}

// Value hides every secret in the strings of a decoded JSON value (an
// action's output): in map keys and values, at any depth. What holds no
// secret is returned as is, not copied; what does is copied, so a value
// shared with others (a plan's literal) is never changed in place.
func (rd *Redactor) Value(v any) any {
	if rd == nil || len(rd.state.Load().secrets) == 0 {
		return v
	}
	out, _ := rd.value(v)
	return out
}

// value returns v redacted and whether anything changed.
func (rd *Redactor) value(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		r := rd.String(t)
		if r == t {
			return v, false // v as it came: boxing t again would allocate
		}
		return r, true
	case map[string]any:
		var out map[string]any
		for k, x := range t {
			rk := rd.String(k)
			rx, changed := rd.value(x)
			if !changed && rk == k {
				continue
			}
			if out == nil {
				out = make(map[string]any, len(t))
				for k2, x2 := range t {
					out[k2] = x2
				}
			}
			if rk != k {
				delete(out, k)
			}
			out[rk] = rx
		}
		if out == nil {
			return t, false
		}
		return out, true
	case []any:
		var out []any
		for i, x := range t {
			rx, changed := rd.value(x)
			if !changed {
				continue
			}
			if out == nil {
				out = append([]any(nil), t...)
			}
			out[i] = rx
		}
		if out == nil {
			return t, false
		}
		return out, true
	}
	return v, false
}

// Excerpt is httpx.Excerpt of a response body with every secret hidden,
// including one the 512-byte cut would split.
func (rd *Redactor) Excerpt(body []byte) string {
	// Redact a window well past the cut: hiding secrets changes lengths.
	const window = 64 << 10
	if len(body) > window {
		body = body[:window]
	}
	return httpx.Excerpt([]byte(rd.String(string(body))))
}

// Header returns a copy of h with sensitive headers hidden.
func (rd *Redactor) Header(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if sensitiveHeaders[k] || (rd != nil && slices.Contains(rd.headers, k)) {
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

// SecretsOf collects the string values of credentials (nested too) that
// are long enough to hide: shorter ones would redact ordinary text, and
// nobody's key is 3 bytes.
func SecretsOf(v any, out []string) []string {
	switch t := v.(type) {
	case string:
		if len(t) >= 4 {
			out = append(out, t)
		}
	case map[string]any:
		for _, x := range t {
			out = SecretsOf(x, out)
		}
	case []any:
		for _, x := range t {
			out = SecretsOf(x, out)
		}
	}
	return out
}
