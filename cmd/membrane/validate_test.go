package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec"
)

// membrane runs one command line in process and returns its exit code and
// what it printed.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

const (
	quickstart = "../../examples/quickstart"
	badWS      = "testdata/validate/bad"  // two errors and a warning
	warnWS     = "testdata/validate/warn" // one warning
)

// badText is what `membrane validate testdata/validate/bad` prints.
const badText = `testdata/validate/bad/actions.yaml:8:10: error: undeclared reference to 'respnse' (did you mean 'response'?) [expression]
testdata/validate/bad/connector.yaml:5:36: error: property 'brust' is not allowed; did you mean 'burst'? [unknown-field]
testdata/validate/bad/universal.yaml:3:6: warning: universal action "archive-contact" has no implementation in any connector [unused]
`

func TestValidateExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"clean", []string{"validate", quickstart}, 0},
		{"clean strict", []string{"validate", "--strict", quickstart}, 0},
		{"errors", []string{"validate", badWS}, 1},
		{"errors strict", []string{"validate", "--strict", badWS}, 1},
		{"warnings only", []string{"validate", warnWS}, 0},
		{"warnings only strict", []string{"validate", "--strict", warnWS}, 1},
		{"missing dir", []string{"validate", "testdata/validate/nope"}, 2},
		{"missing dir among good ones", []string{"validate", quickstart, "testdata/validate/nope"}, 2},
		{"bad format", []string{"validate", "--format", "xml", quickstart}, 2},
		{"unknown flag", []string{"validate", "--strcit", quickstart}, 2},
		{"one file", []string{"validate", badWS + "/connector.yaml"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("membrane %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, stdout, stderr)
			}
		})
	}
}

func TestValidateText(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", badWS)
	if code != 1 || stdout != badText {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", code, stdout, badText)
	}
	if stderr != "2 errors, 1 warning in 3 files\n" {
		t.Errorf("stderr = %q", stderr)
	}

	code, stdout, stderr = runCLI(t, "validate", quickstart)
	if code != 0 || stdout != "" || !strings.HasPrefix(stderr, "0 errors, 0 warnings in ") {
		t.Errorf("quickstart: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, "validate", "testdata/validate/nope")
	if want := "testdata/validate/nope: error: cannot read: no such file or directory [io]\n"; code != 2 || stdout != want {
		t.Errorf("missing dir: exit %d, stdout %q, want %q", code, stdout, want)
	}
	if !strings.Contains(stderr, "1 error") {
		t.Errorf("missing dir: stderr %q", stderr)
	}

	code, _, stderr = runCLI(t, "validate", "--format", "xml", quickstart)
	if want := "membrane: unknown --format \"xml\"; use one of text, json, github, sarif\n"; code != 2 || stderr != want {
		t.Errorf("bad format: exit %d, stderr %q, want %q", code, stderr, want)
	}
}

func TestValidateJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "--format", "json", badWS)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got struct {
		Diagnostics []struct {
			Pos struct {
				File   string `json:"file"`
				Line   int    `json:"line"`
				Column int    `json:"column"`
			} `json:"pos"`
			Severity string `json:"severity"`
			Rule     string `json:"rule"`
			Message  string `json:"message"`
		} `json:"diagnostics"`
		Errors   int `json:"errors"`
		Warnings int `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if got.Errors != 2 || got.Warnings != 1 || len(got.Diagnostics) != 3 {
		t.Fatalf("got %+v", got)
	}
	d := got.Diagnostics[1]
	if d.Pos.File != "testdata/validate/bad/connector.yaml" || d.Pos.Line != 5 || d.Pos.Column != 36 ||
		d.Severity != "error" || d.Rule != "unknown-field" || d.Message != "property 'brust' is not allowed; did you mean 'burst'?" {
		t.Errorf("diagnostic 1 = %+v", d)
	}
	if got.Diagnostics[2].Severity != "warning" {
		t.Errorf("diagnostic 2 = %+v", got.Diagnostics[2])
	}

	// A clean workspace is an empty list, not null.
	_, stdout, _ = runCLI(t, "validate", "--format", "json", quickstart)
	if !strings.Contains(stdout, `"diagnostics": []`) {
		t.Errorf("clean workspace:\n%s", stdout)
	}
}

func TestValidateGitHub(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "--format", "github", badWS)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := `::error file=testdata/validate/bad/actions.yaml,line=8,col=10,title=membrane expression::undeclared reference to 'respnse' (did you mean 'response'?)
::error file=testdata/validate/bad/connector.yaml,line=5,col=36,title=membrane unknown-field::property 'brust' is not allowed; did you mean 'burst'?
::warning file=testdata/validate/bad/universal.yaml,line=3,col=6,title=membrane unused::universal action "archive-contact" has no implementation in any connector
`
	if stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", stdout, want)
	}
	line := regexp.MustCompile(`^::(error|warning) file=[^,:]+,line=\d+,col=\d+,title=[^,:]+::[^\n]+$`)
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("not a workflow command: %q", l)
		}
	}
}

func TestValidateSARIF(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "--format", "sarif", badWS)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var log struct {
		Version string `json:"version"`
		Schema  string `json:"$schema"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			ColumnKind string `json:"columnKind"`
			Results    []struct {
				RuleID  string `json:"ruleId"`
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q, $schema %q, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "membrane" || run.ColumnKind != "unicodeCodePoints" {
		t.Errorf("driver %q, columnKind %q", run.Tool.Driver.Name, run.ColumnKind)
	}
	var rules []string
	for _, r := range run.Tool.Driver.Rules {
		rules = append(rules, r.ID)
	}
	if want := []string{"expression", "unknown-field", "unused"}; !slices.Equal(rules, want) {
		t.Errorf("rules = %v, want %v", rules, want)
	}
	if len(run.Results) != 3 {
		t.Fatalf("%d results, want 3", len(run.Results))
	}
	r := run.Results[1]
	loc := r.Locations[0].PhysicalLocation
	if r.RuleID != "unknown-field" || r.Level != "error" || loc.ArtifactLocation.URI != "testdata/validate/bad/connector.yaml" ||
		loc.Region.StartLine != 5 || loc.Region.StartColumn != 36 || !strings.Contains(r.Message.Text, "brust") {
		t.Errorf("result 1 = %+v", r)
	}
	if run.Results[2].Level != "warning" {
		t.Errorf("result 2 level %q", run.Results[2].Level)
	}
}

// TestValidatePaths: paths are printed relative to the working directory,
// whether the arguments are relative or absolute; the default is ".".
func TestValidatePaths(t *testing.T) {
	abs, err := filepath.Abs(badWS)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(abs)) // testdata/validate
	for _, args := range [][]string{{"validate", "bad"}, {"validate", "./bad"}, {"validate", abs}, {"validate", abs + "/"}} {
		_, stdout, _ := runCLI(t, args...)
		want := strings.ReplaceAll(badText, "testdata/validate/", "")
		if stdout != want {
			t.Errorf("membrane %s:\n%s\nwant:\n%s", strings.Join(args, " "), stdout, want)
		}
	}
	t.Chdir("bad")
	code, stdout, _ := runCLI(t, "validate")
	if want := strings.ReplaceAll(badText, "testdata/validate/bad/", ""); code != 1 || stdout != want {
		t.Errorf("membrane validate (in the workspace): exit %d\n%s\nwant:\n%s", code, stdout, want)
	}
}

func TestSchemaCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t, "schema")
	if code != 0 || stderr != "" {
		t.Fatalf("membrane schema: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(spec.Kinds) {
		t.Fatalf("membrane schema listed %d kinds, want %d:\n%s", len(lines), len(spec.Kinds), stdout)
	}
	for i, k := range spec.Kinds {
		if f := strings.Fields(lines[i]); len(f) != 2 || f[0] != k || f[1] != schemas.URL(k) {
			t.Errorf("line %d = %q, want %s and its URL", i, lines[i], k)
		}
		t.Run(k, func(t *testing.T) {
			code, stdout, _ := runCLI(t, "schema", k)
			var sch map[string]any
			if code != 0 || json.Unmarshal([]byte(stdout), &sch) != nil {
				t.Fatalf("membrane schema %s: exit %d, not JSON:\n%.200s", k, code, stdout)
			}
			if sch["$id"] != schemas.URL(k) || sch["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$id %v, $schema %v", sch["$id"], sch["$schema"])
			}
		})
	}
	code, _, stderr = runCLI(t, "schema", "Conector")
	if code != 2 || !strings.Contains(stderr, `unknown kind "Conector"`) {
		t.Errorf("membrane schema Conector: exit %d, stderr %q", code, stderr)
	}
	code, _, _ = runCLI(t, "schema", "Action", "Event")
	if code != 2 {
		t.Errorf("membrane schema Action Event: exit %d, want 2", code)
	}
}

// TestExampleSchemaLines: every file of the quickstart and of the shipped
// catalogue starts with a yaml-language-server line that an editor can
// follow: a path, from the file, to its kind's schema in this repository.
func TestExampleSchemaLines(t *testing.T) {
	for _, root := range []string{quickstart, "../../connectors"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir // fixtures, not spec files: a workspace load skips them too
			}
			if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			first, _, _ := strings.Cut(string(data), "\n")
			m := regexp.MustCompile(`(?m)^kind: (\w+)$`).FindStringSubmatch(string(data))
			if m == nil {
				t.Errorf("%s: no kind", p)
				return nil
			}
			ref, ok := strings.CutPrefix(first, "# yaml-language-server: $schema=")
			if !ok {
				t.Errorf("%s starts with %q, not a yaml-language-server schema line", p, first)
				return nil
			}
			got, err := os.ReadFile(filepath.Join(filepath.Dir(p), ref))
			if err != nil {
				t.Errorf("%s: the schema line does not lead to a file: %v", p, err)
				return nil
			}
			if want, _ := schemas.Get(m[1]); !bytes.Equal(got, want) {
				t.Errorf("%s: the schema line leads to %s, not the %s schema", p, ref, m[1])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// `membrane schema --out DIR` writes every kind's schema, byte for byte the
// embedded one, so editors can follow local schema lines.
func TestSchemaOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "schemas")
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"schema", "--out", dir}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, k := range spec.Kinds {
		got, err := os.ReadFile(filepath.Join(dir, schemas.FileName(k)))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if want, _ := schemas.Get(k); !bytes.Equal(got, want) {
			t.Errorf("%s: written schema differs from the embedded one", k)
		}
	}
}

// writeFiles writes a workspace's files under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A workspace with a diagnostic of several rules, errors and a warning.
var sarifFiles = map[string]string{
	"connector.yaml":     "kind: Connector\nkey: crm\nbaseUrl: https://api.crm.test\nrateLimit: {requestsPerSecond: 5, brust: 9}\n",
	"universal é#1.yaml": "kind: UniversalAction\nkey: create-contact\ninput:\n  type: object\n  requried: [email]\noutput: {type: object}\n",
	"broken.yaml":        "kind: Action\nconnector: crm\nkey: get\n request: {path: /x}\n",
}

// TestValidateSARIFSchema: the SARIF log validates against the SARIF 2.1.0
// JSON schema, checked by a third-party validator (ajv with ajv-formats),
// also for a workspace in a folder with a space, relative or absolute.
func TestValidateSARIFSchema(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, filepath.Join(root, "my specs"), sarifFiles)
	t.Chdir(root)
	for _, dir := range []string{"my specs", filepath.Join(root, "my specs"), "../" + filepath.Base(root) + "/my specs"} {
		code, stdout, stderr := runCLI(t, "validate", "--format", "sarif", dir)
		if code != 1 || stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", dir, code, stderr)
		}
		if n := strings.Count(stdout, `"ruleId"`); n != 4 {
			t.Errorf("%s: %d results, want 4:\n%s", dir, n, stdout)
		}
		if !strings.Contains(stdout, `my%20specs/universal%20%C3%A9%231.yaml"`) {
			t.Errorf("%s: no percent-encoded relative URI:\n%s", dir, stdout)
		}
		out, logged, ok := testkit.Ajv(t, stdout, "sarif.mjs")
		if !ok {
			t.Errorf("%s: the SARIF log breaks the SARIF 2.1.0 schema:\n%s%s", dir, out, logged)
		}
	}
	// Above the working directory, paths are absolute: file: URIs.
	t.Chdir(filepath.Join(root, "my specs"))
	_, stdout, _ := runCLI(t, "validate", "--format", "sarif", t.TempDir())
	if out, logged, ok := testkit.Ajv(t, stdout, "sarif.mjs"); !ok {
		t.Errorf("an empty workspace's log breaks the SARIF 2.1.0 schema:\n%s%s", out, logged)
	}
	other := t.TempDir()
	writeFiles(t, filepath.Join(other, "a b"), sarifFiles)
	_, stdout, _ = runCLI(t, "validate", "--format", "sarif", filepath.Join(other, "a b"))
	if !strings.Contains(stdout, `"uri": "file:///`) || !strings.Contains(stdout, "/a%20b/connector.yaml") {
		t.Errorf("no file: URI for a path outside the working directory:\n%s", stdout)
	}
	if out, logged, ok := testkit.Ajv(t, stdout, "sarif.mjs"); !ok {
		t.Errorf("the SARIF log with absolute paths breaks the SARIF 2.1.0 schema:\n%s%s", out, logged)
	}
}

// TestValidateTextOneLinePerDiagnostic: a YAML key holding a newline is
// escaped in the text format, so each diagnostic stays on one line.
func TestValidateTextOneLinePerDiagnostic(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"connector.yaml": "kind: Connector\nkey: crm\nbaseUrl: https://api.crm.test\n\"head\\nline\": 1\nheaders: {\"X-A\\nB\": v}\n"})
	code, stdout, _ := runCLI(t, "validate", dir)
	_, js, _ := runCLI(t, "validate", "--format", "json", dir)
	var got struct{ Diagnostics []any }
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 1 || len(got.Diagnostics) != 2 || len(lines) != 2 {
		t.Fatalf("exit %d, %d diagnostics, printed on %d lines:\n%s", code, len(got.Diagnostics), len(lines), stdout)
	}
	for _, l := range lines {
		if !strings.Contains(l, `\n`) || !strings.HasSuffix(l, "]") {
			t.Errorf("line %q does not show the escaped key", l)
		}
	}
}

// TestValidateStrictSchemas: validate --strict passes actions whose
// schemas are valid, and fails, at the line, each way a schema can be
// wrong: not a JSON Schema, a misspelt keyword, an implementation that
// changes or removes a field of its contract.
func TestValidateStrictSchemas(t *testing.T) {
	universal := "kind: UniversalAction\nkey: create-contact\ninput:\n  type: object\n  required: [email]\n  properties:\n    email: {type: string, format: email}\noutput:\n  type: object\n  required: [id]\n  properties:\n    id: {type: string}\n"
	connector := "kind: Connector\nkey: crm\nbaseUrl: https://api.crm.test\n"
	action := func(schemas string) string {
		return "kind: Action\nconnector: crm\nkey: create-contact\nimplements: create-contact\n" + schemas +
			"request: {method: POST, path: /contacts, body: {email: \"${ input.email }\"}}\noutput:\n  id: ${ response.body.id }\n"
	}
	valid := action("inputSchema:\n  type: object\n  properties:\n    phone: {type: string, pattern: \"^[+0-9 ]+$\", x-label: Phone}\n    address: {$ref: \"#/$defs/address\"}\n  $defs:\n    address: {type: object, properties: {city: {type: string}}}\n")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"u.yaml": universal, "c.yaml": connector, "a.yaml": valid})
	if code, stdout, stderr := runCLI(t, "validate", "--strict", dir); code != 0 {
		t.Fatalf("a valid action: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, c := range []struct{ name, schemas, want string }{
		{"not a schema", "inputSchema: {type: obj}\n", `a.yaml:5:21: error: invalid JSON Schema at "#/type": "obj" is not one of`},
		{"misspelt keyword", "inputSchema:\n  type: object\n  requried: [phone]\n", `a.yaml:7:3: error: "requried" is not a JSON Schema keyword, so a validator would ignore it; did you mean "required"?`},
		{"input type changed", "inputSchema:\n  properties:\n    email: {type: integer}\n", `a.yaml:7:19: error: input field "email" is of type "integer" here, but universal action "create-contact" gives it type "string"`},
		{"output type changed", "outputSchema:\n  properties:\n    id: {type: integer}\n", `a.yaml:7:16: error: output field "id" is of type "integer" here`},
		{"field set to null", "inputSchema:\n  properties:\n    email: null\n", `a.yaml:7:12: error: input field "email" is null, which would remove it from universal action "create-contact"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"u.yaml": universal, "c.yaml": connector, "a.yaml": action(c.schemas)})
			t.Chdir(dir)
			code, stdout, _ := runCLI(t, "validate", "--strict")
			if code != 1 || !strings.HasPrefix(stdout, c.want) || strings.Count(stdout, "\n") != 1 {
				t.Errorf("exit %d, printed:\n%s\nwant one line starting:\n%s", code, stdout, c.want)
			}
		})
	}
}
