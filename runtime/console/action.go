package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/internal/schemaform"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec/schema"
)

type actionPage struct {
	page
	Connector connectorView
	Action    itemView
	// Explain is the action merged through its layers (the chosen
	// connection's overrides included), each field with its layer.
	Explain       string
	ExplainOf     string
	Input, Output string
	Problems      []string

	// Where to run it.
	Tenant        string
	TenantInvalid bool
	Connections   []connOption
	TenantHref    string
	// Fields are the input form, made from the input schema.
	Fields     []*schemaform.Field
	FormErrors []string
	Post       string
	Result     *resultView
}

type connOption struct {
	ID, Label string
	Selected  bool
}

type resultView struct {
	OK             bool
	RunID, RunHref string
	Output         string
	Error          *engine.Error
	Partial        string // what a failed multi-step run had done
	Problem        string
	Violations     []string
	Exchanges      []exchangeView
}

// actionPage builds an action's page for a tenant and a connection (both
// may be empty). Its input form follows the connection's schema, which
// its overrides may extend.
func (h *handler) actionPage(ctx context.Context, ck, ak, tenant, connID string) (*actionPage, int, error) {
	ws := h.o.Service.Workspace().Spec
	a := layers.FindAction(ws, ck, ak)
	if ws.Connectors[ck] == nil || a == nil {
		return nil, http.StatusNotFound, nil
	}
	p := &actionPage{page: page{Title: cmp.Or(a.Name, a.Key), Nav: "overview"}, Connector: connectorOf(ws, ck),
		Action: itemView{Key: a.Key, Name: a.Name, Description: a.Description, Implements: a.Implements, Where: a.Pos.String()},
		Post:   actionHref(ck, a.Key), ExplainOf: "the workspace's files"}
	res, diags := layers.ResolveAction(ws, ck, a.Key)
	for _, d := range diags {
		p.Problems = append(p.Problems, d.String())
	}
	input := ws.InputSchema(a)
	if res != nil {
		p.Explain = layers.Explain(res.Doc)
		input = cmp.Or(res.Input, input)
		p.Output = pretty(res.Output)
	}

	p.Tenant = strings.TrimSpace(tenant)
	if p.Tenant != "" && !tenancy.ValidTenantKey(p.Tenant) {
		p.TenantInvalid = true
	}
	if p.Tenant != "" && !p.TenantInvalid {
		p.TenantHref = tenantHref(p.Tenant)
		page, err := h.o.Service.List(ctx, p.Tenant, connections.ListRequest{Connector: ck, Limit: 100})
		if err != nil {
			return nil, 0, err
		}
		for _, c := range page.Items {
			if len(page.Items) == 1 && connID == "" {
				connID = c.ID
			}
			p.Connections = append(p.Connections, connOption{ID: c.ID, Selected: c.ID == connID,
				Label: fmt.Sprintf("%s — %s (%s)", cmp.Or(c.Name, c.Connector), c.ID, c.State)})
		}
		if connID != "" {
			info, err := h.o.Service.Action(ctx, p.Tenant, connID, a.Key)
			if err == nil {
				input = info.InputSchema
				if text, err := h.o.Service.Explain(ctx, p.Tenant, connID, a.Key); err == nil {
					p.Explain, p.ExplainOf = text, "connection "+connID+", its overrides included"
				}
			} else if !errors.Is(err, connections.ErrNotFound) {
				return nil, 0, err
			}
		}
	}
	p.Input = pretty(input)
	var b schemaform.Builder
	if input != nil {
		p.Fields = b.Fields(input, "/input")
	}
	return p, http.StatusOK, nil
}

func (h *handler) action(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, status, err := h.actionPage(r.Context(), r.PathValue("connector"), r.PathValue("action"), q.Get("tenant"), q.Get("connection"))
	h.showAction(w, r, p, status, err)
}

func (h *handler) showAction(w http.ResponseWriter, r *http.Request, p *actionPage, status int, err error) {
	switch {
	case err != nil:
		h.failed(w, r, "show the action", err)
	case p == nil:
		h.message(w, r, http.StatusNotFound, "No such action",
			"Connector "+quote(r.PathValue("connector"))+" has no action "+quote(r.PathValue("action"))+".")
	default:
		if p.TenantInvalid {
			status = http.StatusUnprocessableEntity
		}
		h.render(w, r, status, "action", p)
	}
}

// run runs the action with the form's input on the chosen connection and
// shows the page again with the result.
func (h *handler) run(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	tenant, connID := f.Get("tenant"), f.Get("connection")
	p, status, err := h.actionPage(r.Context(), r.PathValue("connector"), r.PathValue("action"), tenant, connID)
	if err != nil || p == nil {
		h.showAction(w, r, p, status, err)
		return
	}
	values := schemaform.Read(p.Fields, f)
	bad := false
	schemaform.WalkLeaves(p.Fields, func(fl *schemaform.Field) { bad = bad || fl.Error != "" })
	switch {
	case p.Tenant == "" || p.TenantInvalid:
		p.FormErrors = append(p.FormErrors, "Choose a tenant first.")
	case connID == "":
		p.FormErrors = append(p.FormErrors, "Choose a connection to run the action on.")
	}
	if bad || len(p.FormErrors) > 0 {
		h.render(w, r, http.StatusUnprocessableEntity, "action", p)
		return
	}
	if c, err := h.o.Service.Get(r.Context(), p.Tenant, connID); err == nil && c.Connector != p.Connector.Key {
		// The same action key may exist on the other connector: never run that.
		p.FormErrors = append(p.FormErrors, "Connection "+connID+" is of connector "+quote(c.Connector)+", not of this one.")
		h.render(w, r, http.StatusUnprocessableEntity, "action", p)
		return
	}
	input := values["input"]
	if input == nil {
		input = map[string]any{}
	}
	res, runErr := h.o.Service.Run(connections.WithOrigin(r.Context(), connections.OriginConsole), p.Tenant, connID, p.Action.Key, input, engine.RunOptions{Log: true})
	p.Result = h.result(r.Context(), p.Tenant, res, runErr)
	if rerr := p.Result.Error; rerr != nil && rerr.Type == engine.ErrInvalidInput {
		vs := make([]schema.Violation, len(rerr.Violations))
		for i, v := range rerr.Violations {
			vs[i] = schema.Violation{Pointer: "/input" + v.Pointer, Message: v.Message}
		}
		p.FormErrors = schemaform.PlaceViolations(p.Fields, vs, values)
	}
	status = http.StatusOK
	if runErr != nil {
		status = http.StatusUnprocessableEntity
	}
	h.render(w, r, status, "action", p)
}

// result is what a run gave. The exchanges shown are the run log's, which
// the service redacted again with every secret of the connection.
func (h *handler) result(ctx context.Context, tenant string, res *connections.RunResult, err error) *resultView {
	v := &resultView{OK: err == nil}
	var rerr *engine.Error
	switch {
	case errors.As(err, &rerr):
		v.Error = rerr
		v.Violations = violationsText(rerr.Violations)
		v.Partial = pretty(rerr.Partial)
	case err != nil:
		v.Problem = problem(err)
	}
	if res == nil {
		return v
	}
	v.RunID = res.RunID
	if res.RunID != "" {
		v.RunHref = tenantHref(tenant) + "/runs/" + res.RunID
	}
	if err == nil {
		v.Output = pretty(res.Output)
	}
	log := res.Log
	if stored := h.storedExchanges(ctx, tenant, res.RunID); stored != nil {
		log = stored
	}
	v.Exchanges = exchanges(log)
	return v
}

// problem words a refusal of the service (they carry no secret).
func problem(err error) string {
	var de *connections.DisconnectedError
	switch {
	case errors.As(err, &de):
		return "The connection is disconnected: " + cmp.Or(de.Reason, "a user must connect it again") + "."
	case errors.Is(err, connections.ErrNotFound):
		return "The tenant has no such connection."
	case errors.Is(err, connections.ErrUnknownAction):
		return "The connection's connector has no such action."
	case errors.Is(err, connections.ErrUnknownConnector):
		return "The workspace no longer has the connection's connector."
	}
	return schemaform.Sentence(err.Error())
}
