package expr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// EvalError is an expression that failed at run time.
type EvalError struct {
	// Expr is the expression's CEL source, trimmed.
	Expr string
	// Offset is the byte offset of Expr in the template, so the caller
	// can name the file and line.
	Offset  int
	Message string
	// Err is CEL's error, when there is one.
	Err error
}

func (e *EvalError) Error() string { return fmt.Sprintf("${ %s }: %s", e.Expr, e.Message) }

func (e *EvalError) Unwrap() error { return e.Err }

// Eval evaluates the template with the given variables (name → value;
// values are plain Go: maps, slices, strings, numbers, time.Time). The
// result is plain Go as well, ready for JSON: nil, bool, int64, float64,
// string, []any, map[string]any; a uint64 that int64 holds becomes int64, a
// timestamp RFC 3339 text, a duration Go duration text, an optional its
// value or nil. Parts of vars may be returned as they are, not copied.
// Failures are *EvalError.
func (t *Template) Eval(vars map[string]any) (any, error) {
	return t.eval(context.Background(), vars)
}

// EvalContext is Eval that also stops when ctx is done.
func (t *Template) EvalContext(ctx context.Context, vars map[string]any) (any, error) {
	return t.eval(ctx, vars)
}

func (t *Template) eval(ctx context.Context, vars map[string]any) (any, error) {
	if t.parts == nil {
		return t.lit, nil
	}
	if vars == nil {
		vars = noVars
	}
	if t.single {
		x := t.parts[0].expr
		if v, ok := x.fast(vars); ok {
			return v, nil
		}
		v, err := x.run(ctx, vars)
		if err != nil {
			return nil, err
		}
		out, err := toGo(v)
		if err != nil {
			return nil, x.fail(err)
		}
		return out, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		if v, ok := p.expr.fast(vars); ok && appendPlain(&b, v) {
			continue
		}
		v, err := p.expr.run(ctx, vars)
		if err != nil {
			return nil, err
		}
		if err := appendText(&b, v); err != nil {
			return nil, p.expr.fail(err)
		}
	}
	return b.String(), nil
}

func (x *compiledExpr) run(ctx context.Context, vars any) (ref.Val, error) {
	var (
		v   ref.Val
		err error
	)
	// Only loops check for cancellation; ContextEval costs a cancellable
	// context per call, so the rest skip it, as does a context that can
	// never be done.
	if x.loops && ctx.Done() != nil {
		v, _, err = x.prog.ContextEval(ctx, vars)
	} else {
		v, _, err = x.prog.Eval(vars)
	}
	if err != nil {
		return nil, x.fail(err)
	}
	return v, nil
}

func (x *compiledExpr) fail(err error) *EvalError {
	msg := err.Error()
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		msg = fmt.Sprintf("cost limit exceeded: the expression does more work than one evaluation may (%d units); loop over less data", CostLimit)
	}
	return &EvalError{Expr: strings.TrimSpace(x.src), Offset: x.offset + x.failedAt(err), Message: msg, Err: err}
}

// failedAt is the byte offset in src of the node err names, or of the
// expression's start.
func (x *compiledExpr) failedAt(err error) int {
	var ce *types.Err
	if errors.As(err, &ce) && x.offsets != nil {
		if cp, ok := x.offsets[ce.NodeID()]; ok && cp >= 0 {
			off := 0
			for i := int32(0); i < cp && off < len(x.src); i++ {
				_, size := utf8.DecodeRuneInString(x.src[off:])
				off += size
			}
			return off
		}
	}
	return leadingSpace(x.src)
}

// toGo converts a CEL value to plain Go.
func toGo(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return uint64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return []byte(x), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.Duration.String(), nil
	case *types.Optional:
		if !x.HasValue() {
			return nil, nil
		}
		return toGo(x.GetValue())
	case *types.Err:
		return nil, x
	case *types.Unknown:
		return nil, errors.New("the value is unknown")
	case *types.Type:
		return x.TypeName(), nil
	}
	// Values that came in as plain Go go out as they are.
	switch n := v.Value().(type) {
	case []any:
		return n, nil
	case map[string]any:
		return n, nil
	}
	switch x := v.(type) {
	case traits.Lister:
		size := int(x.Size().(types.Int))
		out := make([]any, size)
		for i := range size {
			e, err := toGo(x.Get(types.Int(i)))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case traits.Mapper:
		out := make(map[string]any, int(x.Size().(types.Int)))
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			key, err := keyText(k)
			if err != nil {
				return nil, err
			}
			e, err := toGo(x.Get(k))
			if err != nil {
				return nil, err
			}
			out[key] = e
		}
		return out, nil
	}
	return v.Value(), nil
}

// keyText writes a map key as a JSON object key.
func keyText(k ref.Val) (string, error) {
	var b strings.Builder
	if err := appendText(&b, k); err != nil {
		return "", err
	}
	return b.String(), nil
}

// appendPlain is appendText for the plain Go scalars a selection gives; it
// reports false for anything else, which then goes through CEL.
func appendPlain(b *strings.Builder, v any) bool {
	switch x := v.(type) {
	case nil:
	case string:
		b.WriteString(x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	default:
		return false
	}
	return true
}

// appendText writes a scalar for interpolation: strings as they are,
// numbers in their shortest form (1.5, 2, 1e+21), null as nothing.
func appendText(b *strings.Builder, v ref.Val) error {
	switch x := v.(type) {
	case types.String:
		b.WriteString(string(x))
	case types.Int:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case types.Uint:
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	case types.Double:
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 64))
	case types.Bool:
		b.WriteString(strconv.FormatBool(bool(x)))
	case types.Null:
	case types.Timestamp:
		b.WriteString(x.Time.UTC().Format(time.RFC3339Nano))
	case types.Duration:
		b.WriteString(x.Duration.String())
	case *types.Optional:
		if x.HasValue() {
			return appendText(b, x.GetValue())
		}
	case *types.Err:
		return x
	default:
		return fmt.Errorf("a %s cannot be written into text; turn it into a string (e.g. with join)", kindName(v))
	}
	return nil
}

func kindName(v ref.Val) string {
	switch v.(type) {
	case traits.Lister:
		return "list"
	case traits.Mapper:
		return "map"
	}
	return v.Type().TypeName()
}
