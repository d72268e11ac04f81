package compile_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// compileConnector compiles one Connector document and fails on any
// diagnostic.
func compileConnector(t *testing.T, src string) *compile.Connector {
	t.Helper()
	els, diags := spec.LoadFile("connector.yaml", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	cc := compile.NewConnector(els[0].(*spec.Connector), &diags)
	if len(diags) > 0 {
		t.Fatalf("compile: %v", diags)
	}
	return cc
}

func paramVars(params map[string]any) map[string]any {
	return map[string]any{
		compile.VarConnection:  map[string]any{"id": "c1", "name": "n", "parameters": params, "info": map[string]any{}},
		compile.VarTenant:      map[string]any{"key": "acme"},
		compile.VarCredentials: map[string]any{"apiKey": "sk_live_secret"},
	}
}

// urlCase is a parameter value and the URL it must give, or "" when the
// policy must refuse it.
type urlCase struct {
	name  string
	value any
	want  string
}

// runURLCases evaluates x with each value as the parameter param. A
// refusal never quotes the value, except a whole host (echo), which is
// named so that the operator sees where the URL would have gone.
func runURLCases(t *testing.T, x *compile.Expr, param string, echo bool, cases []urlCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := x.EvalURL(context.Background(), paramVars(map[string]any{param: c.value}))
			if c.want == "" {
				var ue *compile.URLError
				if !errors.As(err, &ue) {
					t.Fatalf("got %v, %v; want a *compile.URLError", u, err)
				}
				if ue.Parameter != param {
					t.Errorf("Parameter = %q, want %q (%v)", ue.Parameter, param, err)
				}
				if s, ok := c.value.(string); ok && !echo && len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("the error quotes the refused value %q: %v", s, err)
				}
				if !strings.Contains(err.Error(), "nothing was sent") || !strings.Contains(err.Error(), "connector.yaml:") {
					t.Errorf("the error does not say where and that nothing was sent: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("EvalURL: %v", err)
			}
			if u.String() != c.want {
				t.Errorf("URL = %s, want %s", u, c.want)
			}
		})
	}
}

// labelCases are values written into one label of a host: each must be
// one DNS label, or nothing is sent.
var labelCases = []urlCase{
	{"label", "acme", "https://acme.zendesk.com/api/v2"},
	{"upper case is lowered", "ACME", "https://acme.zendesk.com/api/v2"},
	{"digits", int64(42), "https://42.zendesk.com/api/v2"},
	{"punycode", "xn--bcher-kva", "https://xn--bcher-kva.zendesk.com/api/v2"},
	{"63 characters", strings.Repeat("a", 63), "https://" + strings.Repeat("a", 63) + ".zendesk.com/api/v2"},
	{"host, port and fragment", "127.0.0.1:28092#", ""},
	{"userinfo", "x@host/", ""},
	{"another host", "evil.com/", ""},
	{"two labels", "a.b", ""},
	{"escaped dot", "%2e", ""},
	{"empty", "", ""},
	{"missing", nil, ""},
	{"leading hyphen", "-acme", ""},
	{"64 characters", strings.Repeat("a", 64), ""},
	{"IDN", "bücher", ""},
	{"Kelvin sign lowers to k", "\u212a", ""},
	{"ideographic full stop", "a\u3002b", ""},
	{"fullwidth letters", "ａｃｍｅ", ""},
	{"space", "ac me", ""},
	{"backslash", `evil.com\`, ""},
	{"query", "acme?x=", ""},
}

func TestBaseURLLabel(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: zendesk
baseUrl: https://${ connection.parameters.subdomain }.zendesk.com/api/v2
parameters: {type: object, properties: {subdomain: {type: string, pattern: "^.+$"}}}
`)
	runURLCases(t, cc.BaseURL, "subdomain", false, labelCases)
}

func TestTokenURLLabel(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: zendesk
baseUrl: https://api.zendesk.com
parameters: {type: object, properties: {subdomain: {type: string}}}
auth:
  type: oauth2
  authorizationUrl: https://${ connection.parameters.subdomain }.zendesk.com/oauth/authorizations/new
  tokenUrl: https://${ connection.parameters.subdomain }.zendesk.com/api/v2
`)
	runURLCases(t, cc.Auth.TokenURL, "subdomain", false, labelCases)
	runURLCases(t, cc.Auth.AuthorizationURL, "subdomain", false, []urlCase{
		{"label", "acme", "https://acme.zendesk.com/oauth/authorizations/new"},
		{"another host", "evil.com/", ""},
	})
}

// TestWholeHost: a self-hosted app's host comes from a parameter, within
// the connector's hosts:.
func TestWholeHost(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: jira
baseUrl: https://${ connection.parameters.site }/rest/api/2
hosts: ["*.atlassian.net", "jira.example.com:8443"]
parameters: {type: object, properties: {site: {type: string}}}
`)
	runURLCases(t, cc.BaseURL, "site", true, []urlCase{
		{"cloud site", "acme.atlassian.net", "https://acme.atlassian.net/rest/api/2"},
		{"upper case", "ACME.Atlassian.NET", "https://acme.atlassian.net/rest/api/2"},
		{"default port", "acme.atlassian.net:443", "https://acme.atlassian.net/rest/api/2"},
		{"the port hosts: names", "jira.example.com:8443", "https://jira.example.com:8443/rest/api/2"},
		{"without the port hosts: names", "jira.example.com", ""},
		{"a port hosts: does not name", "acme.atlassian.net:8443", ""},
		{"another host", "evil.com", ""},
		{"two labels under the wildcard", "a.b.atlassian.net", ""},
		{"the bare domain", "atlassian.net", ""},
		{"path", "acme.atlassian.net/x", ""},
		{"userinfo", "acme.atlassian.net@evil.com", ""},
		{"fragment", "evil.com#.atlassian.net", ""},
		{"loopback", "127.0.0.1:28092", ""},
		{"trailing dot", "acme.atlassian.net.", ""},
		{"IDN", "bücher.atlassian.net", ""},
	})
	// The host that was refused is named: it holds no credential.
	_, err := cc.BaseURL.EvalURL(context.Background(), paramVars(map[string]any{"site": "evil.com"}))
	if err == nil || !strings.Contains(err.Error(), `"evil.com"`) || !strings.Contains(err.Error(), "*.atlassian.net") {
		t.Errorf("the error does not name the host and the allowed ones: %v", err)
	}
}

// TestDynamicURL: a URL that starts with an expression is https, on a
// host of hosts:.
func TestDynamicURL(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: onprem
baseUrl: ${ connection.parameters.url }
hosts: ["*.example.com"]
parameters: {type: object, properties: {url: {type: string}}}
`)
	runURLCases(t, cc.BaseURL, "url", true, []urlCase{
		{"https", "https://a.example.com/api", "https://a.example.com/api"},
		{"upper case", "HTTPS://A.Example.COM/api", "https://a.example.com/api"},
		{"http", "http://a.example.com", ""},
		{"userinfo", "https://u:p@a.example.com", ""},
		{"a port hosts: does not name", "https://a.example.com:444", ""},
		{"another host", "https://evil.com#.example.com", ""},
		{"relative", "//a.example.com", ""},
		{"IP literal", "https://[::1]/", ""},
	})
}

// TestPathValuesEscaped: a value after the host is one path segment; it
// cannot reach the authority.
func TestPathValuesEscaped(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: api
baseUrl: https://api.example.com/${ connection.parameters.account }/v1?region=${ connection.parameters.account }
parameters: {type: object, properties: {account: {type: string}}}
`)
	for value, want := range map[string]string{
		"acme":        "https://api.example.com/acme/v1?region=acme",
		"..":          "https://api.example.com/%2E%2E/v1?region=..",
		"//evil.com/": "https://api.example.com/%2F%2Fevil.com%2F/v1?region=%2F%2Fevil.com%2F",
		"@evil.com":   "https://api.example.com/@evil.com/v1?region=%40evil.com",
		"x?y#z":       "https://api.example.com/x%3Fy%23z/v1?region=x%3Fy%23z",
	} {
		u, err := cc.BaseURL.EvalURL(context.Background(), paramVars(map[string]any{"account": value}))
		if err != nil {
			t.Errorf("%q: %v", value, err)
			continue
		}
		if u.Host != "api.example.com" || u.String() != want {
			t.Errorf("%q: URL = %s (host %s), want %s", value, u, u.Host, want)
		}
	}
}

// TestCredentialsNeverEchoed: a URL that reads credentials never names
// what it rendered.
func TestCredentialsNeverEchoed(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: odd
baseUrl: https://api.example.com
hosts: ["*.example.com"]
auth:
  type: oauth2
  grant: clientCredentials
  credentials: {type: object, properties: {apiKey: {type: string}}}
  tokenUrl: https://${ credentials.apiKey }.example.com/token
`)
	vars := paramVars(nil)
	vars[compile.VarCredentials] = map[string]any{"apiKey": "sk-live-secret"}
	_, err := cc.Auth.TokenURL.EvalURL(context.Background(), vars)
	if err != nil {
		t.Fatalf("a label of letters, digits and '-' is a label: %v", err)
	}
	vars[compile.VarCredentials] = map[string]any{"apiKey": "sk_live/secret"}
	_, err = cc.Auth.TokenURL.EvalURL(context.Background(), vars)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("got %v; want a refusal that does not quote the value", err)
	}
}

// TestLiteralHostsAlwaysAllowed: a host written whole in a file goes
// where it says, hosts: or not (a sandbox).
func TestLiteralHostsAlwaysAllowed(t *testing.T) {
	cc := compileConnector(t, `kind: Connector
key: zendesk
baseUrl: http://127.0.0.1:12111/api
hosts: ["*.zendesk.com"]
auth:
  type: oauth2
  grant: clientCredentials
  tokenUrl: https://login.example.org/${ connection.parameters.path }
parameters: {type: object, properties: {path: {type: string}}}
`)
	u, err := cc.BaseURL.EvalURL(context.Background(), paramVars(nil))
	if err != nil || u.String() != "http://127.0.0.1:12111/api" {
		t.Errorf("base URL = %v, %v", u, err)
	}
	u, err = cc.Auth.TokenURL.EvalURL(context.Background(), paramVars(map[string]any{"path": "token"}))
	if err != nil || u.String() != "https://login.example.org/token" {
		t.Errorf("token URL = %v, %v", u, err)
	}
}

// TestNoPolicyNoURL: an expression not compiled as a connector URL is
// refused, not evaluated unchecked.
func TestNoPolicyNoURL(t *testing.T) {
	cc := compileConnector(t, "kind: Connector\nkey: k\nbaseUrl: https://api.example.com\nheaders: {X-Url: https://x.example.com}\n")
	if _, err := cc.Headers[0].Expr.EvalURL(context.Background(), nil); err == nil {
		t.Error("a header template gave a URL")
	}
}

func TestParseHostPattern(t *testing.T) {
	for _, s := range []string{"api.example.com", "*.zendesk.com", "API.Example.com", "api.*.example.com", "jira.example.com:8443", "*.acme.co.uk", "10.0.0.5", "localhost"} {
		if _, err := compile.ParseHostPattern(s); err != nil {
			t.Errorf("ParseHostPattern(%q): %v", s, err)
		}
	}
	for _, s := range []string{"*", "*.com", "*.co.uk", "*.github.io", "https://x.com", "x.com/", "u@x.com", "x.com:0", "x.com:65536", "x..com", "-x.com", "bücher.de", "\u212a.example.com", "*.localhost"} {
		if _, err := compile.ParseHostPattern(s); err == nil {
			t.Errorf("ParseHostPattern(%q) was accepted", s)
		}
	}
}
