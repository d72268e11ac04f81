package api

import (
	"net/http"
	"strconv"
)

func (a *api) listConnectors(w http.ResponseWriter, r *http.Request) {
	a.writeJSON(w, r, http.StatusOK, listOf(a.svc.Connectors(), ""))
}

func (a *api) getConnector(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.Connector(r.PathValue("connector"))
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, c)
}

func (a *api) listActions(w http.ResponseWriter, r *http.Request) {
	acts, err := a.svc.Actions(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, listOf(acts, ""))
}

func (a *api) getAction(w http.ResponseWriter, r *http.Request) {
	act, err := a.svc.Action(r.Context(), tenantOf(r), r.PathValue("id"), r.PathValue("action"))
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, act)
}

// explain answers the merged action as YAML, each field commented with
// the layer and file:line it came from (RFC 9512 names the media type).
func (a *api) explain(w http.ResponseWriter, r *http.Request) {
	text, err := a.svc.Explain(r.Context(), tenantOf(r), r.PathValue("id"), r.PathValue("action"))
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/yaml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(text))
}
