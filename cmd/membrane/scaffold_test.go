package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitNew writes a workspace with init and grows it with new; at each
// step it validates --strict and its tests pass, and each file points at a
// schema that init wrote.
func TestInitNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Acme Integrations")
	clean := func(step string) {
		t.Helper()
		if code, out, errOut := membrane(t, "validate", "--strict", dir); code != 0 {
			t.Fatalf("after %s, validate --strict: exit %d\n%s%s", step, code, out, errOut)
		}
		if code, out, errOut := membrane(t, "test", dir); code != 0 {
			t.Fatalf("after %s, test: exit %d\n%s%s", step, code, out, errOut)
		}
	}
	if code, _, errOut := membrane(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	clean("init")
	if b, _ := os.ReadFile(filepath.Join(dir, "membrane.yaml")); !strings.Contains(string(b), "key: acme-integrations\n") {
		t.Errorf("membrane.yaml:\n%s", b)
	}
	if code, _, errOut := membrane(t, "new", "connector", "crm", "--dir", dir); code != 0 {
		t.Fatalf("new connector: exit %d: %s", code, errOut)
	}
	clean("new connector")
	if code, _, errOut := membrane(t, "new", "action", "crm", "add-contact", "--implements", "create-contact", "--dir", dir); code != 0 {
		t.Fatalf("new action: exit %d: %s", code, errOut)
	}
	clean("new action --implements")
	if code, _, errOut := membrane(t, "new", "action", "example", "archive", "--dir", dir); code != 0 {
		t.Fatalf("new action: exit %d: %s", code, errOut)
	}
	clean("new action")

	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		n++
		b, _ := os.ReadFile(p)
		first, _, _ := strings.Cut(string(b), "\n")
		ref, ok := strings.CutPrefix(first, "# yaml-language-server: $schema=")
		if !ok {
			t.Errorf("%s starts %q", p, first)
			return nil
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), ref)); err != nil {
			t.Errorf("%s: its schema line points at nothing: %v", p, err)
		}
		return nil
	})
	if err != nil || n != 12 {
		t.Errorf("%d YAML files (%v), want 12", n, err)
	}
}

func TestScaffoldRefuses(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := membrane(t, "init", dir); code != 0 {
		t.Fatal("init failed")
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"init", dir}, "not overwriting " + filepath.Join(dir, "membrane.yaml") + ", "},
		{[]string{"new", "connector", "example", "--dir", dir}, "not overwriting " + filepath.Join(dir, "connectors/example/connector.yaml") + "; move it away"},
		{[]string{"new", "action", "exampel", "x", "--dir", dir}, `unknown connector "exampel"; did you mean "example"?`},
		{[]string{"new", "action", "example", "create-contact", "--dir", dir}, `connector "example" already has an action "create-contact"`},
		{[]string{"new", "action", "example", "y", "--implements", "nope", "--dir", dir}, `unknown universal action "nope"`},
		{[]string{"new", "connector", "Bad Name", "--dir", dir}, `connector name "Bad Name"`},
		{[]string{"new", "widget", "--dir", dir}, "use 'membrane new connector NAME'"},
		{[]string{"new", "connector", "x", "--dir", filepath.Join(dir, "nope")}, "is not a directory"},
	} {
		code, _, stderr := membrane(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("membrane %s: exit %d, stderr %q, want 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.msg)
		}
	}
}
