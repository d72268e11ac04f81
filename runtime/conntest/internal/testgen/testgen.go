// Package testgen writes a workspace with many ConnectorTest cases, for
// the benchmark of `membrane test` (scripts/bench-test.sh): connectors in
// Stripe's style (bearer auth, form bodies, cursor pages, error rules),
// each with five contact actions, and test files of many cases each that
// cover success, pagination, retries and errors.
//
// The same Config gives the same files; they validate clean and pass.
package testgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config sizes the workspace.
type Config struct {
	Connectors int
	// CasesPerAction is the cases of each of the five actions of each
	// connector.
	CasesPerAction int
}

// Default is the benchmark's: 10 connectors × 5 actions × 20 cases =
// 1,000 cases in 50 test files.
var Default = Config{Connectors: 10, CasesPerAction: 20}

// Cases is how many cases Write writes.
func (c Config) Cases() int { return c.Connectors * len(actions) * c.CasesPerAction }

// Write writes the workspace into dir.
func Write(dir string, c Config) error {
	files := map[string]string{}
	for name, body := range universal {
		files["universal/"+name+".yaml"] = body
	}
	for i := range c.Connectors {
		key := fmt.Sprintf("app%02d", i)
		files["connectors/"+key+"/connector.yaml"] = strings.ReplaceAll(connector, "KEY", key)
		for _, a := range actions {
			files["connectors/"+key+"/actions/"+a.name+".yaml"] = strings.ReplaceAll(a.action, "KEY", key)
			var t strings.Builder
			fmt.Fprintf(&t, "kind: ConnectorTest\nconnector: %s\naction: %s\nconnection:\n  credentials: {apiKey: env:APP_KEY}\ncases:\n", key, a.name)
			for n := range c.CasesPerAction {
				t.WriteString(a.cases[n%len(a.cases)](n))
			}
			files["connectors/"+key+"/tests/"+a.name+".yaml"] = t.String()
		}
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

const connector = `kind: Connector
key: KEY
baseUrl: https://api.KEY.example.com
auth:
  type: bearer
  token: ${ credentials.apiKey }
  credentials: {type: object, required: [apiKey], properties: {apiKey: {type: string}}}
  test: {path: /v1/me}
headers: {Api-Version: "2024-06-20"}
rateLimit: {requestsPerSecond: 25, burst: 25}
retry: {maxAttempts: 3, initialBackoff: 500ms, maxBackoff: 8s}
errors:
  - status: [400]
    type: invalid-input
    message: ${ response.body.?error.message.orValue('refused') }
  - status: [404]
    type: not-found
    message: ${ response.body.?error.message.orValue('no such object') }
`

var universal = map[string]string{
	"create-contact": `kind: UniversalAction
key: create-contact
input: {type: object, required: [email], properties: {email: {type: string}, name: {type: string}}}
output: {type: object, required: [id], properties: {id: {type: string}}}
`,
	"get-contact": `kind: UniversalAction
key: get-contact
input: {type: object, required: [id], properties: {id: {type: string}}}
output: {type: object, required: [id], properties: {id: {type: string}, email: {type: [string, "null"]}, createdAt: {type: string}}}
`,
	"list-contacts": `kind: UniversalAction
key: list-contacts
input: {type: object, properties: {email: {type: string}}}
output: {type: object, required: [items], properties: {items: {type: array, items: {type: object, required: [id], properties: {id: {type: string}, email: {type: [string, "null"]}}}}}}
`,
	"update-contact": `kind: UniversalAction
key: update-contact
input: {type: object, required: [id], properties: {id: {type: string}, email: {type: string}, name: {type: string}}}
output: {type: object, required: [id], properties: {id: {type: string}}}
`,
	"delete-contact": `kind: UniversalAction
key: delete-contact
input: {type: object, required: [id], properties: {id: {type: string}}}
output: {type: object, required: [id, deleted], properties: {id: {type: string}, deleted: {type: boolean}}}
`,
}

type action struct {
	name   string
	action string
	cases  []func(n int) string
}

var actions = []action{
	{"create-contact", `kind: Action
connector: KEY
key: create-contact
implements: create-contact
request:
  method: POST
  path: /v1/customers
  encoding: form
  body:
    email: ${ input.email }
    name: ${ input.?name.orValue(null) }
output:
  id: ${ response.body.id }
`, []func(int) string{
		func(n int) string {
			return fmt.Sprintf(`  - name: creates %[1]d
    input: {email: u%[1]d@example.com, name: User %[1]d}
    requests:
      - method: POST
        path: /v1/customers
        headers: {Authorization: Bearer env:APP_KEY}
        body: {email: u%[1]d@example.com, name: User %[1]d}
    responses:
      - body: {id: cus_%[1]d, object: customer, email: u%[1]d@example.com}
    output: {id: cus_%[1]d}
`, n)
		},
		func(n int) string {
			return fmt.Sprintf(`  - name: refused %[1]d
    input: {email: bad%[1]d}
    responses:
      - status: 400
        body: {error: {message: "Invalid email: bad%[1]d"}}
    error: {type: invalid-input, status: 400, message: Invalid email}
`, n)
		},
	}},
	{"get-contact", `kind: Action
connector: KEY
key: get-contact
implements: get-contact
request:
  path: /v1/customers/${ input.id }
output:
  id: ${ response.body.id }
  email: ${ response.body.?email.orValue(null) }
  createdAt: ${ string(timestamp(int(response.body.created))) }
`, []func(int) string{
		func(n int) string {
			return fmt.Sprintf(`  - name: gets %[1]d
    input: {id: cus_%[1]d}
    requests:
      - {method: GET, path: /v1/customers/cus_%[1]d}
    responses:
      - body: {id: cus_%[1]d, email: u%[1]d@example.com, created: 1680893993}
    output: {id: cus_%[1]d, email: u%[1]d@example.com, createdAt: "2023-04-07T18:59:53Z"}
`, n)
		},
		func(n int) string {
			return fmt.Sprintf(`  - name: misses %[1]d
    input: {id: cus_%[1]d}
    responses:
      - status: 404
        body: {error: {message: "No such customer: cus_%[1]d"}}
    error: {type: not-found, status: 404}
`, n)
		},
	}},
	{"list-contacts", `kind: Action
connector: KEY
key: list-contacts
implements: list-contacts
request:
  path: /v1/customers
  query: {email: "${ input.?email.orValue(null) }"}
pagination:
  type: cursor
  items: ${ response.body.data }
  hasMore: ${ response.body.has_more }
  nextCursor: ${ response.body.data[size(response.body.data) - 1].id }
  param: starting_after
  limitParam: limit
  pageSize: 2
record:
  id: ${ record.id }
  email: ${ record.?email.orValue(null) }
output:
  items: ${ records }
`, []func(int) string{
		func(n int) string {
			return fmt.Sprintf(`  - name: pages %[1]d
    requests:
      - {method: GET, path: /v1/customers, query: {limit: "2"}}
      - {method: GET, path: /v1/customers, query: {limit: "2", starting_after: cus_b%[1]d}}
    responses:
      - body: {has_more: true, data: [{id: cus_a%[1]d, email: a@example.com}, {id: cus_b%[1]d}]}
      - body: {has_more: false, data: [{id: cus_c%[1]d, email: null}]}
    output:
      items: [{id: cus_a%[1]d, email: a@example.com}, {id: cus_b%[1]d, email: null}, {id: cus_c%[1]d, email: null}]
`, n)
		},
		func(n int) string {
			return fmt.Sprintf(`  - name: retries %[1]d
    responses:
      - {status: 503, body: {error: {message: busy}}}
      - body: {has_more: false, data: [{id: cus_%[1]d}]}
    output: {items: [{id: cus_%[1]d, email: null}]}
`, n)
		},
	}},
	{"update-contact", `kind: Action
connector: KEY
key: update-contact
implements: update-contact
request:
  method: POST
  path: /v1/customers/${ input.id }
  encoding: form
  body:
    email: ${ input.?email.orValue(null) }
    name: ${ input.?name.orValue(null) }
output:
  id: ${ response.body.id }
`, []func(int) string{
		func(n int) string {
			return fmt.Sprintf(`  - name: updates %[1]d
    input: {id: cus_%[1]d, name: New %[1]d}
    requests:
      - {method: POST, path: /v1/customers/cus_%[1]d, body: {name: New %[1]d}}
    responses:
      - body: {id: cus_%[1]d, name: New %[1]d}
    output: {id: cus_%[1]d}
`, n)
		},
	}},
	{"delete-contact", `kind: Action
connector: KEY
key: delete-contact
implements: delete-contact
request:
  method: DELETE
  path: /v1/customers/${ input.id }
output:
  id: ${ response.body.id }
  deleted: ${ response.body.deleted }
`, []func(int) string{
		func(n int) string {
			return fmt.Sprintf(`  - name: deletes %[1]d
    input: {id: cus_%[1]d}
    requests:
      - {method: DELETE, path: /v1/customers/cus_%[1]d}
    responses:
      - body: {id: cus_%[1]d, deleted: true}
    output: {id: cus_%[1]d, deleted: true}
`, n)
		},
	}},
}
