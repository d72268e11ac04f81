package tree

import (
	"strings"
	"testing"
)

// A position inside a string written over several lines is found on the
// line of the text, for each way YAML writes such a string; a string on
// one line, or in quotes, has no lines and keeps the node's position.
func TestMultiLineStringPositions(t *testing.T) {
	src := "folded: >-\n  one\n    two indented\n\n  three\nliteral: |\n  alpha\n\n  beta\nplain: first\n  second\none: just text\nquoted: \"a\n  b\"\n"
	docs, diags := ParseYAML("f.yaml", []byte(src))
	if len(diags) > 0 || len(docs) != 1 {
		t.Fatalf("ParseYAML: %v", diags)
	}
	root := docs[0].Root
	for _, tc := range []struct {
		key, text      string
		line, col      int
		locatedByLines bool
	}{
		{"folded", "one", 2, 3, true},
		{"folded", "two", 3, 5, true},
		{"folded", "three", 5, 3, true},
		{"literal", "alpha", 7, 3, true},
		{"literal", "beta", 9, 3, true},
		{"plain", "first", 10, 8, true},
		{"plain", "second", 11, 3, true},
		{"one", "text", 12, 6, false},
		{"quoted", "b", 13, 9, false},
	} {
		v := root.Get(tc.key)
		off := strings.Index(v.Str, tc.text)
		p, ok := At(v.Str, v.Lines, off, v.Pos)
		if ok != tc.locatedByLines {
			t.Errorf("%s: located by lines = %v, want %v (lines %v)", tc.key, ok, tc.locatedByLines, v.Lines)
			continue
		}
		if ok && (p.Line != tc.line || p.Col != tc.col) {
			t.Errorf("%s: %q at %d:%d, want %d:%d", tc.key, tc.text, p.Line, p.Col, tc.line, tc.col)
		}
	}
}
