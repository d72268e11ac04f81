package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/connectors/internal/prismtest"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

// prismCaseDir holds a case file per connector proven against its vendor's
// API description: testdata/prism/<connector>.yaml. The workspace loader
// skips testdata, so these are not specs.
const prismCaseDir = "testdata/prism"

// prismSuite is one case file.
type prismSuite struct {
	// Connector is the connector's key; the file is named after it.
	Connector string `yaml:"connector"`
	// API is the description Prism serves, relative to ../shared/apis
	// (hubspot/crm-contacts-v3.json), or a list of a vendor's descriptions
	// served as one; a case may name others.
	API apiFiles `yaml:"api"`
	// Paths, when given, has Prism serve only the description's paths under
	// these prefixes (and the components they use): a large description
	// loads in a fraction of the time.
	Paths []string `yaml:"paths"`
	// BasePath is put after Prism's URL in the connector's baseUrl, for a
	// connector whose baseUrl has a path the description's paths repeat.
	BasePath    string            `yaml:"basePath"`
	Credentials map[string]any    `yaml:"credentials"`
	Parameters  map[string]any    `yaml:"parameters"`
	Prefer      map[string]string `yaml:"prefer"`
	// Headers replace the connector's headers of these names for every
	// case, the connection test too: for a description that contradicts
	// itself (PagerDuty requires an Accept its answers do not declare).
	Headers map[string]string `yaml:"headers"`
	// Offline names the actions Prism cannot check, each with why (a
	// description that refuses the request the API documents): their
	// requests are tested offline only.
	Offline map[string]string `yaml:"offline"`
	// NoConnectionTest says why no case runs the connection test: the
	// request it sends is in no description the vendor publishes here.
	NoConnectionTest string      `yaml:"noConnectionTest"`
	Cases            []prismCase `yaml:"cases"`
}

// prismCase is one run against Prism.
type prismCase struct {
	Name string `yaml:"name"`
	// Action is the connector's action key; `connection-test` runs the
	// connector's auth.test request instead.
	Action string         `yaml:"action"`
	API    apiFiles       `yaml:"api"`
	Input  map[string]any `yaml:"input"`
	// Prefer is sent to Prism as its Prefer header (merged over the
	// file's): {code: "404"} answers with the description's 404,
	// {dynamic: "true"} generates the body from the response schema,
	// {example: name} picks a named example.
	Prefer map[string]string `yaml:"prefer"`
	// Error is the error type the run must fail with; empty, it must
	// succeed with an output valid against the action's output schema.
	Error string `yaml:"error"`
	// Output, when given, must be part of the output (every key given,
	// with its value).
	Output map[string]any `yaml:"output"`
	// Override is a connection layer for this case: its `actions` patch
	// (e.g. a list's pagination.nextCursor set to null, where Prism's
	// next link would lead off to example.com). The connector patch is
	// the harness's.
	Override struct {
		Actions map[string]any `yaml:"actions"`
	} `yaml:"override"`
}

const connectionTest = "connection-test"

// apiFiles is one description file or a list of them.
type apiFiles []string

func (a *apiFiles) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*a = apiFiles{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*a = list
	return nil
}

func loadPrismSuites(t *testing.T) []*prismSuite {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(prismCaseDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var suites []*prismSuite
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s prismSuite
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); s.Connector != want {
			t.Fatalf("%s: connector %q, want %q (the file is named after its connector)", f, s.Connector, want)
		}
		for i, c := range s.Cases {
			if c.Name == "" || c.Action == "" {
				t.Fatalf("%s: case %d needs a name and an action", f, i+1)
			}
			if len(c.API) == 0 && len(s.API) == 0 {
				t.Fatalf("%s: case %q names no api, and the file gives none", f, c.Name)
			}
		}
		suites = append(suites, &s)
	}
	return suites
}

// TestPrismCoverage checks, without Prism, that every connector but
// Stripe (proven on stripe-mock) has a Prism case file and that every
// action of it, and its connection test, has at least one case.
func TestPrismCoverage(t *testing.T) {
	ws, diags := layers.Load(".")
	if len(diags) > 0 {
		t.Fatalf("the catalogue has diagnostics:\n%v", diags)
	}
	suites := map[string]*prismSuite{}
	for _, s := range loadPrismSuites(t) {
		suites[s.Connector] = s
	}
	for _, key := range slices.Sorted(maps.Keys(ws.Connectors)) {
		if key == "stripe" {
			continue
		}
		s := suites[key]
		if s == nil {
			t.Errorf("connector %q has no Prism cases: write %s/%s.yaml", key, prismCaseDir, key)
			continue
		}
		have := map[string]bool{}
		for _, c := range s.Cases {
			have[c.Action] = true
			if c.Action != connectionTest && ws.Actions[key][c.Action] == nil {
				t.Errorf("%s/%s.yaml: case %q runs %q, which %s does not have", prismCaseDir, key, c.Name, c.Action, key)
			}
		}
		if ws.Connectors[key].Auth != nil && ws.Connectors[key].Auth.Test != nil && !have[connectionTest] && s.NoConnectionTest == "" {
			t.Errorf("%s/%s.yaml: no case runs the connection test (action: %s)", prismCaseDir, key, connectionTest)
		}
		for a, why := range s.Offline {
			if ws.Actions[key][a] == nil || strings.TrimSpace(why) == "" || have[a] {
				t.Errorf("%s/%s.yaml: offline names %q, which must be an action of %s without a case, with the reason", prismCaseDir, key, a, key)
			}
			have[a] = true
		}
		for _, a := range slices.Sorted(maps.Keys(ws.Actions[key])) {
			// An internal action is what an event's subscribe runs: its
			// requests are proven by that event's subscription test
			// (webhook_lifecycle_test.go, sendgrid_events_test.go).
			if !have[a] && !ws.Actions[key][a].Internal {
				t.Errorf("%s/%s.yaml: action %q has no Prism case", prismCaseDir, key, a)
			}
		}
	}
	for key := range suites {
		if ws.Connectors[key] == nil {
			t.Errorf("%s/%s.yaml: no connector %q in the catalogue", prismCaseDir, key, key)
		}
	}
}

// prism is the package's shared pool: one Prism per API description,
// started by the first case that needs it and stopped by TestMain.
var prism struct {
	once sync.Once
	pool *prismtest.Pool
	err  error
}

func prismPool(t *testing.T) *prismtest.Pool {
	t.Helper()
	prism.once.Do(func() {
		bin, err := prismtest.Binary()
		if err != nil {
			prism.err = err
			return
		}
		prism.pool = prismtest.NewPool(bin)
	})
	if prism.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(prism.err)
		}
		t.Skip(prism.err)
	}
	return prism.pool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if prism.pool != nil {
		servers := prism.pool.Servers()
		prism.pool.Close()
		if testing.Verbose() {
			sort.Slice(servers, func(i, j int) bool { return servers[i].File < servers[j].File })
			for _, s := range servers {
				fmt.Printf("prism: %s listening after %v\n", s.File, s.Startup.Round(time.Millisecond))
			}
		}
	}
	os.Exit(code)
}

// TestPrism runs every case of testdata/prism/*.yaml against Prism serving
// the vendor's own API description with request validation on: a request
// that breaks the description fails the case with Prism's violations.
func TestPrism(t *testing.T) {
	suites := loadPrismSuites(t)
	if len(suites) == 0 {
		t.Skip("no Prism case files")
	}
	pool := prismPool(t)
	apis, err := prismtest.APIs()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	rt, diags, err := membrane.Load(membrane.Options{HTTP: httpx.New(httpx.Config{AllowPrivate: true})}, ".")
	if err != nil || len(diags) > 0 {
		t.Fatalf("membrane.Load: %v\n%v", err, diags)
	}
	for _, s := range suites {
		t.Run(s.Connector, func(t *testing.T) {
			t.Parallel()
			for _, c := range s.Cases {
				t.Run(c.Action+"/"+c.Name, func(t *testing.T) {
					t.Parallel()
					api := c.API
					if len(api) == 0 {
						api = s.API
					}
					var files []string
					for _, f := range api {
						files = append(files, filepath.Join(apis, filepath.FromSlash(f)))
					}
					srv, err := pool.Get(prismtest.Description{Files: files, Paths: s.Paths})
					if err != nil {
						t.Fatal(err)
					}
					runPrismCase(t, rt, s, c, srv)
				})
			}
		})
	}
}

func runPrismCase(t *testing.T, rt *membrane.Workspace, s *prismSuite, c prismCase, srv *prismtest.Server) {
	baseURL := srv.URL + s.BasePath
	prefer := maps.Clone(s.Prefer)
	if prefer == nil {
		prefer = map[string]string{}
	}
	maps.Copy(prefer, c.Prefer)
	// A file override, as `membrane run --base-url` gives: the connector
	// goes to Prism, with Prism's Prefer header when the case has one.
	patch := map[string]any{"baseUrl": baseURL}
	// The connector's servers go to Prism too: Prism serves every path
	// of the description without its servers' base paths (Box's
	// /files/content, described on upload.box.com/api/2.0).
	if c := rt.Spec.Connectors[s.Connector]; c != nil && len(c.Servers) > 0 {
		servers := map[string]any{}
		for name := range c.Servers {
			servers[name] = baseURL
		}
		patch["servers"] = servers
	}
	headers := map[string]any{}
	for k, v := range s.Headers {
		headers[k] = v
	}
	if len(prefer) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(prefer)) {
			parts = append(parts, k+"="+prefer[k])
		}
		headers["Prefer"] = strings.Join(parts, ", ")
	}
	if len(headers) > 0 {
		patch["headers"] = headers
	}
	doc := map[string]any{"kind": "ConnectionOverride", "connector": s.Connector, "connectorPatch": patch}
	if c.Override.Actions != nil {
		doc["actions"] = c.Override.Actions
	}
	src, _ := json.Marshal(doc)
	o := override(t, "prism.yaml", string(src))
	conn := engine.Connection{ID: "prism", Name: "prism", Tenant: "acme", Credentials: s.Credentials, Parameters: s.Parameters}

	var res *engine.Result
	var err error
	if c.Action == connectionTest {
		rc, diags := layers.ResolveConnector(rt.Spec, s.Connector, o)
		if err := diags.Err(); err != nil {
			t.Fatal(err)
		}
		res, err = rt.Engine().TestConnection(context.Background(), engine.NewConnectorPlan(rc), &conn, engine.RunOptions{Log: true})
	} else {
		res, err = rt.Run(context.Background(), membrane.RunRequest{
			Connector: s.Connector, Action: c.Action, Connection: conn, Overrides: []*spec.ConnectionOverride{o},
			Input: c.Input, Options: engine.RunOptions{Log: true},
		})
	}
	var log []engine.Exchange
	if res != nil {
		log = res.Log
	}
	for _, x := range log {
		if !strings.HasPrefix(x.URL, baseURL+"/") && x.URL != baseURL {
			t.Errorf("a request went to %s, not to Prism at %s", x.URL, baseURL)
		}
		if why := prismtest.Rejection(x.Status, x.ResponseHeaders, x.ResponseBody); why != "" {
			t.Errorf("Prism refused %s %s (it breaks %s):\n%s\nrequest body: %s", x.Method, x.URL, srv.File, why, x.RequestBody)
		}
	}
	if t.Failed() {
		return
	}
	if c.Error != "" {
		if got := engine.TypeOf(err); string(got) != c.Error {
			t.Fatalf("want a %s error, got %v (output %v)", c.Error, err, outputOf(res))
		}
		if len(log) == 0 {
			t.Errorf("the %s error came before anything was sent: %v", c.Error, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v\nexchanges: %s", err, exchanges(log))
	}
	if len(log) == 0 {
		t.Fatal("nothing was sent")
	}
	t.Logf("%d requests, all accepted by Prism", len(log))
	if c.Action == connectionTest {
		// A connection test's output is what it learnt (auth.info).
		checkOutputFields(t, res.Info, c.Output)
		return
	}
	out, ok := res.Output.(map[string]any)
	if !ok {
		t.Fatalf("output %T, want an object", res.Output)
	}
	if a := rt.Spec.Actions[s.Connector][c.Action]; a != nil && a.Implements != "" {
		checkContract(t, rt.Spec, a.Implements, contractFields(rt.Spec, a, out))
	}
	checkOutputFields(t, out, c.Output)
}

// checkOutputFields checks that out has each of want's fields, equal.
func checkOutputFields(t *testing.T, out, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if got := out[k]; !reflect.DeepEqual(normalizeJSON(got), normalizeJSON(w)) {
			t.Errorf("output %s = %#v, want %#v", k, got, w)
		}
	}
}

// contractFields leaves out of an implementation's output the fields its
// own outputSchema adds to the universal contract (Slack's ts, Twilio's
// status): an implementation may add fields, never change the contract's.
func contractFields(ws *spec.Workspace, a *spec.Action, out map[string]any) map[string]any {
	ua := ws.UniversalActions[a.Implements]
	if ua == nil || a.OutputSchema.IsZero() {
		return out
	}
	contract, own := ua.Output.Value.Get("properties"), a.OutputSchema.Value.Get("properties")
	kept := map[string]any{}
	for k, v := range out {
		if contract.Get(k) == nil && own.Get(k) != nil {
			continue
		}
		kept[k] = v
	}
	return kept
}

func outputOf(res *engine.Result) any {
	if res == nil {
		return nil
	}
	return res.Output
}

func exchanges(log []engine.Exchange) string {
	var b strings.Builder
	for _, x := range log {
		fmt.Fprintf(&b, "\n  %s %s -> %d %s", x.Method, x.URL, x.Status, x.ResponseBody)
	}
	return b.String()
}

// normalizeJSON gives a value as JSON decodes it, so YAML's ints and the
// engine's numbers compare.
func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
