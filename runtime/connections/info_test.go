package connections_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// withInfo swaps in a workspace whose keyed connector maps its test
// response to the connection's info, and whose action reads it back.
func withInfo(t *testing.T) func(*connections.Options) {
	return func(o *connections.Options) {
		base := o.Workspace.Spec.Connectors["keyed"].BaseURL.Source
		conn := strings.Replace(keyedConnector, "  test: {method: GET, path: /me}\n",
			"  test: {method: GET, path: /me}\n  info:\n    account: ${ response.body.account }\n    region: ${ response.body.region }\n", 1)
		dir := testkit.Workspace(t, map[string]string{
			"connectors/keyed/connector.yaml": conn,
			"connectors/keyed/actions/create-contact.yaml": strings.Replace(keyedAction, "  id: ${ response.body.id }",
				"  id: ${ response.body.id }\n  account: ${ connection.info.account }", 1),
		}, map[string]string{"{{API}}": base})
		ws, diags, err := membrane.Load(membrane.Options{HTTP: o.HTTP}, dir)
		if err != nil {
			t.Fatalf("load: %v\n%v", err, diags)
		}
		o.Workspace = ws
	}
}

// What the test request learns of the account (auth.info) is stored on
// the connection when it is created, shown with it, kept fresh by each
// test, and read by actions as connection.info.
func TestConnectionInfoFromTheTestResponse(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open, withInfo(t))
		c := e.create("acme")
		want := map[string]any{"account": "acme", "region": "eu"}
		if !reflect.DeepEqual(c.Info, want) {
			t.Fatalf("created with info %v, want %v", c.Info, want)
		}
		stored := try(e.st.Tenant("acme").Connections().Get(e.ctx, c.ID)).ok(t)
		if !reflect.DeepEqual(stored.Info, want) {
			t.Fatalf("stored info %v", stored.Info)
		}

		res := try(e.svc.Run(e.ctx, "acme", c.ID, "create-contact", map[string]any{"email": "a@b.c"}, engine.RunOptions{})).ok(t)
		if out := res.Output.(map[string]any); out["account"] != "acme" {
			t.Fatalf("the action read connection.info.account as %v", out["account"])
		}

		// A test refreshes it.
		try(e.st.Tenant("acme").Connections().Update(e.ctx, c.ID, func(c *store.Connection) error {
			c.Info = nil
			return nil
		})).ok(t)
		tr := try(e.svc.Test(e.ctx, "acme", c.ID)).ok(t)
		if !tr.OK || !reflect.DeepEqual(tr.Connection.Info, want) {
			t.Fatalf("test gave ok=%v info %v", tr.OK, tr.Connection.Info)
		}
		if got := try(e.svc.Get(e.ctx, "acme", c.ID)).ok(t); !reflect.DeepEqual(got.Info, want) {
			t.Fatalf("after the test, info %v", got.Info)
		}
	})
}
