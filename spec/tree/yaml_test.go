package tree

import (
	"strconv"
	"strings"
	"testing"
)

// TestSyntaxPositions checks where YAML syntax errors are reported: the YAML
// parser names a line only, not always the right one, and never the first;
// the diagnostic must point at the character to fix.
func TestSyntaxPositions(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a: 1\nb: [1, 2\nc: 3\n", `f.yaml:2:4: error: this [ is never closed with ] (a half-saved file?), or a comma is missing between its items [yaml-syntax]`},
		{"a: {b: 1\n", `f.yaml:1:4: error: this { is never closed with } (a half-saved file?), or a comma is missing between its entries [yaml-syntax]`},
		{"x:\n  y: 1\n  z: {a: [1, {b: 2\n", `f.yaml:3:14: error: this { is never closed with } (a half-saved file?), or a comma is missing between its entries [yaml-syntax]`},
		{"x: \"abc\n", `f.yaml:1:4: error: this quoted string is never closed (a half-saved file?) [yaml-syntax]`},
		{"a: 1\nb:\n  - x\n  - \"unclosed\n  - y\n", `f.yaml:4:5: error: this quoted string is never closed (a half-saved file?) [yaml-syntax]`},
		{"a: 1\nb: 'it''s\nc: 2\n", `f.yaml:2:4: error: this quoted string is never closed (a half-saved file?) [yaml-syntax]`},
		// The parser says nothing of the line when it is the first: not the last.
		{"a: b: c\nd: 1\ne: 2\n", `f.yaml:1:5: error: an unquoted value cannot contain ": "; put the value in quotes, or write it as a block (>-) on the next lines [yaml-syntax]`},
		{"k: ${ x ? 'a' : 'b' }\n", `f.yaml:1:15: error: an unquoted value cannot contain ": "; put the value in quotes, or write it as a block (>-) on the next lines [yaml-syntax]`},
		{"a: 1\n  b: 2\n", `f.yaml:2:3: error: this line is indented as if it continued the value above it; check its indentation [yaml-syntax]`},
		{"\tkey: 1\n", `f.yaml:1:1: error: a tab indents this line; YAML indents with spaces only [yaml-syntax]`},
		{"a:\n  b:\n\t  c: 1\n", `f.yaml:3:1: error: a tab indents this line; YAML indents with spaces only [yaml-syntax]`},
		{"a:\n  b: 1\n  \tc: 2\n", `f.yaml:3:3: error: a tab indents this line; YAML indents with spaces only [yaml-syntax]`},
		{"a: @x\n", `f.yaml:1:4: error: '@' cannot start a plain value; put the value in quotes [yaml-syntax]`},
		{"a: 1\nb: \"x\\qy\"\n", `f.yaml:2:6: error: unknown escape in a double-quoted string; write \\ for a backslash, or use single quotes [yaml-syntax]`},
		{"a: 1\nb: *nope\n", `f.yaml:2:4: error: alias *nope refers to no anchor; define &nope before it [yaml-syntax]`},
		{"%YAML 1.1\n%YAML 1.1\n---\na: 1\n", `f.yaml:2:1: error: found duplicate %YAML directive [yaml-syntax]`},
		// An under-indented line: the parser names the line where the
		// enclosing block began, the top of the document for a top-level
		// key; the diagnostic names the line to fix.
		{"a:\n  b: 1\n c: 2\n", `f.yaml:3:2: error: this line is indented 1 space, which matches none of the blocks above it (indented 2 or 0 spaces); indent it as the keys it belongs with [yaml-syntax]`},
		{"# header\nkind: X\nkey: y\noutput:\n  type: object\n required: [id]\n  properties: {}\n", `f.yaml:6:2: error: this line is indented 1 space, which matches none of the blocks above it (indented 2 or 0 spaces); indent it as the keys it belongs with [yaml-syntax]`},
		{"a:\n  p:\n    x: 1\n  y: {b: 2}\n    z: 3\n", `f.yaml:4:3: error: this line is indented 2 spaces, less than the lines around it (4 spaces); indent it as its neighbours [yaml-syntax]`},
		{"a:\n  p:\n    x: 1\n  y: 2\n    z: 3\n", `f.yaml:4:3: error: this line is indented 2 spaces, less than the lines around it (4 spaces); indent it as its neighbours [yaml-syntax]`},
		{"a:\n  - name: x\n   b: 1\n", `f.yaml:3:4: error: this line is indented 3 spaces, which matches none of the blocks above it (indented 4, 2 or 0 spaces); indent it as the keys it belongs with [yaml-syntax]`},
		{"a:\n  - x\n  - y\n - z\n", `f.yaml:4:2: error: this line is indented 1 space, which matches none of the blocks above it (indented 4, 2 or 0 spaces); indent it as the keys it belongs with [yaml-syntax]`},
		{"kéy: \"ünïcode\n", `f.yaml:1:6: error: this quoted string is never closed (a half-saved file?) [yaml-syntax]`},
		{"a: 1\r\nb: [1\r\n", `f.yaml:2:4: error: this [ is never closed with ] (a half-saved file?), or a comma is missing between its items [yaml-syntax]`},
		{"? [a]\n: 1\n", `f.yaml:1:3: error: a mapping key must be a plain string, not a list [yaml-key]`},
		{"a: " + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "\n", `f.yaml:1:1: error: nesting is too deep for the YAML parser; flatten the document [yaml-too-deep]`},
		{"a: .inf\n", `f.yaml:1:4: error: ".inf" is not a JSON number; quote it if you mean text [invalid-value]`},
		{"<<: 1\n", `f.yaml:1:5: error: a merge key (<<) takes a mapping or a list of mappings [yaml-merge]`},
		{"a: 1\na: 2\n", `f.yaml:2:1: error: key "a" appears twice in this mapping (first at line 1); remove one [duplicate-key]`},
	} {
		_, diags := ParseYAML("f.yaml", []byte(tc.src))
		var got []string
		for _, d := range diags {
			got = append(got, d.String())
		}
		if strings.Join(got, "\n") != tc.want {
			t.Errorf("ParseYAML(%q):\n got %s\nwant %s", tc.src, strings.Join(got, "\n     "), tc.want)
		}
	}
}

// TestEmptyDocuments: a file with no documents (empty, comments only, only
// document markers) is no error; it simply defines nothing. An editor's new
// file, or one whose content is commented out, must not fail CI.
func TestEmptyDocuments(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# just a comment\n", "---\n", "---\n...\n---\n", "kind: Connector\nkey: x\nbaseUrl: https://x.test\n---\n"} {
		docs, diags := ParseYAML("f.yaml", []byte(src))
		if len(diags) > 0 {
			t.Errorf("ParseYAML(%q): %v", src, diags)
		}
		if want := strings.Count(src, "kind:"); len(docs) != want {
			t.Errorf("ParseYAML(%q) = %d documents, want %d", src, len(docs), want)
		}
	}
}

// TestMergeKeys: `<<` merges mappings; keys given explicitly win, and every
// value keeps its own position.
func TestMergeKeys(t *testing.T) {
	src := "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"
	docs, diags := ParseYAML("f.yaml", []byte(src))
	if len(diags) > 0 || len(docs) != 1 {
		t.Fatalf("ParseYAML: %v", diags)
	}
	m := docs[0].Root.Get("m")
	if got := string(mustJSON(t, m)); got != `{"y":3,"x":1}` {
		t.Errorf("m = %s", got)
	}
	if p := m.Get("y").Pos; p.Line != 4 || p.Col != 6 {
		t.Errorf("m.y at %v, want 4:6", p)
	}
}

// TestLargeMapping: many keys in one mapping parse in linear time and
// duplicates among them are still found.
func TestLargeMapping(t *testing.T) {
	var b strings.Builder
	for i := range 20_000 {
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(strconv.Itoa(i))
		b.WriteString(": 1\n")
	}
	b.WriteString("k0: 2\n")
	_, diags := ParseYAML("f.yaml", []byte(b.String()))
	if len(diags) != 1 || diags[0].Rule != "duplicate-key" || diags[0].Pos.Line != 20_001 {
		t.Fatalf("got %v, want one duplicate-key at line 20001", diags)
	}
}

func mustJSON(t *testing.T, v *Value) []byte {
	t.Helper()
	b, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
