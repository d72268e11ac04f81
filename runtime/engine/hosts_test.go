package engine_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

const hostSecret = "key-live-4f1c9e"

// hostConnectors are connectors whose base URL takes a tenant's
// subdomain, with the credentials each sends: an API key in a header,
// and a custom login that posts a password.
var hostConnectors = map[string]string{
	"apiKey": `kind: Connector
key: test
baseUrl: http://${ connection.parameters.subdomain }.api.test:{{PORT}}/v1
parameters: {type: object, properties: {subdomain: {type: string}}}
auth: {type: apiKey, in: header, name: X-Api-Key}
`,
	"login": `kind: Connector
key: test
baseUrl: http://${ connection.parameters.subdomain }.api.test:{{PORT}}/v1
parameters: {type: object, properties: {subdomain: {type: string}}}
auth:
  type: custom
  credentials: {type: object, properties: {password: {type: string}}}
  login:
    request: {method: POST, path: /login, body: {password: "${ credentials.password }"}}
    token: ${ response.body.token }
  headers: {Authorization: "Session ${ session.token }"}
`,
}

var hostAction = "kind: Action\nconnector: test\nkey: get\nrequest: {path: /things}\n"

func hostCredentials() map[string]any {
	return map[string]any{"apiKey": hostSecret, "password": hostSecret}
}

// TestParameterCannotChooseTheHost: a subdomain parameter that tries to
// name another host, port or user is refused before anything is sent,
// even with private addresses open (only the host policy stands
// between the credentials and the listener the value names).
func TestParameterCannotChooseTheHost(t *testing.T) {
	target := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{"token": "t"}) })
	port := strings.TrimPrefix(target.URL, "http://127.0.0.1:")
	for name, conn := range hostConnectors {
		t.Run(name, func(t *testing.T) {
			e := load(t, target.URL, map[string]string{
				"connector.yaml": strings.ReplaceAll(conn, "{{PORT}}", port),
				"get.yaml":       hostAction,
			})
			for _, v := range []string{
				"127.0.0.1:" + port + "#", "127.0.0.1:" + port + "/", "x@127.0.0.1:" + port + "/", "evil.com/", "a.b", "%2e",
				"", "bücher", "\u212a", "localhost:" + port + "?",
			} {
				res, err := e.run(t, membrane.RunRequest{Action: "get", Connection: engine.Connection{
					Parameters: map[string]any{"subdomain": v}, Credentials: hostCredentials()}})
				ee := mustType(t, err, engine.ErrHostNotAllowed)
				if !strings.Contains(ee.Message, `connector "test", baseUrl`) || !strings.Contains(ee.Message, `"subdomain" parameter`) {
					t.Errorf("%q: the error does not name the connector, the field and the parameter: %v", v, ee.Message)
				}
				if s := everything(t, res, err); strings.Contains(s, hostSecret) {
					t.Errorf("%q: the secret is in the run's log or error: %s", v, s)
				}
			}
			if n := target.n(); n != 0 {
				t.Errorf("the listener the values named received %d requests", n)
			}
		})
	}
}

// TestSubdomainParameterWorks: a valid subdomain, in any case, goes to
// that subdomain of the connector's host.
func TestSubdomainParameterWorks(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"token": "sess-1", "host": r.Host})
	})
	var mu sync.Mutex
	var dialed []string
	client := httpx.New(httpx.Config{Dial: func(addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		return net.Dial("tcp", srv.Listener.Addr().String())
	}})
	for name, conn := range hostConnectors {
		t.Run(name, func(t *testing.T) {
			e := loadWith(t, srv.URL, map[string]string{
				"connector.yaml": strings.ReplaceAll(conn, "{{PORT}}", "8080"),
				"get.yaml":       hostAction,
			}, client, &sleeps{})
			out := e.mustRun(t, membrane.RunRequest{Action: "get", Connection: engine.Connection{
				Parameters: map[string]any{"subdomain": "Acme-EU"}, Credentials: hostCredentials()}})
			if got := out.(map[string]any)["host"]; got != "acme-eu.api.test:8080" {
				t.Errorf("the request went to host %v, want acme-eu.api.test:8080", got)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialed {
		if a != "acme-eu.api.test:8080" {
			t.Errorf("dialed %q", a)
		}
	}
}

// TestAbsolutePathStaysOnTheOrigin: a path written as a whole URL, from
// input, may not leave the base URL's scheme, host and port.
func TestAbsolutePathStaysOnTheOrigin(t *testing.T) {
	other := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{"ok": true}) })
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: bearer}\n"),
		"get.yaml": `kind: Action
connector: test
key: get
inputSchema: {type: object, properties: {url: {type: string}}}
request: {path: "${ input.url }"}
`,
	})
	conn := engine.Connection{Credentials: map[string]any{"token": hostSecret}}
	for _, u := range []string{other.URL + "/steal", strings.Replace(srv.URL, "http://", "https://", 1) + "/x", strings.Replace(srv.URL, "http://", "http://user@", 1) + "/x"} {
		res, err := e.run(t, membrane.RunRequest{Action: "get", Connection: conn, Input: map[string]any{"url": u}})
		mustType(t, err, engine.ErrHostNotAllowed)
		if s := everything(t, res, err); strings.Contains(s, hostSecret) {
			t.Errorf("%s: the secret is in the run's log or error", u)
		}
	}
	if other.n() != 0 || srv.n() != 0 {
		t.Errorf("requests were sent: other %d, base %d", other.n(), srv.n())
	}
	e.mustRun(t, membrane.RunRequest{Action: "get", Connection: conn, Input: map[string]any{"url": srv.URL + "/same"}})
	if got := srv.requests(); len(got) != 1 || got[0].Path != "/api/same" && got[0].Path != "/same" {
		t.Errorf("requests = %+v", got)
	}
}
