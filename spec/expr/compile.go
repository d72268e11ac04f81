package expr

import (
	"context"
	"fmt"
	"github.com/membrane-dev/membrane/spec/suggest"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
)

// Issue is a problem found compiling a template.
type Issue struct {
	// Offset is the byte offset in the template source where the problem
	// is; for a CEL error, where CEL locates it inside the expression.
	Offset  int
	Message string
}

func (i Issue) String() string { return fmt.Sprintf("offset %d: %s", i.Offset, i.Message) }

// Template is a compiled template, ready to evaluate many times
// concurrently. Compiling the same source in the same Env gives the same
// *Template.
type Template struct {
	src   string
	parts []part // nil for a literal
	lit   any    // a literal's value, boxed once so Eval does not allocate
	// single is a template that is one ${ … }, whose value is typed.
	single bool
	typ    *Type
	vars   []string
	paths  []string
}

// part is one piece of a compiled template: text, or an expression.
type part struct {
	text string
	expr *compiledExpr
}

type compiledExpr struct {
	src    string // the CEL source, as written
	offset int    // of src in the template
	prog   cel.Program
	typ    *Type
	// sel, opt and cat are set when the expression is a plain selection,
	// an optional field with a default or a concatenation of strings (see
	// fast.go).
	sel *selectPath
	opt *optSelect
	cat *concat
	// loops says the expression has a comprehension, the only place where
	// CEL checks a context; without one it is evaluated without.
	loops bool
	// offsets maps the id of each node to its offset in src, in code
	// points, so that a failure names the part that failed.
	offsets map[int64]int32
}

// compiled is what the Env caches per source: a template or its issues.
type compiled struct {
	tmpl   *Template
	issues []Issue
}

// Compile parses src, compiles and type-checks each `${ … }` in it, and
// checks the result against want: nil is any type, Scalar any type that can
// be written as text. An interpolated template is a string and each of its
// expressions must be a scalar. The Template is nil when there are issues.
func (e *Env) Compile(src string, want *Type) (*Template, []Issue) {
	c := e.tmpls.get(src, func() *compiled { return e.compile(src) })
	if c.issues != nil {
		return nil, slices.Clone(c.issues)
	}
	t := c.tmpl
	if !assignable(want, t.typ) {
		off, what := 0, "the text is a string"
		switch {
		case len(t.parts) == 1 && t.parts[0].expr != nil:
			x := t.parts[0].expr
			off, what = x.offset+leadingSpace(x.src), "the expression gives "+t.typ.String()
		case t.parts != nil:
			what = "text around ${ … } makes the template a string"
		}
		return nil, []Issue{{Offset: off, Message: fmt.Sprintf("wrong type: want %s, but %s", want, what)}}
	}
	return t, nil
}

func (e *Env) compile(src string) *compiled {
	p, err := Parse(src)
	if err != nil {
		pe := err.(*ParseError)
		return &compiled{issues: []Issue{{Offset: pe.Offset, Message: pe.Message}}}
	}
	t := &Template{src: src, typ: String}
	if p.IsLiteral() {
		text := ""
		if len(p.Parts) > 0 {
			text = p.Parts[0].Text // adjacent text parts are merged
		}
		t.lit = text
		return &compiled{tmpl: t}
	}
	var issues []Issue
	refs := refSet{}
	t.parts = make([]part, 0, len(p.Parts))
	for _, pt := range p.Parts {
		if !pt.Expr {
			t.parts = append(t.parts, part{text: pt.Text})
			continue
		}
		x, iss := e.compileExpr(pt, refs)
		if iss != nil {
			issues = append(issues, iss...)
			continue
		}
		if !p.IsSingle() && !isScalar(x.typ) {
			issues = append(issues, Issue{
				Offset:  x.offset + leadingSpace(x.src),
				Message: fmt.Sprintf("a %s cannot be written into text: make the template a single ${ … }, or turn the value into a string (e.g. with join)", x.typ),
			})
			continue
		}
		t.parts = append(t.parts, part{expr: x})
	}
	if issues != nil {
		return &compiled{issues: issues}
	}
	if p.IsSingle() {
		t.single = true
		t.typ = t.parts[0].expr.typ
	}
	t.vars, t.paths = refs.sorted()
	return &compiled{tmpl: t}
}

func (e *Env) compileExpr(pt Part, refs refSet) (*compiledExpr, []Issue) {
	ast, iss := e.cel.Compile(pt.Text)
	if iss.Err() != nil {
		var out []Issue
		for _, ce := range iss.Errors() {
			off := exprOffset(pt.Text, ce)
			if undefinedField.MatchString(ce.Message) {
				// CEL points at the dot; the name is what is wrong.
				off += len(pt.Text[off:]) - len(strings.TrimLeft(pt.Text[off:], ".? \t\r\n"))
			}
			out = append(out, Issue{Offset: pt.Offset + off, Message: e.explain(ce.Message)})
		}
		return nil, out
	}
	prog, err := e.cel.Program(ast,
		cel.CostLimit(CostLimit),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, []Issue{{Offset: pt.Offset + leadingSpace(pt.Text), Message: err.Error()}}
	}
	if bounded(e.cel, ast) {
		// The expression can never exceed the limit: it runs without the
		// cost tracker, which costs more than a small evaluation itself.
		if p, err := e.cel.Program(ast, cel.InterruptCheckFrequency(interruptEvery), cel.EvalOptions(cel.OptOptimize)); err == nil {
			prog = p
		}
	}
	x := &compiledExpr{src: pt.Text, offset: pt.Offset, prog: prog, typ: fromCEL(ast.OutputType(), e.objects)}
	x.sel = selectPathOf(ast.NativeRep().Expr(), e.vars)
	x.opt = optSelectOf(ast.NativeRep().Expr(), e.vars)
	x.cat = concatOf(ast.NativeRep().Expr(), e.vars)
	x.loops = hasLoops(ast.NativeRep().Expr())
	if strings.ContainsRune(strings.TrimSpace(pt.Text), '\n') {
		// Only a failure in an expression over several lines is located
		// finer than the expression's start: on one line, the start is
		// plain enough.
		x.offsets = map[int64]int32{}
		for id, r := range ast.NativeRep().SourceInfo().OffsetRanges() {
			x.offsets[id] = r.Start
		}
	}
	own := refSet{}
	own.collect(ast.NativeRep().Expr(), e.vars)
	if len(own) == 0 {
		// A constant expression fails the same way on every request: say
		// so when the file loads.
		if _, err := x.run(context.Background(), noVars); err != nil {
			ee := err.(*EvalError)
			return nil, []Issue{{Offset: ee.Offset, Message: ee.Message}}
		}
	}
	for r := range own {
		refs[r] = true
	}
	return x, nil
}

// noVars is the variables of a constant expression; never written to.
var noVars = map[string]any{}

// exprOffset maps a CEL error location (1-based line, 0-based column in
// code points) to a byte offset in the expression source.
func exprOffset(src string, ce *common.Error) int {
	line, col := ce.Location.Line(), ce.Location.Column()
	if line < 1 {
		return leadingSpace(src)
	}
	off := 0
	for l := 1; l < line; l++ {
		nl := strings.IndexByte(src[off:], '\n')
		if nl < 0 {
			return len(src)
		}
		off += nl + 1
	}
	for ; col > 0 && off < len(src); col-- {
		_, size := utf8.DecodeRuneInString(src[off:])
		off += size
	}
	return off
}

func leadingSpace(s string) int { return len(s) - len(strings.TrimLeft(s, " \t\r\n")) }

var (
	undefinedField = regexp.MustCompile(`^undefined field '([^']*)'$`)
	undeclaredRef  = regexp.MustCompile(`^undeclared reference to '([^'.]*)'`)
	emptyMapMisfit = regexp.MustCompile(`^found no matching overload for '` + regexp.QuoteMeta(orValueEmptyMap) + `' applied to 'optional_type\((.*)\)\.\(\)'$`)
)

// plainNames drops the nullable wrappers of declared scalars from CEL's
// messages: people write string, not wrapper(string).
var plainNames = strings.NewReplacer(
	"wrapper(bool)", "bool", "wrapper(int)", "int", "wrapper(uint)", "uint",
	"wrapper(double)", "double", "wrapper(string)", "string", "wrapper(bytes)", "bytes",
)

// explain adds a hint to CEL's messages where the Env knows better.
func (e *Env) explain(msg string) string {
	msg = plainNames.Replace(msg)
	if plain, ok := plainSyntax(msg); ok {
		return plain
	}
	if m := emptyMapMisfit.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("the default {} is a map, but the value is %s; give a default of its type (orValue([]) for a list)", m[1])
	}
	if m := undefinedField.FindStringSubmatch(msg); m != nil {
		if s := suggest.Closest(m[1], e.fields); s != "" {
			return fmt.Sprintf("%s (did you mean '%s'?)", msg, s)
		}
	}
	if m := undeclaredRef.FindStringSubmatch(msg); m != nil && !strings.Contains(msg, "did you mean") {
		if s := suggest.Closest(m[1], e.names); s != "" {
			return fmt.Sprintf("%s (did you mean '%s'?)", msg, s)
		}
		if len(e.names) > 0 {
			return fmt.Sprintf("%s (variables here: %s)", msg, strings.Join(e.names, ", "))
		}
	}
	return msg
}

// Type returns the type of the template's value: string for text and
// interpolation, the expression's type for a single `${ … }`.
func (t *Template) Type() *Type { return t.typ }

// Source returns the template's source.
func (t *Template) Source() string { return t.src }

// IsLiteral reports whether the template has no expressions.
func (t *Template) IsLiteral() bool { return t.parts == nil }

// Vars returns the declared variables the template reads, sorted, e.g.
// [input steps]. A template with none is constant.
func (t *Template) Vars() []string { return t.vars }

// Paths returns the longest constant selections from variables the
// template reads, sorted, e.g. [input.email steps.fetch.output.id]; a
// variable used whole (or indexed by a computed key) appears alone. A
// caller orders steps by them.
func (t *Template) Paths() []string { return t.paths }

// CEL's parser speaks ANTLR: plainSyntax rewrites its usual messages in
// words an author acts on.
var (
	syntaxEOF       = regexp.MustCompile(`^Syntax error: mismatched input '<EOF>' expecting`)
	syntaxMismatch  = regexp.MustCompile(`^Syntax error: (?:mismatched|extraneous) input '(.*?)' expecting (.*)$`)
	syntaxNoViable  = regexp.MustCompile(`^Syntax error: no viable alternative at input '(.*)'$`)
	syntaxBadToken  = regexp.MustCompile(`^Syntax error: token recognition error at: '(.*)'$`)
	syntaxExpectEOF = regexp.MustCompile(`<EOF>$`)
)

func plainSyntax(msg string) (string, bool) {
	switch {
	case syntaxEOF.MatchString(msg):
		return "syntax error: the expression ends too early; an operand or a closing bracket is missing", true
	case syntaxBadToken.MatchString(msg):
		m := syntaxBadToken.FindStringSubmatch(msg)
		return fmt.Sprintf("syntax error: %q cannot appear in an expression (quote text as 'text')", m[1]), true
	case syntaxNoViable.MatchString(msg):
		m := syntaxNoViable.FindStringSubmatch(msg)
		return fmt.Sprintf("syntax error: the expression cannot continue with %q", m[1]), true
	case syntaxMismatch.MatchString(msg):
		m := syntaxMismatch.FindStringSubmatch(msg)
		if syntaxExpectEOF.MatchString(m[2]) {
			return fmt.Sprintf("syntax error: %q is left over after a complete expression; is an operator missing?", m[1]), true
		}
		return fmt.Sprintf("syntax error: unexpected %q", m[1]), true
	}
	return "", false
}
