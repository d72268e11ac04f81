package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/tree"
)

func compile(t *testing.T, s map[string]any) *schema.Validator {
	t.Helper()
	v, err := tree.FromInterface(s, diag.Pos{File: "s.yaml", Line: 1, Col: 1})
	if err != nil {
		t.Fatal(err)
	}
	var diags diag.List
	val := schema.Compile(v, &diags)
	if val == nil || len(diags) > 0 {
		t.Fatalf("Compile: %v", diags)
	}
	return val
}

// TestLeaves: each violation comes with its place and keyword, and says
// whether its message may quote the value, so that a caller can word a
// secret's violation without it; Violations lists the same ones.
func TestLeaves(t *testing.T) {
	v := compile(t, map[string]any{
		"type":       "object",
		"required":   []any{"apiKey", "region"},
		"properties": map[string]any{"apiKey": map[string]any{"type": "string", "pattern": "^sk_"}},
	})
	err := v.Validate(map[string]any{"apiKey": "xx_secret"})
	leaves := schema.Leaves(err)
	if len(leaves) != 2 {
		t.Fatalf("Leaves = %+v, want a pattern and a required violation", leaves)
	}
	byKeyword := map[string]schema.Leaf{}
	for _, l := range leaves {
		byKeyword[l.Keyword] = l
	}
	if l := byKeyword["pattern"]; l.Pointer != "/apiKey" || l.ValueFree || !strings.Contains(l.Message, "xx_secret") {
		t.Errorf("pattern leaf = %+v: want it at /apiKey, its message quoting the value and saying so", l)
	}
	if l := byKeyword["required"]; l.Pointer != "" || !l.ValueFree || !strings.Contains(l.Message, "region") {
		t.Errorf("required leaf = %+v: want it at the root, naming the property and no value", l)
	}
	violations := schema.Violations(err)
	if len(violations) != len(leaves) {
		t.Fatalf("Violations = %+v, Leaves = %+v", violations, leaves)
	}
	for i, vi := range violations {
		if vi.Pointer != leaves[i].Pointer || vi.Message != leaves[i].Message {
			t.Errorf("violation %d = %+v, leaf %+v", i, vi, leaves[i])
		}
	}
	if l := schema.Leaves(errors.New("not a validation error")); l != nil {
		t.Errorf("Leaves of another error = %+v, want nil", l)
	}
}

// TestFormatCheck: the validator's own check of a format, asserted (not
// an annotation); none for a format it does not know.
func TestFormatCheck(t *testing.T) {
	check := compile(t, map[string]any{"format": "email"}).FormatCheck()
	if check == nil || check("ada@example.com") != nil || check("not-an-email") == nil {
		t.Errorf("the email format check is missing or wrong")
	}
	if compile(t, map[string]any{"format": "password"}).FormatCheck() != nil {
		t.Errorf("a format the validator does not know has a check")
	}
	if err := compile(t, map[string]any{"format": "email"}).Validate("not-an-email"); err == nil {
		t.Errorf("Validate let a bad email pass: format is asserted")
	}
}
