package wiregen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// openAPISchemas pairs the object schemas of runtime/api/openapi.json with
// the server types whose JSON they describe. request says the type is
// decoded from a request: its fields are all optional to Go, and the
// document says which the API requires.
var openAPISchemas = []struct {
	schema, from string
	request      bool
	extra        []JSONField // members the type writes by its own MarshalJSON
}{
	{"Problem", "runtime/api.Problem", false, nil},
	{"FieldError", "runtime/api.FieldError", false, nil},
	{"Diagnostic", "spec/diag.Diagnostic", false, nil},
	{"RunError", "runtime/api.RunError", false, nil},
	{"Connection", "runtime/store.Connection", false, nil},
	{"CreateConnectionRequest", "runtime/api.createRequest", true, nil},
	{"ReconnectRequest", "runtime/api.reconnectRequest", true, nil},
	{"Exchange", "runtime/engine.Exchange", false, []JSONField{{Name: "durationMs"}}},
	{"TestResult", "runtime/api.testResponse", false, nil},
	{"AuthorizeRequest", "runtime/api.authorizeRequest", true, nil},
	{"AuthorizeResponse", "runtime/api.authorizeResponse", false, nil},
	{"AuthInfo", "runtime/connections.AuthInfo", false, nil},
	{"ActionSummary", "runtime/connections.ActionSummary", false, nil},
	{"ConnectorInfo", "runtime/connections.ConnectorInfo", false, nil},
	{"ActionInfo", "runtime/connections.ActionInfo", false, nil},
	{"RunRequest", "runtime/api.runRequest", true, nil},
	{"PageInfo", "runtime/engine.PageInfo", false, nil},
	{"RunResult", "runtime/api.runResponse", false, nil},
	{"Override", "runtime/api.overrideBody", false, nil},
	{"PutOverrideResult", "runtime/api.putOverrideBody", false, nil},
	{"CheckResult", "runtime/api.checkBody", false, nil},
	{"Subscription", "runtime/api.subscriptionBody", false, nil},
	{"SubscribeRequest", "runtime/api.subscribeRequest", true, nil},
	{"RunLog", "runtime/store.RunLog", false, nil},
	{"Tenant", "runtime/store.Tenant", false, nil},
	{"Destination", "runtime/api.destinationBody", false, nil},
	{"DestinationWithSecret", "runtime/api.destinationWithSecret", false, nil},
	{"CreateDestinationRequest", "runtime/api.destinationRequest", true, nil},
	{"DestinationPatch", "runtime/api.destinationPatch", true, nil},
	{"RotateSecretRequest", "runtime/api.rotateRequest", true, nil},
	{"DisableDestinationRequest", "runtime/api.disableRequest", true, nil},
	{"Delivery", "runtime/api.deliveryBody", false, nil},
	{"Attempt", "runtime/api.attemptBody", false, nil},
	{"ReplayRequest", "runtime/api.replayRequest", true, nil},
	{"ReplayResult", "runtime/api.replayResponse", false, nil},
	{"EventItem", "runtime/api.eventItem", false, nil},
}

// TestOpenAPIMatchesWireTypes holds the object schemas of openapi.json to
// the server's types: the same members, and, for what the server writes, a
// member is required exactly when its field has neither omitempty nor
// omitzero. The API's tests validate real responses against the document,
// which finds a member the document lacks; this finds one the server no
// longer writes, or a required-ness no response happened to show.
func TestOpenAPIMatchesWireTypes(t *testing.T) {
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "runtime", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
				Required   []string                   `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	covered := map[string]bool{}
	for _, p := range openAPISchemas {
		covered[p.schema] = true
		s, ok := schemas[p.schema]
		if !ok {
			t.Errorf("openapi.json has no components.schemas.%s; update openAPISchemas", p.schema)
			continue
		}
		fields, err := Fields(root, p.from)
		if err != nil {
			t.Fatal(err)
		}
		fields = append(fields, p.extra...)
		var names, required []string
		for _, f := range fields {
			names = append(names, f.Name)
			if !f.OmitEmpty {
				required = append(required, f.Name)
			}
		}
		for _, n := range names {
			if _, ok := s.Properties[n]; !ok {
				t.Errorf("openapi.json: components.schemas.%s lacks %q, which %s writes; describe it", p.schema, n, p.from)
			}
		}
		for n := range s.Properties {
			if !slices.Contains(names, n) {
				t.Errorf("openapi.json: components.schemas.%s describes %q, which %s has not; remove it", p.schema, n, p.from)
			}
		}
		if p.request {
			continue
		}
		slices.Sort(required)
		docRequired := slices.Sorted(slices.Values(s.Required))
		if !slices.Equal(required, docRequired) {
			t.Errorf("openapi.json: components.schemas.%s requires %v; %s always writes %v", p.schema, docRequired, p.from, required)
		}
	}
	for name, s := range schemas {
		if len(s.Properties) > 0 && !covered[name] && !isPage(name, s.Properties) {
			t.Errorf("openapi.json: components.schemas.%s is held to no Go type; add it to openAPISchemas", name)
		}
	}
}

// isPage: a listing's body (runtime/api.list) is items and an optional
// next cursor.
func isPage(name string, props map[string]json.RawMessage) bool {
	_, items := props["items"]
	_, next := props["next"]
	want := 1
	if next {
		want = 2
	}
	return strings.HasSuffix(name, "Page") && items && len(props) == want
}
