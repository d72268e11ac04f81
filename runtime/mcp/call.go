package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/internal/fastjson"
	"github.com/membrane-dev/membrane/runtime/store"
)

// RunIDMeta is the _meta member of a tool result naming the run log of
// the call (GET /v1/run-logs/{id}).
const RunIDMeta = "dev.membrane/runId"

// problemBase prefixes the problem types this package makes itself, as
// the REST API's do.
const problemBase = "https://membrane.dev/problems/"

// handler runs the calls of one tool of tenant.
func (s *Server) handler(tenant string, b binding) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		res := s.call(ctx, tenant, b, req.Params.Arguments)
		// Never the arguments or the result: either may hold personal data.
		s.log.LogAttrs(ctx, slog.LevelInfo, "mcp tool call",
			slog.String("tenant", tenant), slog.String("tool", req.Params.Name),
			slog.Bool("isError", res.IsError),
			slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000))
		return res, nil
	}
}

// call runs one call and answers it: the output, or a tool error.
func (s *Server) call(ctx context.Context, tenant string, b binding, raw json.RawMessage) *mcp.CallToolResult {
	args, p := decodeArguments(raw)
	if p != nil {
		return problemResult(p, "")
	}
	connID, input, p := b.split(args)
	if p != nil {
		return problemResult(p, "")
	}
	ctx = connections.WithOrigin(ctx, connections.OriginMCP)
	res, err := s.svc.Run(ctx, tenant, connID, b.action, input, engine.RunOptions{})
	if err == nil {
		out := &mcp.CallToolResult{Content: []mcp.Content{jsonText(res.Output)}, Meta: mcp.Meta{RunIDMeta: res.RunID}}
		if b.structured {
			out.StructuredContent = res.Output
		}
		return out
	}
	var runID string
	if res != nil {
		runID = res.RunID
	}
	p = api.ProblemOf(err, runID)
	if p == nil {
		s.log.ErrorContext(ctx, "mcp: tool call failed", "tenant", tenant, "connection", connID, "action", b.action, "error", err)
		p = &api.Problem{Type: problemBase + "internal", Title: "Internal server error", Status: http.StatusInternalServerError,
			Detail: "The server failed to handle the call; the operator's log has the cause. Retry later, and report it if it persists."}
	}
	if ee, ok := errors.AsType[*engine.Error](err); ok && ee.Type == engine.ErrAuth {
		// The run may have disconnected the connection: say so.
		if c, err := s.svc.Get(ctx, tenant, connID); err == nil {
			p.ConnectionState = string(c.State)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		p.Detail = api.NotFoundConnection + " List the connections this tool runs on with tools/list."
	}
	b.pointInto(p)
	return problemResult(p, runID)
}

// decodeArguments reads a call's arguments, a JSON object (none is {}),
// as the REST API reads a run's body.
func decodeArguments(raw json.RawMessage) (map[string]any, *api.Problem) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	v, ok := fastjson.Decode(raw)
	if !ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, invalid("The arguments are not valid JSON: "+err.Error()+".", api.FieldError{Pointer: "", Detail: "not JSON"})
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("The arguments must be a JSON object.", api.FieldError{Pointer: "", Detail: "must be an object"})
	}
	return m, nil
}

// split takes the connection and the input from a call's arguments.
func (b binding) split(args map[string]any) (connID string, input any, p *api.Problem) {
	if !b.wrapped {
		return b.conns[0], args, nil
	}
	var errs []api.FieldError
	for k := range args {
		if k != InputArg && (k != ConnectionArg || !b.multi()) {
			errs = append(errs, api.FieldError{Pointer: "/" + escapePointer(k), Detail: "unknown argument; the arguments are " + b.argumentNames()})
		}
	}
	input, ok := args[InputArg]
	if !ok {
		errs = append(errs, api.FieldError{Pointer: "/" + InputArg, Detail: "required: the action's input"})
	}
	connID = b.conns[0]
	if b.multi() {
		switch c, ok := args[ConnectionArg].(string); {
		case !ok && args[ConnectionArg] == nil:
			errs = append(errs, api.FieldError{Pointer: "/" + ConnectionArg, Detail: "required: one of " + strings.Join(b.conns, ", ")})
		case !ok:
			errs = append(errs, api.FieldError{Pointer: "/" + ConnectionArg, Detail: "must be a string, a connection id: one of " + strings.Join(b.conns, ", ")})
		default:
			// A connection the list did not have yet (made since) is
			// run all the same: Run finds it or answers not-found,
			// another tenant's alike.
			connID = c
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b api.FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
		return "", nil, invalid("The arguments do not fit the tool's input schema. errors[] points at each one; fix them and call again.", errs...)
	}
	return connID, input, nil
}

func (b binding) argumentNames() string {
	if b.multi() {
		return ConnectionArg + " and " + InputArg
	}
	return InputArg
}

// pointInto makes a run problem's pointers, which the REST API roots at
// its body's "/input", point into the call's arguments.
func (b binding) pointInto(p *api.Problem) {
	if b.wrapped {
		return
	}
	for i, e := range p.Errors {
		if e.Pointer == "/input" || strings.HasPrefix(e.Pointer, "/input/") {
			p.Errors[i].Pointer = strings.TrimPrefix(e.Pointer, "/input")
		}
	}
}

// invalid is the problem of arguments that do not fit the tool.
func invalid(detail string, errs ...api.FieldError) *api.Problem {
	return &api.Problem{Type: problemBase + "run-invalid-input", Title: "Invalid action input", Status: http.StatusUnprocessableEntity,
		Detail: detail, Errors: errs}
}

// problemResult is a tool error: the problem as JSON text. It is not
// structured content, which a client would hold to the output schema.
func problemResult(p *api.Problem, runID string) *mcp.CallToolResult {
	r := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{jsonText(p)}}
	if runID != "" {
		r.Meta = mcp.Meta{RunIDMeta: runID}
	}
	return r
}

func jsonText(v any) *mcp.TextContent {
	b, err := json.Marshal(v)
	if err != nil {
		b = fmt.Appendf(nil, "%q", "the result could not be encoded as JSON: "+err.Error())
	}
	return &mcp.TextContent{Text: string(b)}
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
