package spec_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/diag"
)

var update = flag.Bool("update", false, "rewrite the expected.txt files of testdata/bad from what layers.Load reports")

// render writes diagnostics one a line, as `membrane validate` prints them,
// with every path made relative to dir (so the expected files do not depend
// on where the tests run).
func render(dir string, l diag.List) string {
	var b strings.Builder
	for _, d := range l {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return strings.ReplaceAll(b.String(), filepath.ToSlash(dir)+"/", "")
}

// TestGood loads workspaces that must load with no diagnostic at all: the
// quickstart every new user reads first, and testdata/good, which shows
// every kind and feature in one place.
func TestGood(t *testing.T) {
	for _, dir := range []string{"../examples/quickstart", "testdata/good"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ws, diags := layers.Load(dir)
			if len(diags) > 0 {
				t.Errorf("Load(%s) reported:\n%s", dir, render(dir, diags))
			}
			if len(ws.Files) == 0 {
				t.Errorf("Load(%s) read no files", dir)
			}
		})
	}
}

// TestBad loads each workspace under testdata/bad through the whole
// pipeline, layers.Load (spec.Load, compile.Check, layers.Check), and
// compares what it reports (what `membrane validate` prints) with the
// expected.txt next to it, exactly: the position (line and
// column of the offending key or value), the severity, the message and the
// rule. `go test ./spec -run TestBad -update` rewrites the expected files;
// read every change before committing it.
func TestBad(t *testing.T) {
	cases, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases under testdata/bad")
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			_, diags := layers.Load(dir)
			got := render(dir, diags)
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Load(%s) reported:\n%s\nwant:\n%s", dir, got, want)
			}
		})
	}
}
