package expr

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// The versions of CEL's libraries, pinned so that upgrading cel-go never
// changes which functions a connector may call: a file that validates today
// validates tomorrow. Each is the newest that cel-go v0.33.2 offers; raise
// them deliberately, with a changelog entry.
const (
	optionalTypesVersion        = 4
	stringsVersion              = 5
	listsVersion                = 5
	mathVersion                 = 3
	encodersVersion             = 2
	setsVersion                 = 0
	twoVarComprehensionsVersion = 0
	regexVersion                = 0
	bindingsVersion             = 1
	// The cost model (how work is charged against CostLimit) is left at
	// cel-go's latest on purpose: pinning it (cel.CostModelVersion) makes
	// cel-go rebuild its cost tables for every program, which tripled
	// compile time. The limit is a safety bound, not a contract, so a
	// revision that moves charges a little is harmless.
)

// Limits that bound every expression, so that no file can make a request
// hang or exhaust memory.
const (
	// MaxExpressionSize is the longest expression, in code points.
	MaxExpressionSize = 16 << 10
	// maxParseDepth bounds the nesting of an expression's syntax.
	maxParseDepth = 200
	// maxNodes bounds an expression's syntax tree, macros expanded.
	maxNodes = 10_000
	// maxRangeSize bounds lists.range(n).
	maxRangeSize = 100_000
	// CostLimit bounds the work of one evaluation, in CEL's cost units
	// (about one per operation or element visited). It is Kubernetes'
	// per-expression limit; an expression over it fails with "cost limit
	// exceeded".
	CostLimit = 1_000_000
	// interruptEvery is how many comprehension steps pass between checks
	// of EvalContext's context.
	interruptEvery = 100
	// maxEnvs and maxTemplates bound the caches (environments, and
	// templates per environment); past the bound a cache starts over, so a
	// long `membrane dev` session does not grow without end.
	maxEnvs      = 1 << 14
	maxTemplates = 1 << 12
)

// base is the environment every Env extends: the standard library and the
// pinned extensions, with no variables.
var base = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.OptionalTypes(cel.OptionalTypesVersion(optionalTypesVersion)),
		ext.Strings(ext.StringsVersion(stringsVersion)),
		ext.Lists(ext.ListsVersion(listsVersion), ext.ListsMaxRangeSize(maxRangeSize)),
		ext.Math(ext.MathVersion(mathVersion)),
		ext.Encoders(ext.EncodersVersion(encodersVersion)),
		textCodecCosts,
		ext.Sets(ext.SetsVersion(setsVersion)),
		ext.TwoVarComprehensions(ext.TwoVarComprehensionsVersion(twoVarComprehensionsVersion)),
		ext.Regex(ext.RegexVersion(regexVersion)),
		ext.Bindings(ext.BindingsVersion(bindingsVersion)),
		// JSON numbers compare as people expect: 1 < 1.5.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		// input.`first-name` selects a property that is not an identifier.
		cel.EnableIdentifierEscapeSyntax(),
		cel.ParserExpressionSizeLimit(MaxExpressionSize),
		cel.ParserRecursionLimit(maxParseDepth),
		cel.ExpressionNodeLimit(maxNodes),
		cel.Macros(emptyMapDefault),
	)
})

// textCodecCosts charges json.* and yaml.* by the text they read or
// write, as CEL charges its string functions. The encoders extension
// charges them as unbounded, so under CostLimit every call of them
// failed with "cost limit exceeded"; a later model replaces an earlier
// one of the same overload.
var textCodecCosts = func() cel.EnvOption {
	parse := func(id string) cost.OverloadModel {
		// Parsing reads the text once; what it makes is no larger.
		return cost.Overload(id, cost.EvalCost(cost.Sum(cost.Const(1), cost.StringScan(cost.Arg(0)))), cost.ResultSize(cost.Arg(0)))
	}
	encode := func(id string) cost.OverloadModel {
		// Encoding writes the text once: charged by its length.
		return cost.Overload(id, cost.EvalCost(cost.Sum(cost.Const(1), cost.StringScan(cost.Result()))), cost.ResultSize(cost.AtMost(cost.Const(math.MaxUint64))))
	}
	return cel.CostModel(
		encode("json_encode_dyn"), parse("json_parse_string"), parse("json_parse_string_type"),
		encode("yaml_encode_dyn"), parse("yaml_parse_string"), parse("yaml_parse_string_type"),
	)
}()

// emptyMapDefault lets `{}` stand in for an absent object or map:
// `input.?address.orValue({})` is typed as input.address is, as
// `input.?tags.orValue([])` is. CEL's orValue wants the default to have
// the optional's type, and a map literal is never one of our object types,
// so the macro turns `x.orValue({})` into a call of orValueEmptyMap, which
// each Env declares for maps and for each of its object types (see
// emptyMapOverloads); on anything else (a list) it is a type error.
var emptyMapDefault = cel.ReceiverMacro("orValue", 1,
	func(f cel.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		if args[0].Kind() != ast.MapKind || args[0].AsMap().Size() != 0 {
			return nil, nil
		}
		return f.NewMemberCall(orValueEmptyMap, target), nil
	})

// orValueEmptyMap is the function `x.orValue({})` calls; its name is what
// a type error shows.
const orValueEmptyMap = "orValue({})"

// emptyMapOverloads declares orValueEmptyMap for the Env's object types
// and for maps: at run time objects are maps, and an absent one gives {}.
func emptyMapOverloads(objs map[string]*Type) cel.EnvOption {
	orEmpty := cel.UnaryBinding(func(v ref.Val) ref.Val {
		if o, ok := v.(*types.Optional); ok && o.HasValue() {
			return o.GetValue()
		}
		return types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})
	})
	k, v := cel.TypeParamType("K"), cel.TypeParamType("V")
	opts := []cel.FunctionOpt{cel.MemberOverload("orValue_empty_map",
		[]*cel.Type{cel.OptionalType(cel.MapType(k, v))}, cel.MapType(k, v), orEmpty)}
	for i, n := range slices.Sorted(maps.Keys(objs)) {
		t := objs[n].cel
		opts = append(opts, cel.MemberOverload(fmt.Sprintf("orValue_empty_object_%d", i),
			[]*cel.Type{cel.OptionalType(t)}, t, orEmpty))
	}
	return cel.Function(orValueEmptyMap, opts...)
}

// Env is the set of variables templates of one place may use (`input`,
// `response`, …) with their types. It is immutable and safe for concurrent
// use; NewEnv returns the same *Env for the same declarations, and an Env
// caches what it compiles.
type Env struct {
	cel     *cel.Env
	vars    map[string]*Type
	objects map[string]*Type // by CEL name
	names   []string         // variable names, sorted
	fields  []string         // every object field name, for suggestions
	tmpls   onceMap[*compiled]
}

var envs = onceMap[envResult]{max: maxEnvs}

type envResult struct {
	env *Env
	err error
}

// NewEnv returns the environment declaring vars (name → type; nil is dyn).
func NewEnv(vars map[string]*Type) (*Env, error) {
	names := slices.Sorted(maps.Keys(vars))
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, orDyn(vars[n]).fp)
	}
	fp := string(h.Sum(nil))
	r := envs.get(fp, func() envResult {
		e, err := newEnv(names, vars)
		return envResult{e, err}
	})
	return r.env, r.err
}

func newEnv(names []string, vars map[string]*Type) (*Env, error) {
	b, err := base()
	if err != nil {
		return nil, fmt.Errorf("expr: base environment: %w", err)
	}
	e := &Env{vars: make(map[string]*Type, len(vars)), objects: map[string]*Type{}, names: names}
	e.tmpls.max = maxTemplates
	fieldSet := map[string]bool{}
	opts := make([]cel.EnvOption, 0, len(vars)+1)
	for _, n := range names {
		t := orDyn(vars[n])
		if !isIdent(n) {
			return nil, fmt.Errorf("expr: variable name %q is not an identifier", n)
		}
		e.vars[n] = t
		if err := e.collect(t, fieldSet); err != nil {
			return nil, err
		}
		opts = append(opts, cel.Variable(n, t.cel))
	}
	e.fields = slices.Sorted(maps.Keys(fieldSet))
	opts = append(opts, cel.CustomTypeProvider(newProvider(b.CELTypeProvider(), e.objects)), emptyMapOverloads(e.objects))
	e.cel, err = b.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("expr: %w", err)
	}
	return e, nil
}

// collect registers the object types reachable from t.
func (e *Env) collect(t *Type, fieldSet map[string]bool) error {
	switch t.kind {
	case KindList, KindOptional:
		return e.collect(t.elem, fieldSet)
	case KindMap:
		if err := e.collect(t.key, fieldSet); err != nil {
			return err
		}
		return e.collect(t.elem, fieldSet)
	case KindObject:
		name := t.cel.TypeName()
		if prev, ok := e.objects[name]; ok {
			if !prev.Equal(t) {
				return fmt.Errorf("expr: two different object types are named %q", t.name)
			}
			return nil
		}
		e.objects[name] = t
		for _, f := range t.names {
			fieldSet[f] = true
			if err := e.collect(t.fields[f], fieldSet); err != nil {
				return err
			}
		}
	}
	return nil
}

// Vars returns the declared variables and their types.
func (e *Env) Vars() map[string]*Type { return maps.Clone(e.vars) }

// onceMap is a concurrent cache that computes each value once, so that
// callers racing on one key all get the same result (and the same pointer).
type onceMap[V any] struct {
	m   sync.Map // string → *onceEntry[V]
	n   atomic.Int64
	max int64
}

type onceEntry[V any] struct {
	once sync.Once
	v    V
}

func (c *onceMap[V]) get(key string, make func() V) V {
	v, ok := c.m.Load(key)
	if !ok {
		if c.n.Add(1) > c.max {
			c.m.Clear()
			c.n.Store(1)
		}
		v, _ = c.m.LoadOrStore(key, &onceEntry[V]{})
	}
	e := v.(*onceEntry[V])
	e.once.Do(func() { e.v = make() })
	return e.v
}

func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}
