package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/client"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// The tests run the client against the real API (apitest: the api
// handler on a loopback server, a SQLite store, a loopback upstream).

func setup(t *testing.T) (*apitest.Env, *client.Client, context.Context) {
	t.Helper()
	env := apitest.New(t, storetest.SQLite(t)(t))
	return env, client.New(env.URL, env.Token("acme")), t.Context()
}

// problem fails unless err is a *client.Problem of kind and status.
func problem(t *testing.T, err error, status int, kind string) *client.Problem {
	t.Helper()
	var p *client.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T), want a *client.Problem", err, err)
	}
	if p.Status != status || p.Kind() != kind {
		t.Fatalf("problem %d %s, want %d %s: %v", p.Status, p.Kind(), status, kind, p)
	}
	return p
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestConnectionsAndRuns(t *testing.T) {
	env, c, ctx := setup(t)
	create := client.CreateConnectionRequest{Connector: "crm", Parameters: map[string]any{"region": "us"},
		Credentials: map[string]any{"apiKey": apitest.GoodKey}}
	conn := must[*client.Connection](t)(c.CreateConnection(ctx, create))
	if conn.ID == "" || conn.State != "connected" || conn.Parameters["region"] != "us" || conn.Version != 1 {
		t.Fatalf("created %+v", conn)
	}
	bad := create
	bad.Credentials = map[string]any{"apiKey": apitest.BadKey}
	_, err := c.CreateConnection(ctx, bad)
	p := problem(t, err, 422, "credentials-refused")
	if p.Cause == nil || p.Cause.Type != "auth" || strings.Contains(p.Error(), apitest.BadKey) {
		t.Fatalf("refusal %v", p)
	}
	_, err = c.CreateConnection(ctx, client.CreateConnectionRequest{Connector: "crm", Parameters: map[string]any{"region": "mars"}})
	p = problem(t, err, 422, "validation")
	if len(p.Errors) != 2 || p.Errors[0].Pointer == "" {
		t.Fatalf("errors %+v", p.Errors)
	}

	must[*client.Connection](t)(c.CreateConnection(ctx, create))
	page := must[*client.Page[client.Connection]](t)(c.ListConnections(ctx, client.ConnectionFilter{Limit: 1}))
	if len(page.Items) != 1 || page.Next == "" {
		t.Fatalf("page %+v", page)
	}
	page = must[*client.Page[client.Connection]](t)(c.ListConnections(ctx, client.ConnectionFilter{Cursor: page.Next}))
	if len(page.Items) != 1 || page.Next != "" {
		t.Fatalf("page 2 %+v", page)
	}
	got := must[*client.Connection](t)(c.GetConnection(ctx, conn.ID))
	if got.ID != conn.ID {
		t.Fatalf("got %+v", got)
	}
	tr := must[*client.TestResult](t)(c.TestConnection(ctx, conn.ID))
	if !tr.OK || tr.Connection.State != "connected" {
		t.Fatalf("test %+v", tr)
	}
	re := must[*client.Connection](t)(c.Reconnect(ctx, conn.ID, map[string]any{"apiKey": apitest.NewKey}))
	if re.Version <= conn.Version {
		t.Fatalf("reconnected %+v", re)
	}

	// Runs: the output, the log on demand, and failures as problems.
	res := must[*client.RunResult](t)(c.RunAction(ctx, conn.ID, "create-contact", map[string]any{"email": "ada@example.com"}, &client.RunOptions{Log: true}))
	var out struct{ ID string }
	if err := res.Decode(&out); err != nil || out.ID != "c_1" || res.RunID == "" || len(res.Log) != 1 || res.Log[0].Status != 200 {
		t.Fatalf("run %+v %v", res, err)
	}
	_, err = c.RunAction(ctx, conn.ID, "get-contact", map[string]any{"id": 7}, nil)
	p = problem(t, err, 422, "run-invalid-input")
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/input/id" || p.RunID == "" || p.Cause.Type != "invalid-input" {
		t.Fatalf("invalid input %+v", p)
	}
	_, err = c.RunAction(ctx, conn.ID, "get-contact", map[string]any{"id": "c_9"}, nil)
	problem(t, err, 422, "run-not-found")
	_, err = c.RunAction(ctx, conn.ID, "create-contact", map[string]any{"email": "boom@example.com"}, nil)
	p = problem(t, err, 502, "run-upstream")
	if p.Cause.Status != 500 {
		t.Fatalf("upstream %+v", p.Cause)
	}

	acts := must[[]client.ActionInfo](t)(c.ListActions(ctx, conn.ID))
	if len(acts) != 2 || acts[1].Key != "get-contact" || len(acts[1].InputSchema) == 0 {
		t.Fatalf("actions %+v", acts)
	}
	act := must[*client.ActionInfo](t)(c.GetAction(ctx, conn.ID, "create-contact"))
	if act.Implements != "create-contact" {
		t.Fatalf("action %+v", act)
	}
	text := must[string](t)(c.ExplainAction(ctx, conn.ID, "create-contact"))
	if !strings.Contains(text, "request:") {
		t.Fatalf("explain %s", text)
	}

	// Run logs: newest first; the failed runs carry their type.
	logs := must[*client.Page[client.RunLog]](t)(c.ListRunLogs(ctx, client.RunLogFilter{ConnectionID: conn.ID}))
	if len(logs.Items) != 4 || logs.Items[0].Status != "upstream" || logs.Items[3].ID != res.RunID {
		t.Fatalf("run logs %+v", logs.Items)
	}
	one := must[*client.RunLog](t)(c.GetRunLog(ctx, res.RunID))
	if one.Status != "ok" || len(one.Entries) != 1 || strings.Contains(one.Entries[0].ResponseBody, apitest.NewKey) {
		t.Fatalf("run log %+v", one)
	}

	if err := c.DeleteConnection(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetConnection(ctx, conn.ID)
	problem(t, err, 404, "not-found")
	if n := env.Upstream.Calls(); n == 0 {
		t.Fatal("the upstream was never called")
	}
}

func TestOverrides(t *testing.T) {
	_, c, ctx := setup(t)
	conn := must[*client.Connection](t)(c.CreateConnection(ctx, client.CreateConnectionRequest{Connector: "crm",
		Parameters: map[string]any{"region": "eu"}, Credentials: map[string]any{"apiKey": apitest.GoodKey}}))
	doc := []byte("kind: ConnectionOverride\nconnector: crm\nactions:\n  create-contact:\n    request:\n      body: {source: client}\n")

	o := must[*client.Override](t)(c.PutConnectionOverride(ctx, conn.ID, doc, nil))
	if o.Revision != 1 || o.Document != string(doc) || o.Warnings == nil {
		t.Fatalf("put %+v", o)
	}
	_, err := c.PutConnectionOverride(ctx, conn.ID, doc, &client.PutOverrideOptions{IfRevision: 5})
	problem(t, err, 412, "precondition-failed")
	o = must[*client.Override](t)(c.PutConnectionOverride(ctx, conn.ID, doc, &client.PutOverrideOptions{IfRevision: 1}))
	if o.Revision != 2 {
		t.Fatalf("put if %+v", o)
	}
	got := must[*client.Override](t)(c.GetConnectionOverride(ctx, conn.ID))
	if got.Revision != 2 || got.ConnectionID != conn.ID {
		t.Fatalf("get %+v", got)
	}
	text := must[string](t)(c.ExplainAction(ctx, conn.ID, "create-contact"))
	if !strings.Contains(text, "stored override crm/"+conn.ID) {
		t.Fatalf("explain does not show the stored layer:\n%s", text)
	}

	bad := []byte(`{"kind": "ConnectionOverride", "connector": "crm", "actions": {"nope": {}}}`)
	_, err = c.PutConnectorOverride(ctx, "crm", bad, nil)
	p := problem(t, err, 422, "invalid-override")
	if len(p.Diagnostics) == 0 || p.Diagnostics[0].Rule != "unknown-reference" || !strings.Contains(p.Error(), "unknown-reference") {
		t.Fatalf("diagnostics %+v", p.Diagnostics)
	}
	check := must[*client.CheckResult](t)(c.CheckConnectionOverride(ctx, conn.ID, bad))
	if check.Valid || len(check.Diagnostics) == 0 {
		t.Fatalf("check %+v", check)
	}
	must[*client.Override](t)(c.PutConnectorOverride(ctx, "crm", []byte(`{"kind": "ConnectionOverride", "connector": "crm"}`), nil))
	must[*client.Override](t)(c.GetConnectorOverride(ctx, "crm"))
	list := must[*client.Page[client.Override]](t)(c.ListOverrides(ctx, client.OverrideFilter{Connector: "crm"}))
	if len(list.Items) != 2 {
		t.Fatalf("list %+v", list)
	}
	if err := c.DeleteConnectionOverride(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteConnectorOverride(ctx, "crm"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetConnectorOverride(ctx, "crm")
	problem(t, err, 404, "not-found")
}

func TestCatalogueAndOAuth(t *testing.T) {
	_, c, ctx := setup(t)
	cs := must[[]client.ConnectorInfo](t)(c.ListConnectors(ctx))
	if len(cs) != 3 || cs[0].Key != "crm" || cs[0].Auth.Type != "apiKey" || len(cs[0].CredentialsSchema) == 0 ||
		cs[1].Key != "deskcrm" || len(cs[1].AuthModes) != 2 || cs[1].AuthModes[1].Key != "api-key" {
		t.Fatalf("connectors %+v", cs)
	}
	one := must[*client.ConnectorInfo](t)(c.GetConnector(ctx, "oauthcrm"))
	if one.Auth.Type != "oauth2" {
		t.Fatalf("connector %+v", one)
	}
	_, err := c.GetConnector(ctx, "nope")
	problem(t, err, 404, "unknown-connector")
	u := must[string](t)(c.AuthorizeOAuth(ctx, client.AuthorizeRequest{Connector: "oauthcrm", ReturnURL: "https://app.example/done"}))
	if !strings.HasPrefix(u, apitest.PublicURL+"/connect/authorize?link=") {
		t.Fatalf("authorization URL %s, want the connect page's link", u)
	}
}

func TestTenantsAndAuth(t *testing.T) {
	env, c, ctx := setup(t)
	_, err := c.ListTenants(ctx, "", 0)
	problem(t, err, 403, "forbidden")
	admin := client.New(env.URL, env.AdminToken("ops"))
	tn := must[*client.Tenant](t)(admin.PutTenant(ctx, "initech"))
	if tn.Key != "initech" || tn.CreatedAt.IsZero() {
		t.Fatalf("tenant %+v", tn)
	}
	page := must[*client.Page[client.Tenant]](t)(admin.ListTenants(ctx, "", 10))
	if len(page.Items) != 1 {
		t.Fatalf("tenants %+v", page)
	}
	if err := admin.DeleteTenant(ctx, "initech"); err != nil {
		t.Fatal(err)
	}
	err = admin.DeleteTenant(ctx, "initech")
	problem(t, err, 404, "not-found")

	_, err = client.New(env.URL, "not-a-token").ListConnectors(ctx)
	p := problem(t, err, 401, "unauthorized")
	if !strings.Contains(p.Error(), "401") {
		t.Fatalf("error text %q", p.Error())
	}
}

// A proxy's plain-text error still comes back as a *Problem.
func TestNonProblemErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	_, err := client.New(srv.URL, "t").GetConnection(t.Context(), "conn_1")
	p := problem(t, err, 502, "bad gateway")
	if p.Detail != "upstream connect error" {
		t.Fatalf("detail %q", p.Detail)
	}
}

// Creates and runs sent with an idempotency key are done once; a retry
// gets the first answer, and one while the first runs is told when to
// retry.
func TestIdempotencyKeys(t *testing.T) {
	env, c, ctx := setup(t)
	key := client.NewIdempotencyKey()
	if len(key) != 36 || key == client.NewIdempotencyKey() || key[14] != '4' {
		t.Fatalf("key %q", key)
	}
	create := client.CreateConnectionRequest{Connector: "crm", Parameters: map[string]any{"region": "us"},
		Credentials: map[string]any{"apiKey": apitest.GoodKey}, IdempotencyKey: key}
	first := must[*client.Connection](t)(c.CreateConnection(ctx, create))
	again := must[*client.Connection](t)(c.CreateConnection(ctx, create))
	if again.ID != first.ID {
		t.Fatalf("a retried create made %s besides %s", again.ID, first.ID)
	}
	page := must[*client.Page[client.Connection]](t)(c.ListConnections(ctx, client.ConnectionFilter{}))
	if len(page.Items) != 1 {
		t.Fatalf("%d connections", len(page.Items))
	}

	opts := &client.RunOptions{IdempotencyKey: client.NewIdempotencyKey()}
	in := map[string]any{"email": "ada@example.com"}
	arrived, release := env.Upstream.HoldNext()
	done := make(chan *client.RunResult, 1)
	go func() {
		res, err := c.RunAction(ctx, first.ID, "create-contact", in, opts)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-arrived
	_, err := c.RunAction(ctx, first.ID, "create-contact", in, opts)
	if p := problem(t, err, 409, "idempotency-key-in-flight"); p.RetryAfter != time.Second {
		t.Fatalf("in flight: Retry-After %v", p.RetryAfter)
	}
	calls := env.Upstream.Calls()
	release()
	res := <-done
	retry := must[*client.RunResult](t)(c.RunAction(ctx, first.ID, "create-contact", in, opts))
	if res == nil || retry.RunID != res.RunID || env.Upstream.Calls() != calls {
		t.Fatalf("retried run %+v, first %+v", retry, res)
	}
	_, err = c.RunAction(ctx, first.ID, "create-contact", map[string]any{"email": "bob@example.com"}, opts)
	problem(t, err, 422, "idempotency-key-reused")
}
