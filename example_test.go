package membrane_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

// Load a workspace and run one of its actions on a connection. The
// connector in testdata/example/crm sends requests to
// https://example.com; here a local server stands in for that app.
func Example() {
	app := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Email string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		fmt.Printf("the app got %s %s for %s, key %q\n", r.Method, r.URL.Path, in.Email, r.Header.Get("X-Api-Key"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id": "c_42"}`)
	}))
	defer app.Close()

	// Requests leave through an httpx.Client; this one dials the local
	// app whatever the host, and trusts its certificate.
	roots := x509.NewCertPool()
	roots.AddCert(app.Certificate())
	client := httpx.New(httpx.Config{
		Dial:      func(string) (net.Conn, error) { return net.Dial("tcp", app.Listener.Addr().String()) },
		TLSConfig: &tls.Config{RootCAs: roots},
	})

	ws, _, err := membrane.Load(membrane.Options{HTTP: client}, "testdata/example")
	if err != nil {
		log.Fatal(err) // every problem, as file:line:col: message
	}
	res, err := ws.Run(context.Background(), membrane.RunRequest{
		Connector: "crm",
		Action:    "create-contact",
		Connection: engine.Connection{
			ID: "conn-1", Tenant: "acme",
			Credentials: map[string]any{"apiKey": "k-123"},
		},
		Input: map[string]any{"email": "ada@example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("output:", res.Output)
	// Output:
	// the app got POST /contacts for ada@example.com, key "k-123"
	// output: map[id:c_42]
}
