package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/server"
)

// `membrane mcp` on a development workspace, driven over stdio by the
// official TypeScript SDK's client: it lists the tenant's tools, calls
// one against a loopback app, sees the app's failure as a tool error, and
// is told when a saved file adds an action.
func TestMCPStdio(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Api-Key") != apitest.GoodKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch {
		case r.URL.Path == "/me":
			_, _ = w.Write([]byte(`{"account":"acme"}`))
		case r.URL.Path == "/contacts" && in["email"] == "boom@example.com":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"boom"}`))
		case r.URL.Path == "/contacts":
			_, _ = w.Write([]byte(`{"id":"c_1"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer app.Close()

	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(apitest.WorkspaceDir())); err != nil {
		t.Fatal(err)
	}
	write := func(name, doc string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("upstream.yaml", "kind: ConnectionOverride\nconnector: crm\nconnectorPatch:\n  baseUrl: "+app.URL+"\n")

	// The tenant's connection, made as serve would make it, in the
	// workspace's development store.
	s, err := server.New(t.Context(), server.Config{Dir: dir, AllowPrivate: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Service.Create(t.Context(), "acme", connections.CreateRequest{Connector: "crm",
		Parameters: map[string]any{"region": "eu"}, Credentials: map[string]any{"apiKey": apitest.GoodKey}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	args, _ := json.Marshal([]string{"mcp", "--dir", dir, "--tenant", "acme", "--allow-private"})
	cl := testkit.StartMCPClient(t, "MCP_TRANSPORT=stdio", "MCP_COMMAND="+membraneBinary(t), "MCP_ARGS="+string(args),
		asMembraneEnv+"=1", `MCP_CALL={"name":"crm__create-contact","ok":{"email":"ada@example.com"},"error":{"email":"boom@example.com"}}`)
	tools := mustJSON(cl.Next("tools")["tools"])
	if !strings.Contains(tools, `"name":"crm__create-contact"`) || !strings.Contains(tools, c.ID) {
		t.Errorf("tools: %s", tools)
	}
	if ok := mustJSON(cl.Next("ok")["result"]); !strings.Contains(ok, `"structuredContent":{"id":"c_1"}`) {
		t.Errorf("a call that works: %s", ok)
	}
	if bad := mustJSON(cl.Next("error")["result"]); !strings.Contains(bad, `"isError":true`) || !strings.Contains(bad, "run-upstream") {
		t.Errorf("a call the app fails: %s", bad)
	}
	cl.Next("waiting")
	write("connectors/crm/actions/list-contacts.yaml", "kind: Action\nconnector: crm\nkey: list-contacts\nname: List contacts\n"+
		"request: {method: GET, path: /contacts}\noutput: ${ response.body }\n")
	if after := mustJSON(cl.Next("changed")["tools"]); !strings.Contains(after, `"name":"crm__list-contacts"`) {
		t.Errorf("after a new action file: %s", after)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// `membrane mcp` serves a tenant only when it knows which: a valid token,
// or --tenant on a development workspace alone. What it refuses says why,
// never the token.
func TestMCPTenant(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(apitest.WorkspaceDir())); err != nil {
		t.Fatal(err)
	}
	mcpRun := func(env map[string]string, args ...string) error {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		cmd := newMCPCmd()
		cmd.SetOut(&strings.Builder{})
		cmd.SetErr(&strings.Builder{})
		cmd.SetArgs(append([]string{"--dir", dir, "--watch=false"}, args...))
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		return cmd.Execute()
	}
	t.Setenv(defaultTokenEnv, "")
	if err := mcpRun(nil); err == nil || !strings.Contains(err.Error(), "MEMBRANE_TOKEN") {
		t.Errorf("no token, no tenant: %v", err)
	}
	const bogus = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJlLW9mLW5vLWtleQ"
	if err := mcpRun(map[string]string{defaultTokenEnv: bogus}); err == nil || strings.Contains(err.Error(), bogus) || !strings.Contains(err.Error(), "no valid tenant token") {
		t.Errorf("a token of no key: %v", err)
	}
	t.Setenv(defaultTokenEnv, "")
	// A workspace with its own secret is not a development one.
	t.Setenv(defaultSecretEnv, "a-workspace-secret-of-at-least-32-bytes!")
	if err := mcpRun(nil, "--tenant", "acme"); err == nil || !strings.Contains(err.Error(), "development workspace only") {
		t.Errorf("--tenant with a workspace secret: %v", err)
	}
}
