package spec

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"

	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// checkTest checks what the ConnectorTest schema cannot: that the connector
// and each case's action exist, that case names are unique, that a case
// expects an output or an error (not both) and that it gives the
// credentials its connector requires.
func checkTest(ws *Workspace, t *ConnectorTest, diags *diag.List) {
	known := checkConnectorRef(ws, t.Source, t.Connector, diags)
	cases := t.Source.Doc.Get("cases")
	if known {
		checkTestOverride(ws, t.Connector, t.Connection, t.Source.Doc.Get("connection"), diags)
	}
	seen := map[string]int{}
	for i := range t.Cases {
		c := &t.Cases[i]
		node := cases.Items[i]
		if prev, ok := seen[c.Name]; ok {
			diags.Errorf(node.Get("name").Pos, "duplicate-definition", "case %q is already defined at line %d; case names must be unique in a file", c.Name, prev)
		} else {
			seen[c.Name] = node.Get("name").Pos.Line
		}
		if c.Output != nil && c.Error != nil {
			diags.Errorf(node.Field("error").KeyPos, "invalid-value", "case %q expects both an output and an error; keep one", c.Name)
		}
		if c.Now != "" {
			if _, err := time.Parse(time.RFC3339, c.Now); err != nil {
				diags.Errorf(node.Get("now").Pos, "invalid-value", "now: %q is not an RFC 3339 time; write one such as \"2024-01-01T00:00:00Z\"", c.Now)
			}
		}
		if c.IsEvent() {
			checkEventCaseShape(c, node, diags)
		}
		if !known {
			continue
		}
		checkTestOverride(ws, t.Connector, c.Connection, node.Get("connection"), diags)
		if c.IsEvent() {
			checkEventCase(ws, t, c, node, diags)
			checkTestCredentials(ws.Connectors[t.Connector], t, c, node, diags)
			continue
		}
		if c.Event != "" {
			diags.Errorf(node.Get("event").Pos, "missing-field", "case %q names event %q but neither polls nor receives a webhook; add `polls:` or `webhook:`, or remove `event:`", c.Name, c.Event)
			continue
		}
		action := cmpOr(c.Action, t.Action)
		if action == "" {
			diags.Errorf(node.Get("name").Pos, "missing-field", "case %q names no action; set `action:` on the case or on the file", c.Name)
			continue
		}
		if findTestAction(ws, t.Connector, action) == nil && !ws.broken[KindAction+"/"+t.Connector+"/"+action] && !ws.brokenImplements[KindAction+"/"+action] {
			pos := fieldPos(t.Source, "action")
			if c.Action != "" {
				pos = node.Get("action").Pos
			}
			diags.Errorf(pos, "unknown-reference", "connector %q has no action %q (nor one implementing it)%s", t.Connector, action, suggest.DidYouMean(action, testActionNames(ws, t.Connector)))
		}
		checkTestCredentials(ws.Connectors[t.Connector], t, c, node, diags)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// findTestAction finds a connector's action by its key or by the universal
// action it implements, as a run does.
func findTestAction(ws *Workspace, connector, name string) *Action {
	if a := ws.Action(connector, name); a != nil {
		return a
	}
	for _, key := range sortedKeys(ws.Actions[connector]) {
		if a := ws.Actions[connector][key]; a.Implements == name {
			return a
		}
	}
	return nil
}

func testActionNames(ws *Workspace, connector string) []string {
	var names []string
	for key, a := range ws.Actions[connector] {
		names = append(names, key)
		if a.Implements != "" {
			names = append(names, a.Implements)
		}
	}
	return names
}

// checkTestOverride checks that an inline override patches actions the
// connector has.
func checkTestOverride(ws *Workspace, connector string, conn *TestConnection, node *tree.Value, diags *diag.List) {
	if conn == nil || conn.Override == nil {
		return
	}
	if m := conn.Override.AuthMode; m != "" {
		if c := ws.Connectors[connector]; c != nil && c.AuthMode(m) == nil {
			keys := c.AuthModeKeys()
			diags.Errorf(node.Get("override").Get("authMode").Pos, "unknown-reference", "connector %q has no auth mode %q; its modes are %s%s", connector, m, strings.Join(keys, ", "), suggest.DidYouMean(m, keys))
		}
	}
	patches := node.Get("override").Get("actions")
	for _, key := range sortedKeys(conn.Override.Actions) {
		if ws.Action(connector, key) == nil && !ws.broken[KindAction+"/"+connector+"/"+key] {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no action %q to override%s", connector, key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Actions[connector]))))
		}
	}
}

// checkTestCredentials reports the credentials a connector requires that a
// case does not give: a run without them fails at its first request.
func checkTestCredentials(c *Connector, t *ConnectorTest, tc *TestCase, node *tree.Value, diags *diag.List) {
	if c == nil {
		return
	}
	a := c.AuthMode(testAuthMode(t.Connection, tc.Connection))
	if a == nil || a.Type == AuthNone {
		return // no auth, or a mode checkTestOverride reports
	}
	creds := tc.Connection.credentials()
	if creds == nil {
		creds = t.Connection.credentials()
	}
	var missing []string
	for _, name := range schemaRequired(CredentialsSchema(a)) {
		if creds.Get(name) == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		diags.Errorf(node.Get("name").Pos, "missing-field", "case %q gives no credentials %s, which connector %q requires; add `connection: {credentials: {%s: …}}` to the case or the file (env:NAME reads a variable under --record)",
			tc.Name, strings.Join(missing, ", "), c.Key, missing[0])
	}
}

// testAuthMode is the auth mode a case runs with: its own override's,
// else its file's, else "" (the connector's first).
func testAuthMode(file, own *TestConnection) string {
	for _, c := range []*TestConnection{own, file} {
		if c != nil && c.Override != nil && c.Override.AuthMode != "" {
			return c.Override.AuthMode
		}
	}
	return ""
}

func (c *TestConnection) credentials() *tree.Value {
	if c == nil {
		return nil
	}
	return c.Credentials
}

// CaseAction is the action a case runs: its own, else the file's.
func (t *ConnectorTest) CaseAction(i int) string { return cmpOr(t.Cases[i].Action, t.Action) }

// CaseNode is the document node of the i-th case, for positions.
func (t *ConnectorTest) CaseNode(i int) *tree.Value {
	if cs := t.Source.Doc.Get("cases"); cs != nil && i < len(cs.Items) {
		return cs.Items[i]
	}
	return t.Source.Doc
}

// IsEvent reports whether a case runs an event (polls or a webhook)
// rather than an action.
func (c *TestCase) IsEvent() bool { return c.Polls != nil || c.Webhook != nil }

// CaseEvent is the event a case runs: its own, else the file's.
func (t *ConnectorTest) CaseEvent(i int) string { return cmpOr(t.Cases[i].Event, t.Event) }

// checkEventCaseShape checks an event case for what only action cases
// have, and for what polls and a webhook cannot share.
func checkEventCaseShape(c *TestCase, node *tree.Value, diags *diag.List) {
	if c.Polls != nil && c.Webhook != nil {
		diags.Errorf(node.Field("webhook").KeyPos, "invalid-value", "case %q both polls and receives a webhook; write two cases", c.Name)
	}
	what := "polls an event"
	if c.Polls == nil {
		what = "receives a webhook"
	}
	for _, f := range []string{"action", "input", "requests", "responses", "output", "outputMatch", "error"} {
		if fl := node.Field(f); fl != nil {
			hint := "remove it"
			switch f {
			case "requests", "responses":
				hint = "give them inside each poll (or under webhook:)"
			case "output", "outputMatch":
				hint = "list the expected changes under changes:"
			case "error":
				hint = "give the error inside the poll that must fail"
			}
			diags.Errorf(fl.KeyPos, "invalid-value", "case %q %s, so `%s` does not apply; %s", c.Name, what, f, hint)
		}
	}
	if c.Baseline != nil && c.Polls == nil {
		diags.Errorf(node.Field("baseline").KeyPos, "invalid-value", "case %q receives a webhook; `baseline` applies to polls only", c.Name)
	}
	polls := node.Get("polls")
	for i := range c.Polls {
		p := &c.Polls[i]
		if p.Now == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, p.Now); err != nil {
			diags.Errorf(polls.Items[i].Get("now").Pos, "invalid-value", "now: %q is not an RFC 3339 time; write one such as \"2024-01-01T00:05:00Z\"", p.Now)
		}
	}
}

// checkEventCase checks that an event case's event exists and detects
// changes the way the case drives it (polling or webhook).
func checkEventCase(ws *Workspace, t *ConnectorTest, c *TestCase, node *tree.Value, diags *diag.List) {
	name := cmpOr(c.Event, t.Event)
	if name == "" {
		diags.Errorf(node.Get("name").Pos, "missing-field", "case %q names no event; set `event:` on the case or on the file", c.Name)
		return
	}
	pos := fieldPos(t.Source, "event")
	if c.Event != "" {
		pos = node.Get("event").Pos
	}
	e := FindTestEvent(ws, t.Connector, name)
	if e == nil {
		if !ws.broken[KindEvent+"/"+t.Connector+"/"+name] && !ws.brokenImplements[KindEvent+"/"+name] {
			diags.Errorf(pos, "unknown-reference", "connector %q has no event %q (nor one implementing it)%s", t.Connector, name, suggest.DidYouMean(name, testEventNames(ws, t.Connector)))
		}
		return
	}
	if c.Polls != nil && e.Polling == nil {
		diags.Errorf(node.Field("polls").KeyPos, "invalid-value", "event %q of connector %q does not poll (it has no `polling:`, at %s); test it with `webhook:`", e.Key, t.Connector, e.Source.Pos)
	}
	if c.Webhook != nil && e.Webhook == nil {
		diags.Errorf(node.Field("webhook").KeyPos, "invalid-value", "event %q of connector %q receives no webhook (it has no `webhook:`, at %s); test it with `polls:`", e.Key, t.Connector, e.Source.Pos)
	}
}

// FindTestEvent finds a connector's event by its key or by the universal
// event it implements, as a subscription does.
func FindTestEvent(ws *Workspace, connector, name string) *Event {
	if e := ws.Event(connector, name); e != nil {
		return e
	}
	for _, key := range sortedKeys(ws.Events[connector]) {
		if e := ws.Events[connector][key]; e.Implements == name {
			return e
		}
	}
	return nil
}

func testEventNames(ws *Workspace, connector string) []string {
	var names []string
	for key, e := range ws.Events[connector] {
		names = append(names, key)
		if e.Implements != "" {
			names = append(names, e.Implements)
		}
	}
	return names
}
