package testkit

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// mcpDir is runtime/mcp/testdata, where its install.sh puts the official
// MCP TypeScript SDK.
func mcpDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "runtime", "mcp", "testdata")
}

// MCPClient is runtime/mcp/testdata/client.mjs running: the official
// TypeScript SDK's client driving a Membrane MCP server through its
// steps, one JSON line each.
type MCPClient struct {
	t     testing.TB
	lines <-chan map[string]any
	logs  *Buffer
}

// StartMCPClient starts client.mjs on node with env (MCP_TRANSPORT and
// the rest, see the script), skipping t (failing it in CI) when node or
// the SDK is not installed.
func StartMCPClient(t testing.TB, env ...string) *MCPClient {
	t.Helper()
	const install = "runtime/mcp/testdata/install.sh"
	dir := mcpDir()
	node, err := exec.LookPath("node")
	if err != nil {
		SkipOrFail(t, "node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		SkipOrFail(t, "@modelcontextprotocol/sdk is not installed", install)
	}
	cmd := exec.Command(node, filepath.Join(dir, "client.mjs"))
	cmd.Env = append(os.Environ(), env...)
	logs := &Buffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"step": "unreadable", "line": sc.Text()}
			}
			lines <- m
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range lines {
		}
		_ = cmd.Wait()
	})
	return &MCPClient{t: t, lines: lines, logs: logs}
}

// Next returns the next step the client printed, failing the test when
// it is not step (a failure, or the client gone).
func (c *MCPClient) Next(step string) map[string]any {
	c.t.Helper()
	m, ok := <-c.lines
	if !ok {
		c.t.Fatalf("the MCP client ended before %q; its stderr:\n%s", step, c.logs.String())
	}
	if m["step"] != step {
		c.t.Fatalf("the MCP client printed %v, not %q; its stderr:\n%s", m, step, c.logs.String())
	}
	return m
}
