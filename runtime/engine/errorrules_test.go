package engine_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// A connector's `when` rule written for one answer shape (Slack's
// {ok: false, error} inside a 200) meets every response of every action:
// a list, a gateway's HTML page, a 404. It maps the answers it is about
// and leaves the others to the rules and defaults that are.
func TestWhenRuleOnlyMatchesTheResponsesItIsAbout(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/okfalse":
			writeJSON(w, 200, map[string]any{"ok": false, "error": "channel_not_found"})
		case "/list":
			writeJSON(w, 200, []any{map[string]any{"id": 1}})
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		case "/gone":
			writeJSON(w, 404, map[string]any{"message": "no such thing"})
		default:
			writeJSON(w, 200, map[string]any{"ok": true})
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`retry: {maxAttempts: 1}
errors:
  - status: [404]
    type: not-found
  - when: ${ response.body.ok == false }
    type: invalid-input
    message: ${ response.body.error }
`),
		"get.yaml": `kind: Action
connector: test
key: get
request: {path: "/${ input.path }"}
`,
	})
	run := func(path string) (*engine.Result, error) {
		return e.run(t, membrane.RunRequest{Action: "get", Input: map[string]any{"path": path}})
	}

	_, err := run("okfalse")
	if got := mustType(t, err, engine.ErrInvalidInput); got.Message != "channel_not_found" || got.Status != 200 {
		t.Errorf("an error inside a 200: %+v", got)
	}
	if res, err := run("list"); err != nil || asJSON(t, res.Output) != `[{"id":1}]` {
		t.Errorf("a list answer, which the rule cannot read: output %v, error %v", res.Output, err)
	}
	if _, err := run("html"); mustType(t, err, engine.ErrUpstream).Status != 502 {
		t.Errorf("a gateway page: %v", err)
	}
	if _, err := run("gone"); mustType(t, err, engine.ErrNotFound).Status != 404 {
		t.Errorf("404: %v", err)
	}
	if res, err := run("fine"); err != nil || asJSON(t, res.Output) != `{"ok":true}` {
		t.Errorf("a success: output %v, error %v", res.Output, err)
	}
}

// A status rule sees only its statuses, and with `when` both must hold.
func TestStatusRuleOnlyOnItsStatuses(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/limited":
			writeJSON(w, 403, map[string]any{"error": "rate_limited"})
		case "/forbidden":
			writeJSON(w, 403, map[string]any{"error": "missing_scope"})
		default:
			writeJSON(w, 200, map[string]any{"error": "rate_limited"})
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`retry: {maxAttempts: 1}
errors:
  - status: [403]
    when: ${ response.body.error == "rate_limited" }
    type: rate-limited
`),
		"get.yaml": "kind: Action\nconnector: test\nkey: get\nrequest: {path: \"/${ input.path }\"}\n",
	})
	run := func(path string) error {
		_, err := e.run(t, membrane.RunRequest{Action: "get", Input: map[string]any{"path": path}})
		return err
	}
	mustType(t, run("limited"), engine.ErrRateLimited)
	mustType(t, run("forbidden"), engine.ErrAuth) // the default for 403
	if err := run("ok"); err != nil {
		t.Errorf("a 200 whose body looks like the 403's: %v", err)
	}
}

// A `when` whose value is not a boolean (the type checker lets a dyn
// through) fails the run at its line instead of being taken as false.
func TestWhenThatIsNotABooleanIsAnError(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"error": "oops"})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector(`errors:
  - when: ${ response.body.error }
    type: upstream
`),
		"get.yaml": "kind: Action\nconnector: test\nkey: get\nrequest: {path: /x}\n",
	})
	got := e.runErr(t, membrane.RunRequest{Action: "get"}, engine.ErrExpression)
	if !strings.Contains(got.Message, "connector.yaml:5:") || !strings.Contains(got.Message, "not a boolean") || strings.Contains(got.Message, "oops") {
		t.Errorf("message = %q", got.Message)
	}
}
