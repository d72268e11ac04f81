// Package specfuzz holds what the fuzz tests of spec's packages share:
// their seed corpus and the check that every diagnostic is placed in the
// file it is about.
package specfuzz

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Seeds adds to f's corpus the spec files under roots (the golden tests',
// the quickstart's) and inputs that have broken YAML loaders before.
// Without -fuzz they run as a normal test.
func Seeds(f *testing.F, roots ...string) {
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isSpecFile(p) {
				return err
			}
			data, err := os.ReadFile(p)
			if err == nil {
				f.Add(data)
			}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range []string{
		"",
		"\xef\xbb\xbfkind: Connector\nkey: bom\nbaseUrl: https://x.test\n",
		"kind: Connector\r\nkey: crlf\r\nbaseUrl: https://x.test\r\n",
		"a: &a [*a]\n",
		"a: &a {b: *a}\n",
		"<<: &a {<<: *a}\n",
		"a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n",
		strings.Repeat("- ", 300) + "x\n",
		strings.Repeat("[", 300) + strings.Repeat("]", 300),
		strings.Repeat("{a: ", 300) + "1" + strings.Repeat("}", 300),
		"? - a\n  - b\n: c\n",
		"!!binary aGVsbG8=\n",
		"a: !!float NaN\nb: !!int 0x_\nc: 1e999\nd: -.inf\n",
		"a: 123456789012345678901234567890\n",
		"kind: Action\nconnector: x\nkey: y\nrequest: {path: \"${\"}\n",
		"kind: Action\nconnector: x\nkey: y\nrequest: {path: \"${ input.`a}b` }\"}\n",
		"kind: Action\nconnector: x\nkey: y\nrequest: {path: /x}\nsteps: [{name: a, action: y}]\n",
		"kind: Action\nconnector: x\nkey: y\nsteps: [{name: a, action: y}, {name: a, action: z}]\n",
		"kind: UniversalAction\nkey: u\ninput: {$ref: '#/$defs/a', $defs: {a: {$ref: '#/$defs/a'}}}\noutput: true\n",
		"kind: UniversalAction\nkey: u\ninput: {type: object, properties: {a: {pattern: '(((((('}}}\noutput: false\n",
		"kind: Connector\nkey: k\nbaseUrl: ${ connection.parameters.x }\nparameters: {type: object, properties: {x: {type: [string, integer]}}}\n",
		"kind: ConnectionOverride\nconnector: c\nactions: {a: {request: null}}\n",
		"a: 'unterminated\n",
		"a: \"\\ud800\"\n",
		"%TAG ! tag:x,2000:\n--- !foo\na: 1\n",
		"a:\n\t- b\n",
		"kind: \x00\n",
		"---\n---\n---\n" + strings.Repeat("- a\n", 100),
	} {
		f.Add([]byte(s))
	}
}

// CheckDiagnostics fails when a diagnostic is not placed in the file it is
// about, at a real line and column, with a rule and a message.
func CheckDiagnostics(t *testing.T, name string, data []byte, diags diag.List) {
	t.Helper()
	lines := strings.Count(string(data), "\n") + 1
	for _, d := range diags {
		switch {
		case d.Pos.File != name:
			t.Fatalf("%v: not in %s", d, name)
		case d.Rule == "" || d.Message == "" || !utf8.ValidString(d.Message):
			t.Fatalf("%v: no rule or message", d)
		case d.Pos.Line < 1 || d.Pos.Line > lines || d.Pos.Col < 1:
			t.Fatalf("%v: position outside the file's %d lines", d, lines)
		}
	}
}

func isSpecFile(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}
