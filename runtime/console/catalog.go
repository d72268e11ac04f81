package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
)

type connectorView struct {
	Key, Name, Description, Auth, Href string
	Actions, Events                    []itemView
}

type itemView struct {
	Key, Name, Description, Implements, Href, Where string
}

func connectorHref(key string) string { return base + "/connectors/" + url.PathEscape(key) }

func actionHref(connector, key string) string {
	return connectorHref(connector) + "/actions/" + url.PathEscape(key)
}

func eventHref(connector, key string) string {
	return connectorHref(connector) + "/events/" + url.PathEscape(key)
}

// catalog lists the workspace's connectors, their actions and events,
// by key.
func catalog(ws *spec.Workspace) []connectorView {
	var out []connectorView
	for _, key := range sortedKeys(ws.Connectors) {
		out = append(out, connectorOf(ws, key))
	}
	return out
}

func connectorOf(ws *spec.Workspace, key string) connectorView {
	c := ws.Connectors[key]
	v := connectorView{Key: key, Name: cmp.Or(c.Name, key), Description: c.Description, Href: connectorHref(key)}
	if c.Auth != nil {
		v.Auth = c.Auth.Type
		if c.Auth.Grant != "" {
			v.Auth += " (" + c.Auth.Grant + ")"
		}
	}
	acts := ws.Actions[key]
	for _, k := range sortedKeys(acts) {
		a := acts[k]
		v.Actions = append(v.Actions, itemView{Key: k, Name: a.Name, Description: a.Description, Implements: a.Implements,
			Href: actionHref(key, k), Where: a.Pos.String()})
	}
	evs := ws.Events[key]
	for _, k := range sortedKeys(evs) {
		e := evs[k]
		v.Events = append(v.Events, itemView{Key: k, Name: e.Name, Description: e.Description, Implements: e.Implements,
			Href: eventHref(key, k), Where: e.Pos.String()})
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type overviewPage struct {
	page
	Connectors []connectorView
	Tenants    []string
	MoreTenant bool
	Health     *healthView
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	p := &overviewPage{page: page{Title: "Membrane console", Nav: "overview"},
		Connectors: catalog(h.o.Service.Workspace().Spec)}
	ts, err := h.o.Store.ListTenants(r.Context(), "", 20)
	if err != nil {
		h.failed(w, r, "list the tenants", err)
		return
	}
	for _, t := range ts.Items {
		p.Tenants = append(p.Tenants, t.Key)
	}
	p.MoreTenant = ts.Next != ""
	p.Health = h.health(r.Context())
	h.render(w, r, http.StatusOK, "overview", p)
}

type connectorPage struct {
	page
	Connector connectorView
	// Explain is the connector merged through its layers, each field
	// annotated with its layer and file:line.
	Explain string
	Where   string
}

func (h *handler) connector(w http.ResponseWriter, r *http.Request) {
	ws := h.o.Service.Workspace().Spec
	key := r.PathValue("connector")
	c := ws.Connectors[key]
	if c == nil {
		h.message(w, r, http.StatusNotFound, "No such connector", "The workspace has no connector "+quote(key)+".")
		return
	}
	p := &connectorPage{page: page{Title: cmp.Or(c.Name, key), Nav: "overview"}, Connector: connectorOf(ws, key), Where: c.Pos.String()}
	if rc, diags := layers.ResolveConnector(ws, key); rc != nil && !diags.HasErrors() {
		p.Explain = layers.Explain(rc.Doc)
	} else if c.Doc != nil {
		p.Explain = layers.Explain(c.Doc)
	}
	h.render(w, r, http.StatusOK, "connector", p)
}

type eventPage struct {
	page
	Connector connectorView
	Event     itemView
	Explain   string
	Record    string
}

// event shows an event as written (events have no connection layer) and
// the schema its records are checked against.
func (h *handler) event(w http.ResponseWriter, r *http.Request) {
	ws := h.o.Service.Workspace().Spec
	ck, ek := r.PathValue("connector"), r.PathValue("event")
	e := ws.Event(ck, ek)
	if ws.Connectors[ck] == nil || e == nil {
		h.message(w, r, http.StatusNotFound, "No such event", "Connector "+quote(ck)+" has no event "+quote(ek)+".")
		return
	}
	p := &eventPage{page: page{Title: cmp.Or(e.Name, ek), Nav: "overview"}, Connector: connectorOf(ws, ck),
		Event:  itemView{Key: ek, Name: e.Name, Description: e.Description, Implements: e.Implements, Where: e.Pos.String()},
		Record: pretty(ws.RecordSchema(e))}
	if e.Doc != nil {
		p.Explain = layers.Explain(layers.Label(e.Doc, layers.Integration))
	}
	h.render(w, r, http.StatusOK, "event", p)
}
