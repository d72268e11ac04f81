package spec

import (
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
)

// BuiltinEventTypes are the event types the runtime raises besides record
// changes, by prefix: connection lifecycle events, and endpoint.disabled
// when a delivery destination is disabled. A destination's `events`
// patterns are checked against them and the workspace's events.
var BuiltinEventTypes = map[string][]string{
	"connection": {"created", "reconnected", "disconnected", "deleted"},
	"endpoint":   {"disabled"},
}

// RecordChanges are the suffixes of a record change's event type,
// `<event key>.<change>`.
var RecordChanges = []string{"created", "updated", "deleted"}

// DestinationIDPrefix starts the store id of a membrane.yaml destination:
// "file:<name>".
const DestinationIDPrefix = "file:"

// checkDelivery checks what the Workspace schema cannot about `delivery`:
// unique destination names, networks that parse, no credentials in a
// webhook URL, and event patterns and connectors that name something the
// workspace has.
func checkDelivery(ws *Workspace, c *WorkspaceConfig, diags *diag.List) {
	if c.Delivery == nil {
		return
	}
	node := c.Source.Doc.Get("delivery")
	nets := node.Get("allowPrivateNetworks")
	for i, n := range c.Delivery.AllowPrivateNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			diags.Errorf(nets.Items[i].Pos, "invalid-value", "%q is not a network in CIDR form such as 127.0.0.0/8 or 10.20.0.0/16", n)
		}
	}
	items := node.Get("destinations")
	first := map[string]diag.Pos{}
	for i, d := range c.Delivery.Destinations {
		item := items.Items[i]
		if at, ok := first[d.Name]; ok {
			diags.Errorf(item.Get("name").Pos, "duplicate-definition", "destination %q is already defined at %s; rename one (a destination's name is its id, file:%s)", d.Name, at, d.Name)
		} else {
			first[d.Name] = item.Get("name").Pos
		}
		if d.URL != "" {
			checkWebhookURL(d.URL, item.Get("url").Pos, diags)
		}
		if d.NATS != nil {
			if u, err := url.Parse(d.NATS.URL); err != nil || u.Host == "" {
				diags.Errorf(item.Get("nats").Get("url").Pos, "invalid-value", "%q is not a NATS server URL; write nats://host:port", d.NATS.URL)
			} else if u.User != nil {
				diags.Errorf(item.Get("nats").Get("url").Pos, "secret-in-file", "the NATS URL carries credentials; remove them from the file")
			}
		}
		for j, p := range d.Events {
			checkEventPattern(ws, p, item.Get("events").Items[j].Pos, diags)
		}
		for j, key := range d.Connectors {
			connectorAt(ws, item.Get("connectors").Items[j].Pos, key, diags)
		}
	}
}

// checkWebhookURL refuses a webhook URL that does not parse or that
// carries credentials: the signing secret is what proves the sender.
func checkWebhookURL(raw string, pos diag.Pos, diags *diag.List) {
	if strings.Contains(raw, "${") {
		diags.Errorf(pos, "invalid-value", "a webhook URL is written in full: ${ … } is not evaluated here, so that where events go is fixed in this file; write the URL itself")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		diags.Errorf(pos, "invalid-value", "%q is not an absolute http(s) URL; write one such as https://api.example.com/hooks", raw)
		return
	}
	if u.User != nil {
		diags.Errorf(pos, "secret-in-file", "the webhook URL carries a user name or password; remove it: the backend verifies the webhook-signature header, signed with the secret of secretEnv")
	}
	if u.Fragment != "" {
		diags.Errorf(pos, "invalid-value", "the webhook URL has a fragment (#%s), which is never sent; remove it", u.Fragment)
	}
}

// checkEventPattern checks that a pattern of `events` can match an event
// type the workspace raises: a builtin one (connection.*,
// endpoint.disabled) or a record change of one of its events.
func checkEventPattern(ws *Workspace, p string, pos diag.Pos, diags *diag.List) {
	if p == "*" {
		return
	}
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return // the schema's pattern said so already
	}
	prefix, suffix := p[:i], p[i+1:]
	if ends, ok := BuiltinEventTypes[prefix]; ok {
		if suffix != "*" && !slices.Contains(ends, suffix) {
			diags.Errorf(pos, "unknown-reference", "there is no event type %q; the %s events are %s%s", p, prefix, joinTypes(prefix, ends), suggest.DidYouMean(p, typesOf(prefix, ends)))
		}
		return
	}
	keys := eventTypeKeys(ws)
	if keys[prefix] {
		if suffix != "*" && !slices.Contains(RecordChanges, suffix) {
			diags.Errorf(pos, "unknown-reference", "there is no event type %q; a record change is %s%s", p, joinTypes(prefix, RecordChanges), suggest.DidYouMean(p, typesOf(prefix, RecordChanges)))
		}
		return
	}
	if suffix == "*" {
		for k := range keys {
			if strings.HasPrefix(k, prefix+".") {
				return
			}
		}
	}
	if brokenEventKey(ws, prefix) {
		return // an event with errors: reported where it is
	}
	names := slices.Sorted(maps.Keys(keys))
	names = append(names, slices.Sorted(maps.Keys(BuiltinEventTypes))...)
	hint := suggest.DidYouMean(prefix, names)
	if hint == "" {
		hint = "; event types start with " + strings.Join(names, ", ")
	}
	diags.Errorf(pos, "unknown-reference", "no event of the workspace has type %q: %q is not an event key, a universal event key or a builtin prefix%s", p, prefix, hint)
}

// brokenEventKey reports a universal event or event, with errors, whose
// changes would carry the type key key.
func brokenEventKey(ws *Workspace, key string) bool {
	if ws.broken[KindUniversalEvent+"//"+key] || ws.brokenImplements[KindEvent+"/"+key] {
		return true
	}
	for b := range ws.broken {
		if strings.HasPrefix(b, KindEvent+"/") && strings.HasSuffix(b, "/"+key) {
			return true
		}
	}
	return false
}

func typesOf(prefix string, ends []string) []string {
	out := make([]string, len(ends))
	for i, e := range ends {
		out[i] = prefix + "." + e
	}
	return out
}

func joinTypes(prefix string, ends []string) string { return strings.Join(typesOf(prefix, ends), ", ") }

// eventTypeKeys are the keys record change types start with: each
// universal event's key, and each connector event's key (a change of an
// event implementing a universal one carries the universal key).
func eventTypeKeys(ws *Workspace) map[string]bool {
	keys := map[string]bool{}
	for k := range ws.UniversalEvents {
		keys[k] = true
	}
	for _, m := range ws.Events {
		for k, e := range m {
			if e.Implements != "" {
				keys[e.Implements] = true
			} else {
				keys[k] = true
			}
		}
	}
	return keys
}

// DeliveryAllowPrivate returns the networks webhook destinations may
// resolve into although private; the loader has checked they parse.
func (c *WorkspaceConfig) DeliveryAllowPrivate() []netip.Prefix {
	if c == nil || c.Delivery == nil {
		return nil
	}
	var out []netip.Prefix
	for _, n := range c.Delivery.AllowPrivateNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// DeliveryRetry returns the retry schedule written in membrane.yaml, or
// nil for the runtime's default.
func (c *WorkspaceConfig) DeliveryRetry() []time.Duration {
	if c == nil || c.Delivery == nil || len(c.Delivery.Retry) == 0 {
		return nil
	}
	out := make([]time.Duration, len(c.Delivery.Retry))
	for i, d := range c.Delivery.Retry {
		out[i] = d.Duration
	}
	return out
}

// DestinationID is the store id of the membrane.yaml destination name.
func DestinationID(name string) string { return DestinationIDPrefix + name }
