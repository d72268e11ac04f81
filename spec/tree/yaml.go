package tree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Limits that keep a hostile or broken file from exhausting the process.
const (
	// MaxFileSize is the largest spec file read. Real spec files are a few
	// kilobytes; anything near this is a mistake (a data dump, a binary).
	MaxFileSize = 4 << 20
	// maxNodes bounds the nodes one document may expand to through aliases
	// (the "billion laughs" anchor bomb). A large spec document has a few
	// thousand nodes; each costs about 150 bytes.
	maxNodes = 1 << 18
	// maxDepth bounds nesting.
	maxDepth = 200
)

// Document is one YAML document of a file.
type Document struct {
	Root *Value
	Pos  diag.Pos
}

// ParseYAML reads every document of a YAML file. It reports every problem it
// can find as diagnostics; a document it cannot read is left out. A file with
// no documents (empty, only comments, only `---`) is not a problem: it
// defines nothing, like a new file in an editor.
func ParseYAML(file string, data []byte) ([]Document, diag.List) {
	var diags diag.List
	if len(data) > MaxFileSize {
		return nil, diag.List{FileTooLarge(file, len(data))}
	}
	if p, ok := binaryAt(data); ok {
		pos := diag.Pos{File: file, Line: p.line, Col: p.col}
		if b := data[p.offset]; b == 0 {
			diags.Errorf(pos, "not-text", "file is binary, not text (a NUL byte at offset %d); keep only YAML files in the workspace", p.offset)
		} else {
			diags.Errorf(pos, "not-text", "file is not UTF-8 text (byte 0x%02X at offset %d); save it as UTF-8", b, p.offset)
		}
		return nil, diags
	}
	var docs []Document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := decodeSafely(dec, &n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			diags = append(diags, syntaxDiagnostic(file, data, err))
			break
		}
		if len(n.Content) == 0 {
			continue
		}
		c := converter{file: file, data: data}
		root := c.convert(n.Content[0], 0)
		diags = append(diags, c.diags...)
		if root == nil || c.diags.HasErrors() {
			continue
		}
		if root.Kind == Null {
			continue // an empty document, e.g. a trailing "---"
		}
		docs = append(docs, Document{Root: root, Pos: c.pos(n.Content[0])})
	}
	return docs, diags
}

// decodeSafely turns a panic inside the YAML parser into an error: the
// process never crashes on user input.
func decodeSafely(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

var (
	yamlLine       = regexp.MustCompile(`^yaml: line (\d+): `)
	parserProblems = regexp.MustCompile(`^did not find expected (<|',|'-'|key|node)|^found (duplicate|incompatible|undefined tag)`)
	unknownAnchor  = regexp.MustCompile(`^unknown anchor '(.*)' referenced`)
)

// syntaxDiagnostic turns an error of the YAML parser into a diagnostic at the
// place to fix. The parser gives a line only, and not always the one of the
// problem: scanner errors give the 1-based line where the construct began,
// parser errors its 0-based line, and neither says anything on the first
// line. The column, and often a better line, is found from the text.
func syntaxDiagnostic(file string, data []byte, err error) diag.Diagnostic {
	msg := err.Error()
	line := 1 // the parser leaves the line out when it is the first
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if parserProblems.MatchString(msg) {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	line = max(1, min(line, len(lines)))
	rule := "yaml-syntax"
	text := lines[line-1]
	col := 0 // a byte offset + 1 in text, 0 for the line's indentation
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") && tabIndented(lines, line) > 0:
		if l := tabIndented(lines, line); l > 0 {
			line, text = l, lines[l-1]
			col = strings.IndexByte(text, '\t') + 1
		}
		msg = "a tab indents this line; YAML indents with spaces only"
	case strings.Contains(msg, "cannot start any token"):
		if i := indentOf(text); i < len(text) {
			if j := strings.IndexAny(text[i:], "@`%"); j >= 0 {
				col = i + j + 1
				msg = fmt.Sprintf("%q cannot start a plain value; put the value in quotes", text[i+j])
			}
		}
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		if i := valueColon(text); i >= 0 {
			col = i + 1
			msg = `an unquoted value cannot contain ": "; put the value in quotes, or write it as a block (>-) on the next lines`
		} else if l, why := underIndented(lines, line); why != "" {
			line, text, msg = l, lines[l-1], why
		} else {
			msg = "this line is indented as if it continued the value above it; check its indentation"
		}
	case strings.Contains(msg, "unexpected end of stream"):
		// The line is where the quoted string starts, or the end of the file.
		for l := line; l >= 1; l-- {
			if i := strings.IndexAny(lines[l-1], `"'`); i >= 0 {
				line, text, col = l, lines[l-1], i+1
				break
			}
		}
		msg = "this quoted string is never closed (a half-saved file?)"
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"):
		line, text, col = findUnclosed(lines, line, '{', '}')
		msg = "this { is never closed with } (a half-saved file?), or a comma is missing between its entries"
	case strings.HasPrefix(msg, "did not find expected ',' or ']'"):
		line, text, col = findUnclosed(lines, line, '[', ']')
		msg = "this [ is never closed with ] (a half-saved file?), or a comma is missing between its items"
	case strings.Contains(msg, "unknown escape character"):
		if i := badEscape(text); i >= 0 {
			col = i + 1
		}
		msg = `unknown escape in a double-quoted string; write \\ for a backslash, or use single quotes`
	case unknownAnchor.MatchString(msg):
		name := unknownAnchor.FindStringSubmatch(msg)[1]
		for l, t := range lines {
			if i := strings.Index(t, "*"+name); i >= 0 {
				line, text, col = l+1, t, i+1
				break
			}
		}
		msg = fmt.Sprintf("alias *%s refers to no anchor; define &%s before it", name, name)
	case strings.Contains(msg, "exceeded max depth"):
		rule = "yaml-too-deep"
		msg = "nesting is too deep for the YAML parser; flatten the document"
	case msg == "did not find expected key" || msg == "did not find expected '-' indicator":
		// The parser names the line where the enclosing block began (the
		// top of the document, for a top-level key): find the line it
		// stopped at, then the line whose indentation is off.
		stop := stopLine(lines, line, msg)
		if l, why := misindented(lines, stop); why != "" {
			line, text, msg = l, lines[l-1], why
		} else {
			line, text = stop, lines[stop-1]
			msg += "; check the indentation and that quotes and brackets are closed (a half-saved file?)"
		}
	case strings.Contains(msg, "did not find expected") || strings.Contains(msg, "could not find expected"):
		msg += "; check the indentation and that quotes and brackets are closed (a half-saved file?)"
	}
	if col == 0 {
		col = indentOf(text) + 1
	}
	col = utf8.RuneCountInString(text[:min(col-1, len(text))]) + 1
	return diag.Diagnostic{Pos: diag.Pos{File: file, Line: line, Col: col}, Severity: diag.Error, Rule: rule, Message: msg}
}

func indentOf(text string) int { return len(text) - len(strings.TrimLeft(text, " ")) }

// maxSearchLines bounds the files stopLine searches: each step parses the
// file again.
const maxSearchLines = 20000

// stopLine finds the line where the parser stopped with msg, at or after
// from: the first line at which the file's text up to it fails with the
// same message. A text cut shorter parses further, so the lines can be
// searched by halves. It returns from when no such line is found.
func stopLine(lines []string, from int, msg string) int {
	fails := func(n int) bool {
		dec := yaml.NewDecoder(strings.NewReader(strings.Join(lines[:n], "\n")))
		for {
			var node yaml.Node
			err := decodeSafely(dec, &node)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return false
			}
			return strings.HasSuffix(err.Error(), ": "+msg) || err.Error() == "yaml: "+msg
		}
	}
	lo, hi := from, len(lines) // the answer is in [lo, hi], if anywhere
	if hi > maxSearchLines || !fails(hi) {
		return from
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// misindented looks around the line the parser stopped at inside a block
// for the line whose indentation is wrong, and says why. It returns ""
// when the indentation looks consistent.
func misindented(lines []string, stop int) (int, string) {
	prev := func(l int) int { return prevContent(lines, l) }
	in := func(l int) int { return indentOf(lines[l-1]) }
	// keyIn is where a line's key stands: after the dashes of list items.
	keyIn := func(l int) int {
		t := lines[l-1]
		i := indentOf(t)
		for strings.HasPrefix(t[i:], "- ") {
			i += 2 + indentOf(t[i+2:])
		}
		return i
	}
	q := prev(stop)
	if q < 1 {
		return 0, ""
	}
	p := stop
	if in(p) > keyIn(q) && !opensBlock(lines[q-1]) {
		if l, why := underIndented(lines, p); why != "" {
			return l, why
		}
		return p, fmt.Sprintf("this line is indented more than line %d above it, which already has a value and so opens no block; check the indentation of both", q)
	}
	// The indentations p may have: those of the previous line's key and
	// of the blocks around it (their keys, and their list dashes).
	var levels []int
	add := func(n int) {
		if len(levels) == 0 || n < levels[len(levels)-1] {
			levels = append(levels, n)
		}
	}
	for l := q; l >= 1; l = prev(l) {
		add(keyIn(l))
		add(in(l))
	}
	if slices.Contains(levels, in(p)) {
		return 0, ""
	}
	at := make([]string, len(levels))
	for i, n := range levels {
		at[i] = strconv.Itoa(n)
	}
	list := strings.Join(at, ", ")
	if n := len(at); n > 1 {
		list = strings.Join(at[:n-1], ", ") + " or " + at[n-1]
	}
	return p, fmt.Sprintf("this line is indented %s, which matches none of the blocks above it (indented %s spaces); indent it as the keys it belongs with",
		spaces(in(p)), list)
}

// underIndented reports the line before p when it alone is indented less
// than the lines before and after it: p then looks over-indented to the
// parser, but the line to fix is the one before.
func underIndented(lines []string, p int) (int, string) {
	q := prevContent(lines, p)
	r := prevContent(lines, q)
	if q < 1 || r < 1 {
		return 0, ""
	}
	in := func(l int) int { return indentOf(lines[l-1]) }
	if in(r) == in(p) && in(q) < in(r) && !opensBlock(lines[r-1]) {
		return q, fmt.Sprintf("this line is indented %s, less than the lines around it (%s); indent it as its neighbours",
			spaces(in(q)), spaces(in(r)))
	}
	return 0, ""
}

// prevContent returns the last line before l (1-based) that holds more
// than blanks and comments, or 0.
func prevContent(lines []string, l int) int {
	for l--; l >= 1; l-- {
		if t := strings.TrimSpace(lines[l-1]); t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "---") {
			return l
		}
	}
	return 0
}

// opensBlock reports whether a line ends with what starts a nested block:
// a key without a value, a list dash, a block scalar indicator.
func opensBlock(text string) bool {
	t := text
	if i := strings.Index(t, " #"); i >= 0 {
		t = t[:i]
	}
	t = strings.TrimSpace(t)
	scalar := strings.TrimRight(t, "+-0123456789") // |- >2 and the like
	return t == "-" || strings.HasSuffix(t, ":") || strings.HasSuffix(scalar, "|") || strings.HasSuffix(scalar, ">")
}

func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

// tabIndented returns the first line from `from` on (1-based) whose
// indentation holds a tab, or 0.
func tabIndented(lines []string, from int) int {
	for l := from; l <= len(lines); l++ {
		t := lines[l-1]
		if i := strings.IndexByte(t, '\t'); i >= 0 && strings.TrimLeft(t[:i], " ") == "" {
			return l
		}
	}
	return 0
}

// valueColon finds the ": " that made the parser stop: the first one after
// the line's own key, or -1.
func valueColon(text string) int {
	key := strings.Index(text, ": ")
	if key < 0 {
		return -1
	}
	rest := text[key+2:]
	if i := strings.Index(rest, ": "); i >= 0 {
		return key + 2 + i
	}
	if strings.HasSuffix(rest, ":") {
		return len(text) - 1
	}
	return -1
}

// findUnclosed finds the bracket the parser complains of: the last one not
// closed on the given line or, when the parser named the end of the file,
// on a line before. It returns the line, its text and the 1-based byte
// column, 0 when no bracket is found.
func findUnclosed(lines []string, line int, open, close byte) (int, string, int) {
	for l := line; l >= 1; l-- {
		if i := unclosed(lines[l-1], open, close); i >= 0 {
			return l, lines[l-1], i + 1
		}
	}
	return line, lines[line-1], 0
}

// unclosed returns the offset of the last open bracket of text that is not
// closed on the line, or -1. Quoted text is skipped.
func unclosed(text string, open, close byte) int {
	var stack []int
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || text[i-1] == ' '):
			i = len(text)
		case c == open:
			stack = append(stack, i)
		case c == close && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return -1
	}
	return stack[len(stack)-1]
}

// badEscape returns the offset of the first backslash in text that does not
// start a YAML escape, or -1.
func badEscape(text string) int {
	for i := 0; i+1 < len(text); i++ {
		if text[i] != '\\' {
			continue
		}
		if !strings.ContainsRune("0abt\tnvfre \"/\\N_LPxuU", rune(text[i+1])) {
			return i
		}
		i++
	}
	return -1
}

type offsetPos struct{ offset, line, col int }

// binaryAt finds the first NUL byte or invalid UTF-8 sequence.
func binaryAt(data []byte) (offsetPos, bool) {
	line, col := 1, 1
	for i := 0; i < len(data); {
		c := data[i]
		if c == 0 {
			return offsetPos{i, line, col}, true
		}
		if c < utf8.RuneSelf {
			i++
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return offsetPos{i, line, col}, true
		}
		i += size
		col++
	}
	return offsetPos{}, false
}

// FileTooLarge is the diagnostic of a file of size bytes, more than
// MaxFileSize: a reader that stats a file first refuses it with this one,
// before reading it.
func FileTooLarge(file string, size int) diag.Diagnostic {
	return diag.Diagnostic{Pos: diag.Pos{File: file, Line: 1, Col: 1}, Severity: diag.Error, Rule: "file-too-large",
		Message: fmt.Sprintf("file is %s, larger than the %s a spec file may be; split it, or move data out of the workspace", byteSize(size), byteSize(MaxFileSize))}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// converter turns a yaml.Node tree into Values, expanding aliases and merge
// keys within bounds.
type converter struct {
	file    string
	data    []byte   // the file, to locate the lines of multi-line strings
	lines   []string // data split in lines, on first need
	nodes   int
	diags   diag.List
	active  []*yaml.Node // anchors being expanded, to catch self-references
	aliases []*yaml.Node // the aliases that expand them, outermost first
	failed  bool
}

func (c *converter) pos(n *yaml.Node) diag.Pos {
	return diag.Pos{File: c.file, Line: n.Line, Col: n.Column}
}

func (c *converter) fail(n *yaml.Node, rule, format string, args ...any) *Value {
	if !c.failed {
		c.diags.Errorf(c.pos(n), rule, format, args...)
	}
	c.failed = true
	return nil
}

func (c *converter) convert(n *yaml.Node, depth int) *Value {
	if c.failed {
		return nil
	}
	c.nodes++
	if c.nodes > maxNodes {
		if len(c.aliases) > 0 {
			return c.fail(c.aliases[0], "yaml-too-large", "expanding alias *%s makes the document larger than %d nodes (an alias bomb?); use fewer aliases", c.aliases[0].Value, maxNodes)
		}
		return c.fail(n, "yaml-too-large", "the document has more than %d nodes; split it", maxNodes)
	}
	if depth > maxDepth {
		return c.fail(n, "yaml-too-deep", "nesting is deeper than %d levels; flatten the document", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &Value{Pos: c.pos(n)}
		}
		return c.convert(n.Content[0], depth)
	case yaml.AliasNode:
		for _, a := range c.active {
			if a == n.Alias {
				return c.fail(n, "yaml-alias-cycle", "alias *%s refers to the node that contains it; an anchor cannot include itself", n.Value)
			}
		}
		c.active = append(c.active, n.Alias)
		c.aliases = append(c.aliases, n)
		v := c.convert(n.Alias, depth+1) // a new tree for each expansion
		c.active = c.active[:len(c.active)-1]
		c.aliases = c.aliases[:len(c.aliases)-1]
		if v != nil {
			// An expanded alias reports the alias's place, not the anchor's.
			v.Pos = c.pos(n)
		}
		return v
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.SequenceNode:
		v := &Value{Kind: List, Pos: c.pos(n), Items: make([]*Value, 0, len(n.Content))}
		for _, it := range n.Content {
			iv := c.convert(it, depth+1)
			if iv == nil {
				return nil
			}
			v.Items = append(v.Items, iv)
		}
		return v
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return c.fail(n, "yaml-syntax", "unsupported YAML node")
}

func (c *converter) mapping(n *yaml.Node, depth int) *Value {
	v := &Value{Kind: Map, Pos: c.pos(n), Fields: make([]Field, 0, len(n.Content)/2)}
	var merged []*Value // from "<<" merge keys: fields given explicitly win
	// index finds keys in a large mapping without a quadratic scan.
	var index map[string]int
	field := func(key string) *Field {
		if index == nil {
			if len(v.Fields) < 32 {
				return v.Field(key)
			}
			index = make(map[string]int, 2*len(v.Fields))
			for i, f := range v.Fields {
				index[f.Key] = i
			}
		}
		if i, ok := index[key]; ok {
			return &v.Fields[i]
		}
		return nil
	}
	add := func(f Field) {
		if index != nil {
			index[f.Key] = len(v.Fields)
		}
		v.Fields = append(v.Fields, f)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return c.fail(k, "yaml-key", "a mapping key must be a plain string, not a %s", nodeKindName(k))
		}
		if k.Tag == "!!merge" || (k.Value == "<<" && k.Style == 0) {
			mv := c.convert(val, depth+1)
			if mv == nil {
				return nil
			}
			switch {
			case mv.Kind == Map:
				merged = append(merged, mv)
			case mv.Kind == List:
				for _, it := range mv.Items {
					if it.Kind != Map {
						return c.fail(val, "yaml-merge", "a merge key (<<) takes a mapping or a list of mappings")
					}
					merged = append(merged, it)
				}
			default:
				return c.fail(val, "yaml-merge", "a merge key (<<) takes a mapping or a list of mappings")
			}
			continue
		}
		if prev := field(k.Value); prev != nil {
			c.diags.Errorf(c.pos(k), "duplicate-key", "key %q appears twice in this mapping (first at line %d); remove one", k.Value, prev.KeyPos.Line)
			continue
		}
		fv := c.convert(val, depth+1)
		if fv == nil {
			return nil
		}
		add(Field{Key: k.Value, KeyPos: c.pos(k), Value: fv})
	}
	for _, m := range merged {
		for _, f := range m.Fields {
			if field(f.Key) == nil {
				add(f)
			}
		}
	}
	return v
}

func nodeKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "node"
}

func (c *converter) scalar(n *yaml.Node) *Value {
	v := &Value{Pos: c.pos(n)}
	s := n.Value
	switch n.ShortTag() {
	case "!!null":
	case "!!bool":
		v.Kind = Bool
		b, err := strconv.ParseBool(strings.ToLower(s))
		if err != nil {
			// YAML 1.1 spellings the parser still tags as bool.
			b = strings.EqualFold(s, "yes") || strings.EqualFold(s, "on") || strings.EqualFold(s, "y")
		}
		v.Bool = b
	case "!!int":
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			v.Kind, v.Int = Int, i
		} else if f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
			v.Kind, v.Float = Float, f // too large for int64
		} else {
			v.Kind, v.Str = String, s
		}
	case "!!float":
		f, err := parseYAMLFloat(s)
		if err != nil {
			return c.fail(n, "yaml-syntax", "invalid number %q", s)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return c.fail(n, "invalid-value", "%q is not a JSON number; quote it if you mean text", s)
		}
		v.Kind, v.Float = Float, f
	default: // !!str, !!timestamp, !!binary and custom tags read as text
		v.Kind, v.Str = String, s
		v.Quoted = n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		v.Lines = c.spans(n)
	}
	return v
}

// spans locates each line of a string written over several lines (see
// Value.Lines), so that a position inside it, a misspelt field on the
// third line of a `>-` block, is that line's: a block scalar's text starts
// on the line after its indicator, plain text at the node. Each line of
// the file, less its indentation, is found in the string in turn; quoted
// text (where escapes change lengths) is left alone.
func (c *converter) spans(n *yaml.Node) []Span {
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	if !block && n.Style != 0 || n.Line <= 0 {
		return nil
	}
	if c.lines == nil {
		c.lines = strings.Split(string(c.data), "\n")
	}
	s := n.Value
	var out []Span
	cur, indent := 0, -1
	first := n.Line + 1
	if !block {
		line := strings.TrimRight(c.lines[n.Line-1], "\r")
		if n.Column-1 > len(line) || !strings.HasPrefix(s, strings.TrimRight(line[n.Column-1:], " ")) {
			return nil
		}
		out = append(out, Span{Off: 0, Line: n.Line, Col: n.Column})
		cur = len(strings.TrimRight(line[n.Column-1:], " "))
		if cur >= len(s) {
			return nil // on one line
		}
	}
	for ln := first; ln <= len(c.lines) && cur < len(s); ln++ {
		text := strings.TrimRight(c.lines[ln-1], "\r")
		body := strings.TrimLeft(text, " ")
		if body == "" {
			continue
		}
		in := len(text) - len(body)
		switch {
		case indent < 0:
			indent = in
		case in < indent:
			return out // the block ended
		}
		if block {
			body = text[indent:] // a more indented line keeps its spaces
		}
		k := strings.Index(s[cur:], body)
		if k < 0 {
			break
		}
		col := in + 1
		if block {
			col = indent + 1
		}
		out = append(out, Span{Off: cur + k, Line: ln, Col: col})
		cur += k + len(body)
	}
	return out
}

func parseYAMLFloat(s string) (float64, error) {
	switch strings.ToLower(strings.TrimLeft(s, "+")) {
	case ".inf":
		return math.Inf(1), nil
	case "-.inf":
		return math.Inf(-1), nil
	case ".nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
}
