package main

import (
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/schemas"
)

// TestSchemaKindNames: a kind is found in any case and by its schema's
// file name; a typo is answered with the kind it most likely meant.
func TestSchemaKindNames(t *testing.T) {
	want, _ := schemas.Get("Action")
	for _, name := range []string{"Action", "action", "ACTION", "action.schema.json"} {
		code, out, errOut := runCLI(t, "schema", name)
		if code != 0 || out != string(want) {
			t.Errorf("schema %s: exit %d, %d bytes (stderr %q), want Action's schema", name, code, len(out), errOut)
		}
	}
	ua, _ := schemas.Get("UniversalAction")
	if code, out, _ := runCLI(t, "schema", "universal-action"); code != 0 || out != string(ua) {
		t.Errorf("schema universal-action: exit %d, not UniversalAction's schema", code)
	}
	for name, hint := range map[string]string{
		"Actoin":         `unknown kind "Actoin"; did you mean "Action"?`,
		"univrsalaction": `did you mean "UniversalAction"?`,
		"widget":         `unknown kind "widget"; use one of Connector, UniversalAction`,
	} {
		code, out, errOut := runCLI(t, "schema", name)
		if code != exitUsage || out != "" || !strings.Contains(errOut, hint) {
			t.Errorf("schema %s: exit %d, stderr %q, want 2 and %q", name, code, errOut, hint)
		}
	}
}

// TestSchemaHelp: the --out flag reads as taking a directory.
func TestSchemaHelp(t *testing.T) {
	_, out, _ := runCLI(t, "schema", "--help")
	if !strings.Contains(out, "--out DIR ") || strings.Contains(out, "--out #") {
		t.Errorf("schema --help:\n%s", out)
	}
}
