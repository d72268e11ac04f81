package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// A workspace with no membrane.yaml and nothing configured serves on the
// embedded store with a generated development secret, which tokens minted
// from it (as `membrane token --dir` does) are accepted with.
func TestServeWithEmbeddedDefaults(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := workspace(t, up.srv.URL, "")
	r := start(t, server.Config{Dir: dir, AllowPrivate: true, LookupEnv: env(nil)})
	c := r.srvClient()

	secret, created, err := server.DevSecret(server.DataDir(dir))
	if err != nil || created {
		t.Fatalf("the server did not keep a development secret: created=%v %v", created, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, ".membrane", "membrane.db")); err != nil || fi.Size() == 0 {
		t.Fatalf("no SQLite database under .membrane: %v", err)
	}
	if fi, _ := os.Stat(server.DevSecretPath(server.DataDir(dir))); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the secret file is %v, want 0600", fi.Mode().Perm())
	}
	tok := token(t, "default", string(secret), "acme")

	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if code := call(t, c, "GET", r.URL+p, "", nil, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, code)
		}
	}
	if code := call(t, c, "GET", r.URL+"/v1/connections", "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code := call(t, c, "GET", r.URL+"/v1/connections", token(t, "default", testSecret, "acme"), nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a token of another secret: %d", code)
	}

	var conn struct{ ID, State string }
	code := call(t, c, "POST", r.URL+"/v1/connections", tok,
		map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn)
	if code != http.StatusCreated || conn.State != "connected" {
		t.Fatalf("create: %d %+v", code, conn)
	}
	var out struct {
		RunID  string         `json:"runId"`
		Output map[string]any `json:"output"`
	}
	code = call(t, c, "POST", r.URL+"/v1/connections/"+conn.ID+"/actions/create-contact/run", tok,
		map[string]any{"input": map[string]any{"email": "ada@example.com"}}, &out)
	if code != http.StatusOK || out.Output["id"] != "c_1" || out.RunID == "" {
		t.Fatalf("run: %d %+v", code, out)
	}

	// A store that stops answering makes the server unready, not dead.
	r.Store.Close()
	if code := call(t, c, "GET", r.URL+"/readyz", "", nil, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store closed: %d", code)
	}
	if code := call(t, c, "GET", r.URL+"/healthz", "", nil, nil); code != http.StatusOK {
		t.Fatalf("healthz with the store closed: %d", code)
	}
}

func (r *running) srvClient() *http.Client { return &http.Client{} }

// At shutdown a run in flight finishes and its caller gets the output;
// Serve returns only after it.
func TestShutdownLetsRunsFinish(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := workspace(t, up.srv.URL, "")
	r := start(t, server.Config{Dir: dir, AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	c := r.srvClient()
	tok := token(t, "default", testSecret, "acme")
	var conn struct{ ID string }
	if code := call(t, c, "POST", r.URL+"/v1/connections", tok,
		map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}

	arrived, release := up.holdNext()
	defer release()
	type result struct {
		code int
		out  map[string]any
	}
	done := make(chan result, 1)
	go func() {
		var out struct {
			Output map[string]any `json:"output"`
		}
		code := call(t, c, "POST", r.URL+"/v1/connections/"+conn.ID+"/actions/create-contact/run", tok,
			map[string]any{"input": map[string]any{"email": "ada@example.com"}}, &out)
		done <- result{code, out.Output}
	}()
	<-arrived
	r.stop()
	select {
	case err := <-r.served:
		r.served <- err
		t.Fatalf("Serve returned with a run in flight: %v", err)
	default:
	}
	release()
	res := <-done
	if res.code != http.StatusOK || res.out["id"] != "c_1" {
		t.Fatalf("the run in flight got %d %v", res.code, res.out)
	}
	if err := r.wait(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// PostgreSQL replicas must share the workspace secret: none is invented.
// With it, the store named in membrane.yaml is used.
func TestPostgresNeedsSharedSecrets(t *testing.T) {
	up := newUpstream(t)
	dsn := storetest.PostgresDB(t)
	dir := workspace(t, up.srv.URL, dsn)
	t.Setenv(crypt.EnvKey, crypt.EncodeKey(crypt.Generate()))
	_, err := server.New(t.Context(), server.Config{Dir: dir, LookupEnv: env(nil)}, storetest.Quiet())
	if err == nil || !strings.Contains(err.Error(), "MEMBRANE_WORKSPACE_SECRET is not set") {
		t.Fatalf("no secret on PostgreSQL: %v", err)
	}
	if _, err := os.Stat(server.DevSecretPath(server.DataDir(dir))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a development secret was generated for PostgreSQL: %v", err)
	}
	r := start(t, server.Config{Dir: dir, AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	if r.Store.Engine() != "postgres" {
		t.Fatalf("engine %s", r.Store.Engine())
	}
	tok := token(t, "servertest", testSecret, "acme")
	if code := call(t, r.srvClient(), "GET", r.URL+"/v1/connections", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("list: %d", code)
	}
}

// A workspace with errors does not start; the errors name their places.
func TestBrokenWorkspaceDoesNotStart(t *testing.T) {
	t.Parallel()
	dir := workspace(t, "http://127.0.0.1:1", "")
	p := filepath.Join(dir, "connectors/crm/actions/create-contact.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(actionYAML, "input.email", "input.emial", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := server.New(context.Background(), server.Config{Dir: dir, LookupEnv: env(nil)}, storetest.Quiet())
	var le *server.LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "create-contact.yaml:") || !strings.Contains(err.Error(), "emial") {
		t.Fatalf("broken workspace: %v", err)
	}
	if _, err := os.Stat(server.DataDir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a broken workspace touched the data directory: %v", err)
	}
}

// A relative SQLite path in membrane.yaml is the workspace's, whatever
// the working directory.
func TestRelativeStorePath(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := workspace(t, up.srv.URL, "sqlite:state/m.db")
	start(t, server.Config{Dir: dir, LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	if _, err := os.Stat(filepath.Join(dir, "state", "m.db")); err != nil {
		t.Fatalf("store not under the workspace: %v", err)
	}
}

// A swapped workspace serves the calls that start after it; a run under
// way finishes with the definition it started with.
func TestSwapKeepsRunsInFlightOnTheirSnapshot(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := workspace(t, up.srv.URL, "")
	r := start(t, server.Config{Dir: dir, AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	c := r.srvClient()
	tok := token(t, "default", testSecret, "acme")
	var conn struct{ ID string }
	if code := call(t, c, "POST", r.URL+"/v1/connections", tok,
		map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	run := func() map[string]any {
		var out struct {
			Output map[string]any `json:"output"`
		}
		if code := call(t, c, "POST", r.URL+"/v1/connections/"+conn.ID+"/actions/create-contact/run", tok,
			map[string]any{"input": map[string]any{"email": "ada@example.com"}}, &out); code != http.StatusOK {
			t.Errorf("run: %d", code)
		}
		return out.Output
	}

	arrived, release := up.holdNext()
	defer release()
	old := make(chan map[string]any, 1)
	go func() { old <- run() }()
	<-arrived

	p := filepath.Join(dir, "connectors/crm/actions/create-contact.yaml")
	edited := strings.Replace(actionYAML, "  id: ${ response.body.id }", "  id: ${ response.body.id }\n  email: ${ response.body.email }", 1)
	if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	r.Swap(ws)
	release()
	if out := <-old; out["id"] != "c_1" || out["email"] != nil {
		t.Fatalf("the run under way got %v, want the old output", out)
	}
	if out := run(); out["email"] != "ada@example.com" {
		t.Fatalf("a run after the swap got %v, want the new output", out)
	}
}

// An OAuth2 connector whose client is not configured is named at start,
// with what to set; the server serves the others meanwhile.
func TestMissingOAuthClientsAreNamed(t *testing.T) {
	t.Parallel()
	dir := workspace(t, "http://127.0.0.1:1", "")
	oauthConn := "kind: Connector\nkey: crmo\nbaseUrl: https://crm.example\nauth:\n  type: oauth2\n  authorizationUrl: https://crm.example/authorize\n  tokenUrl: https://crm.example/token\n"
	if err := os.WriteFile(filepath.Join(dir, "connectors/crm/oauth.yaml"), []byte(oauthConn), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "membrane.yaml"), []byte("kind: Workspace\nkey: servertest\noauthClients:\n  crmo: {clientIdEnv: CRMO_ID, clientSecretEnv: CRMO_SECRET}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := server.New(t.Context(), server.Config{Dir: dir, LookupEnv: env(map[string]string{
		"MEMBRANE_WORKSPACE_SECRET": testSecret, "CRMO_ID": "id"})}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "connector crmo: CRMO_SECRET is not set") || strings.Contains(logs.String(), "CRMO_ID is not set") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

// Under serve the console takes an admin token; a development server's
// is open to this machine.
func TestConsoleIsMounted(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	dir := workspace(t, up.srv.URL, "")
	vars := env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	r := start(t, server.Config{Dir: dir, LookupEnv: vars})
	if code := call(t, noRedirect, "GET", r.URL+"/console/", "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("console without a token: %d", code)
	}
	m, err := tenancy.NewMinter("default", []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := m.Mint(tenancy.Claims{Tenant: "ops", Admin: true}, time.Hour)
	resp, err := noRedirect.Get(r.URL + "/console?token=" + admin)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 || strings.Contains(resp.Header.Get("Location"), admin) {
		t.Fatalf("admin token: %d %v %q", resp.StatusCode, resp.Cookies(), resp.Header.Get("Location"))
	}
	if code := call(t, noRedirect, "GET", r.URL+"/console?token="+token(t, "default", testSecret, "acme"), "", nil, nil); code != http.StatusForbidden {
		t.Fatalf("tenant token on the console: %d", code)
	}

	dev := start(t, server.Config{Dir: workspace(t, up.srv.URL, ""), LookupEnv: vars, OpenConsole: true})
	if code := call(t, noRedirect, "GET", dev.URL+"/console/", "", nil, nil); code != http.StatusOK {
		t.Fatalf("open console from loopback: %d", code)
	}
}

// POST /v1/oauth/authorize answers with a link to the server's own connect
// page, which starts a connect session and continues, once, to the
// provider's consent URL with the callback under the public URL.
func TestOAuthAuthorizeLinksToTheConnectPage(t *testing.T) {
	t.Parallel()
	dir := workspace(t, "http://127.0.0.1:1", "")
	oauthConn := "kind: Connector\nkey: crmo\nname: CRM\nbaseUrl: https://crm.example\nauth:\n  type: oauth2\n  authorizationUrl: https://crm.example/authorize\n  tokenUrl: https://crm.example/token\n"
	if err := os.WriteFile(filepath.Join(dir, "connectors/crm/oauth.yaml"), []byte(oauthConn), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "membrane.yaml"), []byte("kind: Workspace\nkey: servertest\noauthClients:\n  crmo: {clientIdEnv: CRMO_ID, clientSecretEnv: CRMO_SECRET}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startPublic(t, server.Config{Dir: dir, LookupEnv: env(map[string]string{
		"MEMBRANE_WORKSPACE_SECRET": testSecret, "CRMO_ID": "crmo-client", "CRMO_SECRET": "crmo-secret"})})
	var out struct {
		AuthorizationURL string `json:"authorizationUrl"`
	}
	code := call(t, r.srvClient(), "POST", r.URL+"/v1/oauth/authorize", token(t, "servertest", testSecret, "acme"),
		map[string]any{"connector": "crmo", "returnUrl": r.URL + "/done"}, &out)
	if code != http.StatusOK || !strings.HasPrefix(out.AuthorizationURL, r.URL+"/connect/authorize?link=") {
		t.Fatalf("authorize: %d %q", code, out.AuthorizationURL)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(out.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/connect" {
		t.Fatalf("the link: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = browser.Get(r.URL + "/connect")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(string(page), "Continue to CRM") {
		t.Fatalf("the page: %d\n%s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(r.URL+"/connect", url.Values{"csrf": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	consent, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || consent.Host != "crm.example" || consent.Query().Get("redirect_uri") != r.URL+"/connect/callback" ||
		consent.Query().Get("client_id") != "crmo-client" {
		t.Fatalf("continue: %d to %v", resp.StatusCode, consent)
	}
}
