package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/store"
)

// The tenant page shows what each connection learnt of its account
// (auth.info), by name, escaped.
func TestTenantPageShowsConnectionInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	conn := e.connect()
	_, err := e.srv.Store.Tenant(tenant).Connections().Update(t.Context(), conn.ID, func(c *store.Connection) error {
		c.Info = map[string]any{"portalId": float64(4242), "team": "<Acme>"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(client(), "GET", "/console/tenants/"+tenant, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	i, j := strings.Index(r.body, "portalId: 4242"), strings.Index(r.body, "team: &lt;Acme&gt;")
	if i < 0 || j < i {
		t.Errorf("the page does not show the info, by name:\n%s", r.body)
	}
}
