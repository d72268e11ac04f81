package mcp_test

import (
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/mcp"
)

// The official TypeScript SDK's client, over Streamable HTTP: it lists
// the tools, calls one against the loopback app, sees an upstream failure
// as a tool error, and is told when a new connection changes the tools.
// (cmd/membrane's TestMCPStdio does the same over stdio.)
func TestTypeScriptClientOverHTTP(t *testing.T) {
	e := start(t)
	e.connect(t, "acme", "")
	name := mcp.ToolName("crm", "create-contact")
	c := testkit.StartMCPClient(t, "MCP_TRANSPORT=http", "MCP_URL="+e.Base+"/v1/mcp", "MCP_TOKEN="+e.Token("acme"),
		`MCP_CALL={"name":"`+name+`","ok":{"email":"ada@example.com"},"error":{"email":"boom@example.com"}}`)

	tools := asJSON(c.Next("tools")["tools"])
	if !strings.Contains(tools, `"name":"`+name+`"`) || !strings.Contains(tools, `"readOnlyHint":true`) {
		t.Errorf("tools: %s", tools)
	}
	if ok := asJSON(c.Next("ok")["result"]); !strings.Contains(ok, `"structuredContent":{"id":"c_1"}`) || strings.Contains(ok, `"isError":true`) {
		t.Errorf("a call that works: %s", ok)
	}
	if bad := asJSON(c.Next("error")["result"]); !strings.Contains(bad, `"isError":true`) || !strings.Contains(bad, `run-upstream`) {
		t.Errorf("a call the upstream fails: %s", bad)
	}
	c.Next("waiting")
	second := e.connect(t, "acme", "second")
	if after := asJSON(c.Next("changed")["tools"]); !strings.Contains(after, second) {
		t.Errorf("after a second connection: %s", after)
	}
}
