package engine_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// A universal contract with formats, an implementation that adds a field
// with a format of its own, and output formats checked on the way back.
var formatFiles = map[string]string{
	"connector.yaml": connector(""),
	"universal.yaml": `kind: UniversalAction
key: create-contact
input:
  type: object
  required: [email]
  properties:
    email: {type: string, format: email}
    website: {type: string, format: uri}
    secret: {type: string, format: password}
output:
  type: object
  required: [id]
  properties:
    id: {type: string}
    createdAt: {type: string, format: date-time}
`,
	"create.yaml": `kind: Action
connector: test
key: create-contact
implements: create-contact
inputSchema:
  properties:
    birthday: {type: string, format: date}
request:
  method: POST
  path: /contacts
  body: {email: "${ input.email }"}
output:
  id: ${ response.body.id }
  createdAt: ${ response.body.created }
`,
}

// TestInputFormatsAsserted: `format` is a constraint on input, as the
// connect page's and the console's forms treat it: "not-an-email" for an
// email field is refused at its JSON pointer and nothing is sent.
func TestInputFormatsAsserted(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": "c1", "created": "2024-06-20T10:00:00Z"})
	})
	e := load(t, srv.URL, formatFiles)

	err := e.runErr(t, membrane.RunRequest{Action: "create-contact", Input: map[string]any{
		"email": "not-an-email", "website": "not a url", "birthday": "1815-02-30",
	}}, engine.ErrInvalidInput)
	got := map[string]string{}
	for _, v := range err.Violations {
		got[v.Pointer] = v.Message
	}
	for ptr, word := range map[string]string{"/email": "email", "/website": "uri", "/birthday": "date"} {
		if !strings.Contains(got[ptr], word) {
			t.Errorf("violation at %s = %q, want one naming %s; all: %+v", ptr, got[ptr], word, err.Violations)
		}
	}
	if n := srv.n(); n != 0 {
		t.Errorf("the server received %d requests for an invalid input", n)
	}

	// Valid values pass; a format the validator does not know (password)
	// stays an annotation.
	out := e.mustRun(t, membrane.RunRequest{Action: "create-contact", Input: map[string]any{
		"email": "ada@example.com", "website": "https://ada.example", "birthday": "1815-12-10", "secret": "anything at all",
	}})
	if m, _ := out.(map[string]any); m["id"] != "c1" {
		t.Errorf("output = %#v", out)
	}
}

// TestOutputFormatsAsserted: the mapped output is held to the formats of
// the output schema too.
func TestOutputFormatsAsserted(t *testing.T) {
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"id": "c1", "created": "yesterday"})
	})
	e := load(t, srv.URL, formatFiles)
	err := e.runErr(t, membrane.RunRequest{Action: "create-contact", Input: map[string]any{"email": "ada@example.com"}}, engine.ErrInvalidOutput)
	if len(err.Violations) != 1 || err.Violations[0].Pointer != "/createdAt" || !strings.Contains(err.Violations[0].Message, "date-time") {
		t.Errorf("violations = %+v, want one at /createdAt naming date-time", err.Violations)
	}
}
