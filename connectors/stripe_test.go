package connectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/connectors"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// TestCatalogueValid checks the shipped catalogue as `membrane validate
// --strict connectors` does: no error, no warning.
func TestCatalogueValid(t *testing.T) {
	ws, diags := layers.Load(".")
	diags = append(diags, layers.Check(ws)...)
	if len(diags) > 0 {
		t.Fatalf("the catalogue has diagnostics:\n%v", diags)
	}
	// Every Stripe action keeps a universal contract, and every universal
	// action has an implementation in some connector.
	implemented := map[string]bool{}
	for _, actions := range ws.Actions {
		for _, a := range actions {
			implemented[a.Implements] = true
		}
	}
	for key, a := range ws.Actions["stripe"] {
		if ws.UniversalActions[a.Implements] == nil {
			t.Errorf("stripe action %q implements no universal action", key)
		}
	}
	for key := range ws.UniversalActions {
		if !implemented[key] {
			t.Errorf("universal action %q has no implementation", key)
		}
	}
}

// TestEmbeddedFS checks that FS holds exactly the files a workspace load of
// the directory reads, so the binary ships the whole catalogue.
func TestEmbeddedFS(t *testing.T) {
	ws, _ := layers.Load(".")
	var embedded []string
	err := fs.WalkDir(connectors.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Clone(ws.Files)
	slices.Sort(files)
	slices.Sort(embedded)
	if !slices.Equal(files, embedded) {
		t.Errorf("embedded %v, but the directory holds %v; widen the //go:embed patterns in doc.go", embedded, files)
	}
	for _, f := range embedded {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := connectors.FS.ReadFile(f); !bytes.Equal(got, want) {
			t.Errorf("%s: embedded copy differs", f)
		}
	}
}

// stripeMockBinary finds stripe-mock on PATH or in $(go env GOPATH)/bin.
// Without it the end-to-end tests skip, except in CI (CI set), where
// scripts/install-test-deps.sh must have installed it.
func stripeMockBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p, err := exec.LookPath(filepath.Join(dir, "bin", "stripe-mock")); err == nil {
				return p
			}
		}
	}
	const hint = "stripe-mock is not installed; run scripts/install-test-deps.sh (go install github.com/stripe/stripe-mock@v0.203.0)"
	if os.Getenv("CI") != "" {
		t.Fatal(hint)
	}
	t.Skip(hint)
	return ""
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// mockLog keeps what stripe-mock prints and reports, once, the address of
// its HTTP listener.
type mockLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string
	found bool
}

func (l *mockLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		if m := listening.FindSubmatch(l.buf.Bytes()); m != nil {
			l.found = true
			l.ready <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *mockLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startStripeMock runs stripe-mock on a loopback port the system picks and
// returns its base URL once it says it listens; the test's end stops it.
func startStripeMock(t *testing.T) string {
	t.Helper()
	bin := stripeMockBinary(t)
	// -https-addr too: stripe-mock v0.203.0 still opens its default HTTPS
	// port (:12112, every interface) when only -http-addr is given, which
	// fails when another stripe-mock runs.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	log := &mockLog{ready: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// A guard, not a wait: stripe-mock is ready in well under a second.
	guard := time.NewTimer(time.Minute)
	defer guard.Stop()
	select {
	case addr := <-log.ready:
		return "http://" + addr
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("stripe-mock exited before listening (%v):\n%s", err, log)
	case <-guard.C:
		t.Fatalf("stripe-mock did not say it listens within a minute:\n%s", log)
	}
	return ""
}

// stripe is the catalogue loaded as a runtime, pointed at stripe-mock.
type stripe struct {
	rt      *membrane.Workspace
	baseURL string
	base    *spec.ConnectionOverride
}

// override reads a ConnectionOverride written as YAML.
func override(t *testing.T, name, src string) *spec.ConnectionOverride {
	t.Helper()
	els, diags := spec.LoadFile(name, []byte(src))
	if len(diags) > 0 || len(els) != 1 {
		t.Fatalf("%s: %v", name, diags)
	}
	return els[0].(*spec.ConnectionOverride)
}

func newStripe(t *testing.T, baseURL string) *stripe {
	t.Helper()
	rt, diags, err := membrane.Load(membrane.Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true})}, ".")
	if err != nil || len(diags) > 0 {
		t.Fatalf("membrane.Load: %v\n%v", err, diags)
	}
	// The connection layer points the connector at the mock, as
	// `membrane run --base-url` does.
	o := override(t, "stripe-mock.yaml", "kind: ConnectionOverride\nconnector: stripe\nconnectorPatch:\n  baseUrl: "+baseURL+"\n")
	return &stripe{rt: rt, baseURL: baseURL, base: o}
}

const apiKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc" // stripe-mock takes sk_test_<anything without "_">

func (s *stripe) run(t *testing.T, action string, input any, extra ...*spec.ConnectionOverride) (*engine.Result, error) {
	t.Helper()
	return s.runAs(t, apiKey, action, input, extra...)
}

func (s *stripe) runAs(t *testing.T, key, action string, input any, extra ...*spec.ConnectionOverride) (*engine.Result, error) {
	t.Helper()
	res, err := s.rt.Run(context.Background(), membrane.RunRequest{
		Connector:  "stripe",
		Action:     action,
		Connection: engine.Connection{ID: "e2e", Name: "stripe-mock", Tenant: "acme", Credentials: map[string]any{"apiKey": key}},
		Overrides:  append([]*spec.ConnectionOverride{s.base}, extra...),
		Input:      input,
		Options:    engine.RunOptions{Log: true},
	})
	if res != nil {
		for _, x := range res.Log {
			if !strings.HasPrefix(x.URL, s.baseURL+"/") {
				t.Errorf("a request went to %s, not to the mock at %s", x.URL, s.baseURL)
			}
			if got := x.RequestHeaders.Get("Authorization"); got != "" && got != "[redacted]" {
				t.Errorf("the log shows the Authorization header: %q", got)
			}
		}
	}
	return res, err
}

// mustRun runs an action that must succeed, checks its output against the
// universal contract it implements, and returns the output.
func (s *stripe) mustRun(t *testing.T, action string, input any, extra ...*spec.ConnectionOverride) (map[string]any, []engine.Exchange) {
	t.Helper()
	res, err := s.run(t, action, input, extra...)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	out, ok := res.Output.(map[string]any)
	if !ok {
		t.Fatalf("%s: output %T, want an object", action, res.Output)
	}
	checkContract(t, s.rt.Spec, action, out)
	return out, res.Log
}

// checkContract validates an output against the universal action's own
// output schema, independently of the engine's check of the merged one.
func checkContract(t *testing.T, ws *spec.Workspace, action string, out map[string]any) {
	t.Helper()
	ua := ws.UniversalActions[action]
	if ua == nil {
		t.Fatalf("no universal action %q", action)
	}
	var diags diag.List
	schema := ua.Output.Compile(&diags)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Validate JSON-decoded values, as a caller of the REST API sees them.
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(decoded); err != nil {
		t.Errorf("%s: output %s breaks the universal contract: %v", action, b, err)
	}
	// And gives no field the contract does not declare.
	props := ua.Output.Value.Get("properties")
	for k := range out {
		if props.Get(k) == nil {
			t.Errorf("%s: output field %q is not in the universal contract", action, k)
		}
	}
}

// form decodes a form-encoded request body.
func form(t *testing.T, body string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v
}

// one returns the only exchange of a run.
func one(t *testing.T, log []engine.Exchange) engine.Exchange {
	t.Helper()
	if len(log) != 1 {
		t.Fatalf("want one request, got %d: %+v", len(log), log)
	}
	return log[0]
}

// filtered reports whether -run or -skip may have left subtests out.
func filtered() bool {
	if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), "/") {
		return true
	}
	f := flag.Lookup("test.skip")
	return f != nil && f.Value.String() != ""
}

// TestStripe runs every Stripe action against stripe-mock, which checks
// each request against Stripe's OpenAPI spec: a field Stripe does not know,
// a wrong type or a wrong method fails.
func TestStripe(t *testing.T) {
	baseURL := startStripeMock(t)
	s := newStripe(t, baseURL)

	covered := map[string]bool{}
	t.Cleanup(func() {
		if t.Failed() || t.Skipped() || filtered() {
			return
		}
		// A new Stripe action needs its end-to-end test here.
		for _, key := range slices.Sorted(maps.Keys(s.rt.Spec.Actions["stripe"])) {
			if !covered[key] {
				t.Errorf("stripe action %q is not run against stripe-mock", key)
			}
		}
	})

	t.Run("create-contact", func(t *testing.T) {
		covered["create-contact"] = true
		out, log := s.mustRun(t, "create-contact", map[string]any{
			"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "+44 20 7946 0000",
		})
		if id, _ := out["id"].(string); !strings.HasPrefix(id, "cus_") {
			t.Errorf("id = %v, want a customer id", out["id"])
		}
		x := one(t, log)
		if x.Method != "POST" || x.URL != baseURL+"/v1/customers" || x.Status != 200 {
			t.Errorf("sent %s %s → %d", x.Method, x.URL, x.Status)
		}
		want := url.Values{"email": {"ada@example.com"}, "name": {"Ada Lovelace"}, "phone": {"+44 20 7946 0000"}}
		if got := form(t, x.RequestBody); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("form body %v, want %v", got, want)
		}
		if ct := x.RequestHeaders.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		if x.RequestHeaders.Get("Stripe-Version") != "2024-06-20" || !strings.HasPrefix(x.RequestHeaders.Get("Idempotency-Key"), "ada@example.com-") {
			t.Errorf("headers %v", x.RequestHeaders)
		}
		// stripe-mock reflects what it accepted into the customer it returns.
		var cus struct{ Email, Name, Phone string }
		if err := json.Unmarshal([]byte(x.ResponseBody), &cus); err != nil || cus.Email != "ada@example.com" || cus.Name != "Ada Lovelace" || cus.Phone != "+44 20 7946 0000" {
			t.Errorf("stripe-mock answered %s (%v)", x.ResponseBody, err)
		}
	})

	t.Run("create-contact/email only", func(t *testing.T) {
		_, log := s.mustRun(t, "create-contact", map[string]any{"email": "grace@example.com"})
		// Nothing else is sent: an empty name would blank the customer's.
		want := url.Values{"email": {"grace@example.com"}}
		if got := form(t, one(t, log).RequestBody); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("form body %v, want %v", got, want)
		}
	})

	t.Run("create-contact/invalid input", func(t *testing.T) {
		res, err := s.run(t, "create-contact", map[string]any{"firstName": "Ada"})
		var e *engine.Error
		if !errors.As(err, &e) || e.Type != engine.ErrInvalidInput || len(e.Violations) == 0 {
			t.Fatalf("want invalid-input with violations, got %v", err)
		}
		if !strings.Contains(e.Error(), "email") {
			t.Errorf("the error does not name the missing field: %v", e)
		}
		if res != nil && len(res.Log) != 0 {
			t.Errorf("an invalid input was sent: %+v", res.Log)
		}
	})

	t.Run("get-contact", func(t *testing.T) {
		covered["get-contact"] = true
		out, log := s.mustRun(t, "get-contact", map[string]any{"id": "cus_Get123"})
		if out["id"] != "cus_Get123" {
			t.Errorf("id = %v", out["id"])
		}
		for _, k := range []string{"email", "name", "phone", "createdAt"} {
			if _, ok := out[k]; !ok {
				t.Errorf("output lacks %q: %v", k, out)
			}
		}
		// stripe-mock's fixture customer was created at 1234567890.
		created, err := time.Parse(time.RFC3339, out["createdAt"].(string))
		if err != nil || !created.Equal(time.Unix(1234567890, 0)) {
			t.Errorf("createdAt = %v (%v), want 2009-02-13T23:31:30Z", out["createdAt"], err)
		}
		x := one(t, log)
		if x.Method != "GET" || x.URL != baseURL+"/v1/customers/cus_Get123" || x.RequestBody != "" {
			t.Errorf("sent %s %s %q", x.Method, x.URL, x.RequestBody)
		}
	})

	t.Run("list-contacts", func(t *testing.T) {
		covered["list-contacts"] = true
		out, log := s.mustRun(t, "list-contacts", map[string]any{})
		items, _ := out["items"].([]any)
		if len(items) == 0 {
			t.Fatalf("no items: %v", out)
		}
		for _, it := range items {
			if id, _ := it.(map[string]any)["id"].(string); !strings.HasPrefix(id, "cus_") {
				t.Errorf("item %v has no customer id", it)
			}
		}
		x := one(t, log)
		u, _ := url.Parse(x.URL)
		if x.Method != "GET" || u.Path != "/v1/customers" || !maps.EqualFunc(u.Query(), url.Values{"limit": {"100"}}, slices.Equal) {
			t.Errorf("sent %s %s", x.Method, x.URL)
		}
	})

	t.Run("list-contacts/by email", func(t *testing.T) {
		_, log := s.mustRun(t, "list-contacts", map[string]any{"email": "ada@example.com"})
		u, _ := url.Parse(one(t, log).URL)
		if got := u.Query(); got.Get("email") != "ada@example.com" || got.Get("limit") != "100" {
			t.Errorf("query %v", got)
		}
	})

	t.Run("list-contacts/pagination", func(t *testing.T) {
		// stripe-mock answers every list with one page (has_more false). A
		// proxy in front says the first page has more, so the action asks
		// for the next one — a request stripe-mock still checks.
		target, _ := url.Parse(baseURL)
		var mu sync.Mutex
		var pages []url.Values
		var firstIDs []string
		proxy := httptest.NewServer(&httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
			ModifyResponse: func(resp *http.Response) error {
				q := resp.Request.URL.Query()
				mu.Lock()
				defer mu.Unlock()
				pages = append(pages, q)
				if resp.StatusCode != 200 || q.Has("starting_after") {
					return nil
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				var page map[string]any
				if err := json.Unmarshal(body, &page); err != nil {
					return err
				}
				for _, it := range page["data"].([]any) {
					firstIDs = append(firstIDs, it.(map[string]any)["id"].(string))
				}
				page["has_more"] = true
				body, _ = json.Marshal(page)
				resp.Body = io.NopCloser(bytes.NewReader(body))
				resp.ContentLength = int64(len(body))
				resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
				return nil
			},
		})
		t.Cleanup(proxy.Close)
		viaProxy := newStripe(t, proxy.URL)

		out, log := viaProxy.mustRun(t, "list-contacts", map[string]any{})
		if len(log) != 2 || len(pages) != 2 {
			t.Fatalf("want two pages, got %d requests: %+v", len(log), log)
		}
		for i, x := range log {
			if x.Status != 200 {
				t.Errorf("page %d: stripe-mock answered %d: %s", i+1, x.Status, x.ResponseBody)
			}
		}
		if len(firstIDs) == 0 {
			t.Fatal("the first page had no customer")
		}
		want := url.Values{"limit": {"100"}, "starting_after": {firstIDs[len(firstIDs)-1]}}
		if !maps.EqualFunc(pages[1], want, slices.Equal) {
			t.Errorf("second page asked with %v, want %v", pages[1], want)
		}
		if items, _ := out["items"].([]any); len(items) != len(firstIDs)+1 {
			t.Errorf("items from both pages: got %d, want %d", len(items), len(firstIDs)+1)
		}
	})

	t.Run("update-contact", func(t *testing.T) {
		covered["update-contact"] = true
		out, log := s.mustRun(t, "update-contact", map[string]any{"id": "cus_Upd123", "lastName": "Hopper", "phone": "+1 212 555 0100"})
		if out["id"] != "cus_Upd123" {
			t.Errorf("id = %v", out["id"])
		}
		x := one(t, log)
		if x.Method != "POST" || x.URL != baseURL+"/v1/customers/cus_Upd123" || x.Status != 200 {
			t.Errorf("sent %s %s → %d", x.Method, x.URL, x.Status)
		}
		// Only the fields given: the email stays as it is.
		want := url.Values{"name": {"Hopper"}, "phone": {"+1 212 555 0100"}}
		if got := form(t, x.RequestBody); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("form body %v, want %v", got, want)
		}
	})

	t.Run("update-contact/nothing to change", func(t *testing.T) {
		_, log := s.mustRun(t, "update-contact", map[string]any{"id": "cus_Upd123"})
		if body := one(t, log).RequestBody; body != "" {
			t.Errorf("sent %q, want an empty body", body)
		}
	})

	t.Run("delete-contact", func(t *testing.T) {
		covered["delete-contact"] = true
		out, log := s.mustRun(t, "delete-contact", map[string]any{"id": "cus_Del123"})
		if out["id"] != "cus_Del123" || out["deleted"] != true {
			t.Errorf("output %v", out)
		}
		x := one(t, log)
		if x.Method != "DELETE" || x.URL != baseURL+"/v1/customers/cus_Del123" {
			t.Errorf("sent %s %s", x.Method, x.URL)
		}
	})

	t.Run("refused field", func(t *testing.T) {
		// A connection override that sends a field Stripe does not have.
		bogus := override(t, "connections/bogus.yaml", `kind: ConnectionOverride
connector: stripe
actions:
  create-contact:
    request:
      body:
        favorite_colour: ${ input.email }
`)
		res, err := s.run(t, "create-contact", map[string]any{"email": "ada@example.com"}, bogus)
		var e *engine.Error
		if !errors.As(err, &e) {
			t.Fatalf("want an engine error, got %v", err)
		}
		if e.Type != engine.ErrInvalidInput || e.Status != 400 {
			t.Errorf("type %q status %d, want invalid-input 400: %v", e.Type, e.Status, e)
		}
		// The message is Stripe's own (error.message), by the connector's
		// error rule.
		x := one(t, res.Log)
		if !strings.Contains(form(t, x.RequestBody).Get("favorite_colour"), "ada@example.com") {
			t.Errorf("the override's field was not sent: %q", x.RequestBody)
		}
		var body struct {
			Error struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(x.ResponseBody), &body); err != nil || body.Error.Message == "" {
			t.Fatalf("stripe-mock answered %s", x.ResponseBody)
		}
		if e.Message != body.Error.Message {
			t.Errorf("message %q, want Stripe's %q", e.Message, body.Error.Message)
		}
		if !strings.Contains(e.Message, "additional properties are not allowed") {
			t.Errorf("message %q does not say the field is unknown", e.Message)
		}
		if e.Retryable {
			t.Error("a refused request is not retryable")
		}
	})

	t.Run("refused key", func(t *testing.T) {
		// stripe-mock takes only test-mode keys, and quotes the key it got
		// in its error: the secret must not come back out.
		const live = "sk_live_DoNotPrintMe"
		res, err := s.runAs(t, live, "get-contact", map[string]any{"id": "cus_123"})
		if engine.TypeOf(err) != engine.ErrAuth {
			t.Fatalf("want an auth error, got %v", err)
		}
		if strings.Contains(err.Error(), live) {
			t.Errorf("the error shows the key: %v", err)
		}
		for _, x := range res.Log {
			b, _ := json.Marshal(x)
			if strings.Contains(string(b), live) {
				t.Errorf("the log shows the key: %s", b)
			}
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("want the key redacted in %v", err)
		}
	})
}
