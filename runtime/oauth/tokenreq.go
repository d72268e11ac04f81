package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// client is who authenticates at the token endpoint.
type client struct {
	id, secret string
	inBody     bool // clientAuth: body
}

func (p *Provider) client() client {
	return client{id: p.ClientID, secret: p.ClientSecret, inBody: p.src().ClientAuth == "body"}
}

// tokenRequest posts form to the token endpoint and reads the token it
// answers. retry allows resending after a failure the server may have seen:
// only for a grant that can be replayed (client credentials), never for a
// code or a rotating refresh token. what names the step in errors; secrets
// are scrubbed from the provider's error text.
func (m *Manager) tokenRequest(ctx context.Context, tokenURL string, form url.Values, c client, retry bool, what string, secrets ...string) (*Token, error) {
	h := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	switch {
	case c.secret == "": // a public client says who it is, nothing more
		form.Set("client_id", c.id)
	case c.inBody:
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	default:
		// RFC 6749 §2.3.1: both parts form-encoded before basic encoding.
		raw := url.QueryEscape(c.id) + ":" + url.QueryEscape(c.secret)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(raw)))
	}
	req := &httpx.Request{
		Method: http.MethodPost,
		URL:    tokenURL,
		Header: h,
		Body:   []byte(form.Encode()),
		Retry:  httpx.RetryPolicy{NonIdempotent: retry},
	}
	now := m.now() // before sending: the lifetime counts from no later
	resp, err := m.http.Do(ctx, req)
	if err != nil {
		return nil, reachError(err, what)
	}
	secrets = append(secrets, c.secret)
	tok, te, problem := readToken(resp, now)
	switch {
	case te != nil:
		te.Description = scrub(te.Description, secrets)
		return nil, refusal(te, what)
	case problem != "":
		return nil, &engine.Error{Type: engine.ErrUpstream, Status: resp.Status,
			Message: what + ": the token endpoint's answer is not a usable token: " + problem,
			Err:     fmt.Errorf("%w: %s", ErrMalformedResponse, problem)}
	}
	return tok, nil
}

// readToken reads a token response: the token, or the provider's error, or
// what is wrong with it. The body never goes into what it returns but for
// the error fields, which carry no token.
func readToken(resp *httpx.Response, now time.Time) (*Token, *TokenError, string) {
	fields, problem := decodeFields(resp)
	if problem != "" {
		if resp.Status >= 300 {
			return nil, &TokenError{Status: resp.Status}, ""
		}
		return nil, nil, problem
	}
	code, _ := fields["error"].(string)
	access, _ := fields["access_token"].(string)
	// Some providers (GitHub) answer 200 with an error.
	if resp.Status >= 300 || (code != "" && access == "") {
		desc, _ := fields["error_description"].(string)
		return nil, &TokenError{Status: resp.Status, Code: code, Description: desc}, ""
	}
	if access == "" {
		return nil, nil, "no access_token"
	}
	t := &Token{AccessToken: access, IssuedAt: now}
	var ok bool
	if t.TokenType, ok = optString(fields, "token_type"); !ok {
		return nil, nil, "token_type is not a string"
	}
	if t.RefreshToken, ok = optString(fields, "refresh_token"); !ok {
		return nil, nil, "refresh_token is not a string"
	}
	switch s := fields["scope"].(type) {
	case string:
		t.Scope = s
	case []any: // a list, from a few providers
		parts := make([]string, 0, len(s))
		for _, x := range s {
			parts = append(parts, fmt.Sprint(x))
		}
		t.Scope = strings.Join(parts, " ")
	}
	secs, ok := expiresIn(fields["expires_in"])
	if !ok {
		return nil, nil, "expires_in is not a number"
	}
	if secs > 0 {
		t.Expiry = now.Add(time.Duration(secs * float64(time.Second)))
	}
	return t, nil, ""
}

// decodeFields reads a JSON object, or a form for the providers that
// answer one (GitHub without Accept, some older ones).
func decodeFields(resp *httpx.Response) (map[string]any, string) {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" || ct == "text/plain" {
		q, err := url.ParseQuery(string(resp.Body))
		if err == nil && len(q) > 0 {
			m := map[string]any{}
			for k := range q {
				m[k] = q.Get(k)
			}
			return m, ""
		}
	}
	body := bytes.TrimSpace(resp.Body)
	if len(body) == 0 {
		return nil, "the body is empty"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "the body is not JSON (Content-Type " + strconv.Quote(resp.Header.Get("Content-Type")) + ")"
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, "the body is not a JSON object"
	}
	return m, ""
}

func optString(m map[string]any, k string) (string, bool) {
	switch v := m[k].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	}
	return "", false
}

// expiresIn reads seconds given as a number or, by some providers, a
// numeric string. Absent or null is 0: no expiry known.
func expiresIn(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return 0, true
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return 0, true
		}
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if f > maxExpiresIn { // would overflow a Duration; as good as never
		return 0, true
	}
	return f, true
}

// maxExpiresIn is ten years, in seconds.
const maxExpiresIn = 10 * 365 * 24 * 3600

// scrub removes secrets from the provider's error text and bounds it.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return httpx.Excerpt([]byte(s))
}
