package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// cliResult is what one command line gave.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCmdLine runs `membrane args...` in process with stdin, as main does.
func runCmdLine(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, strings.NewReader(stdin), &out, &errOut)
	return cliResult{code, out.String(), errOut.String()}
}

// The notes workspace (testdata/run/ws): an API key sent in X-Api-Key and
// an account parameter sent in X-Account.
const (
	notesDir    = "testdata/run/ws"
	notesSecret = "nk_live_7f3a9c2e1b8d4f60"
)

// notesRequest is one request the notes server received.
type notesRequest struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
}

// notesAPI is a loopback HTTP server playing the notes app. It echoes the
// API key back in its answers, so a test sees whether -v hides it.
type notesAPI struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []notesRequest
}

func newNotesAPI(t *testing.T) *notesAPI {
	t.Helper()
	a := &notesAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		a.mu.Lock()
		a.reqs = append(a.reqs, notesRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		a.mu.Unlock()

		w.Header().Set("Content-Type", "application/json")
		key := r.Header.Get("X-Api-Key")
		switch {
		case key != notesSecret:
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "bad key " + key})
		case r.Method == "POST" && r.URL.Path == "/notes":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "note_1", "text": body["text"], "createdWith": key})
		case r.Method == "GET" && r.URL.Path == "/notes/note_1":
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "note_1", "text": "hello", "createdWith": key})
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "not found"})
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *notesAPI) requests() []notesRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]notesRequest(nil), a.reqs...)
}

// notesArgs are the flags of a run against the server.
func (a *notesAPI) notesArgs(action string, extra ...string) []string {
	return append([]string{"run", action, "--connector", "notes", "--dir", notesDir,
		"--base-url", a.URL, "--allow-private",
		"--credential", "apiKey=" + notesSecret, "--param", "account=acme"}, extra...)
}

// wantOutput checks a successful run: exit 0, the output JSON on stdout.
func wantOutput(t *testing.T, r cliResult, want map[string]any) {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0\nstderr: %s", r.code, r.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("output %s, want %s", gb, wb)
	}
}

func TestRunInputForms(t *testing.T) {
	api := newNotesAPI(t)
	inputFile := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(inputFile, []byte(`{"text": "from a file", "tags": ["b"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, input, stdin, text string
		tags                     []any
	}{
		{"json", `{"text":"hello","tags":["a"]}`, "", "hello", []any{"a"}},
		{"file", "@" + inputFile, "", "from a file", []any{"b"}},
		{"stdin", "@-", `{"text": "from stdin"}`, "from stdin", []any{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(api.requests())
			r := runCmdLine(t, c.stdin, api.notesArgs("create-note", "--input", c.input)...)
			wantOutput(t, r, map[string]any{"id": "note_1", "text": c.text})
			if r.stderr != "" {
				t.Errorf("stderr without -v: %q", r.stderr)
			}
			reqs := api.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("want one request, got %d", len(reqs))
			}
			req := reqs[0]
			if req.Method != "POST" || req.Path != "/notes" {
				t.Errorf("sent %s %s", req.Method, req.Path)
			}
			// --credential and --param reach the connector's templates.
			if req.Header.Get("X-Api-Key") != notesSecret || req.Header.Get("X-Account") != "acme" {
				t.Errorf("headers %v", req.Header)
			}
			bb, _ := json.Marshal(req.Body)
			wb, _ := json.Marshal(map[string]any{"tags": c.tags, "text": c.text})
			if string(bb) != string(wb) {
				t.Errorf("body %s, want %s", bb, wb)
			}
		})
	}
}

func TestRunVerboseRedacts(t *testing.T) {
	api := newNotesAPI(t)
	r := runCmdLine(t, "", api.notesArgs("create-note", "--input", `{"text":"hello"}`, "-v")...)
	wantOutput(t, r, map[string]any{"id": "note_1", "text": "hello"})
	for _, want := range []string{
		"> POST " + api.URL + "/notes",
		"> X-Api-Key: [redacted]",
		"> X-Account: acme",
		`"text":"hello"`,
		"< 201",
		`"createdWith":"[redacted]"`, // the server's echo of the key
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v output lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, notesSecret) || strings.Contains(r.stdout, notesSecret) {
		t.Errorf("the secret was printed:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	// Headers come out sorted, so two runs' logs compare line by line.
	for _, prefix := range []string{"> ", "< "} {
		if lines := headerLines(r.stderr, prefix); len(lines) < 2 || !slices.IsSorted(lines) {
			t.Errorf("%q headers not sorted: %q", prefix, lines)
		}
	}
}

// headerLines keeps the header lines of -v output with prefix.
func headerLines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, ": ") && !strings.HasPrefix(l, prefix+"{") {
			out = append(out, l)
		}
	}
	return out
}

func TestRunWithOverride(t *testing.T) {
	api := newNotesAPI(t)
	r := runCmdLine(t, "", api.notesArgs("create-note", "--input", `{"text":"hi","pinned":true}`, "--override", "testdata/run/pinned.yaml")...)
	wantOutput(t, r, map[string]any{"id": "note_1", "text": "hi"})
	reqs := api.requests()
	if len(reqs) != 1 || reqs[0].Body["pinned"] != true {
		t.Fatalf("the override's body field was not sent: %+v", reqs)
	}
	// Without the override, `pinned` is not part of the input.
	r = runCmdLine(t, "", api.notesArgs("create-note", "--input", `{"text":"hi"}`)...)
	wantOutput(t, r, map[string]any{"id": "note_1", "text": "hi"})
	if _, ok := api.requests()[1].Body["pinned"]; ok {
		t.Error("pinned was sent without the override")
	}
}

// wantFailure checks a failed run: the exit code, a message on stderr
// holding every want, and nothing on stdout.
func wantFailure(t *testing.T, r cliResult, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstderr: %s", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout on failure: %q", r.stdout)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
}

func TestRunFailures(t *testing.T) {
	api := newNotesAPI(t)

	t.Run("upstream error", func(t *testing.T) {
		r := runCmdLine(t, "", api.notesArgs("get-note", "--input", `{"id":"note_9"}`)...)
		wantFailure(t, r, exitFail, "membrane: not-found: no note note_9", "(status 404)", "[GET "+api.URL+"/notes/note_9]")
	})

	t.Run("refused key", func(t *testing.T) {
		args := api.notesArgs("get-note", "--input", `{"id":"note_1"}`)
		for i, a := range args {
			if a == "apiKey="+notesSecret {
				args[i] = "apiKey=wrong-" + notesSecret
			}
		}
		r := runCmdLine(t, "", append(args, "-v")...)
		wantFailure(t, r, exitFail, "membrane: auth:", "(status 401)", "[redacted]")
		if strings.Contains(r.stderr, notesSecret) {
			t.Errorf("the key was printed: %s", r.stderr)
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		before := len(api.requests())
		r := runCmdLine(t, "", api.notesArgs("create-note", "--input", `{"tags":[1]}`)...)
		wantFailure(t, r, exitFail, "membrane: invalid-input:", "nothing was sent", "text", "/tags/0")
		if len(api.requests()) != before {
			t.Error("an invalid input was sent")
		}
	})

	t.Run("private address refused", func(t *testing.T) {
		before := len(api.requests())
		var args []string
		for _, a := range api.notesArgs("get-note", "--input", `{"id":"note_1"}`) {
			if a != "--allow-private" {
				args = append(args, a)
			}
		}
		r := runCmdLine(t, "", args...)
		wantFailure(t, r, exitFail, "membrane: refused:", "pass --allow-private to reach a local mock or sandbox")
		if len(api.requests()) != before {
			t.Error("a request reached the loopback server without --allow-private")
		}
	})

	t.Run("unknown action", func(t *testing.T) {
		r := runCmdLine(t, "", api.notesArgs("create-note-x")...)
		wantFailure(t, r, exitFail, `has no action "create-note-x"`, `did you mean "create-note"`)
	})

	t.Run("broken workspace", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("kind: Connector\nkey: notes\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runCmdLine(t, "", "run", "x", "--connector", "notes", "--dir", dir)
		wantFailure(t, r, exitFail, "baseUrl", "run 'membrane validate'")
	})
}

func TestRunBadUsage(t *testing.T) {
	api := newNotesAPI(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", api.notesArgs("get-note", "--nope"), "unknown flag: --nope"},
		{"no action", []string{"run", "--connector", "notes", "--dir", notesDir}, "accepts 1 arg(s)"},
		{"no connector", []string{"run", "get-note", "--dir", notesDir}, `"connector" not set`},
		{"unknown connector", []string{"run", "get-note", "--connector", "nots", "--dir", notesDir}, `unknown connector "nots"; did you mean "notes"?`},
		{"credential missing", []string{"run", "get-note", "--connector", "notes", "--dir", notesDir, "--param", "account=acme"}, `connector "notes" needs --credential apiKey=VALUE`},
		{"param missing", []string{"run", "get-note", "--connector", "notes", "--dir", notesDir, "--credential", "apiKey=k"}, `connector "notes" needs --param account=VALUE`},
		{"credential without value", api.notesArgs("get-note", "--credential", "apiKey"), `--credential takes name=value, got "apiKey"`},
		{"param without name", api.notesArgs("get-note", "--param", "=acme"), `--param takes name=value`},
		{"input not JSON", api.notesArgs("get-note", "--input", "{id: note_1}"), "--input: not valid JSON"},
		{"input file missing", api.notesArgs("get-note", "--input", "@testdata/run/missing.json"), "--input: open testdata/run/missing.json"},
		{"workspace missing", []string{"run", "get-note", "--connector", "notes", "--dir", "testdata/run/missing"}, "cannot read"},
		{"override missing", api.notesArgs("get-note", "--override", "testdata/run/missing.yaml"), "cannot read override"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCmdLine(t, "", c.args...)
			wantFailure(t, r, exitUsage, c.want)
		})
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("bad usage sent %d requests", n)
	}
}

func TestExplain(t *testing.T) {
	t.Run("integration", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "create-note", "--connector", "notes", "--dir", notesDir)
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"# integration testdata/run/ws/actions/create-note.yaml:1:1\n",
			"path: /notes # integration testdata/run/ws/actions/create-note.yaml:18:9\n",
			"text: ${ input.text } # integration testdata/run/ws/actions/create-note.yaml:20:11\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "connection") || strings.Contains(r.stdout, "---") {
			t.Errorf("no override given, but:\n%s", r.stdout)
		}
	})

	t.Run("override", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "create-note", "--connector", "notes", "--dir", notesDir, "--override", "testdata/run/pinned.yaml")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"    pinned: # connection testdata/run/pinned.yaml:8:17\n      type: boolean # connection testdata/run/pinned.yaml:8:24\n",
			"    pinned: ${ input.?pinned.orValue(false) } # connection testdata/run/pinned.yaml:11:17\n",
			"    text: ${ input.text } # integration testdata/run/ws/actions/create-note.yaml:20:11\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain lacks %q:\n%s", want, r.stdout)
			}
		}
		// The override patches no connector field: only the action is shown.
		if strings.Contains(r.stdout, "---") {
			t.Errorf("a connector document without a connector patch:\n%s", r.stdout)
		}
	})

	t.Run("base url", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "get-note", "--connector", "notes", "--dir", notesDir, "--base-url", "http://127.0.0.1:9")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		connector, action, ok := strings.Cut(r.stdout, "---\n")
		if !ok {
			t.Fatalf("want the connector, then the action:\n%s", r.stdout)
		}
		if !strings.Contains(connector, "baseUrl: http://127.0.0.1:9 # connection --base-url\n") || !strings.Contains(connector, "X-Account: ${ connection.parameters.account } # integration testdata/run/ws/connector.yaml:") {
			t.Errorf("connector:\n%s", connector)
		}
		if !strings.Contains(action, "key: get-note # integration") {
			t.Errorf("action:\n%s", action)
		}
	})

	t.Run("universal key", func(t *testing.T) {
		// The shipped catalogue: Stripe's action found by the universal key,
		// its contract from the universal layer.
		r := runCmdLine(t, "", "explain", "create-contact", "--connector", "stripe", "--dir", "../../connectors")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"# integration ../../connectors/stripe/actions/create-contact.yaml:",
			"inputSchema: # universal ../../connectors/universal/actions/create-contact.yaml:",
			"    - email # universal ../../connectors/universal/actions/create-contact.yaml:",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("override breaks the contract", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "create-contact", "--connector", "stripe", "--dir", "../../connectors", "--override", "testdata/run/stripe-unrequire.yaml")
		wantFailure(t, r, exitFail, "testdata/run/stripe-unrequire.yaml:7:17: error:", `input field "email" must stay required`, "(the connection layer at testdata/run/stripe-unrequire.yaml:7:17)", "[contract]")
	})

	t.Run("override for another connector", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "create-note", "--connector", "notes", "--dir", notesDir, "--override", "testdata/run/stripe-unrequire.yaml")
		wantFailure(t, r, exitFail, `this override is for connector "stripe", not "notes"`)
	})

	t.Run("unknown action", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "create-nte", "--connector", "notes", "--dir", notesDir)
		wantFailure(t, r, exitFail, `has no action "create-nte"`, `did you mean "create-note"`)
	})

	t.Run("bad usage", func(t *testing.T) {
		wantFailure(t, runCmdLine(t, "", "explain", "create-note", "--dir", notesDir), exitUsage, "--connector is required")
		wantFailure(t, runCmdLine(t, "", "explain", "create-note", "--dir", notesDir, "--tenant", "acme"), exitUsage, "--tenant and --connection go together")
		wantFailure(t, runCmdLine(t, "", "explain", "--connector", "notes", "--dir", notesDir), exitUsage, "accepts 1 arg(s)")
		wantFailure(t, runCmdLine(t, "", "explain", "create-note", "--connector", "notes", "--dir", notesDir, "--bogus"), exitUsage, "unknown flag: --bogus")
	})
}

// explain --event shows an event through its layers: the universal
// record schema, the connector's Event file and the overrides' patches.
func TestExplainEvent(t *testing.T) {
	const quickstart = "../../examples/quickstart"
	t.Run("by universal key", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "--event", "contact-changed", "--connector", "stripe", "--dir", quickstart)
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"# integration ../../examples/quickstart/connectors/stripe/events/contact-changed.yaml:",
			"  interval: 5m # integration ../../examples/quickstart/connectors/stripe/events/contact-changed.yaml:22:13\n",
			"recordSchema: # universal ../../examples/quickstart/universal/events/contact-changed.yaml:",
			"    - id # universal ../../examples/quickstart/universal/events/contact-changed.yaml:",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "connection") || strings.Contains(r.stdout, "---") {
			t.Errorf("no override given, but:\n%s", r.stdout)
		}
	})

	t.Run("override", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "--event", "contact-changed", "--connector", "stripe", "--dir", quickstart, "--override", "testdata/run/stripe-event.yaml")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"  interval: 1m # connection testdata/run/stripe-event.yaml:7:17\n",
			"  phone: ${ record.?phone.orValue(null) } # connection testdata/run/stripe-event.yaml:12:14\n",
			"  email: ${ record.email } # integration ../../examples/quickstart/connectors/stripe/events/contact-changed.yaml:25:10\n",
			"    phone: # connection testdata/run/stripe-event.yaml:10:16\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "---") {
			t.Errorf("a connector document without a connector patch:\n%s", r.stdout)
		}
	})

	t.Run("override breaks the contract", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "--event", "contact-changed", "--connector", "stripe", "--dir", quickstart, "--override", "testdata/run/stripe-event-unrequire.yaml")
		wantFailure(t, r, exitFail, "testdata/run/stripe-event-unrequire.yaml:7:17: error:", `record field "id" must stay required`, "(the connection layer at testdata/run/stripe-event-unrequire.yaml:7:17)", "[contract]")
	})

	t.Run("unknown event", func(t *testing.T) {
		r := runCmdLine(t, "", "explain", "--event", "contact-chnged", "--connector", "stripe", "--dir", quickstart)
		wantFailure(t, r, exitFail, `has no event "contact-chnged"`, `did you mean "contact-changed"`)
		// An action is not an event.
		r = runCmdLine(t, "", "explain", "--event", "create-contact", "--connector", "stripe", "--dir", quickstart)
		wantFailure(t, r, exitFail, `has no event "create-contact"`)
	})

	t.Run("bad usage", func(t *testing.T) {
		wantFailure(t, runCmdLine(t, "", "explain", "create-contact", "--event", "contact-changed", "--connector", "stripe", "--dir", quickstart), exitUsage, `--event names what to explain; drop the argument "create-contact"`)
		wantFailure(t, runCmdLine(t, "", "explain", "--event", "contact-changed", "--dir", quickstart), exitUsage, "--connector is required")
	})

	t.Run("stored connection", func(t *testing.T) {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
		ctx := context.Background()
		st, err := server.OpenStore(ctx, server.Config{Dir: quickstart, Store: dsn}, storetest.Quiet())
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.Tenant("acme").Connections().Create(ctx, store.Connection{Connector: "stripe", Credentials: map[string]any{"apiKey": "sk_test_1"}})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := os.ReadFile("testdata/run/stripe-event.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Tenant("acme").Overrides().Put(ctx, store.Override{Connector: "stripe", ConnectionID: c.ID, Doc: doc}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		r := runCmdLine(t, "", "explain", "--event", "contact-changed", "--dir", quickstart, "--store", dsn, "--tenant", "acme", "--connection", c.ID)
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"  interval: 1m # connection stored override stripe/" + c.ID + " rev 1:7:17\n",
			"  email: ${ record.email } # integration ../../examples/quickstart/connectors/stripe/events/contact-changed.yaml:25:10\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain lacks %q:\n%s", want, r.stdout)
			}
		}
		r = runCmdLine(t, "", "explain", "--event", "contact-chnged", "--dir", quickstart, "--store", dsn, "--tenant", "acme", "--connection", c.ID)
		wantFailure(t, r, exitFail, `has no event "contact-chnged"`, `did you mean "contact-changed"`)
	})
}

// --credential name=env:VAR reads the secret from the environment, so it
// need not be typed where shell history keeps it.
func TestRunCredentialFromEnvironment(t *testing.T) {
	api := newNotesAPI(t)
	t.Setenv("NOTES_TEST_KEY", notesSecret)
	args := []string{"run", "get-note", "--connector", "notes", "--dir", notesDir,
		"--base-url", api.URL, "--allow-private",
		"--credential", "apiKey=env:NOTES_TEST_KEY", "--param", "account=acme", "--input", `{"id":"note_1"}`}
	r := runCmdLine(t, "", args...)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if reqs := api.requests(); len(reqs) != 1 || reqs[0].Header.Get("X-Api-Key") != notesSecret {
		t.Errorf("the API saw %+v, want the key from the environment", reqs)
	}

	args[len(args)-5] = "apiKey=env:NOTES_TEST_KEY_UNSET"
	r = runCmdLine(t, "", args...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "NOTES_TEST_KEY_UNSET is not set") {
		t.Errorf("unset variable: exit %d, stderr %q; want exit 2 naming the variable", r.code, r.stderr)
	}
}

// --base-url moves a connector's servers with its base URL (one mock
// answers every path), and --server moves one server on its own.
func TestRunMovesServers(t *testing.T) {
	api, upload := newPathRecorder(t), newPathRecorder(t)
	base := []string{"run", "upload-file", "--connector", "box", "--dir", "../../connectors", "--allow-private",
		"--credential", "accessToken=box-access-token", "--input", `{"name": "a.txt", "content": "aGk="}`}

	r := runCmdLine(t, "", append(base, "--base-url", api.URL)...)
	if r.code != exitOK || api.last() != "POST /files/content" {
		t.Fatalf("--base-url: exit %d, the mock saw %q\n%s", r.code, api.last(), r.stderr)
	}

	r = runCmdLine(t, "", append(base, "--base-url", api.URL, "--server", "upload="+upload.URL)...)
	if r.code != exitOK || upload.last() != "POST /files/content" || api.count() != 1 {
		t.Fatalf("--server: exit %d, the upload mock saw %q, the API mock %d requests\n%s", r.code, upload.last(), api.count(), r.stderr)
	}

	r = runCmdLine(t, "", append(base, "--server", "uplaod="+upload.URL)...)
	wantFailure(t, r, exitUsage, `--server uplaod: connector "box" has no such server; its servers are upload`, `did you mean "upload"`)
	r = runCmdLine(t, "", append(base, "--server", upload.URL)...)
	wantFailure(t, r, exitUsage, "write NAME=URL")
}

// pathRecorder is an API that answers a Box upload and remembers the
// requests it saw.
type pathRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newPathRecorder(t *testing.T) *pathRecorder {
	p := &pathRecorder{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"total_count": 1, "entries": [{"id": "1", "type": "file", "name": "a.txt", "size": 2}]}`))
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *pathRecorder) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) == 0 {
		return ""
	}
	return p.seen[len(p.seen)-1]
}

func (p *pathRecorder) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}
