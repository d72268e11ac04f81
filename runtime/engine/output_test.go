package engine_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
)

// An upstream that echoes the credential in its answer: the output hides
// it as the log does, wherever it lands (a mapped field, the raw body, a
// key, an array), and so does the error of a refused call.
func TestOutputHidesEchoedCredential(t *testing.T) {
	const key = "sk_live_echoed_0123456789"
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		got := r.Header.Get("X-Api-Key")
		if r.URL.Path == "/refuse" {
			writeJSON(w, 400, map[string]any{"error": "bad request made with " + got})
			return
		}
		writeJSON(w, 200, map[string]any{"id": "c_1", "debug": "called with " + got, "list": []any{"ok", got}, got: true, "n": 7})
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: apiKey, in: header, name: X-Api-Key}\n"),
		"raw.yaml":       "kind: Action\nconnector: test\nkey: raw\nrequest: {path: /x}\n",
		"mapped.yaml":    "kind: Action\nconnector: test\nkey: mapped\nrequest: {path: /x}\noutput: {id: '${ response.body.id }', echo: '${ response.body.debug }'}\n",
		"refuse.yaml":    "kind: Action\nconnector: test\nkey: refuse\nrequest: {path: /refuse}\n",
	})
	conn := engine.Connection{Credentials: map[string]any{"apiKey": key}}
	raw := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "raw", Connection: conn}))
	if strings.Contains(raw, key) || !strings.Contains(raw, `"debug":"called with [redacted]"`) || !strings.Contains(raw, `"list":["ok","[redacted]"]`) ||
		!strings.Contains(raw, `"[redacted]":true`) || !strings.Contains(raw, `"n":7`) || !strings.Contains(raw, `"id":"c_1"`) {
		t.Errorf("raw output %s", raw)
	}
	mapped := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "mapped", Connection: conn}))
	if mapped != `{"echo":"called with [redacted]","id":"c_1"}` {
		t.Errorf("mapped output %s", mapped)
	}
	res, err := e.run(t, membrane.RunRequest{Action: "refuse", Connection: conn, Options: engine.RunOptions{Log: true}})
	got := mustType(t, err, engine.ErrInvalidInput)
	if all := everything(t, res, err); strings.Contains(all, key) || !strings.Contains(got.Body, "[redacted]") {
		t.Errorf("refused run shows the key: %s", all)
	}
}

// A redirect to another origin is never followed with the credentials,
// and is a failed run naming the status and the host, not a success with
// an empty output.
func TestRedirectToAnotherOriginFails(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		writeJSON(w, 200, map[string]any{"stolen": r.Header.Get("X-Api-Key")})
	}))
	t.Cleanup(other.Close)
	otherHost := strings.TrimPrefix(other.URL, "http://")
	srv := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/moved":
			w.Header().Set("Location", other.URL+"/download?token=tok_SECRET_in_query")
			w.WriteHeader(http.StatusFound)
		case "/nowhere":
			w.WriteHeader(http.StatusMovedPermanently)
		case "/here":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect) // same origin: followed
		default:
			writeJSON(w, 200, map[string]any{"id": "c_1"})
		}
	})
	e := load(t, srv.URL, map[string]string{
		"connector.yaml": connector("auth: {type: apiKey, in: header, name: X-Api-Key}\n"),
		"moved.yaml":     "kind: Action\nconnector: test\nkey: moved\nrequest: {path: /moved}\n",
		"nowhere.yaml":   "kind: Action\nconnector: test\nkey: nowhere\nrequest: {path: /nowhere}\n",
		"here.yaml":      "kind: Action\nconnector: test\nkey: here\nrequest: {path: /here}\n",
		"mapped.yaml": "kind: Action\nconnector: test\nkey: mapped\nrequest: {path: /moved}\n" +
			"errors:\n  - {status: [302], type: not-found, message: 'the export moved'}\n",
	})
	conn := engine.Connection{Credentials: map[string]any{"apiKey": "sk_live_0123456789"}}
	got := e.runErr(t, membrane.RunRequest{Action: "moved", Connection: conn}, engine.ErrUpstream)
	if got.Status != 302 || !strings.Contains(got.Message, "302") || !strings.Contains(got.Message, "host "+otherHost) ||
		strings.Contains(got.Error(), "tok_SECRET") || strings.Contains(got.Error(), "/download") {
		t.Errorf("moved: %v", got)
	}
	got = e.runErr(t, membrane.RunRequest{Action: "nowhere", Connection: conn}, engine.ErrUpstream)
	if got.Status != 301 || !strings.Contains(got.Message, "without a Location header") {
		t.Errorf("nowhere: %v", got)
	}
	if out := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "here", Connection: conn})); out != `{"id":"c_1"}` {
		t.Errorf("same-origin redirect: %s", out)
	}
	// An error rule for the status still decides first.
	got = e.runErr(t, membrane.RunRequest{Action: "mapped", Connection: conn}, engine.ErrNotFound)
	if got.Message != "the export moved" {
		t.Errorf("mapped: %v", got)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the other origin got %d requests", n)
	}
}
