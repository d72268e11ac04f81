package layers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/diag"
)

// The test workspace's event: acme's contact-sync implements the universal
// contact-changed; the override adds a region to its record and polls it
// every minute.
const (
	eventFile     = "testdata/ws/acme/events/contact-sync.yaml"
	universalFile = "testdata/ws/universal/contact-changed.yaml"
)

func TestResolveEventWithOverride(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	r, diags := layers.ResolveEvent(ws, "acme", "contact-sync", ws.Overrides[0])
	if len(diags) > 0 || r == nil {
		t.Fatalf("ResolveEvent: %v", diags)
	}
	if r.Event.Key != "contact-sync" || r.Universal == nil || r.Universal.Key != "contact-changed" {
		t.Fatalf("resolved %q implementing %v", r.Event.Key, r.Universal)
	}

	// The record schema: the universal contract, extended by the override.
	for _, p := range []string{"/properties/id", "/properties/email", "/required"} {
		n := r.Record.Lookup(p)
		if n == nil || n.Layer != layers.Universal || n.Pos.File != universalFile {
			t.Errorf("record %s: %+v, want it from the universal layer", p, n)
		}
	}
	region := r.Record.Lookup("/properties/region")
	if region == nil || region.Layer != layers.Connection || region.Pos.File != overrideFile || region.Pos.Line != lineOf(t, overrideFile, "region: {type: string}") {
		t.Errorf("record region: %+v, want it from the connection layer at %s:%d", region, overrideFile, lineOf(t, overrideFile, "region: {type: string}"))
	}
	if got := jsonOf(t, r.Record.Get("required")); got != `["id","email"]` {
		t.Errorf("required = %s", got)
	}

	// The override's values win where they patch, each from its line; the
	// rest stays the integration layer's.
	interval := r.Doc.Lookup("/polling/interval")
	if interval == nil || interval.Str != "1m" || interval.Layer != layers.Connection || interval.Pos.Line != lineOf(t, overrideFile, "interval: 1m") {
		t.Errorf("polling.interval = %+v, want 1m from the override", interval)
	}
	if r.Event.Polling.Interval.String() != "1m0s" {
		t.Errorf("decoded interval = %s", r.Event.Polling.Interval)
	}
	if n := r.Doc.Lookup("/polling/request/path"); n == nil || n.Layer != layers.Integration || n.Pos.File != eventFile {
		t.Errorf("polling.request.path: %+v, want it from the integration layer", n)
	}
	mapped := r.Doc.Lookup("/record/region")
	if mapped == nil || mapped.Layer != layers.Connection || mapped.Pos.Line != lineOf(t, overrideFile, "region: ${") {
		t.Errorf("record.region mapping: %+v", mapped)
	}
	if n := r.Doc.Lookup("/record/email"); n == nil || n.Layer != layers.Integration || n.Pos.Line != lineOf(t, eventFile, "email: ${ record.email }") {
		t.Errorf("record.email mapping: %+v", n)
	}

	// Compiled, with the override's mapping in it.
	if r.Compiled == nil || r.Compiled.PollRequest == nil || r.Compiled.Record == nil {
		t.Fatal("the event is not compiled")
	}
	// The connector patch applies to the event's connector too.
	if r.Connector.BaseURL.Source != "https://eu.api.acme.test" || r.ConnectorDoc.Get("baseUrl").Layer != layers.Connection {
		t.Errorf("baseUrl = %q", r.Connector.BaseURL.Source)
	}

	// Without the override: the integration layer alone, and the
	// workspace's own document untouched.
	plain, diags := layers.ResolveEvent(ws, "acme", "contact-sync")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if plain.Record.Lookup("/properties/region") != nil || plain.Doc.Lookup("/record/region") != nil || plain.Event.Polling.Interval.String() != "5m0s" {
		t.Error("resolving without the override still has its fields")
	}
	if ws.Event("acme", "contact-sync").Source.Doc.Lookup("/record/region") != nil {
		t.Error("ResolveEvent modified the integration document")
	}
}

func TestResolveEventByUniversalKey(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	r, diags := layers.ResolveEvent(ws, "acme", "contact-changed", ws.Overrides[0])
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if r.Event.Key != "contact-sync" || r.Record.Lookup("/properties/region") == nil {
		t.Errorf("resolved %q, region %v: the override must apply by the event's own key", r.Event.Key, r.Record.Lookup("/properties/region"))
	}
	_, diags = layers.ResolveEvent(ws, "acme", "contact-synk")
	if len(diags) != 1 || diags[0].Rule != "unknown-reference" || !strings.Contains(diags[0].Message, `has no event "contact-synk"`) || !strings.Contains(diags[0].Message, `did you mean "contact-sync"`) {
		t.Errorf("misspelt event: %v", diags)
	}
	// An action's key is no event.
	if _, diags = layers.ResolveEvent(ws, "acme", "create-contact"); len(diags) != 1 || diags[0].Rule != "unknown-reference" {
		t.Errorf("an action resolved as an event: %v", diags)
	}
	_, diags = layers.ResolveEvent(ws, "nope", "contact-sync")
	if len(diags) != 1 || diags[0].Rule != "unknown-reference" || !strings.Contains(diags[0].Message, `connector "nope"`) {
		t.Errorf("unknown connector: %v", diags)
	}
}

// TestResolveEventOverridesInOrder applies two overrides: the later wins,
// and a later one may remove what an earlier one added.
func TestResolveEventOverridesInOrder(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	path := t.TempDir() + "/later.yaml"
	writeFile(t, path, `kind: ConnectionOverride
connector: acme
events:
  contact-sync:
    polling:
      interval: 30s
    record:
      region: null
`)
	later := loadOverride(t, path)
	r, diags := layers.ResolveEvent(ws, "acme", "contact-sync", ws.Overrides[0], later)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if n := r.Doc.Lookup("/polling/interval"); n.Str != "30s" || n.Pos.File != path {
		t.Errorf("interval = %q from %s, want the later override's", n.Str, n.Pos)
	}
	if r.Doc.Lookup("/record/region") != nil {
		t.Error("the later override's null did not remove the region mapping")
	}
	if r.Record.Lookup("/properties/region") == nil {
		t.Error("the earlier override's record field is gone")
	}
	// In the other order the earlier file's values stand.
	r, diags = layers.ResolveEvent(ws, "acme", "contact-sync", later, ws.Overrides[0])
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if n := r.Doc.Lookup("/polling/interval"); n.Str != "1m" || n.Pos.File != overrideFile {
		t.Errorf("interval = %q from %s, want %s's", n.Str, n.Pos, overrideFile)
	}
}

// TestResolveEventContract checks that an override that loosens the
// universal event's record schema or mapping is refused at its line.
func TestResolveEventContract(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	for _, c := range []struct {
		file string
		line string // the text of the offending line
		rule string
		msg  string
	}{
		{"event-retype.yaml", "id: {type: integer}", "contract", `record field "id" must stay of type "string"`},
		{"event-unrequire.yaml", "required: [id]", "contract", `record field "email" must stay required`},
		{"event-drop-property.yaml", "email: null", "contract", `record field "email" of the universal contract was removed`},
		{"event-drop-schema.yaml", "recordSchema: null", "contract", "the record schema was removed"},
		{"event-drop-mapping.yaml", "email: null", "contract", `record field "email" of the universal contract is no longer mapped`},
		{"event-drop-record.yaml", "record: null", "contract", "the record mapping was removed"},
		{"event-implements.yaml", "implements: contact-deleted", "contract", `cannot change what event "contact-sync" implements`},
		{"event-bad-expression.yaml", "id: ${ input.id }", "expression", "input"},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := "testdata/broken/" + c.file
			r, diags := layers.ResolveEvent(ws, "acme", "contact-sync", loadOverride(t, path))
			if r != nil {
				t.Errorf("a broken override resolved")
			}
			line := lineOf(t, path, c.line)
			var found *diag.Diagnostic
			for i, d := range diags {
				if d.Rule == c.rule && strings.Contains(d.Message, c.msg) {
					found = &diags[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s diagnostic %q in:\n%v", c.rule, c.msg, diags)
			}
			if found.Severity != diag.Error || found.Pos.File != path || found.Pos.Line != line {
				t.Errorf("reported at %s (%s), want an error at %s:%d", found.Pos, found.Severity, path, line)
			}
			if c.rule == "contract" && c.file != "event-implements.yaml" && !strings.Contains(found.Message, fmt.Sprintf("the connection layer at %s:%d", path, line)) {
				t.Errorf("the message does not name the connection layer at %s:%d: %s", path, line, found.Message)
			}
		})
	}
}

// TestCheckEvents: validating a workspace resolves the events its
// override files patch, and reports each problem once, at its line.
func TestCheckEvents(t *testing.T) {
	for _, c := range []struct {
		file, line, rule, msg string
	}{
		{"event-retype.yaml", "id: {type: integer}", "contract", `record field "id" must stay of type "string"`},
		{"event-drop-mapping.yaml", "email: null", "contract", `record field "email" of the universal contract is no longer mapped`},
		{"event-bad-expression.yaml", "id: ${ input.id }", "expression", "input"},
		// An unknown event is spec's to report; resolving adds nothing.
		{"event-unknown.yaml", "contact-synk:", "unknown-reference", `connector "acme" has no event "contact-synk" to override; did you mean "contact-sync"`},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := "testdata/broken/" + c.file
			_, diags := layers.Load(wsDir, path)
			if len(diags) != 1 {
				t.Fatalf("want one diagnostic, got:\n%v", diags)
			}
			d := diags[0]
			if d.Severity != diag.Error || d.Rule != c.rule || d.Pos.File != path || d.Pos.Line != lineOf(t, path, c.line) || !strings.Contains(d.Message, c.msg) {
				t.Errorf("got %v, want a %s error at %s:%d saying %q", d, c.rule, path, lineOf(t, path, c.line), c.msg)
			}
		})
	}
}

// TestCheckEventOfBrokenContract: an event whose universal contract is
// missing is reported once, by spec, not again through each override.
func TestCheckEventOfBrokenContract(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/c.yaml", "kind: Connector\nkey: c\nbaseUrl: https://c.test\n")
	writeFile(t, dir+"/e.yaml", "kind: Event\nconnector: c\nkey: e\nimplements: nowhere\npolling: {request: {path: /x}, items: '${ response.body }', id: '${ record.id }'}\nrecord: {id: '${ record.id }'}\n")
	writeFile(t, dir+"/o.yaml", "kind: ConnectionOverride\nconnector: c\nevents: {e: {record: null}}\n")
	ws, diags := loadUnchecked(dir)
	if len(diags) != 1 || !strings.Contains(diags[0].Message, `universal event "nowhere" is not defined`) {
		t.Fatalf("spec reports the missing contract once: %v", diags)
	}
	if d := layers.Check(ws); len(d) > 0 {
		t.Errorf("Check reported again: %v", d)
	}
}

// TestExplainEvent renders an event merged with its override: every
// scalar names its layer and file:line.
func TestExplainEvent(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	r, diags := layers.ResolveEvent(ws, "acme", "contact-changed", ws.Overrides[0])
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	got := layers.Explain(r.Doc)
	for _, line := range []string{
		"# integration " + eventFile + ":1:1\n",
		fmt.Sprintf("  interval: 1m # connection %s:%d:", overrideFile, lineOf(t, overrideFile, "interval: 1m")),
		fmt.Sprintf("  path: /contacts # integration %s:%d:", eventFile, lineOf(t, eventFile, "path: /contacts")),
		fmt.Sprintf("  region: ${ record.?region.orValue('eu') } # connection %s:", overrideFile),
		fmt.Sprintf("recordSchema: # universal %s:", universalFile),
		fmt.Sprintf("    region: # connection %s:%d:", overrideFile, lineOf(t, overrideFile, "region: {type: string}")),
	} {
		if !strings.Contains(got, line) {
			t.Errorf("explain lacks %q:\n%s", line, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasSuffix(trimmed, ":") {
			continue
		}
		if !slices.ContainsFunc([]string{" # universal ", " # integration ", " # connection "}, func(s string) bool { return strings.Contains(line, s) }) && !strings.HasPrefix(trimmed, "# ") {
			t.Errorf("no layer comment: %q", line)
		}
	}
}
