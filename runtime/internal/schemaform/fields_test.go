package schemaform

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/tree"
)

func schemaOf(t *testing.T, v map[string]any) *tree.Value {
	t.Helper()
	s, err := tree.FromInterface(v, tree.Value{}.Pos)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFieldsFromSchema(t *testing.T) {
	s := schemaOf(t, map[string]any{
		"type":     "object",
		"required": []any{"subdomain", "auth"},
		"properties": map[string]any{
			"subdomain":    map[string]any{"type": "string", "default": "acme"},
			"clientSecret": map[string]any{"type": "string", "writeOnly": true, "default": "never-shown"},
			"port":         map[string]any{"type": []any{"integer", "null"}},
			"tls":          map[string]any{"type": "boolean", "default": true},
			"scopes":       map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"extra":        map[string]any{"type": "object"},
			"tier":         map[string]any{"enum": []any{1.0, 2.0}},
			"auth": map[string]any{"type": "object", "required": []any{"user"}, "properties": map[string]any{
				"user": map[string]any{"type": "string", "format": "email"},
			}},
		},
	})
	var b Builder
	fs := b.Fields(s, "/credentials")
	byName := map[string]*Field{}
	WalkLeaves(fs, func(f *Field) { byName[f.Name] = f })
	check := func(name, control, typ string) *Field {
		t.Helper()
		f := byName[name]
		if f == nil || f.Control != control || f.Type != typ {
			t.Fatalf("%s: %+v, want a %s %s", name, f, control, typ)
		}
		return f
	}
	if f := check("/credentials/subdomain", "input", "text"); f.Value != "acme" || !f.Required || f.Label != "Subdomain" {
		t.Errorf("subdomain %+v", f)
	}
	if f := check("/credentials/clientSecret", "input", "password"); f.Value != "" || !f.Secret || f.Label != "Client secret" {
		t.Errorf("a secret shows its default: %+v", f)
	}
	check("/credentials/port", "input", "number")
	if f := check("/credentials/tls", "checkbox", ""); !f.Checked {
		t.Errorf("tls default")
	}
	check("/credentials/scopes", "textarea", "")
	check("/credentials/extra", "textarea", "")
	check("/credentials/tier", "select", "")
	if f := check("/credentials/auth/user", "input", "email"); !f.Required {
		t.Errorf("auth/user is required within auth")
	}

	form := url.Values{
		"/credentials/subdomain":    {" acme2 "},
		"/credentials/clientSecret": {"s3cret-value"},
		"/credentials/port":         {"8443"},
		"/credentials/scopes":       {"read\n\n write \n"},
		"/credentials/extra":        {`{"a": [1]}`},
		"/credentials/tier":         {"1"},
		"/credentials/auth/user":    {"ada@example.com"},
	}
	got := Read(fs, form)["credentials"]
	want := map[string]any{"subdomain": "acme2", "clientSecret": "s3cret-value", "port": 8443.0, "tls": false,
		"scopes": []any{"read", "write"}, "extra": map[string]any{"a": []any{1.0}}, "tier": 2.0,
		"auth": map[string]any{"user": "ada@example.com"}}
	if gj, wj := jsonText(got), jsonText(want); gj != wj {
		t.Errorf("read\n got %s\nwant %s", gj, wj)
	}
	if byName["/credentials/clientSecret"].Value != "" {
		t.Errorf("a secret was kept for the form")
	}
	if !byName["/credentials/tier"].Options[1].Selected {
		t.Errorf("the chosen option is not selected")
	}

	// Violations land on their fields, a missing property on its own.
	b = Builder{}
	fs = b.Fields(s, "/credentials")
	byName = map[string]*Field{}
	WalkLeaves(fs, func(f *Field) { byName[f.Name] = f })
	values := Read(fs, url.Values{"/credentials/port": {"x"}, "/credentials/auth/user": {"nope"}})
	if byName["/credentials/port"].Error != "Enter a number." {
		t.Errorf("port error %q", byName["/credentials/port"].Error)
	}
	rest := PlaceViolations(fs, []schema.Violation{
		{Pointer: "/credentials", Message: "missing property 'subdomain'"},
		{Pointer: "/credentials/port", Message: "got string, want integer"},
		{Pointer: "/credentials/auth/user", Message: "'nope' is not valid email"},
		{Pointer: "/credentials/zzz", Message: "not allowed"},
	}, values)
	if e := byName["/credentials/subdomain"].Error; e != "Subdomain is required." {
		t.Errorf("subdomain error %q", e)
	}
	if e := byName["/credentials/port"].Error; e != "Enter a number." {
		t.Errorf("the form's own error was replaced: %q", e)
	}
	if e := byName["/credentials/auth/user"].Error; !strings.Contains(e, "not valid email") {
		t.Errorf("user error %q", e)
	}
	if len(rest) != 1 || rest[0] != "Not allowed." {
		t.Errorf("form-level errors %q", rest)
	}
}

func TestHumanize(t *testing.T) {
	for in, want := range map[string]string{"apiKey": "Api key", "client_secret": "Client secret", "region": "Region", "baseURL": "Base url"} {
		if got := humanize(in); got != want {
			t.Errorf("humanize(%q) = %q, want %q", in, got, want)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
