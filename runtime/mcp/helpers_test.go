package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/mcp"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// env is the REST API and the MCP server on one loopback server, over a
// real store, with the test CRM as the connected app.
type env struct {
	*apitest.Env
	MCP  *mcp.Server
	Base string // http://127.0.0.1:PORT; /v1/… and /v1/mcp
}

// start runs the REST API and the MCP server (Resync short, so that
// changes reach the clients quickly).
func start(t *testing.T) *env { return startOn(t, storetest.SQLite(t)(t)) }

// startOn is start on the store open gives.
func startOn(t testing.TB, open storetest.Opener) *env {
	t.Helper()
	e := apitest.New(t, open)
	m := mcp.New(mcp.Options{Service: e.Service, Verifier: e.Verifier, Logger: slog.New(slog.DiscardHandler), Resync: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	mux.Handle("/v1/mcp", m.Handler())
	mux.Handle("/", e.Handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &env{Env: e, MCP: m, Base: srv.URL}
}

// rest calls the REST API as tenant and decodes the answer into out.
func (e *env) rest(t testing.TB, tenant, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.Base+path, r)
	req.Header.Set("Authorization", "Bearer "+e.Token(tenant))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s", method, path, b)
		}
	}
	return resp.StatusCode
}

// connect makes a crm connection of tenant and returns its id.
func (e *env) connect(t testing.TB, tenant, name string) string {
	t.Helper()
	var c struct{ ID string }
	if st := e.rest(t, tenant, "POST", "/v1/connections", map[string]any{"connector": "crm", "name": name,
		"parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.GoodKey}}, &c); st != http.StatusCreated {
		t.Fatalf("create a connection: %d", st)
	}
	return c.ID
}

// bearer adds a tenant token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// session connects the Go SDK's client as tenant; changed receives each
// notifications/tools/list_changed.
func (e *env) session(t testing.TB, tenant string) (cs *sdk.ClientSession, changed <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	c := sdk.NewClient(&sdk.Implementation{Name: "membrane-test", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case ch <- struct{}{}:
			default:
			}
		}})
	cs, err := c.Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: e.Base + "/v1/mcp",
		HTTPClient: &http.Client{Transport: bearer{e.Token(tenant)}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, ch
}

// tools lists a session's tools by name.
func tools(t *testing.T, cs *sdk.ClientSession) map[string]*sdk.Tool {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*sdk.Tool{}
	for _, tl := range res.Tools {
		out[tl.Name] = tl
	}
	return out
}

// call calls a tool and returns its result.
func call(t *testing.T, cs *sdk.ClientSession, name string, args any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

// problem is a tool error's problem details.
type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Detail  string `json:"detail"`
	} `json:"errors"`
	RunID string `json:"runId"`
	Error *struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	} `json:"error"`
}

func problemOf(t *testing.T, res *sdk.CallToolResult) problem {
	t.Helper()
	if !res.IsError || len(res.Content) != 1 {
		t.Fatalf("want a tool error, got %+v", res)
	}
	var p problem
	if err := json.Unmarshal([]byte(res.Content[0].(*sdk.TextContent).Text), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
