package conntest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestWebhookCases(t *testing.T) {
	body := `{"orders":[{"id":"o1","change":"created"}]}`
	good := sign("k_123", body)
	ws := eventWorkspace(t, `kind: ConnectorTest
connector: shop
event: order-pushed
connection: {credentials: {apiKey: k_123}}
cases:
  - name: signed with the connection's key
    webhook:
      request:
        headers: {X-Shop-Signature: "`+good+`"}
        body: '`+body+`'
      changes: [{type: created, id: o1, record: {id: o1}}]
      response: {status: 200}
  - name: a handshake is answered and gives no change
    webhook:
      request:
        headers: {X-Shop-Signature: "`+sign("k_123", `{"challenge":"c-42"}`)+`"}
        body: '{"challenge":"c-42"}'
      response: {status: 200, body: {challenge: c-42}}
  - name: WRONG changes the payload does not give
    webhook:
      request:
        headers: {X-Shop-Signature: "`+good+`"}
        body: '`+body+`'
      changes: [{type: deleted, id: o1}, {type: created, id: o2}]
  - name: signed with the case's secret
    webhook:
      secret: other
      request:
        headers: {X-Shop-Signature: "`+sign("other", body)+`"}
        body: '`+body+`'
      changes: [{type: created, id: o1}]
  - name: a tampered body is refused
    webhook:
      verified: false
      response: {status: 401}
      request:
        headers: {X-Shop-Signature: "`+good+`"}
        body: '{"orders":[]}'
  - name: WRONG a good signature refused
    webhook:
      verified: false
      request:
        headers: {X-Shop-Signature: "`+good+`"}
        body: '`+body+`'
  - name: WRONG an unsigned request verified
    webhook:
      request:
        body: '`+body+`'
`)
	for _, r := range run(t, ws) {
		wrong := strings.Contains(r.Case.Name, "WRONG")
		if r.Passed() == wrong {
			t.Errorf("%s: passed %v, failures:\n%s", r.Case.Name, r.Passed(), strings.Join(r.Failures, "\n"))
		}
		if wrong && strings.Contains(strings.Join(r.Failures, "\n"), "k_123") {
			t.Errorf("%s: a failure shows the secret: %v", r.Case.Name, r.Failures)
		}
	}
}

func TestWebhookEnrichment(t *testing.T) {
	ws := eventWorkspace(t, `kind: ConnectorTest
connector: shop
event: order-fetched
connection: {credentials: {apiKey: k_123}}
cases:
  - name: ids are fetched with get-order
    webhook:
      request: {body: {ids: [o1, o2]}}
      requests:
        - {method: GET, path: /orders/o1, headers: {X-Key: k_123}}
        - {method: GET, path: /orders/o2}
      responses:
        - {body: {id: o1, total: 5}}
        - {body: {id: o2, total: 7}}
      changes:
        - {type: updated, id: o1, record: {id: o1, total: 5}}
        - {type: updated, id: o2, record: {id: o2, total: 7}}
  - name: WRONG a fetch the case does not answer
    webhook:
      request: {body: {ids: [o1, o2]}}
      responses:
        - {body: {id: o1, total: 5}}
      changes:
        - {type: updated, id: o1}
`)
	for _, r := range run(t, ws) {
		wrong := strings.Contains(r.Case.Name, "WRONG")
		if r.Passed() == wrong {
			t.Errorf("%s: passed %v, failures:\n%s", r.Case.Name, r.Passed(), strings.Join(r.Failures, "\n"))
		}
		if wrong && !strings.Contains(strings.Join(r.Failures, "\n"), "request 2 was not expected: GET /orders/o2") {
			t.Errorf("%s: failures do not name the unexpected request:\n%s", r.Case.Name, strings.Join(r.Failures, "\n"))
		}
	}
}
