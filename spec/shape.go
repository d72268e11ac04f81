package spec

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// The file kinds' schemas are compiled once per process.
var kindSchemas = sync.OnceValues(schemas.Compile)

// checkShape validates a document against its kind's JSON Schema and reports
// each violation at the key or value it concerns. The schemas package words
// the violations (with the condition under which a field is allowed, and the
// schema's own messages for patterns); this places them and names the rule.
func checkShape(kindName string, doc *tree.Value, diags *diag.List) {
	all, err := kindSchemas()
	if err != nil {
		diags.Errorf(doc.Pos, "internal", "the %s schema does not compile: %v", kindName, err)
		return
	}
	sch := all[kindName]
	if sch == nil {
		return
	}
	for _, is := range schemas.Issues(sch.Validate(doc.Interface())) {
		reportIssue(doc, is, diags)
	}
}

func reportIssue(doc *tree.Value, is schemas.Issue, diags *diag.List) {
	rule := issueRule(is)
	msg := is.Message
	var pos diag.Pos
	if is.Key && len(is.Path) > 0 {
		parent := doc.Lookup(tree.Pointer(is.Path[:len(is.Path)-1]...))
		name := is.Path[len(is.Path)-1]
		pos = doc.Pos
		if parent != nil {
			pos = parent.Pos
		}
		if f := parent.Field(name); f != nil {
			pos = f.KeyPos
		}
		if is.Suggestion == "" && strings.Contains(msg, "; allowed: ") {
			// The schemas package counts a swap of two letters as two edits.
			if c := suggest.Closest(name, is.Allowed); c != "" {
				msg = msg[:strings.Index(msg, "; allowed: ")] + "; did you mean '" + c + "'?"
			}
		}
	} else {
		pos = valuePos(doc, is.Path)
		node := doc.Lookup(tree.Pointer(is.Path...))
		if rule == "wrong-type" && node != nil && node.Kind == tree.String && node.Quoted && looksNumeric(node.Str) {
			msg += "; remove the quotes"
		}
		if len(is.Path) > 0 {
			msg = fieldPath(is.Path) + ": " + msg
		}
	}
	diags.Errorf(pos, rule, "%s", msg)
}

// issueRule names the rule a schema issue breaks, from the keyword that
// failed.
func issueRule(is schemas.Issue) string {
	kw := is.Keyword[strings.LastIndexByte(is.Keyword, '/')+1:]
	switch {
	case is.Key:
		return "unknown-field"
	case kw == "required" || kw == "dependentRequired" || strings.HasPrefix(is.Message, "missing property"):
		return "missing-field"
	case kw == "type":
		return "wrong-type"
	case slices.Contains([]string{"enum", "const", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
		"minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "multipleOf"}, kw):
		return "invalid-value"
	}
	return "schema"
}

// valuePos is where to report a problem of the value at path: the value
// itself, or its key when the value starts on a later line (a block mapping
// or list, whose first line is one of its children).
func valuePos(doc *tree.Value, path []string) diag.Pos {
	node := doc.Lookup(tree.Pointer(path...))
	if node == nil {
		return doc.Pos
	}
	if len(path) > 0 {
		parent := doc.Lookup(tree.Pointer(path[:len(path)-1]...))
		if f := parent.Field(path[len(path)-1]); f != nil && f.KeyPos.Line < node.Pos.Line {
			return f.KeyPos
		}
	}
	return node.Pos
}

// fieldPath writes a path for a message: auth.type, errors[0].status.
func fieldPath(path []string) string {
	var b strings.Builder
	for _, t := range path {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

func looksNumeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}
