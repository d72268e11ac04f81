package expr

import (
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
)

// Fast paths. Most templates in a connector are a plain selection such as
// `${ input.email }` or `${ response.body.address.city }`. Running them
// through CEL costs an execution frame, a cost tracker and the conversion
// of the result to and from CEL values, many times the work of the map
// lookups they stand for. A selection is therefore evaluated by those
// lookups directly when the data is plain JSON-like Go (maps of string to
// any, strings, bools, int64, float64, lists), and by CEL whenever
// anything else is met: a missing key, a value of another Go type, a
// number its declared type would convert. The fast path gives a result
// only where CEL gives the very same one, and leaves every error, and its
// message, to CEL.

// selectPath is an expression that is a declared variable followed by
// field selections: `input`, `record.id`, `response.body.address.city`.
type selectPath struct {
	root   string
	fields []string
	// leaf is the static kind of the result: a field declared int or
	// double converts the number it holds (see numberConv), which the fast
	// path leaves to CEL unless the value already has that type.
	leaf Kind
}

// selectPathOf recognises a selection in a checked expression. Optional
// selection (`.?`), presence tests (`has()`), indexes and map types other
// than string-keyed ones are not selections here.
func selectPathOf(e ast.Expr, vars map[string]*Type) *selectPath {
	p, _ := selectPathType(e, vars)
	return p
}

// selectPathType is selectPathOf that also gives the static type of the
// selection.
func selectPathType(e ast.Expr, vars map[string]*Type) (*selectPath, *Type) {
	var rev []string
	for e.Kind() == ast.SelectKind {
		s := e.AsSelect()
		if s.IsTestOnly() {
			return nil, nil
		}
		rev = append(rev, s.FieldName())
		e = s.Operand()
	}
	if e.Kind() != ast.IdentKind {
		return nil, nil
	}
	p := &selectPath{root: e.AsIdent(), fields: make([]string, len(rev))}
	t, ok := vars[p.root]
	if !ok {
		return nil, nil
	}
	for i, f := range rev {
		p.fields[len(rev)-1-i] = f
	}
	for _, f := range p.fields {
		switch t.kind {
		case KindObject:
			if t = t.fields[f]; t == nil {
				return nil, nil
			}
		case KindMap:
			if t.key.kind != KindString && t.key.kind != KindDyn {
				return nil, nil
			}
			t = t.elem
		case KindDyn:
		default:
			return nil, nil
		}
	}
	p.leaf = t.kind
	return p, t
}

// eval returns the selection's value, and false when CEL must decide.
func (p *selectPath) eval(vars map[string]any) (any, bool) {
	cur, ok := vars[p.root]
	if !ok {
		return nil, false
	}
	for _, f := range p.fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[f]; !ok {
			return nil, false
		}
	}
	return plainValue(cur, p.leaf)
}

// optSelect is an optional field with a constant default,
// `record.?phone.orValue(null)`: the field of the object the selection
// path gives, or the default when the field is absent. A field of a
// declared object (a schema) that holds null counts as absent, as it does
// for CEL here (see fieldType); a key of a map or of dyn data that holds
// null gives null.
type optSelect struct {
	parent     *selectPath
	field      string
	nullAbsent bool // the parent is a declared object
	leaf       Kind // the field's static kind, as selectPath.leaf
	def        any  // the default, as plain Go
}

// optSelectOf recognises `<selection>.?field.orValue(<literal>)`.
func optSelectOf(e ast.Expr, vars map[string]*Type) *optSelect {
	if e.Kind() != ast.CallKind {
		return nil
	}
	c := e.AsCall()
	if c.FunctionName() != "orValue" || !c.IsMemberFunction() || len(c.Args()) != 1 || c.Args()[0].Kind() != ast.LiteralKind {
		return nil
	}
	var def any
	switch l := c.Args()[0].AsLiteral().(type) {
	case types.Null:
	case types.String:
		def = string(l)
	case types.Int:
		def = int64(l)
	case types.Double:
		def = float64(l)
	case types.Bool:
		def = bool(l)
	default:
		return nil
	}
	t := c.Target()
	if t.Kind() != ast.CallKind || t.AsCall().FunctionName() != "_?._" || len(t.AsCall().Args()) != 2 {
		return nil
	}
	args := t.AsCall().Args()
	if args[1].Kind() != ast.LiteralKind {
		return nil
	}
	field, ok := args[1].AsLiteral().(types.String)
	if !ok {
		return nil
	}
	parent, pt := selectPathType(args[0], vars)
	if parent == nil {
		return nil
	}
	o := &optSelect{parent: parent, field: string(field), def: def}
	switch pt.kind {
	case KindObject:
		ft := pt.fields[o.field]
		if ft == nil {
			return nil
		}
		o.nullAbsent, o.leaf = true, ft.kind
	case KindMap:
		if pt.key.kind != KindString && pt.key.kind != KindDyn {
			return nil
		}
		o.leaf = pt.elem.kind
	case KindDyn:
		o.leaf = KindDyn
	default:
		return nil
	}
	return o
}

// eval returns the field or the default, and false when CEL must decide.
func (o *optSelect) eval(vars map[string]any) (any, bool) {
	p, ok := o.parent.eval(vars)
	if !ok {
		return nil, false
	}
	m, ok := p.(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[o.field]
	if !ok || (v == nil && o.nullAbsent) {
		return o.def, true
	}
	return plainValue(v, o.leaf)
}

// plainValue returns v when CEL would hand it back unchanged (toGo of its
// CEL form is v itself): JSON-like values, and numbers already of the
// declared kind.
func plainValue(v any, leaf Kind) (any, bool) {
	switch v.(type) {
	case nil, string, bool, []any, map[string]any:
	case int64:
		if leaf == KindDouble {
			return nil, false
		}
	case float64:
		if leaf == KindInt {
			return nil, false
		}
	default:
		return nil, false
	}
	return v, true
}

// concat is a concatenation of string literals and selections,
// `record.first + ' ' + record.last`. When every selection gives a string
// CEL concatenates them (other values pick other overloads, or fail:
// those go to CEL). The total length is capped so that the cost CEL
// charges for the concatenations (a tenth of a unit per byte, per `+`)
// stays far below CostLimit: the fast path never hides a cost failure.
type concat struct {
	parts []concatPart
}

type concatPart struct {
	lit string
	sel *selectPath
}

const (
	maxConcatParts = 16
	maxConcatBytes = 64 << 10
)

func concatOf(e ast.Expr, vars map[string]*Type) *concat {
	c := &concat{}
	if !c.collect(e, vars) || len(c.parts) < 2 || len(c.parts) > maxConcatParts {
		return nil
	}
	return c
}

func (c *concat) collect(e ast.Expr, vars map[string]*Type) bool {
	if len(c.parts) > maxConcatParts {
		return false
	}
	switch e.Kind() {
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != "_+_" || call.IsMemberFunction() || len(call.Args()) != 2 {
			return false
		}
		return c.collect(call.Args()[0], vars) && c.collect(call.Args()[1], vars)
	case ast.LiteralKind:
		s, ok := e.AsLiteral().(types.String)
		if !ok {
			return false
		}
		c.parts = append(c.parts, concatPart{lit: string(s)})
		return true
	}
	sel := selectPathOf(e, vars)
	if sel == nil {
		return false
	}
	c.parts = append(c.parts, concatPart{sel: sel})
	return true
}

func (c *concat) eval(vars map[string]any) (any, bool) {
	var buf [maxConcatParts]string
	strs := buf[:len(c.parts)]
	n := 0
	for i, p := range c.parts {
		if p.sel == nil {
			strs[i] = p.lit
		} else {
			v, ok := p.sel.eval(vars)
			if !ok {
				return nil, false
			}
			if strs[i], ok = v.(string); !ok {
				return nil, false
			}
		}
		if n += len(strs[i]); n > maxConcatBytes {
			return nil, false
		}
	}
	return strings.Join(strs, ""), true
}

// fast evaluates the expression without CEL when a fast path applies
// and the data allows; false means run CEL.
func (x *compiledExpr) fast(vars map[string]any) (any, bool) {
	switch {
	case x.sel != nil:
		return x.sel.eval(vars)
	case x.opt != nil:
		return x.opt.eval(vars)
	case x.cat != nil:
		return x.cat.eval(vars)
	}
	return nil, false
}

// hasLoops reports whether a checked expression holds a comprehension
// (all, exists, map, filter, …): the only place CEL looks at a context to
// stop an evaluation early.
func hasLoops(e ast.Expr) bool {
	switch e.Kind() {
	case ast.ComprehensionKind:
		return true
	case ast.SelectKind:
		return hasLoops(e.AsSelect().Operand())
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() && hasLoops(c.Target()) {
			return true
		}
		for _, a := range c.Args() {
			if hasLoops(a) {
				return true
			}
		}
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			if hasLoops(x) {
				return true
			}
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			if hasLoops(en.AsMapEntry().Key()) || hasLoops(en.AsMapEntry().Value()) {
				return true
			}
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			if hasLoops(f.AsStructField().Value()) {
				return true
			}
		}
	}
	return false
}

// bounded reports whether CEL's static estimate of an expression's cost,
// made with the same cost model as the run-time tracker and with every
// size unknown, stays within CostLimit. Such an expression (comparisons,
// arithmetic, logic, constant-cost functions; nothing whose cost grows
// with the size of a string or a list) cannot fail the limit, so tracking
// its cost only costs time.
func bounded(env *cel.Env, a *cel.Ast) bool {
	est, err := env.EstimateCost(a, nil)
	return err == nil && est.Max <= CostLimit
}
