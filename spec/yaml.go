package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
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
	// maxNodes bounds the nodes one file may expand to through aliases
	// (the "billion laughs" anchor bomb).
	maxNodes = 1 << 20
	// maxDepth bounds nesting.
	maxDepth = 200
)

// Document is one YAML document of a file.
type Document struct {
	Root *Value
	Pos  diag.Pos
}

// ParseYAML reads every document of a YAML file. It reports every problem it
// can find as diagnostics; a document it cannot read is left out.
func ParseYAML(file string, data []byte) ([]Document, diag.List) {
	var diags diag.List
	if len(data) > MaxFileSize {
		return nil, diag.List{fileTooLarge(file, len(data))}
	}
	if p, ok := binaryAt(data); ok {
		diags.Errorf(diag.Pos{File: file, Line: p.line, Col: p.col}, "not-text",
			"file is not UTF-8 text (a binary byte at offset %d); keep only YAML files in the workspace", p.offset)
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
		c := converter{file: file}
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
)

func syntaxDiagnostic(file string, data []byte, err error) diag.Diagnostic {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if parserProblems.MatchString(msg) {
			// The parser (unlike the scanner) reports the 0-based line where
			// the unfinished construct began.
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if line == 0 {
		line = strings.Count(string(data), "\n") + 1 // the parser hit the end
	}
	col := 1
	text := lineText(data, line)
	if i := strings.IndexByte(text, '\t'); i >= 0 && strings.TrimLeft(text[:i], " ") == "" {
		col = i + 1
		msg = "a tab indents this line; YAML indents with spaces only"
	} else {
		col = len(text) - len(strings.TrimLeft(text, " ")) + 1
	}
	hint := ""
	switch {
	case strings.Contains(msg, "unexpected end of stream"):
		hint = "; a quoted string or a block is never closed (a half-saved file?)"
	case strings.Contains(msg, "did not find expected") || strings.Contains(msg, "could not find expected"):
		hint = "; check the indentation and that quotes and brackets are closed (a half-saved file?)"
	}
	return diag.Diagnostic{Pos: diag.Pos{File: file, Line: line, Col: col}, Severity: diag.Error, Rule: "yaml-syntax", Message: msg + hint}
}

func lineText(data []byte, line int) string {
	for i := 1; i < line; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
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

func fileTooLarge(file string, size int) diag.Diagnostic {
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
	file   string
	nodes  int
	diags  diag.List
	active []*yaml.Node // aliases being expanded, to catch self-references
	failed bool
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
		return c.fail(n, "yaml-too-large", "the document expands to more than %d nodes (an alias bomb?); write the values out or reduce the aliases", maxNodes)
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
		v := c.convert(n.Alias, depth+1)
		c.active = c.active[:len(c.active)-1]
		if v != nil {
			// An expanded alias reports the alias's place, not the anchor's.
			v = v.Clone()
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
		if prev := v.Field(k.Value); prev != nil {
			c.diags.Errorf(c.pos(k), "duplicate-key", "key %q appears twice in this mapping (first at line %d); remove one", k.Value, prev.KeyPos.Line)
			continue
		}
		fv := c.convert(val, depth+1)
		if fv == nil {
			return nil
		}
		v.Fields = append(v.Fields, Field{Key: k.Value, KeyPos: c.pos(k), Value: fv})
	}
	for _, m := range merged {
		for _, f := range m.Fields {
			if v.Field(f.Key) == nil {
				v.Fields = append(v.Fields, f)
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
	}
	return v
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
