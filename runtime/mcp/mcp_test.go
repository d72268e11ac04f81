package mcp_test

import (
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/runtime/mcp"
)

// A tenant's tools are its connections' actions, with the schemas the
// REST API shows for them, and hints from what they send.
func TestToolsAreTheConnectionsActions(t *testing.T) {
	e := start(t)
	id := e.connect(t, "acme", "Acme EU")
	cs, _ := e.session(t, "acme")
	got := tools(t, cs)
	create, get := got[mcp.ToolName("crm", "create-contact")], got[mcp.ToolName("crm", "get-contact")]
	if len(got) != 2 || create == nil || get == nil {
		t.Fatalf("tools: %v", got)
	}
	var action struct{ InputSchema, OutputSchema any }
	e.rest(t, "acme", "GET", "/v1/connections/"+id+"/actions/create-contact", nil, &action)
	if asJSON(create.InputSchema) != asJSON(action.InputSchema) || asJSON(create.OutputSchema) != asJSON(action.OutputSchema) {
		t.Errorf("create-contact's schemas %s %s, the API's %s %s", asJSON(create.InputSchema), asJSON(create.OutputSchema),
			asJSON(action.InputSchema), asJSON(action.OutputSchema))
	}
	if a := get.Annotations; a == nil || !a.ReadOnlyHint {
		t.Errorf("get-contact (GET) is not read-only: %+v", a)
	}
	if a := create.Annotations; a == nil || a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint {
		t.Errorf("create-contact (POST) should be neither read-only nor destructive: %+v", a)
	}
	if !strings.Contains(create.Description, id) || strings.Contains(asJSON(create.InputSchema), mcp.ConnectionArg) {
		t.Errorf("one connection is implied, and named in the description: %q", create.Description)
	}
}

// A call runs the action through the API's pipeline: the output as
// structured content, a run log marked mcp; an upstream failure is a tool
// error with the API's problem type.
func TestCallRunsTheAction(t *testing.T) {
	e := start(t)
	id := e.connect(t, "acme", "")
	cs, _ := e.session(t, "acme")
	res := call(t, cs, mcp.ToolName("crm", "create-contact"), map[string]any{"email": "ada@example.com"})
	if res.IsError || asJSON(res.StructuredContent) != `{"id":"c_1"}` {
		t.Fatalf("result: %+v", res)
	}
	runID, _ := res.Meta[mcp.RunIDMeta].(string)
	var logs struct {
		Items []struct{ ID, Origin, Action, ConnectionID string }
	}
	e.rest(t, "acme", "GET", "/v1/run-logs?origin=mcp", nil, &logs)
	if len(logs.Items) != 1 || logs.Items[0].ID != runID || logs.Items[0].Origin != "mcp" || logs.Items[0].ConnectionID != id {
		t.Fatalf("run logs of origin mcp: %+v (run %s)", logs.Items, runID)
	}

	for email, want := range map[string]string{"boom@example.com": "run-upstream", "taken@example.com": "run-conflict"} {
		p := problemOf(t, call(t, cs, mcp.ToolName("crm", "create-contact"), map[string]any{"email": email}))
		if !strings.HasSuffix(p.Type, "/"+want) || p.Error == nil || p.RunID == "" {
			t.Errorf("%s: %+v", email, p)
		}
	}
}

// Wrong arguments are a tool error whose pointers name the argument;
// an unknown tool is a protocol error.
func TestBadArguments(t *testing.T) {
	e := start(t)
	e.connect(t, "acme", "")
	cs, _ := e.session(t, "acme")
	p := problemOf(t, call(t, cs, mcp.ToolName("crm", "create-contact"), map[string]any{"email": 7}))
	if !strings.HasSuffix(p.Type, "/run-invalid-input") || len(p.Errors) == 0 || p.Errors[0].Pointer != "/email" {
		t.Errorf("email 7: %+v", p)
	}
	p = problemOf(t, call(t, cs, mcp.ToolName("crm", "get-contact"), map[string]any{}))
	if len(p.Errors) == 0 || !strings.Contains(asJSON(p.Errors), "id") {
		t.Errorf("no id: %+v", p)
	}
	_, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "crm__no-such-action", Arguments: map[string]any{}})
	if err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("unknown tool: %v", err)
	}
}

// With several connections to one app a call names one; another
// tenant's connection is answered exactly as one that does not exist,
// and a session belongs to the tenant that began it.
func TestIsolation(t *testing.T) {
	e := start(t)
	theirs := e.connect(t, "globex", "")
	a, b := e.connect(t, "acme", "EU"), e.connect(t, "acme", "US")
	cs, _ := e.session(t, "acme")
	tl := tools(t, cs)[mcp.ToolName("crm", "create-contact")]
	if s := asJSON(tl.InputSchema); !strings.Contains(s, a) || !strings.Contains(s, b) || strings.Contains(s, theirs) {
		t.Fatalf("input schema of several connections: %s", s)
	}
	name := mcp.ToolName("crm", "create-contact")
	if res := call(t, cs, name, map[string]any{"connection": b, "input": map[string]any{"email": "ada@example.com"}}); res.IsError {
		t.Fatalf("on %s: %+v", b, res)
	}
	p := problemOf(t, call(t, cs, name, map[string]any{"input": map[string]any{"email": "ada@example.com"}}))
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/connection" {
		t.Errorf("no connection: %+v", p)
	}
	p = problemOf(t, call(t, cs, name, map[string]any{"connection": a, "input": map[string]any{"email": 7}}))
	if len(p.Errors) == 0 || p.Errors[0].Pointer != "/input/email" {
		t.Errorf("bad input: %+v", p)
	}
	other := call(t, cs, name, map[string]any{"connection": theirs, "input": map[string]any{"email": "ada@example.com"}})
	missing := call(t, cs, name, map[string]any{"connection": "conn_aaaaaaaaaaaaaaaaaaaa", "input": map[string]any{"email": "ada@example.com"}})
	if p := problemOf(t, other); !strings.HasSuffix(p.Type, "/not-found") || asJSON(other.Content) != asJSON(missing.Content) {
		t.Errorf("another tenant's connection %s, a missing one %s", asJSON(other.Content), asJSON(missing.Content))
	}

	// A session id is no key to another tenant's tools.
	sid := cs.ID()
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`
	req, _ := http.NewRequest("POST", e.Base+"/v1/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.Token("globex"))
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("another tenant's token on acme's session: %d", resp.StatusCode)
	}
	// No token: refused as the REST API refuses it.
	resp, err = http.Post(e.Base+"/v1/mcp", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}

// The tools follow the connections: a new one, or one deleted, changes
// them, and the client is told.
func TestToolsFollowConnections(t *testing.T) {
	e := start(t)
	a := e.connect(t, "acme", "")
	cs, changed := e.session(t, "acme")
	name := mcp.ToolName("crm", "create-contact")
	if s := asJSON(tools(t, cs)[name].InputSchema); strings.Contains(s, mcp.ConnectionArg) {
		t.Fatalf("one connection: %s", s)
	}
	b := e.connect(t, "acme", "second")
	<-changed
	if s := asJSON(tools(t, cs)[name].InputSchema); !strings.Contains(s, b) {
		t.Fatalf("after a second connection: %s", s)
	}
	for _, id := range []string{a, b} {
		if st := e.rest(t, "acme", "DELETE", "/v1/connections/"+id, nil, nil); st != http.StatusNoContent {
			t.Fatalf("delete: %d", st)
		}
	}
	for len(tools(t, cs)) != 0 {
		<-changed
	}
}
