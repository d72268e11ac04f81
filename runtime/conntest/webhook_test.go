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
  - name: signed with the case's secret
    webhook:
      secret: other
      request:
        headers: {X-Shop-Signature: "`+sign("other", body)+`"}
        body: '`+body+`'
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
