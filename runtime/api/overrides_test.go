package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

func yamlPut(path, token, doc string, header ...string) req {
	h := map[string]string{"Content-Type": "application/yaml"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return req{method: "PUT", path: path, token: token, body: doc, header: h}
}

func TestOverrides(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		acme := c.Token("acme")
		r := c.post("/v1/connections", acme, connBody(apitest.GoodKey))
		wantStatus(t, r, http.StatusCreated)
		id := r.object(t)["id"].(string)
		path := "/v1/connections/" + id + "/override"

		wantProblem(t, c.get(path, acme), http.StatusNotFound, "not-found")

		// PUT stores the document as sent, and answers its revision.
		r = c.do(yamlPut(path, acme, overrideDoc))
		wantStatus(t, r, http.StatusOK)
		put := r.object(t)
		if put["revision"] != float64(1) || put["document"] != overrideDoc || put["connectionId"] != id || r.Header.Get("ETag") != `"1"` {
			t.Fatalf("put %s (ETag %s)", r.Body, r.Header.Get("ETag"))
		}
		if w, ok := put["warnings"].([]any); !ok || len(w) != 0 {
			t.Fatalf("warnings %v", put["warnings"])
		}
		r = c.get(path, acme)
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("ETag") != `"1"` || r.object(t)["document"] != overrideDoc {
			t.Fatalf("get %s", r.Body)
		}

		// If-Match: a stale revision is 412 and changes nothing.
		changed := strings.Replace(overrideDoc, "source: api", "source: api-v2", 1)
		wantProblem(t, c.do(yamlPut(path, acme, changed, "If-Match", `"7"`)), http.StatusPreconditionFailed, "precondition-failed")
		wantProblem(t, c.do(yamlPut(path, acme, changed, "If-Match", `W/"1"`)), http.StatusPreconditionFailed, "precondition-failed")
		r = c.do(yamlPut(path, acme, changed, "If-Match", `"1"`))
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("ETag") != `"2"` {
			t.Fatalf("ETag %s", r.Header.Get("ETag"))
		}
		wantProblem(t, c.do(yamlPut(path, acme, overrideDoc, "If-Match", `"1"`)), http.StatusPreconditionFailed, "precondition-failed")
		r = c.do(yamlPut(path, acme, changed, "If-Match", "*"))
		wantStatus(t, r, http.StatusOK)
		if r.object(t)["revision"] != float64(3) {
			t.Fatalf("put * %s", r.Body)
		}

		// Explain shows the stored layer; a run sends what it adds.
		r = c.get("/v1/connections/"+id+"/actions/create-contact/explain", acme)
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.String(), "api-v2") || !strings.Contains(r.String(), "stored override crm/"+id) {
			t.Fatalf("explain does not show the stored override:\n%s", r.Body)
		}
		r = c.post("/v1/connections/"+id+"/actions/create-contact/run", acme, map[string]any{"input": map[string]any{"email": "ada@example.com"}, "log": true})
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.String(), `api-v2`) {
			t.Fatalf("the run did not send the override's field: %s", r.Body)
		}

		// An invalid document: 422 with diagnostics in it, nothing stored.
		bad := "kind: ConnectionOverride\nconnector: crm\nactions:\n  create-contac:\n    request: {}\n"
		p := wantProblem(t, c.do(yamlPut(path, acme, bad)), http.StatusUnprocessableEntity, "invalid-override")
		diags := p["diagnostics"].([]any)
		d := diags[0].(map[string]any)
		if d["rule"] != "unknown-reference" || !strings.Contains(d["message"].(string), "create-contact") || d["pos"].(map[string]any)["line"] != float64(4) {
			t.Fatalf("diagnostics %v", diags)
		}
		wantProblem(t, c.do(yamlPut(path, acme, "")), http.StatusUnprocessableEntity, "invalid-override")

		// Check validates without storing.
		var check struct {
			Valid       bool             `json:"valid"`
			Diagnostics []map[string]any `json:"diagnostics"`
		}
		checkReq := req{method: "POST", path: path + "/check", token: acme, body: bad, header: map[string]string{"Content-Type": "application/yaml"}}
		c.do(checkReq).decode(t, &check)
		if check.Valid || len(check.Diagnostics) == 0 {
			t.Fatalf("check %+v", check)
		}
		checkReq.body = overrideDoc
		c.do(checkReq).decode(t, &check)
		if !check.Valid {
			t.Fatalf("check %+v", check)
		}
		if r := c.get(path, acme); r.Header.Get("ETag") != `"3"` {
			t.Fatalf("check stored something: %s", r.Body)
		}

		// JSON works too; other media types do not.
		jsonDoc := `{"kind":"ConnectionOverride","connector":"crm","actions":{"create-contact":{"request":{"body":{"source":"json"}}}}}`
		r = c.do(req{method: "PUT", path: "/v1/connectors/crm/override", token: acme, body: jsonDoc, header: map[string]string{"Content-Type": "application/json"}})
		wantStatus(t, r, http.StatusOK)
		if _, ok := r.object(t)["connectionId"]; ok {
			t.Fatalf("a tenant-wide override with a connection: %s", r.Body)
		}
		wantProblem(t, c.do(req{method: "PUT", path: path, token: acme, body: overrideDoc, header: map[string]string{"Content-Type": "text/plain"}}),
			http.StatusUnsupportedMediaType, "unsupported-media-type")
		wantProblem(t, c.do(yamlPut("/v1/connectors/crn/override", acme, overrideDoc)), http.StatusNotFound, "unknown-connector")
		wantProblem(t, c.get("/v1/connectors/oauthcrm/override", acme), http.StatusNotFound, "not-found")

		// The listing, by connector then connection (tenant-wide first).
		var list struct {
			Items []map[string]any `json:"items"`
		}
		c.get("/v1/overrides", acme).decode(t, &list)
		if len(list.Items) != 2 || list.Items[0]["connectionId"] != nil || list.Items[1]["connectionId"] != id {
			t.Fatalf("overrides %+v", list)
		}
		c.get("/v1/overrides?connectionId="+id, acme).decode(t, &list)
		if len(list.Items) != 1 {
			t.Fatalf("overrides of the connection %+v", list)
		}

		// Delete both.
		wantStatus(t, c.do(req{method: "DELETE", path: path, token: acme}), http.StatusNoContent)
		wantProblem(t, c.get(path, acme), http.StatusNotFound, "not-found")
		wantProblem(t, c.do(req{method: "DELETE", path: path, token: acme}), http.StatusNotFound, "not-found")
		wantStatus(t, c.do(req{method: "DELETE", path: "/v1/connectors/crm/override", token: acme}), http.StatusNoContent)
		c.get("/v1/overrides", acme).decode(t, &list)
		if len(list.Items) != 0 {
			t.Fatalf("overrides left %+v", list)
		}
	})
}
