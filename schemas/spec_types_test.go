package schemas

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goTypes maps the structs of spec/types.go to the schema objects that
// describe them.
var goTypes = map[string]struct{ kind, ptr string }{
	"Connector":           {"Connector", ""},
	"Auth":                {"Connector", "/$defs/auth"},
	"Login":               {"Connector", "/$defs/login"},
	"RateLimit":           {"Connector", "/$defs/rateLimit"},
	"RetryPolicy":         {"Connector", "/$defs/retry"},
	"HTTPSettings":        {"Connector", "/$defs/http"},
	"ErrorRule":           {"Connector", "/$defs/errorRule"},
	"Pagination":          {"Action", "/$defs/pagination"},
	"Request":             {"Connector", "/$defs/request"},
	"UniversalAction":     {"UniversalAction", ""},
	"UniversalEvent":      {"UniversalEvent", ""},
	"Action":              {"Action", ""},
	"Step":                {"Action", "/$defs/step"},
	"OnError":             {"Action", "/$defs/onError"},
	"Event":               {"Event", ""},
	"Webhook":             {"Event", "/$defs/webhook"},
	"Signature":           {"Event", "/$defs/signature"},
	"WebhookResponse":     {"Event", "/$defs/webhookResponse"},
	"WebhookHandshake":    {"Event", "/$defs/webhookHandshake"},
	"WebhookEnrich":       {"Event", "/$defs/webhookEnrich"},
	"WebhookCall":         {"Event", "/$defs/webhookAction"},
	"Polling":             {"Event", "/$defs/polling"},
	"ConnectionOverride":  {"ConnectionOverride", ""},
	"WorkspaceConfig":     {"Workspace", ""},
	"OAuthClient":         {"Workspace", "/$defs/oauthClient"},
	"Outbound":            {"Workspace", "/$defs/outbound"},
	"RunLogSettings":      {"Workspace", "/$defs/runLogs"},
	"ConnectSettings":     {"Workspace", "/$defs/connect"},
	"TracingSettings":     {"Workspace", "/$defs/tracing"},
	"DeliverySettings":    {"Workspace", "/$defs/delivery"},
	"DeliveryDestination": {"Workspace", "/$defs/destination"},
	"NATSSubject":         {"Workspace", "/$defs/nats"},
	"ConnectorTest":       {"ConnectorTest", ""},
	"TestConnection":      {"ConnectorTest", "/$defs/testConnection"},
	"TestOverride":        {"ConnectorTest", "/$defs/testOverride"},
	"TestCase":            {"ConnectorTest", "/$defs/testCase"},
	"TestRequest":         {"ConnectorTest", "/$defs/testRequest"},
	"TestResponse":        {"ConnectorTest", "/$defs/testResponse"},
	"TestError":           {"ConnectorTest", "/$defs/testError"},
	"TestPoll":            {"ConnectorTest", "/$defs/testPoll"},
	"TestWebhook":         {"ConnectorTest", "/$defs/testWebhook"},
	"TestIncoming":        {"ConnectorTest", "/$defs/testIncoming"},
	"TestChange":          {"ConnectorTest", "/$defs/testChange"},
}

// specTypeFiles hold the Go types of the file kinds.
var specTypeFiles = []string{"../spec/types.go", "../spec/testcase.go"}

// TestMatchesSpecTypes keeps the schemas and the Go types of spec/types.go
// and spec/testcase.go (read as source, so that this package does not
// depend on spec) in step: the same properties in the same order, and a
// property is required exactly when its json tag has neither omitempty nor
// omitzero.
func TestMatchesSpecTypes(t *testing.T) {
	seen := map[string]bool{}
	for _, file := range specTypeFiles {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			// Never a skip: a renamed file would silently end the check.
			t.Fatalf("%s: %v; if the Go types of the file kinds moved, point specTypeFiles at them", file, err)
		}
		inspectSpecTypes(t, f, seen)
	}
	for name := range goTypes {
		if !seen[name] {
			t.Errorf("spec.%s is gone from %v", name, specTypeFiles)
		}
	}
}

func inspectSpecTypes(t *testing.T, f *ast.File, seen map[string]bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		var names, required []string
		for _, fld := range st.Fields.List {
			if fld.Tag == nil {
				continue
			}
			tag, _ := strconv.Unquote(fld.Tag.Value)
			js, ok := reflect.StructTag(tag).Lookup("json")
			if !ok || js == "-" {
				continue
			}
			name, opts, _ := strings.Cut(js, ",")
			names = append(names, name)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
		if len(names) == 0 {
			return false
		}
		seen[ts.Name.Name] = true
		where, ok := goTypes[ts.Name.Name]
		if !ok {
			t.Errorf("spec.%s has no schema: add it to goTypes and to a schema", ts.Name.Name)
			return false
		}
		root := raws()[where.kind]
		toks, _ := pointerTokens(where.ptr)
		sch, _ := walk(root, toks).(*node)
		var props []string
		if p := sch.obj("properties"); p != nil {
			props = p.keys
		}
		if !slices.Equal(props, names) {
			t.Errorf("spec.%s: json fields %v, schema %s#%s properties %v", ts.Name.Name, names, FileName(where.kind), where.ptr, props)
		}
		var req []string
		if l, ok := sch.get("required").([]any); ok {
			for _, r := range l {
				req = append(req, r.(string))
			}
		}
		slices.Sort(req)
		slices.Sort(required)
		if !slices.Equal(req, required) {
			t.Errorf("spec.%s: required by its tags %v, by schema %s#%s %v", ts.Name.Name, required, FileName(where.kind), where.ptr, req)
		}
		return false
	})
}
