package conntest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
)

const recordShop = `kind: Connector
key: shop
baseUrl: https://api.shop.invalid
auth: {type: apiKey, in: header, name: Authorization, value: "Bearer ${ credentials.apiKey }"}
---
kind: Action
connector: shop
key: get-order
request: {path: "/orders/${ input.id }"}
output: {id: "${ response.body.id }"}
`

const recordTests = `# Orders, recorded from the shop's sandbox.
kind: ConnectorTest
connector: shop
action: get-order
connection:
  credentials: {apiKey: env:SHOP_KEY}   # never written down
cases:
  - name: gets an order
    input: {id: o_1}
    # what the sandbox answered last time
    responses:
      - {status: 500, body: stale}
    output: {id: o_1}

  # a case with no responses yet
  - name: gets another
    input: {id: o_2}
    output: {id: o_2}
---
kind: ConnectorTest
connector: shop
action: get-order
connection: {credentials: {apiKey: literal_key_1}}
cases:
  - {name: flow style, input: {id: o_3}}
`

const recorded = `# Orders, recorded from the shop's sandbox.
kind: ConnectorTest
connector: shop
action: get-order
connection:
  credentials: {apiKey: env:SHOP_KEY}   # never written down
cases:
  - name: gets an order
    input: {id: o_1}
    # what the sandbox answered last time
    responses:
      - status: 200
        headers:
          Content-Type: application/json
        body:
          id: o_1
          note: seen with [redacted]
          session:
            access_token: '[redacted]'
            n: 1
    output: {id: o_1}

  # a case with no responses yet
  - name: gets another
    input: {id: o_2}
    output: {id: o_2}
    responses:
      - status: 200
        headers:
          Content-Type: application/json
        body:
          id: o_2
          note: seen with [redacted]
          session:
            access_token: '[redacted]'
            n: 1
---
kind: ConnectorTest
connector: shop
action: get-order
connection: {credentials: {apiKey: literal_key_1}}
cases:
  - {name: flow style, input: {id: o_3}}
`

// TestRecord records from a fake "real API" (the transport is the only
// thing replaced) and checks the file byte for byte: comments and layout
// kept, responses replaced or added, the key and tokens redacted, and the
// flow-style case refused with its position.
func TestRecord(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(recordShop), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tests.yaml")
	if err := os.WriteFile(file, []byte(recordTests), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	const secret = "sk_live_supersecret123"
	up := newUpstream()
	defer up.Close()
	api := &exchanges{}
	for range 2 {
		api.responses = append(api.responses, canned{status: 200, headers: [][2]string{{"Content-Type", "application/json"}, {"Date", "today"}}})
	}
	api.responses[0].body = []byte(`{"id":"o_1","note":"seen with ` + secret + `","session":{"access_token":"tok_abc","n":1}}`)
	api.responses[1].body = []byte(`{"id":"o_2","note":"seen with ` + secret + `","session":{"access_token":"tok_abc","n":1}}`)
	dial, release := up.register(api)
	defer release()

	rec, err := Record(context.Background(), ws, Cases(ws, nil), RecordOptions{
		Getenv: func(name string) (string, bool) { return secret, name == "SHOP_KEY" },
		Dial:   dial,
	})
	if err == nil || !strings.Contains(err.Error(), "tests.yaml:25:12: shop/get-order/flow style") || !strings.Contains(err.Error(), "block style") {
		t.Errorf("the flow-style case: err = %v", err)
	}
	if len(rec) != 1 || rec[0].Responses != 2 {
		t.Errorf("recorded %+v", rec)
	}
	got, _ := os.ReadFile(file)
	if string(got) != recorded {
		t.Errorf("the file reads:\n%s\nwant:\n%s", got, recorded)
	}
	sent := api.requests()
	if len(sent) < 2 || sent[0].Header.Get("Authorization") != "Bearer "+secret {
		t.Errorf("the API got %+v, want the key from the environment", sent)
	}

	// What was recorded passes offline.
	ws, diags = layers.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := New(ws, Options{})
	defer r.Close()
	for _, res := range r.Run(context.Background(), Cases(ws, nil)[:2]) {
		if !res.Passed() {
			t.Errorf("%s: %v", res.Case.Name, res.Failures)
		}
	}
}

func TestRecordNeedsTheVariable(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(recordShop), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "tests.yaml"), []byte(recordTests), 0o644)
	ws, _ := layers.Load(dir)
	_, err := Record(context.Background(), ws, Cases(ws, nil)[:1], RecordOptions{
		Getenv: func(string) (string, bool) { return "", false },
		Dial:   func(string) (net.Conn, error) { t.Fatal("dialed"); return nil, nil },
	})
	want := "tests.yaml:8:11: shop/get-order/gets an order: credential apiKey reads env:SHOP_KEY, which is not set; export SHOP_KEY to record"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("err = %v, want …%s", err, want)
	}
}

// TestRecordConcurrent records a forEach whose eight requests reach the
// API in the reverse of the order the case lists them: the responses are
// written in the listed order, so the case replays as recorded.
func TestRecordConcurrent(t *testing.T) {
	ws := loadFanOut(t, `kind: ConnectorTest
connector: crm
action: get-many
cases:
  - name: eight at once
    input: {ids: [a, b, c, d, e, f, g, h]}
    requests:
      - {path: /contacts/a}
      - {path: /contacts/b}
      - {path: /contacts/c}
      - {path: /contacts/d}
      - {path: /contacts/e}
      - {path: /contacts/f}
      - {path: /contacts/g}
      - {path: /contacts/h}
    output: {names: [A, B, C, D, E, F, G, H]}
`)
	file := ws.Tests[0].Source.File
	up := newUpstream()
	defer up.Close()
	api := newExchanges(ws.Tests[0].Cases[0].Requests, nil)
	for _, name := range "ABCDEFGH" {
		api.responses = append(api.responses, canned{status: 200, headers: [][2]string{{"Content-Type", "application/json"}},
			body: []byte(`{"name":"` + string(name) + `"}`)})
	}
	g := &gate{n: 8}
	api.arrive = g.arrive
	dial, release := up.register(api)
	defer release()
	if _, err := Record(context.Background(), ws, Cases(ws, nil), RecordOptions{Dial: dial}); err != nil {
		t.Fatal(err)
	}
	if g.next != 8 {
		t.Fatalf("%d requests went through the gate, want 8", g.next)
	}

	ws, diags := layers.Load(filepath.Dir(file))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := New(ws, Options{})
	defer r.Close()
	if res := r.Run(context.Background(), Cases(ws, nil)); !res[0].Passed() {
		data, _ := os.ReadFile(file)
		t.Errorf("the recorded case fails:\n%s\n%s", strings.Join(res[0].Failures, "\n"), data)
	}
}
