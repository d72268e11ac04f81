package spec

import (
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/spec/diag"

	"github.com/membrane-dev/membrane/spec/suggest"
)

// checkWorkspaceConfig checks what the Workspace schema cannot: that OAuth
// clients are for oauth2 connectors, that networks and return origins
// parse, and that no password is written in the store DSN.
func checkWorkspaceConfig(ws *Workspace, c *WorkspaceConfig, diags *diag.List) {
	doc := c.Source.Doc
	if c.Store != "" {
		if u, err := url.Parse(c.Store); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				diags.Errorf(doc.Get("store").Pos, "secret-in-file", "the store DSN carries a password; move the DSN to an environment variable and name it in storeEnv")
			}
		}
		if c.StoreEnv != "" {
			diags.Errorf(doc.Get("storeEnv").Pos, "invalid-value", "give store or storeEnv, not both")
		}
	}
	clients := doc.Get("oauthClients")
	for _, key := range sortedKeys(c.OAuthClients) {
		pos := clients.Field(key).KeyPos
		conn, ok := ws.Connectors[key]
		switch {
		case !ok && !ws.broken[KindConnector+"//"+key]:
			diags.Errorf(pos, "unknown-reference", "connector %q is not defined in the workspace%s", key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Connectors))))
		case ok && (conn.Auth == nil || conn.Auth.Type != AuthOAuth2):
			diags.Errorf(pos, "invalid-value", "connector %q does not use oauth2 auth, so it has no OAuth client", key)
		}
	}
	if c.Outbound != nil {
		nets := doc.Get("outbound").Get("allowedNetworks")
		for i, n := range c.Outbound.AllowedNetworks {
			if _, err := netip.ParsePrefix(n); err != nil {
				diags.Errorf(nets.Items[i].Pos, "invalid-value", "%q is not a network in CIDR form such as 10.20.0.0/16", n)
			}
		}
	}
	if c.Connect != nil {
		origins := doc.Get("connect").Get("returnOrigins")
		for i, o := range c.Connect.ReturnOrigins {
			lower := strings.ToLower(o)
			if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
				continue // the schema's pattern said so already
			}
			if _, err := ParseOrigin(o); err != nil {
				diags.Errorf(origins.Items[i].Pos, "invalid-value", "%q is not an origin: it %v (an origin is scheme://host[:port], e.g. https://app.example.com)", o, err)
			}
		}
	}
}

// AllowedNetworks returns the networks the workspace opens to outbound
// requests; the loader has checked they parse.
func (c *WorkspaceConfig) AllowedNetworks() []netip.Prefix {
	if c == nil || c.Outbound == nil {
		return nil
	}
	var out []netip.Prefix
	for _, n := range c.Outbound.AllowedNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// AllowPrivate reports whether the workspace opens private addresses.
func (c *WorkspaceConfig) AllowPrivate() bool {
	return c != nil && c.Outbound != nil && c.Outbound.AllowPrivate
}
