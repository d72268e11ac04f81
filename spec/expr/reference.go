package expr

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/common/types"
)

// FunctionDoc describes a function every expression may call: its name,
// cel-go's description and one signature per overload.
type FunctionDoc struct {
	Name        string
	Description string
	Signatures  []string
	// Operator says the function is an operator (`_+_`, `_[_]`, `!_`).
	Operator bool
}

// MacroDoc describes a macro: `has(…)`, `list.all(x, …)`.
type MacroDoc struct {
	Name     string
	Args     int // 0: any number
	Receiver bool
}

// Functions lists the functions of the environment every place extends
// (the standard library and the pinned extensions), by name: read from the
// environment itself, so a reference built from it cannot drift.
func Functions() ([]FunctionDoc, error) {
	b, err := base()
	if err != nil {
		return nil, err
	}
	var out []FunctionDoc
	for name, f := range b.Functions() {
		if strings.Contains(name, "@") && name != "@in" || f.IsDeclarationDisabled() {
			continue // internal to macros, or declared away
		}
		d := FunctionDoc{Name: strings.TrimPrefix(name, "@"), Description: oneLine(f.Description()),
			Operator: strings.Contains(name, "_") && !isIdent(strings.ReplaceAll(name, "_", "x")) || name == "@in"}
		for _, o := range f.OverloadDecls() {
			d.Signatures = append(d.Signatures, signature(d.Name, o.IsMemberFunction(), o.ArgTypes(), o.ResultType()))
		}
		slices.Sort(d.Signatures)
		d.Signatures = slices.Compact(d.Signatures)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b FunctionDoc) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Macros lists the macros of the base environment.
func Macros() ([]MacroDoc, error) {
	b, err := base()
	if err != nil {
		return nil, err
	}
	var out []MacroDoc
	for _, m := range b.Macros() {
		out = append(out, MacroDoc{Name: m.Function(), Args: m.ArgCount(), Receiver: m.IsReceiverStyle()})
	}
	slices.SortFunc(out, func(a, b MacroDoc) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Args - b.Args
	})
	return slices.Compact(out), nil
}

func signature(name string, member bool, args []*types.Type, result *types.Type) string {
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = typeName(a)
	}
	if member && len(names) > 0 {
		return fmt.Sprintf("%s.%s(%s) → %s", names[0], name, strings.Join(names[1:], ", "), typeName(result))
	}
	return fmt.Sprintf("%s(%s) → %s", name, strings.Join(names, ", "), typeName(result))
}

func typeName(t *types.Type) string {
	if t == nil {
		return "dyn"
	}
	return t.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
