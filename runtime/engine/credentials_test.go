package engine_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// A vendor that wants its key in the JSON body (Mailchimp Transactional)
// and in a `token` header next to Authorization: the requests carry
// credentials where the files say, and no log, output or error shows them,
// even escaped as JSON writes them.
func TestCredentialsInBodyAndHeaders(t *testing.T) {
	const key = "md-Key&<With>Escapes"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["key"] != key || r.Header.Get("Token") != key || r.Header.Get("X-Account-Key") != key {
			writeJSON(w, 500, map[string]any{"status": "error", "message": "Invalid API key " + r.Header.Get("Token")})
			return
		}
		// The vendor echoes the key, in an answer that is an error.
		writeJSON(w, 401, map[string]any{"status": "error", "message": "key " + key + " is disabled"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`auth:
  type: custom
  credentials:
    type: object
    required: [apiKey]
    properties: {apiKey: {type: string, writeOnly: true}}
headers:
  token: ${ credentials.apiKey }
`),
		"send.yaml": `kind: Action
connector: test
key: send
inputSchema:
  type: object
  properties: {text: {type: string}}
request:
  method: POST
  path: /messages/send
  headers:
    X-Account-Key: ${ credentials.apiKey }
  body:
    key: ${ credentials.apiKey }
    message: {text: "${ input.?text.orValue('hi') }"}
`,
	})
	conn := engine.Connection{ID: "c1", Credentials: map[string]any{"apiKey": key}}
	res, err := e.run(t, membrane.RunRequest{Action: "send", Connection: conn, Options: engine.RunOptions{Log: true}})
	mustType(t, err, engine.ErrAuth)
	r := srv.requests()[0]
	if r.Header.Get("Token") != key || r.Header.Get("X-Account-Key") != key {
		t.Errorf("headers = %v, want the key in Token and X-Account-Key", r.Header)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body["key"] != key {
		t.Errorf("body = %s, want the key in it", r.Body)
	}
	if len(res.Log) != 1 || res.Log[0].RequestBody == "" {
		t.Fatalf("log = %+v, want the exchange with its body", res.Log)
	}
	jsonKey, _ := json.Marshal(key)
	assertHidden(t, res, err, key, string(jsonKey[1:len(jsonKey)-1]))
}

// credentials is not a variable of the base URL: where requests go is
// never decided by a credential.
func TestCredentialsNotInBaseURL(t *testing.T) {
	dir := writeWorkspace(t, "", map[string]string{
		"connector.yaml": "kind: Connector\nkey: test\nbaseUrl: https://${ credentials.region }.api.test\nauth: {type: bearer}\n",
	})
	_, diags, err := membrane.Load(membrane.Options{}, dir)
	if err == nil || len(diags) == 0 {
		t.Fatalf("load: want an error, got %v", diags)
	}
}
