package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func TestTenants(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		root := c.AdminToken("ops")
		acme := c.Token("acme")
		put := func(key string) *response {
			return c.do(req{method: "PUT", path: "/v1/tenants/" + key, token: root})
		}

		r := put("initech")
		wantStatus(t, r, http.StatusOK)
		first := r.object(t)
		if first["key"] != "initech" || first["createdAt"] == "" {
			t.Fatalf("put %s", r.Body)
		}
		r = put("initech") // idempotent
		wantStatus(t, r, http.StatusOK)
		if r.object(t)["createdAt"] != first["createdAt"] {
			t.Fatalf("put again changed it: %s", r.Body)
		}
		p := wantProblem(t, put("-initech"), http.StatusBadRequest, "invalid-request")
		if errs := p["errors"].([]any); errs[0].(map[string]any)["parameter"] != "tenant" {
			t.Fatalf("errors %v", errs)
		}

		// A tenant's first write creates it.
		wantStatus(t, c.post("/v1/connections", acme, connBody(apitest.GoodKey)), http.StatusCreated)
		var page struct {
			Items []struct{ Key string } `json:"items"`
			Next  string                 `json:"next"`
		}
		c.get("/v1/tenants", root).decode(t, &page)
		if len(page.Items) != 2 || page.Items[0].Key != "acme" || page.Items[1].Key != "initech" {
			t.Fatalf("tenants %+v", page)
		}
		c.get("/v1/tenants?limit=1", root).decode(t, &page)
		if len(page.Items) != 1 || page.Next == "" {
			t.Fatalf("first page %+v", page)
		}
		next := page.Next
		page.Items, page.Next = nil, ""
		c.get("/v1/tenants?limit=1&cursor="+url.QueryEscape(next), root).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].Key != "initech" || page.Next != "" {
			t.Fatalf("second page %+v", page)
		}

		// Deleting a tenant deletes what it owns.
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/tenants/acme", token: root}), http.StatusNoContent)
		var conns struct {
			Items []any `json:"items"`
		}
		c.get("/v1/connections", acme).decode(t, &conns)
		if len(conns.Items) != 0 {
			t.Fatalf("acme's connections survived: %+v", conns)
		}
		wantProblem(t, c.do(req{method: "DELETE", path: "/v1/tenants/acme", token: root}), http.StatusNotFound, "not-found")
	})
}
