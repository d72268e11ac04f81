package connections_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// violations is the pointer → message map of a *ValidationError.
func violations(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *connections.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a ValidationError", err)
	}
	out := map[string]string{}
	for _, v := range ve.Violations {
		out[v.Pointer] = v.Message
	}
	return out
}

// nested is a value nested depth levels deep in arrays.
func nested(depth int) any {
	var v any = "bottom"
	for range depth {
		v = []any{v}
	}
	return v
}

// A connector that declares no parameters schema takes no parameters,
// and the parameters and credentials of any connector are bounded in
// size and in nesting; nothing is saved, and nothing is sent upstream.
func TestParametersBounded(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		machine := map[string]any{"clientId": "id-1", "clientSecret": "secret-0123456789"}

		err := errOf(e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "machine", Credentials: machine,
			Parameters: map[string]any{"subdomain": "127.0.0.1:28092#", "a/b": 1}}))
		got := violations(t, err)
		if len(got) != 2 || !strings.Contains(got["/parameters/subdomain"], `connector "machine" takes no parameters`) || got["/parameters/a~1b"] == "" {
			t.Errorf("no schema: %v", got)
		}
		// The OAuth way in is held to the same rule.
		_, err = e.svc.BeginOAuth(e.ctx, "acme", connections.BeginOAuthRequest{Connector: "oauthy",
			Parameters: map[string]any{"subdomain": "evil.example"}, RedirectURI: "https://m.test/connect/callback"})
		if got := violations(t, err); !strings.Contains(got["/parameters/subdomain"], "takes no parameters") {
			t.Errorf("oauth: %v", got)
		}

		// The finding: a 9,990-deep array was saved.
		err = errOf(e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed", Credentials: map[string]any{"apiKey": goodKey},
			Parameters: map[string]any{"region": "eu", "deep": nested(9990)}}))
		got = violations(t, err)
		want := "/parameters/deep" + strings.Repeat("/0", connections.MaxNesting-1)
		if len(got) != 1 || !strings.Contains(got[want], "nested deeper than 16 levels") {
			t.Errorf("deep: %v, want one at %s", got, want)
		}
		// Just within the limit is fine for the bounds (the schema decides).
		_, err = e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed", Credentials: map[string]any{"apiKey": goodKey},
			Parameters: map[string]any{"region": "eu", "deep": nested(connections.MaxNesting - 1)}})
		if err != nil {
			t.Errorf("parameters at the nesting limit: %v", err)
		}
		err = errOf(e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed", Credentials: map[string]any{"apiKey": goodKey},
			Parameters: map[string]any{"region": "eu", "blob": strings.Repeat("x", connections.MaxParametersBytes)}}))
		if got := violations(t, err); !strings.Contains(got["/parameters"], "at most 16384") {
			t.Errorf("large: %v", got)
		}
		const secret = "key_deep_secret_0123456789"
		err = errOf(e.svc.Create(e.ctx, "acme", connections.CreateRequest{Connector: "keyed", Parameters: map[string]any{"region": "eu"},
			Credentials: map[string]any{"apiKey": goodKey, "x": []any{nested(40), secret}}}))
		if got := violations(t, err); !slices.ContainsFunc(slices.Collect(mapKeys(got)), func(p string) bool { return strings.HasPrefix(p, "/credentials/x/0/0") }) ||
			strings.Contains(everything(t, err, nil), secret) {
			t.Errorf("deep credentials: %v", got)
		}

		page, err := e.st.Tenant("acme").Connections().List(e.ctx, store.ConnectionFilter{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("stored %d connections (%v), want only the one within the limits", len(page.Items), err)
		}
		if n := len(e.api.requests()); n != 1 {
			t.Fatalf("the API saw %d requests, want the one valid connection's test", n)
		}
	})
}

func errOf[T any](_ T, err error) error { return err }

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
