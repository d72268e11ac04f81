package compile

import (
	"maps"
	"slices"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/expr"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Step statuses, as `steps.<name>.status` gives them.
const (
	StepOK      = "ok"
	StepFailed  = "failed"
	StepSkipped = "skipped"
	StepPartial = "partial"
)

// ErrorVarType is the type of `error` in onError blocks: the failure caught.
// item is the index of the failing forEach item, or null.
var ErrorVarType = expr.Object("error", map[string]*expr.Type{
	"type":    expr.String,
	"status":  expr.Int,
	"message": expr.String,
	"step":    expr.String,
	"item":    expr.Dyn,
})

// itemErrorType is the error of one failed item of a forEach step with
// onItemError: continue.
func itemErrorType(step string) *expr.Type {
	return expr.Object("steps."+step+".error", map[string]*expr.Type{
		"type":     expr.String,
		"status":   expr.Int,
		"message":  expr.String,
		"attempts": expr.Int,
	})
}

// stepType is the type of `steps.<name>`: the output and the metadata.
func stepType(name string, output *expr.Type) *expr.Type {
	return expr.Object("steps."+name, map[string]*expr.Type{
		"output":   output,
		"skipped":  expr.Bool,
		"status":   expr.String,
		"attempts": expr.Int,
	})
}

// CalleeOutputs gives the output schema of a called action by key (nil:
// untyped). Nil means every called action's output is untyped.
type CalleeOutputs func(key string) *tree.Value

// stepsSoFar is what the steps compiled so far give those after them:
// their `steps.<name>` types and the `vars` their let blocks named.
type stepsSoFar struct {
	steps map[string]*expr.Type
	vars  map[string]*expr.Type
}

func (c stepsSoFar) clone() stepsSoFar {
	return stepsSoFar{steps: maps.Clone(c.steps), vars: maps.Clone(c.vars)}
}

// scope types `steps` and `vars` by what is known so far.
func (c stepsSoFar) scope(s *Scope) *Scope {
	return s.With(VarSteps, expr.Object("steps", c.steps)).With(VarVars, expr.Object("vars", c.vars))
}

// stepCompiler compiles the steps of one action.
type stepCompiler struct {
	callees CalleeOutputs
	output  *tree.Value // the action's output schema, for return
	diags   *diag.List
}

// steps compiles a list of steps in order; withError adds `error` (the
// steps of an onError block). known gains what each step gives.
func (sc *stepCompiler) steps(s *Scope, steps []spec.Step, known *stepsSoFar, withError bool) []Step {
	out := make([]Step, 0, len(steps))
	for i := range steps {
		out = append(out, sc.step(s, &steps[i], known, withError))
	}
	return out
}

func (sc *stepCompiler) step(s *Scope, st *spec.Step, known *stepsSoFar, withError bool) Step {
	diags := sc.diags
	extra := []string{VarVars}
	if withError {
		extra = append(extra, VarError)
	}
	cond := slices.Concat(varsStepCond, extra)
	each := slices.Concat(varsStep, extra)
	forEach := !st.ForEach.IsZero()

	ss := known.scope(s)
	cs := Step{Src: st}
	whenVars := cond
	if forEach {
		whenVars = slices.Concat(cond, []string{VarItem, VarIndex})
		cs.WhenPerItem = len(usedVars(st.When.Source, []string{VarItem, VarIndex})) > 0
	}
	cs.When = ss.Compile(st.When, expr.Bool, diags, whenVars...)
	cs.ForEach = ss.Compile(st.ForEach, listOrDyn, diags, cond...)

	// let: each name sees the ones before it.
	local := known.clone()
	if st.Let != nil && st.Let.Kind == tree.Map {
		for _, f := range st.Let.Fields {
			m := local.scope(s).CompileValue(f.Value, nil, diags, each...)
			cs.Let = append(cs.Let, Let{Name: f.Key, Value: m})
			local.vars[f.Key] = m.typeAs("vars." + f.Key)
		}
	}
	ls := local.scope(s)
	cs.Request = compileRequest(ls, st.Request, diags, slices.Concat(each, []string{VarCredentials}))
	cs.Errors = compileErrors(ls, st.Errors, diags, slices.Concat(each, []string{VarResponse}))
	cs.Retry = compileRetry(ls, st.Retry, diags, slices.Concat(each, []string{VarResponse}))
	var calleeOut *expr.Type = expr.Dyn
	if st.Action != "" && sc.callees != nil {
		if sch := sc.callees(st.Action); sch != nil {
			calleeOut = expr.FromSchema("steps."+st.Name+".result", sch.Interface())
		}
	}
	cs.Input = ls.CompileValue(st.Input, nil, diags, each...)
	outVars := slices.Concat(each, []string{VarResponse})
	os := ls
	if st.Action != "" {
		outVars = slices.Concat(each, []string{VarResult})
		os = ls.With(VarResult, calleeOut)
	}
	cs.Output = os.CompileValue(st.Output, nil, diags, outVars...)
	cs.Return = ls.CompileValue(st.Return, sc.output, diags, cond...)
	if st.OnError != nil {
		// The compensation sees the steps before this one, and this
		// step's lets.
		catch := local.clone()
		if forEach {
			catch = known.clone()
		}
		cs.OnError = sc.onError(s, st.OnError, &catch, nil)
	}

	// What later steps see.
	var outT *expr.Type
	switch {
	case cs.Output != nil:
		outT = cs.Output.typeAs("steps." + st.Name + ".output")
	case st.Action != "":
		outT = calleeOut
	default:
		outT = expr.Dyn
	}
	if forEach {
		if st.OnItemError == spec.OnItemContinue {
			outT = expr.ListOf(expr.Object("steps."+st.Name+".item", map[string]*expr.Type{
				"ok":      expr.Bool,
				"skipped": expr.Bool,
				"output":  outT,
				"error":   itemErrorType(st.Name),
			}))
		} else {
			outT = expr.ListOf(outT)
		}
	}
	if st.OnError != nil && st.OnError.Return != nil {
		outT = expr.Dyn // the caught failure's value, or the result
	}
	if st.Return == nil {
		known.steps[st.Name] = stepType(st.Name, outT)
	}
	if !forEach {
		known.vars = local.vars
	}
	return cs
}

// onError compiles a catch block; contract checks the value it returns
// (the action's output schema, for the action's block).
func (sc *stepCompiler) onError(s *Scope, oe *spec.OnError, known *stepsSoFar, contract *tree.Value) *OnError {
	co := &OnError{Src: oe}
	s = s.With(VarError, ErrorVarType)
	co.Steps = sc.steps(s, oe.Steps, known, true)
	vars := slices.Concat(varsStepCond, []string{VarVars, VarError})
	co.Return = known.scope(s).CompileValue(oe.Return, contract, sc.diags, vars...)
	return co
}

// typeAs is the type of the value a mapping gives: a template's type, an
// object of its fields' types (named name), or a literal's.
func (m *Mapping) typeAs(name string) *expr.Type {
	switch {
	case m == nil:
		return expr.Dyn
	case m.expr != nil:
		if t := m.expr.Type(); t != nil {
			return t
		}
		return expr.Dyn
	case m.isMap:
		fields := make(map[string]*expr.Type, len(m.keys))
		for i, k := range m.keys {
			fields[k] = m.fields[i].typeAs(name + "." + k)
		}
		return expr.Object(name, fields)
	case m.isList:
		return expr.ListOf(expr.Dyn)
	}
	switch m.lit.(type) {
	case string:
		return expr.String
	case bool:
		return expr.Bool
	case int64:
		return expr.Int
	case float64:
		return expr.Double
	}
	return expr.Dyn
}
