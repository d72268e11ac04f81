package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/layers"
)

// TestQuickstartDeliveryExample: the quickstart's membrane.yaml carries a
// delivery block commented out (it needs a secret to serve); uncommented
// as its comment says, the workspace still loads with no diagnostic.
func TestQuickstartDeliveryExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples/quickstart")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "membrane.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for line := range strings.SplitSeq(string(data), "\n") {
		if line == "# delivery:" {
			in = true
		}
		if in {
			if !strings.HasPrefix(line, "# ") {
				in = false
			} else {
				line = strings.TrimPrefix(line, "# ")
			}
		}
		out = append(out, line)
	}
	uncommented := strings.Join(out, "\n")
	if uncommented == string(data) || !strings.Contains(uncommented, "\ndelivery:\n") {
		t.Fatalf("no commented `# delivery:` block in examples/quickstart/membrane.yaml")
	}
	if err := os.WriteFile(path, []byte(uncommented), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if len(diags) > 0 {
		t.Fatalf("the quickstart with its delivery block uncommented reported:\n%s", render(dir, diags))
	}
	if ws.Config == nil || ws.Config.Delivery == nil || len(ws.Config.Delivery.Destinations) != 1 {
		t.Fatalf("delivery block not read: %+v", ws.Config)
	}
}
