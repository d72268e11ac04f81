// Package wsgen writes a large, valid workspace for benchmarks of loading
// and validation: many connectors that each implement a set of universal
// actions, in the styles real APIs come in (auth types, envelopes, paging,
// error bodies), and connection overrides that patch them.
//
// The workspace is deterministic: the same Config gives the same files.
// Every file validates clean (`membrane validate --strict` exits 0).
package wsgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config sizes a workspace.
type Config struct {
	Connectors int // connectors, each in its own directory
	// Actions per connector, one file each; each implements one of the
	// universal actions (there are Actions of those).
	Actions   int
	Overrides int // ConnectionOverride files, each patching one connector
}

// Default is the benchmark of the validate issue: 100 connectors × 10
// actions, 10 universal actions, 50 overrides: 1,160 files.
var Default = Config{Connectors: 100, Actions: 10, Overrides: 50}

// Files returns how many files Write writes for c.
func (c Config) Files() int { return c.Actions + c.Connectors*(1+c.Actions) + c.Overrides }

// Write writes the workspace into dir, which it creates.
func Write(dir string, c Config) error {
	w := writer{dir: dir}
	for u := range c.Actions {
		w.file(fmt.Sprintf("universal/actions/%s.yaml", universalKey(u)), universal(u))
	}
	for i := range c.Connectors {
		st := styles[i%len(styles)]
		w.file(fmt.Sprintf("connectors/%s/connector.yaml", connectorKey(i)), connector(i, st))
		for u := range c.Actions {
			w.file(fmt.Sprintf("connectors/%s/actions/%s.yaml", connectorKey(i), universalKey(u)), action(i, u, st))
		}
	}
	for o := range c.Overrides {
		w.file(fmt.Sprintf("connections/tenant-%03d.yaml", o), override(o, c))
	}
	return w.err
}

type writer struct {
	dir string
	err error
}

func (w *writer) file(name, content string) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.dir, filepath.FromSlash(name))
	if w.err = os.MkdirAll(filepath.Dir(p), 0o755); w.err == nil {
		w.err = os.WriteFile(p, []byte(content), 0o644)
	}
}

func connectorKey(i int) string { return fmt.Sprintf("app%03d", i) }

// The universal actions: a verb on a noun. Their keys and contracts repeat
// every len(verbs)*len(nouns) actions, with a numbered suffix.
var (
	verbs = []string{"create", "get", "list", "update", "delete"}
	nouns = []string{"contact", "company", "deal", "ticket", "note"}
)

func universalKey(u int) string {
	v, n := verbs[u%len(verbs)], nouns[u/len(verbs)%len(nouns)]
	if r := u / (len(verbs) * len(nouns)); r > 0 {
		return fmt.Sprintf("%s-%s-%d", v, n, r)
	}
	return v + "-" + n
}

func verb(u int) string { return verbs[u%len(verbs)] }

func universal(u int) string {
	const record = `
    id: {type: string}
    name: {type: string}
    email: {type: [string, "null"], format: email}
    phone: {type: [string, "null"]}
    owner: {type: [string, "null"]}
    tags: {type: array, items: {type: string}}
    createdAt: {type: [string, "null"], format: date-time}`
	var in, out string
	switch verb(u) {
	case "create":
		in = `
  type: object
  required: [name]
  properties:
    name: {type: string, minLength: 1}
    email: {type: string, format: email}
    phone: {type: string}
    owner: {type: string}
    tags: {type: array, items: {type: string}}`
		out = "\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}"
	case "get":
		in = "\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}"
		out = "\n  type: object\n  required: [id, name]\n  properties:" + record
	case "list":
		in = "\n  type: object\n  properties:\n    query: {type: string}\n    owner: {type: string}"
		out = "\n  type: object\n  required: [items]\n  properties:\n    items:\n      type: array\n      items:\n        type: object\n        required: [id]\n        properties:" +
			strings.ReplaceAll(record, "\n    ", "\n          ")
	case "update":
		in = `
  type: object
  required: [id]
  properties:
    id: {type: string}
    name: {type: string, minLength: 1}
    email: {type: string, format: email}
    phone: {type: string}`
		out = "\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}"
	case "delete":
		in = "\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}"
		out = "\n  type: object\n  required: [id, deleted]\n  properties:\n    id: {type: string}\n    deleted: {type: boolean}"
	}
	return fmt.Sprintf(`# yaml-language-server: $schema=https://membrane.dev/schemas/universal-action.schema.json
kind: UniversalAction
key: %s
name: %s
description: A generated universal action.
input:%s
output:%s
`, universalKey(u), universalKey(u), in, out)
}

// style is how one family of APIs looks: its auth, where it puts records,
// how it pages and what its errors say.
type style struct {
	auth       string // the auth block, indented by two
	params     string // a parameters schema, or ""
	baseURL    string // %s is the connector key
	body       string // the expression of the record in a response, e.g. response.body.data
	list       string // the list of records in a page
	pagination string // the pagination block of list actions
	errMessage string // the expression of an error's message
}

var styles = []style{
	{
		auth: `  type: bearer
  token: ${ credentials.apiKey }
  credentials:
    type: object
    required: [apiKey]
    properties: {apiKey: {type: string, writeOnly: true}}
  test: {method: GET, path: /v1/me}`,
		baseURL: "https://api.%s.example.com", body: "response.body", list: "response.body.data",
		pagination: `  type: cursor
  items: ${ response.body.data }
  hasMore: ${ response.body.has_more }
  param: starting_after
  nextCursor: "${ size(response.body.data) == 0 ? null : response.body.data[size(response.body.data) - 1].id }"
  limitParam: limit
  pageSize: 100`,
		errMessage: "response.body.?error.message.orValue('request failed')",
	},
	{
		auth: `  type: oauth2
  authorizationUrl: https://app.%s.example.com/oauth/authorize
  tokenUrl: https://api.%s.example.com/oauth/token
  scopes: [records.read, records.write]`,
		baseURL: "https://api.%s.example.com", body: "response.body.data", list: "response.body.results",
		pagination: `  type: cursor
  items: ${ response.body.results }
  param: after
  nextCursor: ${ response.body.?paging.next.after.orValue(null) }
  limitParam: limit
  pageSize: 100`,
		errMessage: "response.body.?message.orValue('request failed')",
	},
	{
		auth: `  type: apiKey
  in: header
  name: X-Api-Key
  value: ${ credentials.apiKey }`,
		params:  "\nparameters:\n  type: object\n  required: [subdomain]\n  properties:\n    subdomain: {type: string, pattern: \"^[a-z0-9-]+$\"}",
		baseURL: "https://${ connection.parameters.subdomain }.%s.example.com/api/v2", body: "response.body.record", list: "response.body.records",
		pagination: `  type: page
  items: ${ response.body.records }
  param: page
  hasMore: ${ response.body.page < response.body.total_pages }
  limitParam: per_page
  pageSize: 50`,
		errMessage: "response.body.?errors[0].detail.orValue('request failed')",
	},
	{
		auth:    "  type: basic\n  test: {path: /ping}",
		baseURL: "https://%s.example.com/rest", body: "response.body.result", list: "response.body.result",
		pagination: `  type: offset
  items: ${ response.body.result }
  param: offset
  limitParam: limit
  pageSize: 200`,
		errMessage: "response.body.?error_description.orValue(response.body.?error.orValue('request failed'))",
	},
}

func connector(i int, st style) string {
	key := connectorKey(i)
	auth := st.auth
	if strings.Contains(auth, "%s") {
		auth = strings.ReplaceAll(auth, "%s", key)
	}
	return fmt.Sprintf(`# yaml-language-server: $schema=https://membrane.dev/schemas/connector.schema.json
kind: Connector
key: %s
name: App %03d
description: A generated connector.
baseUrl: %s%s
auth:
%s
headers:
  Accept: application/json
  User-Agent: membrane (%s)
rateLimit: {requestsPerSecond: %d, burst: %d}
retry: {maxAttempts: 3, initialBackoff: 250ms, maxBackoff: 10s}
http: {connectTimeout: 5s, readTimeout: 30s}
errors:
  - status: [400, 422]
    type: invalid-input
    message: ${ %s }
  - status: [401, 403]
    type: auth
    message: ${ %s }
  - status: [404]
    type: not-found
  - when: ${ response.status == 409 || response.body.?code.orValue('') == '%s_conflict' }
    type: conflict
`, key, i, fmt.Sprintf(st.baseURL, key), st.params, auth, key, 5+i%20, 10+i%20, st.errMessage, st.errMessage, key)
}

func action(i, u int, st style) string {
	key := connectorKey(i)
	uk := universalKey(u)
	res := nouns[u/len(verbs)%len(nouns)] + "s"
	head := fmt.Sprintf(`# yaml-language-server: $schema=https://membrane.dev/schemas/action.schema.json
kind: Action
connector: %s
key: %s
implements: %s
`, key, uk, uk)
	b := st.body
	record := func(indent, src string) string {
		r := `id: ${ string(SRC.id) }
name: ${ SRC.?name.orValue('') }
email: ${ SRC.?email.orValue(null) }
phone: ${ SRC.?phone.orValue(null) }
owner: ${ SRC.?owner_id.orValue(null) }
tags: ${ SRC.?tags.orValue([]) }
createdAt: ${ SRC.?created_at.orValue(null) }`
		r = strings.ReplaceAll(r, "SRC", src)
		return indent + strings.ReplaceAll(r, "\n", "\n"+indent)
	}
	switch verb(u) {
	case "create":
		return head + fmt.Sprintf(`request:
  method: POST
  path: /%s
  headers:
    Idempotency-Key: ${ input.name + '-' + string(now) }
  body:
    name: ${ input.name }
    email: ${ input.?email.orValue(null) }
    phone: ${ input.?phone.orValue(null) }
    owner_id: ${ input.?owner.orValue(null) }
    tags: "${ input.?tags.orValue([]).map(t, t.lowerAscii()) }"
    source: membrane-%s
output:
  id: ${ string(%s.id) }
`, res, key, b)
	case "get":
		return head + fmt.Sprintf("request:\n  path: /%s/${ input.id }\noutput:\n%s\n", res, record("  ", b))
	case "list":
		return head + fmt.Sprintf(`request:
  path: /%s
  query:
    q: ${ input.?query.orValue(null) }
    owner_id: ${ input.?owner.orValue(null) }
pagination:
%s
  maxPages: 20
record:
%s
output:
  items: ${ records }
`, res, st.pagination, record("  ", "record"))
	case "update":
		return head + fmt.Sprintf(`request:
  method: PATCH
  path: /%s/${ input.id }
  body:
    name: ${ input.?name.orValue(null) }
    email: ${ input.?email.orValue(null) }
    phone: ${ input.?phone.orValue(null) }
errors:
  - status: [412]
    type: conflict
    message: ${ 'the %s changed meanwhile - ' + string(%s) }
output:
  id: ${ input.id }
`, res, strings.TrimSuffix(res, "s"), st.errMessage)
	default: // delete
		return head + fmt.Sprintf(`request:
  method: DELETE
  path: /%s/${ input.id }
output:
  id: ${ input.id }
  deleted: ${ response.status == 204 || response.status == 200 }
`, res)
	}
}

func override(o int, c Config) string {
	key := connectorKey(o * 7 % c.Connectors)
	return fmt.Sprintf(`# yaml-language-server: $schema=https://membrane.dev/schemas/connection-override.schema.json
kind: ConnectionOverride
tenant: tenant-%03d
connector: %s
description: A custom field of one customer.
actions:
  %s:
    inputSchema:
      properties:
        custom:
          type: object
          properties:
            field%d: {type: string}
    request:
      body:
        custom_field_%d: ${ input.?custom.field%d.orValue(null) }
`, o, key, universalKey(0), o, o, o)
}
