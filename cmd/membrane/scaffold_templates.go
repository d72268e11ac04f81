package main

import (
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

const universalCreateContact = `kind: UniversalAction
key: create-contact
name: Create contact
description: Creates a contact (a person) in the connected app.
input:
  type: object
  required: [email]
  properties:
    email: {type: string, format: email}
    name: {type: string}
output:
  type: object
  required: [id]
  properties:
    id: {type: string}
`

// contract is what a scaffolded action and its test need of a contract:
// an input that satisfies it and the output fields to map.
type contract struct {
	input  [][2]string // field, YAML value
	output [][2]string
}

var universalContract = contract{
	input:  [][2]string{{"email", "ada@example.com"}, {"name", "Ada Lovelace"}},
	output: [][2]string{{"id", `"c_123"`}},
}

// pingContract is the own contract of an action that implements nothing.
var pingContract = contract{
	input:  [][2]string{{"id", `"42"`}},
	output: [][2]string{{"id", `"42"`}},
}

// contractOf derives a sample input and output from a universal action's
// schemas: each required top-level field, with a value of its type.
func contractOf(ua *spec.UniversalAction) contract {
	var c contract
	sample := func(schema *tree.Value) [][2]string {
		var out [][2]string
		props := schema.Get("properties")
		for _, r := range requiredNames(schema) {
			out = append(out, [2]string{r, sampleValue(r, props.Get(r))})
		}
		return out
	}
	if !ua.Input.IsZero() {
		c.input = sample(ua.Input.Value)
	}
	if !ua.Output.IsZero() {
		c.output = sample(ua.Output.Value)
	}
	return c
}

func sampleValue(name string, s *tree.Value) string {
	t := s.Get("type")
	if t != nil && t.Kind == tree.List && len(t.Items) > 0 {
		t = t.Items[0]
	}
	typ := ""
	if t != nil && t.Kind == tree.String {
		typ = t.Str
	}
	switch typ {
	case "integer", "number":
		return "1"
	case "boolean":
		return "true"
	case "object":
		return "{}"
	case "array":
		return "[]"
	case "null":
		return "null"
	}
	if f := s.Get("format"); f != nil && f.Str == "email" {
		return "ada@example.com"
	}
	return fmt.Sprintf("%q", "sample-"+name)
}

// connectorFiles are a connector with API key auth, a ping action and
// its test.
func connectorFiles(key string) []scaffoldFile {
	dir := "connectors/" + key
	conn := fmt.Sprintf(`kind: Connector
key: %[1]s
name: %[1]s
baseUrl: https://api.%[1]s.example.com
auth:
  type: apiKey
  in: header
  name: X-Api-Key
  value: ${ credentials.apiKey }
  test: {method: GET, path: /me}      # a cheap request that proves the key works
errors:
  - status: [404]
    type: not-found
    message: ${ response.body.?message.orValue('not found') }
`, key)
	files := []scaffoldFile{{dir + "/connector.yaml", spec.KindConnector, conn}}
	if key == "example" {
		return files // init adds the action that implements the universal one
	}
	return append(files, actionFiles(dir, key, "ping", "", pingContract, scaffoldAuth(key))...)
}

// testAuth is what a scaffolded test needs of a connector's auth: the
// credentials its connection gives, each read from a variable under
// --record, and the headers that carry them where that is certain.
type testAuth struct {
	credentials [][2]string // field, YAML value
	headers     [][2]string
}

// authOf derives a test's credentials from the connector's auth: each
// required credential (an OAuth2 connection's access token) as env:VAR,
// and, for an API key sent as is in a header, that header.
func authOf(connector string, c *spec.Connector) testAuth {
	var ta testAuth
	if c == nil || c.Auth == nil {
		return ta
	}
	prefix := upperSnake(connector) + "_"
	schema := spec.CredentialsSchema(c.Auth)
	names := requiredNames(schema)
	if c.Auth.Type == spec.AuthOAuth2 && c.Auth.Credentials.IsZero() {
		names = []string{"accessToken"}
	}
	for _, n := range names {
		ta.credentials = append(ta.credentials, [2]string{yamlKey(n), "env:" + prefix + upperSnake(n)})
	}
	a := c.Auth
	if a.Type == spec.AuthAPIKey && a.In != "query" && a.Name != "" && len(names) == 1 && names[0] == "apiKey" {
		if v := strings.Join(strings.Fields(a.Value.Source), " "); v == "" || v == "${ credentials.apiKey }" {
			ta.headers = append(ta.headers, [2]string{yamlKey(a.Name), "env:" + prefix + "API_KEY"})
		}
	}
	return ta
}

// upperSnake turns a name into an environment variable's: apiKey and
// api-key give API_KEY.
func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// yamlKey is a map key as YAML reads it back.
func yamlKey(s string) string {
	if keyPattern.MatchString(s) {
		return s
	}
	return fmt.Sprintf("%q", s)
}

// scaffoldAuth is the test auth of the connector connectorFiles writes.
func scaffoldAuth(key string) testAuth {
	env := "env:" + upperSnake(key) + "_API_KEY"
	return testAuth{credentials: [][2]string{{"apiKey", env}}, headers: [][2]string{{"X-Api-Key", env}}}
}

// actionFiles are an action and its ConnectorTest.
func actionFiles(dir, connector, name, implements string, c contract, auth testAuth) []scaffoldFile {
	var a strings.Builder
	fmt.Fprintf(&a, "kind: Action\nconnector: %s\nkey: %s\n", connector, name)
	if implements != "" {
		fmt.Fprintf(&a, "implements: %s          # takes and gives what the universal action says\n", implements)
		fmt.Fprintf(&a, "request:\n  method: POST\n  path: /%s\n  body: ${ input }\n", name)
	} else {
		a.WriteString("inputSchema:\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}\n")
		a.WriteString("outputSchema:\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}\n")
		fmt.Fprintf(&a, "request:\n  method: GET\n  path: /%s/${ input.id }\n", name)
	}
	a.WriteString("output:\n")
	for _, f := range c.output {
		fmt.Fprintf(&a, "  %s: ${ response.body.%s }\n", f[0], f[0])
	}
	var t strings.Builder
	fmt.Fprintf(&t, "kind: ConnectorTest\nconnector: %s\naction: %s\n", connector, name)
	if len(auth.credentials) > 0 {
		t.WriteString("connection:\n  # Offline the credentials are sent as written; --record reads the variables.\n  credentials:")
		writeFieldsAt(&t, auth.credentials, "    ")
	}
	t.WriteString("cases:\n  - name: works\n    input:")
	writeFields(&t, c.input)
	// A request's path is relative to the connector's base URL.
	t.WriteString("    requests:\n")
	headers := func() {
		if len(auth.headers) > 0 {
			t.WriteString("        headers:")
			writeFieldsAt(&t, auth.headers, "          ")
		}
	}
	if implements != "" {
		fmt.Fprintf(&t, "      - method: POST\n        path: /%s\n", name)
		headers()
		t.WriteString("        body:")
		writeFieldsAt(&t, c.input, "          ")
	} else {
		fmt.Fprintf(&t, "      - method: GET\n        path: /%s/42\n", name)
		headers()
	}
	t.WriteString("    responses:\n      - status: 200\n        body:")
	writeFieldsAt(&t, c.output, "          ")
	t.WriteString("    output:")
	writeFields(&t, c.output)
	return []scaffoldFile{
		{dir + "/actions/" + name + ".yaml", spec.KindAction, a.String()},
		{dir + "/tests/" + name + ".yaml", spec.KindConnectorTest, t.String()},
	}
}

func writeFields(b *strings.Builder, fields [][2]string) { writeFieldsAt(b, fields, "      ") }

func writeFieldsAt(b *strings.Builder, fields [][2]string, pad string) {
	if len(fields) == 0 {
		b.WriteString(" {}\n")
		return
	}
	b.WriteString("\n")
	for _, f := range fields {
		fmt.Fprintf(b, "%s%s: %s\n", pad, f[0], f[1])
	}
}
