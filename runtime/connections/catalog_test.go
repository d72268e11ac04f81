package connections_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// The catalogue shows what a connect form asks for, and what one
// connection can run: its schemas with the connection's stored override
// applied, which another connection of the same connector does not see.
func TestCatalogue(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		ctx := e.ctx

		all := e.svc.Connectors()
		var keys []string
		for _, c := range all {
			keys = append(keys, c.Key)
		}
		if strings.Join(keys, ",") != "keyed,machine,oauthy" {
			t.Fatalf("connectors %v", keys)
		}
		keyed := try(e.svc.Connector("keyed")).ok(t)
		if keyed.Auth.Type != "apiKey" || keyed.CredentialsSchema.Lookup("/properties/apiKey/writeOnly") == nil ||
			keyed.ParametersSchema.Lookup("/properties/region/enum") == nil ||
			len(keyed.Actions) != 1 || keyed.Actions[0].Key != "create-contact" {
			t.Fatalf("keyed %s", mustJSON(t, keyed))
		}
		if o := try(e.svc.Connector("oauthy")).ok(t); o.Auth.Type != "oauth2" {
			t.Fatalf("oauthy auth %+v", o.Auth)
		}
		_, err := e.svc.Connector("keyd")
		isErr(t, err, connections.ErrUnknownConnector)
		if !strings.Contains(err.Error(), `did you mean "keyed"`) {
			t.Fatalf("no suggestion: %v", err)
		}

		c1, c2 := e.create("acme"), e.create("acme")
		ov := `kind: ConnectionOverride
tenant: acme
connector: keyed
connection: ` + c1.ID + `
actions:
  create-contact:
    inputSchema:
      properties:
        color: {type: string}
    request:
      body:
        color: ${ input.?color.orValue('none') }
`
		if _, _, err := e.svc.PutOverride(ctx, "acme", "keyed", c1.ID, []byte(ov), 0); err != nil {
			t.Fatal(err)
		}
		// register-hook is internal: in neither list (nor, so, MCP's tools).
		acts := try(e.svc.Actions(ctx, "acme", c1.ID)).ok(t)
		if len(acts) != 1 || acts[0].InputSchema.Lookup("/properties/color") == nil ||
			acts[0].InputSchema.Lookup("/properties/email") == nil {
			t.Fatalf("c1 actions %s", mustJSON(t, acts))
		}
		other := try(e.svc.Action(ctx, "acme", c2.ID, "create-contact")).ok(t)
		if other.InputSchema.Lookup("/properties/color") != nil {
			t.Fatalf("c2 sees c1's override: %s", mustJSON(t, other))
		}
		_, err = e.svc.Action(ctx, "acme", c1.ID, "create-contract")
		isErr(t, err, connections.ErrUnknownAction)

		text := try(e.svc.Explain(ctx, "acme", c1.ID, "create-contact")).ok(t)
		if !strings.Contains(text, "stored override keyed/"+c1.ID+" rev 1") {
			t.Fatalf("explain does not show the stored layer:\n%s", text)
		}

		// Another tenant's connection is not found, for every method.
		_, err = e.svc.Actions(ctx, "initech", c1.ID)
		isErr(t, err, connections.ErrNotFound)
		_, err = e.svc.Explain(ctx, "initech", c1.ID, "create-contact")
		isErr(t, err, connections.ErrNotFound)
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
