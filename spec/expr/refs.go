package expr

import (
	"maps"
	"slices"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
)

// refSet collects the variable paths an expression reads.
type refSet map[string]bool

func (r refSet) sorted() (vars, paths []string) {
	paths = slices.Sorted(maps.Keys(r))
	seen := map[string]bool{}
	for _, p := range paths {
		v, _, _ := strings.Cut(p, ".")
		if !seen[v] {
			seen[v] = true
			vars = append(vars, v)
		}
	}
	return vars, paths
}

// collect walks a parsed expression (macros expanded) and records every
// maximal selection path rooted at a declared variable. Comprehension
// variables shadow declared ones inside their loop.
func (r refSet) collect(e ast.Expr, declared map[string]*Type) {
	w := refWalker{refs: r, declared: declared, shadow: map[string]int{}}
	w.walk(e)
}

type refWalker struct {
	refs     refSet
	declared map[string]*Type
	shadow   map[string]int
}

func (w *refWalker) walk(e ast.Expr) {
	if p, ok := w.path(e); ok {
		w.refs[strings.Join(p, ".")] = true
		return
	}
	switch e.Kind() {
	case ast.SelectKind:
		w.walk(e.AsSelect().Operand())
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			w.walk(c.Target())
		}
		for _, a := range c.Args() {
			w.walk(a)
		}
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			w.walk(x)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			w.walk(en.AsMapEntry().Key())
			w.walk(en.AsMapEntry().Value())
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.walk(f.AsStructField().Value())
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		w.walk(c.IterRange())
		w.walk(c.AccuInit())
		locals := []string{c.IterVar(), c.IterVar2(), c.AccuVar()}
		for _, l := range locals {
			w.shadow[l]++
		}
		w.walk(c.LoopCondition())
		w.walk(c.LoopStep())
		w.walk(c.Result())
		for _, l := range locals {
			w.shadow[l]--
		}
	}
}

// path returns the selection path e denotes: a declared variable followed
// by fields, optional fields and constant string indexes.
func (w *refWalker) path(e ast.Expr) ([]string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		name := e.AsIdent()
		if _, ok := w.declared[name]; ok && w.shadow[name] == 0 {
			return []string{name}, true
		}
	case ast.SelectKind:
		s := e.AsSelect()
		if p, ok := w.path(s.Operand()); ok {
			return append(p, s.FieldName()), true
		}
	case ast.CallKind:
		c := e.AsCall()
		switch c.FunctionName() {
		case "_?._", "_[_]", "_[?_]":
			args := c.Args()
			if len(args) != 2 || args[1].Kind() != ast.LiteralKind {
				return nil, false
			}
			key, ok := args[1].AsLiteral().(types.String)
			if !ok {
				return nil, false
			}
			if p, ok := w.path(args[0]); ok {
				return append(p, string(key)), true
			}
		}
	}
	return nil, false
}
