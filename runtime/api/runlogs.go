package api

import (
	"net/http"

	"github.com/membrane-dev/membrane/runtime/store"
)

func (a *api) listRunLogs(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, err := a.st.Tenant(tenantOf(r)).RunLogs().List(r.Context(), store.RunLogFilter{ConnectionID: q.Get("connectionId"),
		Action: q.Get("action"), Origin: q.Get("origin"), Status: q.Get("status"), RequestID: q.Get("requestId"), Cursor: cursor, Limit: limit})
	if err != nil {
		a.failList(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, listOf(page.Items, page.Next))
}

func (a *api) getRunLog(w http.ResponseWriter, r *http.Request) {
	l, err := a.st.Tenant(tenantOf(r)).RunLogs().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, "run-log", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, l)
}
