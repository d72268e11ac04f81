package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// TestInitNew writes a workspace with init and grows it with new; at each
// step it validates --strict and its tests pass, and each file points at a
// schema that init wrote.
func TestInitNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Acme Integrations")
	clean := func(step string) {
		t.Helper()
		if code, out, errOut := runCLI(t, "validate", "--strict", dir); code != 0 {
			t.Fatalf("after %s, validate --strict: exit %d\n%s%s", step, code, out, errOut)
		}
		if code, out, errOut := runCLI(t, "test", dir); code != 0 {
			t.Fatalf("after %s, test: exit %d\n%s%s", step, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	clean("init")
	if b, _ := os.ReadFile(filepath.Join(dir, "membrane.yaml")); !strings.Contains(string(b), "key: acme-integrations\n") {
		t.Errorf("membrane.yaml:\n%s", b)
	}
	if code, _, errOut := runCLI(t, "new", "connector", "crm", "--dir", dir); code != 0 {
		t.Fatalf("new connector: exit %d: %s", code, errOut)
	}
	clean("new connector")
	if code, _, errOut := runCLI(t, "new", "action", "crm", "add-contact", "--implements", "create-contact", "--dir", dir); code != 0 {
		t.Fatalf("new action: exit %d: %s", code, errOut)
	}
	clean("new action --implements")
	if code, _, errOut := runCLI(t, "new", "action", "example", "archive", "--dir", dir); code != 0 {
		t.Fatalf("new action: exit %d: %s", code, errOut)
	}
	clean("new action")

	// A connector of another auth, on a base URL with a path: the new
	// action's test gives the credentials it requires and its paths are
	// relative to that base URL.
	hub := "# yaml-language-server: $schema=../../schemas/connector.schema.json\nkind: Connector\nkey: hub\nbaseUrl: https://api.hub.example/crm/v3\nauth:\n  type: bearer\n" +
		"  credentials: {type: object, required: [accessToken], properties: {accessToken: {type: string}}}\n" +
		"  token: ${ credentials.accessToken }\n  test: {path: /me}\n"
	if err := os.MkdirAll(filepath.Join(dir, "connectors", "hub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "connectors", "hub", "connector.yaml"), []byte(hub), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"get-deal"}, {"add-contact", "--implements", "create-contact"}} {
		if code, _, errOut := runCLI(t, append([]string{"new", "action", "hub"}, append(args, "--dir", dir)...)...); code != 0 {
			t.Fatalf("new action hub %v: exit %d: %s", args, code, errOut)
		}
	}
	clean("new action on a bearer connector with a base path")
	if b, _ := os.ReadFile(filepath.Join(dir, "connectors", "hub", "tests", "get-deal.yaml")); !strings.Contains(string(b), "accessToken: env:HUB_ACCESS_TOKEN") {
		t.Errorf("the test does not give the connector's credentials:\n%s", b)
	}

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
	if err != nil || n != 17 {
		t.Errorf("%d YAML files (%v), want 17", n, err)
	}
}

// TestInitKeepsStateOutOfGit: what init writes is committed, schemas
// included; what dev and serve keep in .membrane (the store, the
// development key and workspace secret) is ignored, as git itself says.
func TestInitKeepsStateOutOfGit(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		testkit.SkipOrFail(t, "git is not on PATH", "apt-get install git")
	}
	dir := t.TempDir()
	if out, err := exec.Command(git, "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	if code, _, errOut := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".membrane")); err == nil {
		t.Errorf("init made .membrane: it is for the state dev and serve keep")
	}
	if _, _, err := server.DevSecret(server.DataDir(dir)); err != nil { // what dev writes first
		t.Fatal(err)
	}
	for _, f := range []string{"membrane.db", "membrane-secret.key"} {
		testkit.WriteFile(t, filepath.Join(dir, ".membrane", f), "state")
	}
	ignored := func(path string) bool {
		cmd := exec.Command(git, "check-ignore", "-q", path)
		cmd.Dir = dir
		return cmd.Run() == nil
	}
	for _, p := range []string{".membrane/workspace-secret", ".membrane/membrane.db", ".membrane/membrane-secret.key"} {
		if !ignored(p) {
			t.Errorf("git would commit %s", p)
		}
	}
	for _, p := range []string{"schemas/action.schema.json", "schemas/workspace.schema.json", "membrane.yaml", ".gitignore", "connectors/example/connector.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("init did not write %s: %v", p, err)
		}
		if ignored(p) {
			t.Errorf("git would not commit %s", p)
		}
	}
}

// TestInitAddsToAGitignore: an existing .gitignore gets the line once,
// its own lines kept.
func TestInitAddsToAGitignore(t *testing.T) {
	for _, before := range []string{"node_modules/", "node_modules/\n", "*.log\n.membrane/\n"} {
		dir := t.TempDir()
		testkit.WriteFile(t, filepath.Join(dir, ".gitignore"), before)
		code, out, errOut := runCLI(t, "init", dir)
		if code != 0 {
			t.Fatalf("init: exit %d: %s", code, errOut)
		}
		b, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
		got := string(b)
		if strings.Contains(before, ".membrane/") {
			if got != before || strings.Contains(out, ".gitignore") {
				t.Errorf(".gitignore %q became %q (init said %q), want it as it was", before, got, out)
			}
			continue
		}
		if !strings.HasPrefix(got, strings.TrimSuffix(before, "\n")+"\n") || strings.Count(got, "/.membrane/\n") != 1 || !strings.Contains(out, "added /.membrane/ to") {
			t.Errorf(".gitignore %q became %q (init said %q)", before, got, out)
		}
	}
}

// TestOldLayout: a workspace an earlier init wrote, its schemas in
// .membrane/schemas next to the state, loses nothing: it validates, its
// development secret is still used, and new grows it, with a note on how
// to move the schemas.
func TestOldLayout(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	// Lay it out as an earlier init did.
	must(t, os.Remove(filepath.Join(dir, ".gitignore")))
	must(t, os.MkdirAll(filepath.Join(dir, ".membrane"), 0o700))
	must(t, os.Rename(filepath.Join(dir, "schemas"), filepath.Join(dir, ".membrane", "schemas")))
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		b, _ := os.ReadFile(p)
		return os.WriteFile(p, []byte(strings.Replace(string(b), "schemas/", ".membrane/schemas/", 1)), 0o644)
	}))
	secret, _, err := server.DevSecret(server.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}

	if code, out, errOut := runCLI(t, "validate", "--strict", dir); code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	tok, err := runTokenCmd(t, "--tenant", "acme", "--dir", dir, "--secret-env", "MEMBRANE_TEST_UNSET_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := tenancy.NewVerifier(workspaceKey(dir), tenancy.Keys{HMACSecret: secret})
	if _, err := v.Verify(strings.TrimSpace(tok)); err != nil {
		t.Errorf("the token is not signed with the development secret in .membrane: %v", err)
	}
	code, _, errOut := runCLI(t, "new", "connector", "crm", "--dir", dir)
	if code != 0 {
		t.Fatalf("new connector: exit %d: %s", code, errOut)
	}
	for _, want := range []string{filepath.Join(dir, ".membrane/schemas") + " holds editor schemas written by an earlier membrane init",
		"the state stays where it is", "'membrane schema --out " + filepath.Join(dir, "schemas") + "'", "from .membrane/schemas/ to schemas/"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("new's note lacks %q:\n%s", want, errOut)
		}
	}
	if code, out, errOut := runCLI(t, "validate", "--strict", dir); code != 0 {
		t.Fatalf("validate after new: exit %d\n%s%s", code, out, errOut)
	}
}

// TestInitNumericDirectory: a directory named like a number gives a key
// that stays a string, and the workspace validates.
func TestInitNumericDirectory(t *testing.T) {
	for _, name := range []string{"2024", "1.5", "true"} {
		dir := filepath.Join(t.TempDir(), name)
		if code, _, errOut := runCLI(t, "init", dir); code != 0 {
			t.Fatalf("init %s: exit %d: %s", name, code, errOut)
		}
		if code, out, errOut := runCLI(t, "validate", "--strict", dir); code != 0 {
			t.Errorf("init %s, then validate --strict: exit %d\n%s%s", name, code, out, errOut)
		}
	}
}

func TestScaffoldRefuses(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := runCLI(t, "init", dir); code != 0 {
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
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("membrane %s: exit %d, stderr %q, want 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.msg)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
