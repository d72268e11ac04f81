package spec

import (
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
		if !connectorAt(ws, pos, key, diags) {
			continue
		}
		if conn := ws.Connectors[key]; conn.Auth == nil || conn.Auth.Type != AuthOAuth2 {
			diags.Errorf(pos, "invalid-value", "connector %q does not use oauth2 auth, so it has no OAuth client", key)
		}
	}
	checkWebhookSecrets(ws, c, diags)
	checkAutoSubscriptions(ws, c, diags)
	checkDelivery(ws, c, diags)
	checkTracing(c, diags)
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

// AppClientSecret is the name `app` gives the secret of a connector's
// OAuth client (oauthClients), which some vendors sign webhooks with.
const AppClientSecret = "clientSecret"

// checkWebhookSecrets checks that each connector of `webhookSecrets`
// exists, and that app.clientSecret is not named twice: oauthClients
// gives it already.
func checkWebhookSecrets(ws *Workspace, c *WorkspaceConfig, diags *diag.List) {
	secrets := c.Source.Doc.Get("webhookSecrets")
	for _, key := range sortedKeys(c.WebhookSecrets) {
		field := secrets.Field(key)
		if !connectorAt(ws, field.KeyPos, key, diags) {
			continue
		}
		if _, ok := c.WebhookSecrets[key][AppClientSecret]; ok {
			if oc, has := c.OAuthClients[key]; has && field.Value != nil {
				diags.Errorf(field.Value.Field(AppClientSecret).KeyPos, "invalid-value", "app.clientSecret of connector %q is already the OAuth client's secret (oauthClients.%s.clientSecretEnv: %s); remove it here", key, key, oc.ClientSecretEnv)
			}
		}
	}
}

// checkAutoSubscriptions checks that each connector of `subscriptions`
// exists and has each event listed, by its key or by the universal key it
// implements.
func checkAutoSubscriptions(ws *Workspace, c *WorkspaceConfig, diags *diag.List) {
	subs := c.Source.Doc.Get("subscriptions")
	for _, key := range sortedKeys(c.Subscriptions) {
		field := subs.Field(key)
		if !connectorAt(ws, field.KeyPos, key, diags) {
			continue
		}
		var names []string
		for k, e := range ws.Events[key] {
			names = append(names, k)
			if e.Implements != "" {
				names = append(names, e.Implements)
			}
		}
		for i, name := range c.Subscriptions[key] {
			if hasEvent(ws, key, name) || ws.broken[KindEvent+"/"+key+"/"+name] {
				continue
			}
			pos := field.KeyPos
			if field.Value != nil && i < len(field.Value.Items) {
				pos = field.Value.Items[i].Pos
			}
			if len(names) == 0 {
				diags.Errorf(pos, "unknown-reference", "connector %q has no events, so it cannot subscribe to %q; define the event (kind: Event, connector: %s) or remove it from the list", key, name, key)
				continue
			}
			hint := suggest.DidYouMean(name, names)
			if hint == "" {
				slices.Sort(names)
				hint = "; its events are " + strings.Join(slices.Compact(names), ", ")
			}
			diags.Errorf(pos, "unknown-reference", "connector %q has no event %q, by key or by the universal event it implements%s", key, name, hint)
		}
	}
}

// hasEvent reports whether a connector has an event of key name, or one
// implementing the universal event name.
func hasEvent(ws *Workspace, connector, name string) bool {
	if ws.Events[connector][name] != nil {
		return true
	}
	for _, e := range ws.Events[connector] {
		if e.Implements == name {
			return true
		}
	}
	return false
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

// checkTracing refuses an OTLP endpoint that does not parse or that
// carries credentials: a collector's key belongs in headersEnv.
func checkTracing(c *WorkspaceConfig, diags *diag.List) {
	if c.Tracing == nil || c.Tracing.Endpoint == "" {
		return
	}
	pos := c.Source.Doc.Get("tracing").Get("endpoint").Pos
	u, err := url.Parse(c.Tracing.Endpoint)
	switch {
	case err != nil || u.Host == "":
		diags.Errorf(pos, "invalid-value", "%q is not a URL; write the collector's address in full, e.g. http://otel-collector:4318", c.Tracing.Endpoint)
	case u.User != nil:
		diags.Errorf(pos, "secret-in-file", "the endpoint carries credentials; remove them and put the collector's key in the variable headersEnv names")
	case u.RawQuery != "" || u.Fragment != "":
		diags.Errorf(pos, "invalid-value", "the endpoint has a query or fragment; an OTLP endpoint is scheme://host[:port][/path]")
	}
}
