package connections

import (
	"context"
	"fmt"
	"slices"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// ConnectorInfo is a connector as the catalogue shows it: what a user
// gives to connect, and the actions it offers.
type ConnectorInfo struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Auth is the default auth mode (the first), as are CredentialsSchema.
	Auth AuthInfo `json:"auth"`
	// AuthModes are every way to connect, the default first: more than
	// one for an app that offers several (OAuth2 and a personal access
	// token). A connection picks one by key when it is created.
	AuthModes []AuthMode `json:"authModes"`
	// ParametersSchema and CredentialsSchema are JSON Schemas of what a
	// connect form asks for; absent when nothing is asked.
	ParametersSchema  *tree.Value     `json:"parametersSchema,omitempty"`
	CredentialsSchema *tree.Value     `json:"credentialsSchema,omitempty"`
	Actions           []ActionSummary `json:"actions"`
}

// AuthInfo says how a connector authenticates: the auth type, and for
// OAuth2 the grant (authorizationCode connects through a consent page).
type AuthInfo struct {
	Type  string `json:"type"`
	Grant string `json:"grant,omitempty"`
}

// AuthMode is one way to connect to a connector: its key (what a
// connection records), what the connect page shows, and what it asks for.
type AuthMode struct {
	Key   string `json:"key"`
	Label string `json:"label,omitempty"`
	AuthInfo
	CredentialsSchema *tree.Value `json:"credentialsSchema,omitempty"`
}

// ActionSummary names an action in a connector listing.
type ActionSummary struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Implements  string `json:"implements,omitempty"`
}

// ActionInfo is an action one connection can run, with the input and
// output schemas it is checked against once the connection's overrides
// are applied.
type ActionInfo struct {
	ActionSummary
	InputSchema  *tree.Value `json:"inputSchema,omitempty"`
	OutputSchema *tree.Value `json:"outputSchema,omitempty"`
	// Resolved is the action as the connection runs it, every layer
	// applied: for front ends that describe an action by what it does
	// (the MCP server marks one that only reads as read-only).
	Resolved *layers.Action `json:"-"`
}

// Connectors lists the workspace's connectors by key.
func (s *Service) Connectors() []ConnectorInfo {
	ws := s.ws()
	keys := make([]string, 0, len(ws.Spec.Connectors))
	for k := range ws.Spec.Connectors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]ConnectorInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, connectorInfo(ws, ws.Spec.Connectors[k]))
	}
	return out
}

// Connector returns one connector of the catalogue, or
// ErrUnknownConnector.
func (s *Service) Connector(key string) (*ConnectorInfo, error) {
	ws := s.ws()
	c, err := connectorOf(ws, key)
	if err != nil {
		return nil, err
	}
	info := connectorInfo(ws, c)
	return &info, nil
}

func connectorInfo(ws *membrane.Workspace, c *spec.Connector) ConnectorInfo {
	info := ConnectorInfo{Key: c.Key, Name: c.Name, Description: c.Description, Actions: []ActionSummary{}, AuthModes: []AuthMode{}}
	for _, a := range c.Modes() {
		info.AuthModes = append(info.AuthModes, AuthMode{Key: a.ModeKey(), Label: a.Label,
			AuthInfo: AuthInfo{Type: a.Type, Grant: a.Grant}, CredentialsSchema: spec.CredentialsSchema(a)})
	}
	if len(info.AuthModes) > 0 {
		info.Auth, info.CredentialsSchema = info.AuthModes[0].AuthInfo, info.AuthModes[0].CredentialsSchema
	} else {
		info.Auth.Type = "none"
	}
	if c.Parameters != nil {
		info.ParametersSchema = c.Parameters.Value
	}
	for _, a := range sortedActions(ws, c.Key) {
		info.Actions = append(info.Actions, summary(a))
	}
	return info
}

// sortedActions are the actions a connector offers callers, by key: an
// internal one (what a webhook's subscribe runs) is left out.
func sortedActions(ws *membrane.Workspace, connector string) []*spec.Action {
	acts := ws.Spec.Actions[connector]
	keys := make([]string, 0, len(acts))
	for k, a := range acts {
		if !a.Internal {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]*spec.Action, len(keys))
	for i, k := range keys {
		out[i] = acts[k]
	}
	return out
}

func summary(a *spec.Action) ActionSummary {
	return ActionSummary{Key: a.Key, Name: a.Name, Description: a.Description, Implements: a.Implements}
}

// Actions lists what a connection can run, each with its schemas after
// the connection's overrides (which may add input fields).
func (s *Service) Actions(ctx context.Context, tenant, connID string) ([]ActionInfo, error) {
	ws, c, ovs, err := s.layered(ctx, tenant, connID)
	if err != nil {
		return nil, err
	}
	acts := sortedActions(ws, c.Connector)
	out := make([]ActionInfo, 0, len(acts))
	for _, a := range acts {
		info, err := s.actionInfo(ws, c.Connector, a, ovs)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// Action returns one action a connection can run, by its key or the
// universal action it implements; ErrUnknownAction otherwise.
func (s *Service) Action(ctx context.Context, tenant, connID, action string) (*ActionInfo, error) {
	ws, c, ovs, err := s.layered(ctx, tenant, connID)
	if err != nil {
		return nil, err
	}
	a, err := s.findAction(ws, c.Connector, action)
	if err != nil {
		return nil, err
	}
	return s.actionInfo(ws, c.Connector, a, ovs)
}

// Explain renders an action as this connection runs it: the merged
// document with a "# layer file:line" comment on each field, stored
// overrides included as the connection layer.
func (s *Service) Explain(ctx context.Context, tenant, connID, action string) (string, error) {
	ws, c, ovs, err := s.layered(ctx, tenant, connID)
	if err != nil {
		return "", err
	}
	a, err := s.findAction(ws, c.Connector, action)
	if err != nil {
		return "", err
	}
	r, diags := layers.ResolveAction(ws.Spec, c.Connector, a.Key, ovs...)
	if diags.HasErrors() {
		return "", &OverrideError{Name: "the overrides of connection " + c.ID, Diagnostics: diags}
	}
	return layers.Explain(r.Doc), nil
}

// ExplainEvent is Explain for an event (its key or the universal event
// it implements): the event as the connection's subscriptions poll or
// receive it, with the overrides' events patches.
func (s *Service) ExplainEvent(ctx context.Context, tenant, connID, event string) (string, error) {
	ws, c, ovs, err := s.layered(ctx, tenant, connID)
	if err != nil {
		return "", err
	}
	r, err := s.resolveEvent(ws, c, event, ovs)
	if err != nil {
		return "", err
	}
	return layers.Explain(r.Doc), nil
}

// layered returns a connection, the workspace it is read with and the
// overrides it runs with.
func (s *Service) layered(ctx context.Context, tenant, connID string) (*membrane.Workspace, *store.Connection, []*spec.ConnectionOverride, error) {
	ws := s.ws()
	ts := s.st.Tenant(tenant)
	c, err := ts.Connections().Get(ctx, connID)
	if err != nil {
		return nil, nil, nil, err
	}
	ovs, err := s.overridesFor(ctx, ws, ts, c.Connector, c.ID, c.AuthMode)
	if err != nil {
		return nil, nil, nil, err
	}
	return ws, c, ovs, nil
}

func (s *Service) findAction(ws *membrane.Workspace, connector, action string) (*spec.Action, error) {
	if a := layers.FindAction(ws.Spec, connector, action); a != nil {
		return a, nil
	}
	var keys []string
	for k, a := range ws.Spec.Actions[connector] {
		keys = append(keys, k)
		if a.Implements != "" {
			keys = append(keys, a.Implements)
		}
	}
	return nil, &unknownError{msg: fmt.Sprintf("connector %q has no action %q%s", connector, action, suggest.DidYouMean(action, keys)), sentinel: ErrUnknownAction}
}

func (s *Service) actionInfo(ws *membrane.Workspace, connector string, a *spec.Action, ovs []*spec.ConnectionOverride) (*ActionInfo, error) {
	p, err := ws.Plan(connector, a.Key, ovs...)
	if err != nil {
		return nil, err
	}
	return &ActionInfo{ActionSummary: summary(a), InputSchema: p.Resolved.Input, OutputSchema: p.Resolved.Output, Resolved: p.Resolved}, nil
}
