package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTestCatalogueAndQuickstart(t *testing.T) {
	for _, dir := range []string{"../../connectors", quickstart} {
		code, stdout, stderr := runCLI(t, "test", dir)
		if code != 0 || !strings.HasPrefix(stdout, "ok: ") || !strings.Contains(stdout, " 0 failed") {
			t.Errorf("membrane test %s: exit %d\n%s%s", dir, code, stdout, stderr)
		}
	}
}

// failingWS copies the quickstart with one expectation broken.
func failingWS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(quickstart)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "connectors/stripe/tests/contacts.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), "body: {email: ada@example.com, name: Ada Lovelace}", "body: {email: ada@example.org, name: Ada Lovelace}", 1)
	if broken == string(b) {
		t.Fatal("nothing to break")
	}
	if err := os.WriteFile(p, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTestFailureReport(t *testing.T) {
	dir := failingWS(t)
	t.Chdir(dir)
	code, stdout, _ := runCLI(t, "test", "--run", "create-contact")
	want := "FAIL  stripe/create-contact/creates a customer (connectors/stripe/tests/contacts.yaml:11:11)\n" +
		"      request 1 body /email: want \"ada@example.org\", got \"ada@example.com\"\n"
	if code != 1 || !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "FAIL: 1 passed, 1 failed, 2 cases in ") {
		t.Errorf("exit %d, printed:\n%s\nwant it to start:\n%s", code, stdout, want)
	}
}

func TestTestJUnit(t *testing.T) {
	code, stdout, stderr := runCLI(t, "test", "--format", "junit", failingWS(t))
	if code != 1 {
		t.Errorf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, stdout)
	}
	if doc.Tests != 7 || doc.Failures != 1 || len(doc.Suites) != 1 {
		t.Fatalf("junit: %+v", doc)
	}
	c := doc.Suites[0].Cases[0]
	if c.Name != "creates a customer" || c.Failure == nil || c.Failure.Message != `request 1 body /email: want "ada@example.org", got "ada@example.com"` {
		t.Errorf("first case: %+v", c)
	}
}

func TestTestUsage(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"test", "--format", "tap", quickstart}, 2, `unknown --format "tap"`},
		{[]string{"test", "--run", "(", quickstart}, 2, "--run: error parsing regexp"},
		{[]string{"test", "testdata/nope"}, 2, "cannot read"},
		{[]string{"test", "--run", "nothing-matches", quickstart}, 1, `no case matches --run "nothing-matches"`},
		{[]string{"test", empty}, 1, "no ConnectorTest files here"},
		{[]string{"test", badWS}, 1, "the workspace has errors"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("membrane %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.msg)
		}
	}
}

func TestTestRecordNeedsCredentials(t *testing.T) {
	t.Setenv("STRIPE_KEY", "")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(quickstart)); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, _, stderr := runCLI(t, "test", "--record", "--run", "delete")
	want := "connectors/stripe/tests/contacts.yaml:79:11: stripe/delete-contact/deletes a customer: credential apiKey reads env:STRIPE_KEY, which is not set; export STRIPE_KEY to record"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant %s", code, stderr, want)
	}
}
