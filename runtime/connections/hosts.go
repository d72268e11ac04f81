package connections

import (
	"context"
	"errors"
	"fmt"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/schema"
)

// hostViolations evaluates the URLs of a connector, as the overrides
// leave it, with a new connection's parameters, and places each refusal
// of the connector's host policy at the parameter it came from: a
// connection whose parameter names a host of its own (a subdomain of
// "evil.com/") is refused when it is created, with a pointer, rather than
// saved to fail every run. A refusal that no one parameter causes (a URL
// that also reads what the connection learns later) is left to the runs.
func (s *Service) hostViolations(ctx context.Context, ws *membrane.Workspace, connector, tenant string, ovs []*spec.ConnectionOverride, params, creds map[string]any) []schema.Violation {
	rc, diags := layers.ResolveConnector(ws.Spec, connector, ovs...)
	if rc == nil || diags.HasErrors() {
		return nil // a run reports it, with its place
	}
	vars := map[string]any{
		compile.VarConnection:  map[string]any{"id": "", "name": "", "parameters": orEmpty(params), "info": map[string]any{}},
		compile.VarTenant:      map[string]any{"key": tenant},
		compile.VarCredentials: orEmpty(creds),
		compile.VarNow:         s.now().UTC(),
	}
	urls := []*compile.Expr{rc.Compiled.BaseURL}
	if a := rc.Compiled.Auth; a != nil {
		urls = append(urls, a.AuthorizationURL, a.TokenURL)
	}
	var out []schema.Violation
	seen := map[string]bool{}
	for _, x := range urls {
		if x == nil {
			continue
		}
		_, err := x.EvalURL(ctx, vars)
		var ue *compile.URLError
		if !errors.As(err, &ue) || ue.Parameter == "" || seen[ue.Parameter] {
			continue
		}
		seen[ue.Parameter] = true
		out = append(out, schema.Violation{Pointer: "/parameters/" + ue.Parameter,
			Message: fmt.Sprintf("%s (the connector's %s, at %s)", ue.Reason, ue.Field, ue.Pos)})
	}
	return out
}
