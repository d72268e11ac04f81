package connections_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// deskConnector takes each account's subdomain as a parameter.
const deskConnector = `kind: Connector
key: desk
baseUrl: http://${ connection.parameters.subdomain }.desk.test:{{PORT}}
parameters: {type: object, required: [subdomain], properties: {subdomain: {type: string}}}
auth:
  type: apiKey
  in: header
  name: X-Api-Key
  test: {method: GET, path: /me}
`

// TestCreateRefusesAHostFromParameters: a connection whose subdomain
// names a host, a port or a user of its own is refused when it is
// created, at /parameters/subdomain, before its test request carries the
// key anywhere; a real subdomain connects.
func TestCreateRefusesAHostFromParameters(t *testing.T) {
	var hosts atomic.Value
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		hosts.Store(r.Host)
		writeJSON(w, 200, map[string]any{"ok": true})
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dir := testkit.Workspace(t, map[string]string{"connector.yaml": deskConnector}, map[string]string{"{{PORT}}": port})
	// Every name is dialed at the server: the names are what is checked.
	client := httpx.New(httpx.Config{Dial: func(string) (net.Conn, error) { return net.Dial("tcp", srv.Listener.Addr().String()) }})
	ws, diags, err := membrane.Load(membrane.Options{HTTP: client}, dir)
	if err != nil {
		t.Fatalf("load: %v\n%v", err, diags)
	}
	keys, err := crypt.New(crypt.Generate())
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.SQLite(t)(t)(store.WithKeyring(keys), store.WithLogger(storetest.Quiet()))
	svc := connections.New(connections.Options{Store: st, Workspace: ws, HTTP: client, Logger: storetest.Quiet()})
	const key = "key_live_0123456789"

	for _, v := range []string{"127.0.0.1:" + port + "#", "x@127.0.0.1:" + port + "/", "evil.com/", "a.b", "%2e", "bücher"} {
		_, err := svc.Create(t.Context(), "acme", connections.CreateRequest{Connector: "desk",
			Parameters: map[string]any{"subdomain": v}, Credentials: map[string]any{"apiKey": key}})
		var ve *connections.ValidationError
		if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Pointer != "/parameters/subdomain" ||
			!strings.Contains(ve.Violations[0].Message, "baseUrl") {
			t.Fatalf("subdomain %q: got %v, want one violation at /parameters/subdomain naming baseUrl", v, err)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("%d requests were sent", got)
	}
	page, err := svc.List(t.Context(), "acme", connections.ListRequest{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("connections saved: %v, %v", page.Items, err)
	}

	c, err := svc.Create(t.Context(), "acme", connections.CreateRequest{Connector: "desk",
		Parameters: map[string]any{"subdomain": "Acme"}, Credentials: map[string]any{"apiKey": key}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := hosts.Load(); got != "acme.desk.test:"+port {
		t.Errorf("the test request went to %v", got)
	}
	if c.Parameters["subdomain"] != "Acme" {
		t.Errorf("parameters %v", c.Parameters)
	}
}
