package api

import (
	"net/http"

	"github.com/membrane-dev/membrane/runtime/tenancy"
)

func (a *api) listTenants(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	page, err := a.st.ListTenants(r.Context(), cursor, limit)
	if err != nil {
		a.failList(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, listOf(page.Items, page.Next))
}

// putTenant creates a tenant unless it exists, and answers it either way.
func (a *api) putTenant(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("tenant")
	if !tenancy.ValidTenantKey(key) {
		p := problem(http.StatusBadRequest, "invalid-request", "A tenant key is 1 to 128 characters: letters, digits and _ . : @ -, starting with a letter or a digit.")
		p.Errors = []FieldError{{Parameter: "tenant", Detail: "not a valid tenant key"}}
		writeProblem(w, p)
		return
	}
	t, err := a.st.EnsureTenant(r.Context(), key)
	if err != nil {
		a.fail(w, r, "tenant", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, t)
}

func (a *api) deleteTenant(w http.ResponseWriter, r *http.Request) {
	// The apps stop pushing to the tenant's subscriptions first.
	if err := a.svc.UnsubscribeTenant(r.Context(), r.PathValue("tenant")); err != nil {
		a.fail(w, r, "tenant", err)
		return
	}
	if err := a.st.DeleteTenant(r.Context(), r.PathValue("tenant")); err != nil {
		a.fail(w, r, "tenant", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
