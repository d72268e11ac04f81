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
		if !known {
			continue
		}
		checkTestOverride(ws, t.Connector, c.Connection, node.Get("connection"), diags)
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
	if c == nil || c.Auth == nil || c.Auth.Type == AuthNone {
		return
	}
	creds := tc.Connection.credentials()
	if creds == nil {
		creds = t.Connection.credentials()
	}
	var missing []string
	for _, name := range schemaRequired(CredentialsSchema(c.Auth)) {
		if creds.Get(name) == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		diags.Errorf(node.Get("name").Pos, "missing-field", "case %q gives no credentials %s, which connector %q requires; add `connection: {credentials: {%s: …}}` to the case or the file (env:NAME reads a variable under --record)",
			tc.Name, strings.Join(missing, ", "), c.Key, missing[0])
	}
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
