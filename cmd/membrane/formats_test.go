package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRunRefusesABadFormat: `membrane run` holds the input to the formats
// of its schema (the quickstart's create-contact takes an email), names
// the violation at its JSON pointer and sends nothing.
func TestRunRefusesABadFormat(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id": "cus_1"}`))
	}))
	t.Cleanup(srv.Close)
	args := []string{"run", "create-contact", "--connector", "stripe", "--dir", quickstart, "--base-url", srv.URL, "--allow-private", "--credential", "apiKey=sk_test"}

	r := runCmdLine(t, "", append(args, "--input", `{"email": "not-an-email"}`)...)
	wantFailure(t, r, exitFail, "membrane: invalid-input:", "nothing was sent", "/email: 'not-an-email' is not valid email")
	if hits.Load() != 0 {
		t.Errorf("the API received %d requests for a bad email", hits.Load())
	}
	r = runCmdLine(t, "", append(args, "--input", `{"email": "ada@example.com"}`)...)
	wantOutput(t, r, map[string]any{"id": "cus_1"})
}

// TestTestRefusesABadFormat: under `membrane test` a case that sends a bad
// email fails with the violation at its pointer, and a case may expect
// the refusal.
func TestTestRefusesABadFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(quickstart)); err != nil {
		t.Fatal(err)
	}
	cases := `kind: ConnectorTest
connector: stripe
connection:
  credentials: {apiKey: sk_test}
cases:
  - name: a bad email is sent
    action: create-contact
    input: {email: not-an-email}
    requests:
      - {method: POST, path: /v1/customers}
    responses:
      - body: {id: cus_1}
    output: {id: cus_1}
  - name: a bad email is refused
    action: create-contact
    input: {email: not-an-email}
    error: {type: invalid-input, message: "/email: 'not-an-email' is not valid email"}
`
	if err := os.WriteFile(filepath.Join(dir, "connectors/stripe/tests/formats.yaml"), []byte(cases), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "test", "--run", "bad email", dir)
	want := "      error: want success, got invalid-input: the input does not match the action's input schema; nothing was sent\n" +
		"        /email: 'not-an-email' is not valid email: missing @\n"
	if code != exitFail || !strings.Contains(stdout, "FAIL  stripe/create-contact/a bad email is sent") || !strings.Contains(stdout, want) ||
		!strings.Contains(stdout, "FAIL: 1 passed, 1 failed, 2 cases") {
		t.Errorf("exit %d, printed:\n%s%s\nwant the first case to fail with:\n%s", code, stdout, stderr, want)
	}
}
