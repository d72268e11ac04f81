package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestKindsAPI(t *testing.T) {
	want := []string{"Connector", "UniversalAction", "UniversalEvent", "Action", "Event", "ConnectionOverride", "Workspace", "ConnectorTest"}
	if got := Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	if got := FileName("UniversalAction"); got != "universal-action.schema.json" {
		t.Errorf("FileName(UniversalAction) = %q", got)
	}
	if got := URL("ConnectionOverride"); got != "https://membrane.dev/schemas/connection-override.schema.json" {
		t.Errorf("URL(ConnectionOverride) = %q", got)
	}
	if FileName("Nope") != "" || URL("Nope") != "" {
		t.Error("unknown kind has a file name or URL")
	}
	if _, ok := Get("Nope"); ok {
		t.Error("Get(Nope) found a schema")
	}
	embedded, _ := filepath.Glob("*.json")
	for _, k := range Kinds() {
		b, ok := Get(k)
		if !ok || len(b) == 0 {
			t.Errorf("Get(%s) failed", k)
		}
		if Raw(k)["$id"] != URL(k) {
			t.Errorf("Raw(%s)[$id] = %v", k, Raw(k)["$id"])
		}
		embedded = slices.DeleteFunc(embedded, func(f string) bool { return f == FileName(k) })
	}
	if len(embedded) > 0 {
		t.Errorf("schema files that belong to no kind: %v", embedded)
	}
}

// TestMetaschema validates each file against the draft 2020-12 metaschema
// and compiles them all.
func TestMetaschema(t *testing.T) {
	c := jsonschema.NewCompiler()
	meta, err := c.Compile("https://json-schema.org/draft/2020-12/schema")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		b, _ := Get(k)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", FileName(k), err)
		}
		if err := meta.Validate(doc); err != nil {
			t.Errorf("%s: %v", FileName(k), err)
		}
	}
	m, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		if m[k] == nil {
			t.Errorf("Compile() lacks %s", k)
		}
	}
	m2, _ := Compile()
	if m2["Action"] != m["Action"] {
		t.Error("Compile() compiled twice")
	}
}

// TestConventions checks what editors and authors rely on: header keywords,
// a description on every property, `kind` as a const, and closed objects.
func TestConventions(t *testing.T) {
	for _, k := range Kinds() {
		raw := Raw(k)
		if raw["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v", k, raw["$schema"])
		}
		for _, kw := range []string{"title", "description"} {
			if s, _ := raw[kw].(string); s == "" {
				t.Errorf("%s: no %s", k, kw)
			}
		}
		if c := raw["properties"].(map[string]any)["kind"].(map[string]any)["const"]; c != k {
			t.Errorf("%s: kind const = %v", k, c)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case []any:
				for i, s := range v {
					walk(path+"/"+itoa(i), s)
				}
			case map[string]any:
				if props, ok := v["properties"].(map[string]any); ok && !strings.Contains(path, "/if") {
					open := false
					for name, p := range props {
						if ps, ok := p.(map[string]any); ok {
							open = true
							if d, _ := ps["description"].(string); d == "" {
								t.Errorf("%s: %s/properties/%s has no description", k, path, name)
							}
						}
					}
					// Objects of ours are closed, directly or in every branch
					// of their discriminated union; patches (whose properties
					// are all false) stay open.
					if open && v["additionalProperties"] != false && !closedBranches(v) {
						t.Errorf("%s: %s is not closed (additionalProperties: false)", k, path)
					}
				}
				for kw, s := range v {
					walk(path+"/"+kw, s)
				}
			}
		}
		walk("#", raw)
	}
}

func closedBranches(v map[string]any) bool {
	all, _ := v["allOf"].([]any)
	for _, b := range all {
		then, _ := b.(map[string]any)["then"].(map[string]any)
		if then == nil || then["additionalProperties"] != false {
			return false
		}
	}
	return len(all) > 0
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestValid validates every document of testdata/valid against the schema
// of its kind.
func TestValid(t *testing.T) {
	m, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/valid/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	covered := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		k, _ := doc.(map[string]any)["kind"].(string)
		covered[k] = true
		if m[k] == nil {
			t.Fatalf("%s: unknown kind %q", f, k)
		}
		if err := m[k].Validate(doc); err != nil {
			t.Errorf("%s: %v\n%v", f, err, Issues(err))
		}
	}
	for _, k := range Kinds() {
		if !covered[k] {
			t.Errorf("no valid document of kind %s", k)
		}
	}
}

type rawLeaf struct{ loc, msg string }

func rawLeaves(e *jsonschema.ValidationError, out *[]rawLeaf) {
	if len(e.Causes) == 0 {
		*out = append(*out, rawLeaf{Issue{Path: e.InstanceLocation}.Pointer(), e.ErrorKind.LocalizedString(printer)})
	}
	for _, c := range e.Causes {
		rawLeaves(c, out)
	}
}

func TestInvalid(t *testing.T) {
	m, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	const (
		conn   = `"kind":"Connector","key":"crm","baseUrl":"https://api.example.com"`
		action = `"kind":"Action","connector":"crm","key":"create-contact"`
		req    = `"request":{"path":"/contacts"}`
		event  = `"kind":"Event","connector":"crm","key":"contact-changed"`
	)
	cases := []struct {
		name, kind, doc string
		// What Issues reports: the location, a part of the message.
		at, msg string
		// What the library reports in a leaf of its error tree.
		rawAt, rawMsg string
	}{
		{"unknown key at top level", "Connector", `{` + conn + `,"baseURL":"x"}`,
			"/baseURL", "property 'baseURL' is not allowed; did you mean 'baseUrl'?",
			"", "additional properties 'baseURL' not allowed"},
		{"unknown key inside auth", "Connector", `{` + conn + `,"auth":{"type":"apiKey","in":"header","name":"X-Key","header":"x"}}`,
			"/auth/header", "property 'header' is not allowed",
			"/auth", "additional properties 'header' not allowed"},
		{"key of another auth type", "Connector", `{` + conn + `,"auth":{"type":"apiKey","in":"header","name":"X-Key","tokenUrl":"x"}}`,
			"/auth/tokenUrl", "property 'tokenUrl' is not allowed when type is 'apiKey'",
			"/auth", "additional properties 'tokenUrl' not allowed"},
		{"apiKey auth missing name", "Connector", `{` + conn + `,"auth":{"type":"apiKey","in":"query"}}`,
			"/auth", "missing property 'name' (required when type is 'apiKey')",
			"/auth", "missing property 'name'"},
		{"oauth2 missing tokenUrl", "Connector", `{` + conn + `,"auth":{"type":"oauth2","authorizationUrl":"https://x/authorize"}}`,
			"/auth", "missing property 'tokenUrl' (required when type is 'oauth2')",
			"/auth", "missing property 'tokenUrl'"},
		{"oauth2 authorizationCode missing authorizationUrl", "Connector", `{` + conn + `,"auth":{"type":"oauth2","tokenUrl":"https://x/token"}}`,
			"/auth", "missing property 'authorizationUrl' (required when grant is not 'clientCredentials')",
			"/auth", "missing property 'authorizationUrl'"},
		{"clientCredentials with pkce", "Connector", `{` + conn + `,"auth":{"type":"oauth2","grant":"clientCredentials","tokenUrl":"https://x/token","pkce":true}}`,
			"/auth/pkce", "property 'pkce' is not allowed when grant is 'clientCredentials'",
			"/auth/pkce", "false schema"},
		{"unknown auth type", "Connector", `{` + conn + `,"auth":{"type":"apikey"}}`,
			"/auth/type", "did you mean 'apiKey'?",
			"/auth/type", "value must be one of 'oauth2', 'apiKey', 'basic', 'bearer', 'custom', 'none'"},
		{"action with both request and steps", "Action", `{` + action + `,` + req + `,"steps":[{"name":"a","action":"b"}]}`,
			"/steps", "property 'steps' is not allowed together with 'request'",
			"/steps", "false schema"},
		{"action with neither request nor steps", "Action", `{` + action + `}`,
			"", "missing property 'request' or 'steps'",
			"", "missing property 'request'"},
		{"typo of a top-level key", "Action", `{` + action + `,` + req + `,"ouput":{}}`,
			"/ouput", "did you mean 'output'?",
			"", "additional properties 'ouput' not allowed"},
		{"bad method", "Action", `{` + action + `,"request":{"method":"FETCH","path":"/x"}}`,
			"/request/method", "value must be one of 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'",
			"/request/method", "value must be one of 'GET'"},
		{"lower-case method", "Action", `{` + action + `,"request":{"method":"post","path":"/x"}}`,
			"/request/method", "did you mean 'POST'?",
			"/request/method", "value must be one of"},
		{"bad duration", "Connector", `{` + conn + `,"retry":{"initialBackoff":"5 seconds"}}`,
			"/retry/initialBackoff", "'5 seconds' is not valid: a duration is a number with a unit",
			"/retry/initialBackoff", "'5 seconds' does not match pattern"},
		{"status 700", "Connector", `{` + conn + `,"errors":[{"status":[404,700],"type":"not-found"}]}`,
			"/errors/0/status/1", "700 is too large: the maximum is 599",
			"/errors/0/status/1", "maximum: got 700, want 599"},
		{"event with neither webhook nor polling", "Event", `{` + event + `}`,
			"", "missing property 'webhook' or 'polling'",
			"", "missing property 'webhook'"},
		{"event with both webhook and polling", "Event", `{` + event + `,"webhook":{"records":"${ request.body }","id":"${ record.id }"},"polling":{"request":{"path":"/x"},"id":"${ record.id }"}}`,
			"/polling", "property 'polling' is not allowed together with 'webhook'",
			"/polling", "false schema"},
		{"wrong kind", "Action", `{"kind":"Connector","connector":"crm","key":"x",` + req + `}`,
			"/kind", "value must be 'Action'",
			"/kind", "value must be 'Action'"},
		{"bad key", "Action", `{"kind":"Action","connector":"crm","key":"create contact",` + req + `}`,
			"/key", "'create contact' is not valid: a key starts with a letter or digit",
			"/key", "does not match pattern"},
		{"cursor pagination missing param", "Action", `{` + action + `,` + req + `,"pagination":{"type":"cursor","items":"${ response.body.data }","nextCursor":"${ response.body.next }"}}`,
			"/pagination", "missing property 'param' (required when type is 'cursor')",
			"/pagination", "missing property 'param'"},
		{"link pagination with param", "Action", `{` + action + `,` + req + `,"pagination":{"type":"link","items":"${ response.body.data }","param":"page"}}`,
			"/pagination/param", "property 'param' is not allowed when type is 'link'",
			"/pagination", "additional properties 'param' not allowed"},
		{"items not an expression", "Action", `{` + action + `,` + req + `,"pagination":{"type":"offset","items":"response.body.data","param":"offset"}}`,
			"/pagination/items", "write one CEL expression inside ${ … }",
			"/pagination/items", "does not match pattern"},
		{"requestsPerSecond 0", "Connector", `{` + conn + `,"rateLimit":{"requestsPerSecond":0}}`,
			"/rateLimit/requestsPerSecond", "0 is too small: it must be greater than 0",
			"/rateLimit/requestsPerSecond", "exclusiveMinimum: got 0, want 0"},
		{"maxAttempts 0", "Connector", `{` + conn + `,"retry":{"maxAttempts":0}}`,
			"/retry/maxAttempts", "0 is too small: the minimum is 1",
			"/retry/maxAttempts", "minimum: got 0, want 1"},
		{"bad header name", "Connector", `{` + conn + `,"headers":{"X Bad":"x"}}`,
			"/headers/X Bad", "property 'X Bad' is not allowed: an HTTP header name uses only",
			"/headers", "additional properties 'X Bad' not allowed"},
		{"error rule without status or when", "Connector", `{` + conn + `,"errors":[{"type":"upstream"}]}`,
			"/errors/0", "missing property 'status' or 'when'",
			"/errors/0", "missing property 'status'"},
		{"step with request and action", "Action", `{` + action + `,"steps":[{"name":"a",` + req + `,"action":"b"}]}`,
			"/steps/0/action", "property 'action' is not allowed together with 'request'",
			"/steps/0/action", "false schema"},
		{"step with neither request nor action", "Action", `{` + action + `,"steps":[{"name":"a"}]}`,
			"/steps/0", "missing property 'request', 'action' or 'return'",
			"/steps/0", "missing property 'request'"},
		{"step name not an identifier", "Action", `{` + action + `,"steps":[{"name":"find-contact","action":"b"}]}`,
			"/steps/0/name", "a step name is a CEL identifier",
			"/steps/0/name", "does not match pattern"},
		{"concurrency without forEach", "Action", `{` + action + `,"steps":[{"name":"a","action":"b","concurrency":2}]}`,
			"/steps/0", "missing property 'forEach' (required together with 'concurrency')",
			"/steps/0", "properties 'forEach' required, if 'concurrency' exists"},
		{"type mismatch", "Action", `{` + action + `,"steps":{"name":"a"}}`,
			"/steps", "expected array, got object",
			"/steps", "got object, want array"},
		{"polling items with pagination", "Event", `{` + event + `,"polling":{"request":{"path":"/x"},"id":"${ record.id }","items":"${ response.body }","pagination":{"type":"offset","items":"${ response.body }","param":"o"}}}`,
			"/polling/items", "property 'items' is not allowed together with 'pagination'",
			"/polling/items", "false schema"},
		{"universal action without output", "UniversalAction", `{"kind":"UniversalAction","key":"x","input":{}}`,
			"", "missing property 'output'",
			"", "missing property 'output'"},
		{"connection without tenant", "ConnectionOverride", `{"kind":"ConnectionOverride","connector":"crm","connection":"c1"}`,
			"", "missing property 'tenant' (required together with 'connection')",
			"", "properties 'tenant' required, if 'connection' exists"},
		{"patch changes a key", "ConnectionOverride", `{"kind":"ConnectionOverride","connector":"crm","actions":{"create-contact":{"key":"other"}}}`,
			"/actions/create-contact/key", "property 'key' is not allowed",
			"/actions/create-contact/key", "false schema"},
		{"bad action key in override", "ConnectionOverride", `{"kind":"ConnectionOverride","connector":"crm","actions":{"create contact":{}}}`,
			"/actions/create contact", "property 'create contact' is not allowed: a key starts with a letter or digit",
			"/actions", "additional properties 'create contact' not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			verr := m[c.kind].Validate(doc)
			if verr == nil {
				t.Fatalf("%s validated", c.doc)
			}
			t.Logf("library:\n%v", verr)
			issues := Issues(verr)
			found := false
			for _, i := range issues {
				t.Logf("issue: %s", i)
				if i.Pointer() == c.at && strings.Contains(i.Message, c.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no issue at %q containing %q", c.at, c.msg)
			}
			var leaves []rawLeaf
			var ve *jsonschema.ValidationError
			errors.As(verr, &ve)
			rawLeaves(ve, &leaves)
			if !slices.ContainsFunc(leaves, func(l rawLeaf) bool { return l.loc == c.rawAt && strings.Contains(l.msg, c.rawMsg) }) {
				t.Errorf("no library error at %q containing %q: %v", c.rawAt, c.rawMsg, leaves)
			}
		})
	}
}

func TestIssuesDetails(t *testing.T) {
	m, _ := Compile()
	doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"kind":"Connector","key":"k","baseUrl":"u","auth":{"type":"apiKey","in":"header","name":"n","tokenUrl":"x","nme":"y"}}`))
	issues := Issues(m["Connector"].Validate(doc))
	if len(issues) != 2 {
		t.Fatalf("issues = %v", issues)
	}
	misplaced, typo := issues[1], issues[0]
	if !misplaced.Key || !slices.Equal(misplaced.Path, []string{"auth", "tokenUrl"}) {
		t.Errorf("misplaced = %+v", misplaced)
	}
	if want := []string{"key", "label", "type", "credentials", "test", "info", "in", "name", "value"}; !slices.Equal(misplaced.Allowed, want) {
		t.Errorf("allowed = %v, want %v", misplaced.Allowed, want)
	}
	if typo.Suggestion != "name" || typo.Pointer() != "/auth/nme" {
		t.Errorf("typo = %+v", typo)
	}
	if got := Issues(nil); got != nil {
		t.Errorf("Issues(nil) = %v", got)
	}
	if got := Issues(errors.New("boom")); len(got) != 1 || got[0].Message != "boom" {
		t.Errorf("Issues(other) = %v", got)
	}
}

func TestPropertiesAt(t *testing.T) {
	cases := []struct {
		kind, loc string
		want      []string
	}{
		{"Connector", "https://membrane.dev/schemas/connector.schema.json#/additionalProperties",
			[]string{"kind", "key", "name", "description", "baseUrl", "hosts", "servers", "redirectHosts", "parameters", "auth", "headers", "rateLimit", "retry", "http", "errors"}},
		{"", "https://membrane.dev/schemas/connector.schema.json#/$defs/auth/allOf/1/then/additionalProperties",
			[]string{"key", "label", "type", "credentials", "test", "info", "in", "name", "value"}},
		{"Action", "#/$defs/pagination/allOf/3/then/additionalProperties",
			[]string{"type", "items", "hasMore", "limitParam", "pageSize", "maxPages", "nextCursor"}},
		{"Action", "/$defs/request/additionalProperties",
			[]string{"method", "server", "path", "query", "headers", "body", "encoding", "formLists", "responseFormat", "idempotencyKey"}},
		// A schema URL without the keyword, as in ValidationError.SchemaURL.
		{"Event", "https://membrane.dev/schemas/event.schema.json#/$defs/signature",
			[]string{"algorithm", "header", "encoding", "prefix", "secret", "publicKey", "payload", "signatures", "timestamp", "tolerance", "secretEncoding", "secretPrefix"}},
		// The object holding a union: every branch's names.
		{"Connector", "#/$defs/auth",
			[]string{"key", "label", "type", "credentials", "grant", "authorizationUrl", "tokenUrl", "scopes", "scopeSeparator", "pkce", "authorizationParams", "clientAuth", "in", "name", "value", "username", "password", "token", "login", "headers", "query", "test", "info"}},
		{"Connector", "#/nope", nil},
		{"Nope", "#/additionalProperties", nil},
		{"Connector", "https://example.com/other.json#/additionalProperties", nil},
	}
	for _, c := range cases {
		if got := PropertiesAt(c.kind, c.loc); !slices.Equal(got, c.want) {
			t.Errorf("PropertiesAt(%q, %q) = %v, want %v", c.kind, c.loc, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	issues, err := Validate("Action", map[string]any{"kind": "Action", "connector": "crm", "key": "k", "request": map[string]any{"path": "/x", "method": "GET"}, "retry": map[string]any{"maxAttempts": 3}})
	if err != nil || issues != nil {
		t.Fatalf("Validate(valid) = %v, %v", issues, err)
	}
	issues, err = Validate("Action", map[string]any{"kind": "Action", "connector": "crm", "key": "k", "request": map[string]any{"path": "/x"}, "retry": map[string]any{"maxAttempts": 0}})
	if err != nil || len(issues) != 1 || issues[0].Pointer() != "/retry/maxAttempts" {
		t.Fatalf("Validate(invalid) = %v, %v", issues, err)
	}
	if _, err := Validate("Nope", nil); err == nil {
		t.Error("Validate(unknown kind) succeeded")
	}
}

// TestPatternMessages: every message that says what a pattern wants is for
// a pattern the schemas use, and the schemas carry no editor-only keyword
// for it.
func TestPatternMessages(t *testing.T) {
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["pattern"].(string); ok {
				used[p] = true
			}
			if pp, ok := x["patternProperties"].(map[string]any); ok {
				for p := range pp {
					used[p] = true
				}
			}
			if _, ok := x["patternErrorMessage"]; ok {
				t.Error("a schema uses patternErrorMessage, which strict validators refuse; say it in patternMessages")
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, k := range Kinds() {
		walk(Raw(k))
	}
	for p := range patternMessages {
		if !used[p] {
			t.Errorf("no schema uses the pattern %s", p)
		}
	}
}
