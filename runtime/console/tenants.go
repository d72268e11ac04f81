package console

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// connectTTL is the life of the tenant token minted for a connect link:
// the connect page moves it into its own session at once.
const connectTTL = 5 * time.Minute

func tenantHref(t string) string { return base + "/tenants/" + url.PathEscape(t) }

type tenantsPage struct {
	page
	Tenants []string
	Next    string
}

func (h *handler) tenants(w http.ResponseWriter, r *http.Request) {
	// The form on the overview names a tenant: go to its page.
	if t := r.URL.Query().Get("tenant"); t != "" && tenancy.ValidTenantKey(t) {
		http.Redirect(w, r, tenantHref(t), http.StatusSeeOther)
		return
	}
	page, err := h.o.Store.ListTenants(r.Context(), r.URL.Query().Get("cursor"), 100)
	if err != nil {
		h.failed(w, r, "list the tenants", err)
		return
	}
	p := &tenantsPage{page: newPage("Tenants", "tenants")}
	for _, t := range page.Items {
		p.Tenants = append(p.Tenants, t.Key)
	}
	if page.Next != "" {
		p.Next = base + "/tenants?cursor=" + url.QueryEscape(page.Next)
	}
	h.render(w, r, http.StatusOK, "tenants", p)
}

func newPage(title, nav string) page { return page{Title: title, Nav: nav} }

type tenantPage struct {
	page
	Tenant      string
	Connections []connView
	NextConns   string
	Connectors  []connectLink
	CanMint     bool
	Runs        []runView
	NextRuns    string
	// Subscriptions and Changes change as polls run: the development
	// console refetches them every Refresh seconds.
	Subscriptions []subView
	NextSubs      string
	Changes       []changeView
	Refresh       int
}

type connView struct {
	ID, Name, Connector, State, LastError, Updated string
	ConnectorHref, Reconnect                       string
	Bad                                            bool
	// Info is what the connection learnt of its account (auth.info), one
	// "name: value" a line.
	Info []string
}

type connectLink struct{ Key, Name, Href string }

type runView struct {
	ID, Href, Action, Connection, Status, Error, When string
	DurationMs                                        int64
	OK                                                bool
}

func (h *handler) tenantKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	t := r.PathValue("tenant")
	if !tenancy.ValidTenantKey(t) {
		h.message(w, r, http.StatusNotFound, "No such tenant", "A tenant key is letters, digits and _ . : @ -.")
		return "", false
	}
	return t, true
}

// tenant shows a tenant's connections, with their state, and its recent
// runs. A tenant with nothing yet is an empty page, as the API sees it.
func (h *handler) tenant(w http.ResponseWriter, r *http.Request) {
	t, ok := h.tenantKey(w, r)
	if !ok {
		return
	}
	ctx, q := r.Context(), r.URL.Query()
	p := &tenantPage{page: newPage("Tenant "+t, "tenants"), Tenant: t, CanMint: h.o.Minter != nil}
	conns, err := h.o.Service.List(ctx, t, connections.ListRequest{Cursor: q.Get("connections"), Limit: 50})
	if err != nil {
		h.failed(w, r, "list the connections", err)
		return
	}
	for _, c := range conns.Items {
		v := connView{ID: c.ID, Name: c.Name, Connector: c.Connector, State: string(c.State), LastError: c.LastError,
			Updated: c.UpdatedAt.Format(time.DateTime), ConnectorHref: connectorHref(c.Connector), Bad: c.State != store.Connected,
			Info: infoLines(c.Info)}
		if c.State == store.Disconnected && h.o.Minter != nil {
			v.Reconnect = connectHref(t, c.Connector, c.ID)
		}
		p.Connections = append(p.Connections, v)
	}
	if conns.Next != "" {
		p.NextConns = tenantHref(t) + "?connections=" + url.QueryEscape(conns.Next)
	}
	for _, c := range catalog(h.o.Service.Workspace().Spec) {
		p.Connectors = append(p.Connectors, connectLink{Key: c.Key, Name: c.Name, Href: connectHref(t, c.Key, "")})
	}
	runs, err := h.o.Store.Tenant(t).RunLogs().List(ctx, store.RunLogFilter{Cursor: q.Get("runs"), Limit: 20})
	if err != nil {
		h.failed(w, r, "list the run logs", err)
		return
	}
	for _, l := range runs.Items {
		p.Runs = append(p.Runs, runViewOf(t, l))
	}
	if runs.Next != "" {
		p.NextRuns = tenantHref(t) + "?runs=" + url.QueryEscape(runs.Next)
	}
	if p.Subscriptions, p.NextSubs, err = h.subscriptionsOf(ctx, t, q.Get("subscriptions")); err != nil {
		h.failed(w, r, "list the subscriptions", err)
		return
	}
	if p.Changes, err = h.changesOf(ctx, t); err != nil {
		h.failed(w, r, "list the recent changes", err)
		return
	}
	p.Refresh = refreshSeconds
	h.render(w, r, http.StatusOK, "tenant", p)
}

func runViewOf(t string, l *store.RunLog) runView {
	return runView{ID: l.ID, Href: tenantHref(t) + "/runs/" + url.PathEscape(l.ID), Action: l.Action, Connection: l.ConnectionID,
		Status: l.Status, Error: l.Error, When: l.CreatedAt.Format(time.DateTime), DurationMs: l.DurationMs, OK: l.Status == "ok"}
}

func connectHref(t, connector, connID string) string {
	q := url.Values{"connector": {connector}}
	if connID != "" {
		q.Set("connectionId", connID)
	}
	return tenantHref(t) + "/connect?" + q.Encode()
}

// connect mints a short-lived token of the tenant and sends the browser
// to the connect page with it. The token is made at the click, so no page
// of the console ever holds one.
func (h *handler) connect(w http.ResponseWriter, r *http.Request) {
	t, ok := h.tenantKey(w, r)
	if !ok {
		return
	}
	if h.o.Minter == nil {
		h.message(w, r, http.StatusNotFound, "Connect through the API",
			"This server mints no tokens. Your backend mints a token of the tenant and sends the user to /connect?token=<token>&connector=<key>, or calls POST /v1/connections.")
		return
	}
	connector := r.URL.Query().Get("connector")
	if h.o.Service.Workspace().Spec.Connectors[connector] == nil {
		h.message(w, r, http.StatusNotFound, "No such connector", "The workspace has no connector "+quote(connector)+".")
		return
	}
	tok, err := h.o.Minter.Mint(tenancy.Claims{Tenant: t}, connectTTL)
	if err != nil {
		h.failed(w, r, "mint a tenant token", err)
		return
	}
	q := url.Values{"token": {tok}, "connector": {connector}}
	if id := r.URL.Query().Get("connectionId"); id != "" {
		q.Set("connectionId", id)
	}
	// Not http.Redirect: its body would repeat the token.
	w.Header().Set("Location", "/connect?"+q.Encode())
	w.WriteHeader(http.StatusSeeOther)
}

type runLogPage struct {
	page
	Tenant    string
	Run       runView
	Exchanges []exchangeView
}

func (h *handler) runLog(w http.ResponseWriter, r *http.Request) {
	t, ok := h.tenantKey(w, r)
	if !ok {
		return
	}
	l, err := h.o.Store.Tenant(t).RunLogs().Get(r.Context(), r.PathValue("run"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.message(w, r, http.StatusNotFound, "No such run", "Tenant "+quote(t)+" has no run log "+quote(r.PathValue("run"))+"; it may have been pruned.")
		return
	case err != nil:
		h.failed(w, r, "read the run log", err)
		return
	}
	p := &runLogPage{page: newPage("Run "+l.ID, "tenants"), Tenant: t, Run: runViewOf(t, l)}
	var log []engine.Exchange
	if len(l.Entries) > 0 && json.Unmarshal(l.Entries, &log) == nil {
		p.Exchanges = exchanges(log)
	}
	h.render(w, r, http.StatusOK, "runlog", p)
}

// storedExchanges reads back a run's log, or nil.
func (h *handler) storedExchanges(ctx context.Context, tenant, id string) []engine.Exchange {
	if id == "" {
		return nil
	}
	l, err := h.o.Store.Tenant(tenant).RunLogs().Get(ctx, id)
	if err != nil || len(l.Entries) == 0 {
		return nil
	}
	var log []engine.Exchange
	if json.Unmarshal(l.Entries, &log) != nil {
		return nil
	}
	return log
}

// infoLines renders a connection's info as "name: value" lines, by name;
// a value that is not text is shown as JSON, cut when long.
func infoLines(info map[string]any) []string {
	out := make([]string, 0, len(info))
	for _, k := range slices.Sorted(maps.Keys(info)) {
		v, ok := info[k].(string)
		if !ok {
			b, _ := json.Marshal(info[k])
			v = string(b)
		}
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		out = append(out, k+": "+v)
	}
	return out
}
