package layers_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestExplainGolden renders the test workspace's action merged with its
// override: every scalar says its layer and file:line, and a map says it
// where the layer or file changes.
func TestExplainGolden(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	r, diags := layers.ResolveAction(ws, "acme", "create-contact", ws.Overrides[0])
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	got := layers.Explain(r.ConnectorDoc) + "---\n" + layers.Explain(r.Doc)

	const golden = "testdata/explain.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./layers -run TestExplainGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Explain differs from %s (rerun with -update if the change is right):\n%s", golden, lineDiff(string(want), got))
	}

	// Spot checks that hold whatever the golden file says.
	for _, line := range []string{
		"baseUrl: https://eu.api.acme.test # connection " + overrideFile + ":",
		"favorite_color: ${ input.?favoriteColor.orValue(null) } # connection " + overrideFile + ":",
		"email: ${ input.email } # integration testdata/ws/acme/actions/create-contact.yaml:",
		"favoriteColor: # connection " + overrideFile + ":",
		"inputSchema: # universal testdata/ws/universal/create-contact.yaml:",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("explain lacks %q", line)
		}
	}
}

// TestExplainEveryScalarAnnotated checks that no value is left without its
// source, so any field can be traced.
func TestExplainEveryScalarAnnotated(t *testing.T) {
	ws := loadWorkspace(t, wsDir)
	r, diags := layers.ResolveAction(ws, "acme", "create-contact", ws.Overrides[0])
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, line := range strings.Split(strings.TrimSpace(layers.Explain(r.Doc)), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasSuffix(trimmed, ":") {
			continue // a map or list key; its children carry the source
		}
		if !strings.Contains(line, " # universal ") && !strings.Contains(line, " # integration ") && !strings.Contains(line, " # connection ") && !strings.HasPrefix(trimmed, "# ") {
			t.Errorf("no layer comment: %q", line)
		}
	}
}

// lineDiff shows the first lines that differ, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i, shown := 0, 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
