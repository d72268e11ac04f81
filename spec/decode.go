package spec

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// decode fills the struct out points at from v, by the fields' json names.
// The file kind's JSON Schema has already checked the shape, so a mismatch
// here is reported but not expected; unknown keys are the schema's to report.
func decode(v *tree.Value, out any, diags *diag.List) {
	d := decoder{diags: diags}
	d.value(v, reflect.ValueOf(out).Elem())
}

type decoder struct{ diags *diag.List }

var (
	typeTemplate = reflect.TypeFor[Template]()
	typeValuePtr = reflect.TypeFor[*tree.Value]()
	typeSchema   = reflect.TypeFor[Schema]()
	typeDuration = reflect.TypeFor[Duration]()
	typePos      = reflect.TypeFor[diag.Pos]()
	typeModes    = reflect.TypeFor[AuthModes]()
	typeCall     = reflect.TypeFor[WebhookCall]()
)

func (d *decoder) mismatch(v *tree.Value, want string) {
	d.diags.Errorf(v.Pos, "wrong-type", "expected %s, got %s", want, v.Kind)
}

func (d *decoder) value(v *tree.Value, out reflect.Value) {
	if v == nil {
		return
	}
	t := out.Type()
	switch t {
	case typeValuePtr:
		out.Set(reflect.ValueOf(v))
		return
	case typeTemplate:
		var src string
		switch v.Kind {
		case tree.String:
			src = v.Str
		case tree.Int, tree.Float, tree.Bool:
			src = scalarText(v)
		case tree.Null:
			return
		default:
			d.mismatch(v, "a string")
			return
		}
		out.Set(reflect.ValueOf(Template{Source: src, Pos: v.Pos, Quoted: v.Quoted, Layer: v.Layer, Lines: v.Lines}))
		return
	case typeSchema:
		out.Set(reflect.ValueOf(Schema{Value: v}))
		return
	case typeModes:
		if v.Kind == tree.Map { // one auth, the connector's only mode
			a := &Auth{}
			d.value(v, reflect.ValueOf(a).Elem())
			out.Set(reflect.ValueOf(AuthModes{a}))
			return
		}
	case typeCall:
		// A webhook call is an action when it names one, else a request.
		if v.Kind == tree.Map && v.Get("action") == nil {
			r := &Request{}
			d.value(v, reflect.ValueOf(r).Elem())
			out.Set(reflect.ValueOf(WebhookCall{Pos: v.Pos, Request: r}))
			return
		}
	case typeDuration:
		if v.Kind != tree.String {
			d.mismatch(v, `a duration such as "30s"`)
			return
		}
		dur, err := time.ParseDuration(v.Str)
		if err != nil || dur < 0 {
			d.diags.Errorf(v.Pos, "invalid-value", "%q is not a duration; write one such as \"500ms\", \"30s\" or \"1h\"", v.Str)
			return
		}
		out.Set(reflect.ValueOf(Duration{Duration: dur, Pos: v.Pos}))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.Kind == tree.Null {
			return
		}
		p := reflect.New(t.Elem())
		d.value(v, p.Elem())
		out.Set(p)
	case reflect.String:
		if v.Kind != tree.String {
			d.mismatch(v, "a string")
			return
		}
		out.SetString(v.Str)
	case reflect.Bool:
		if v.Kind != tree.Bool {
			d.mismatch(v, "true or false")
			return
		}
		out.SetBool(v.Bool)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if v.Kind != tree.Int {
			d.mismatch(v, "an integer")
			return
		}
		out.SetInt(v.Int)
	case reflect.Float64:
		switch v.Kind {
		case tree.Int:
			out.SetFloat(float64(v.Int))
		case tree.Float:
			out.SetFloat(v.Float)
		default:
			d.mismatch(v, "a number")
		}
	case reflect.Slice:
		if v.Kind != tree.List {
			d.mismatch(v, "a list")
			return
		}
		s := reflect.MakeSlice(t, len(v.Items), len(v.Items))
		for i, it := range v.Items {
			d.value(it, s.Index(i))
		}
		out.Set(s)
	case reflect.Map:
		if v.Kind != tree.Map {
			d.mismatch(v, "a mapping")
			return
		}
		m := reflect.MakeMapWithSize(t, len(v.Fields))
		for _, f := range v.Fields {
			e := reflect.New(t.Elem()).Elem()
			d.value(f.Value, e)
			m.SetMapIndex(reflect.ValueOf(f.Key), e)
		}
		out.Set(m)
	case reflect.Struct:
		if v.Kind != tree.Map {
			d.mismatch(v, "a mapping")
			return
		}
		fields := structFields(t)
		if fields.pos >= 0 {
			out.Field(fields.pos).Set(reflect.ValueOf(v.Pos))
		}
		for _, f := range v.Fields {
			if i, ok := fields.byName[f.Key]; ok {
				d.value(f.Value, out.Field(i))
			}
		}
	default:
		d.diags.Errorf(v.Pos, "internal", "cannot decode into %s", t)
	}
}

func scalarText(v *tree.Value) string {
	switch v.Kind {
	case tree.Int:
		return strconv.FormatInt(v.Int, 10)
	case tree.Float:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case tree.Bool:
		return strconv.FormatBool(v.Bool)
	}
	return v.Str
}

type fieldIndex struct {
	byName map[string]int
	pos    int // index of a `Pos diag.Pos` field set to the node's position, or -1
}

var fieldCache sync.Map // reflect.Type → fieldIndex

func structFields(t reflect.Type) fieldIndex {
	if fi, ok := fieldCache.Load(t); ok {
		return fi.(fieldIndex)
	}
	fi := fieldIndex{byName: map[string]int{}, pos: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == typePos && f.Name == "Pos" {
			fi.pos = i
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || f.Anonymous {
			continue
		}
		fi.byName[name] = i
	}
	fieldCache.Store(t, fi)
	return fi
}
