package celref

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The published reference is what the code declares today.
func TestReferenceIsCurrent(t *testing.T) {
	want, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../docs/cel-reference.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/cel-reference.md is stale: run go generate ./spec/internal/celref and commit it")
	}
}

// The reference names what authors look for.
func TestReferenceCovers(t *testing.T) {
	b, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| `page` |", "| `pagination` |", "`orValue`", "`dyn`", "`optional.of`", "Pagination, before the first page", "Auth info", "`x.exists(…)`"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("the reference lacks %s", s)
		}
	}
}
