package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// bulkImport creates contacts one by one and stops at the first failure:
// the problem says which step and item failed and what had been created.
const bulkImport = `kind: Action
connector: crm
key: bulk-import
inputSchema:
  type: object
  properties: {emails: {type: array, items: {type: string}}}
steps:
  - name: me
    request: {path: /me}
    output: {account: "${ response.body.account }"}
  - name: create
    forEach: ${ input.emails }
    request: {method: POST, path: /contacts, body: {email: "${ item }"}}
    output: {id: "${ response.body.id }"}
`

func TestFailedWorkflowProblemCarriesPartialOutput(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := &tc{Env: apitest.NewWithFiles(t, newDB(t), map[string]string{"bulk.yaml": bulkImport}), t: t}
		acme := c.Token("acme")
		id := c.newConnection(acme)
		r := c.post("/v1/connections/"+id+"/actions/bulk-import/run", acme,
			map[string]any{"input": map[string]any{"emails": []any{"ada@example.com", "taken@example.com", "never@example.com"}}})
		p := wantProblem(t, r, http.StatusConflict, "run-conflict")
		e := p["error"].(map[string]any)
		if e["step"] != "create" || e["item"] != float64(1) || e["status"] != float64(409) {
			t.Fatalf("error %v, want step create, item 1, status 409", e)
		}
		partial, _ := e["partial"].(map[string]any)
		if partial["me"].(map[string]any)["account"] != "acme" {
			t.Fatalf("partial %v, want the finished step's output", partial)
		}
		// The run log keeps where it failed and what was done.
		log := c.get("/v1/run-logs/"+p["runId"].(string), acme).object(t)
		msg, _ := log["error"].(string)
		for _, want := range []string{`step "create": item 1`, `done before the failure: {"me":{"account":"acme"}}`} {
			if !strings.Contains(msg, want) {
				t.Errorf("run log error %q lacks %q", msg, want)
			}
		}
		c.neverShown(apitest.GoodKey)
	})
}

// A stored override cannot raise the attempts of a step's requests above
// what the files give the action: steps are requests too.
func TestOverrideCannotRaiseStepRetries(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := &tc{Env: apitest.NewWithFiles(t, newDB(t), map[string]string{"bulk.yaml": bulkImport}), t: t}
		acme := c.Token("acme")
		id := c.newConnection(acme)
		path := "/v1/connections/" + id + "/override"
		doc := "kind: ConnectionOverride\nconnector: crm\nactions:\n  bulk-import:\n    steps:\n      - name: me\n        request: {path: /me}\n        onError:\n          steps:\n            - name: again\n              retry: {maxAttempts: 50}\n              request: {path: /me}\n"
		p := wantProblem(t, c.do(yamlPut(path, acme, doc)), http.StatusUnprocessableEntity, "invalid-override")
		wantLimitRaised(t, p, "actions.bulk-import.steps[0].onError.steps[0].retry.maxAttempts", "50 attempts", "1 attempt", 11, 23)
		// Lowering is the tenant's to choose.
		wantStatus(t, c.do(yamlPut(path, acme, strings.Replace(doc, "maxAttempts: 50", "maxAttempts: 1", 1))), http.StatusOK)
	})
}
