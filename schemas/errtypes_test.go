package schemas

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/spec/errtype"
)

// errorTypeEnums are the places the schemas list error types, with the
// list of spec/errtype each must equal: an error rule maps an upstream
// answer to one of the rule types; a connector test may expect any.
var errorTypeEnums = []struct {
	kind, ptr string
	want      []errtype.ErrorType
	named     bool // the description names each type
}{
	{"Connector", "/$defs/errorRule/properties/type", errtype.RuleTypes(), true},
	{"Action", "/$defs/errorRule/properties/type", errtype.RuleTypes(), true},
	{"ConnectorTest", "/$defs/testError/properties/type", errtype.All(), false},
}

// TestErrorTypeEnums keeps the schemas' enums of error types equal to
// spec/errtype's list (same values, same order), and finds no other
// enum that lists error types: a copy this test does not know of would
// fall behind unseen.
func TestErrorTypeEnums(t *testing.T) {
	known := map[string]bool{}
	for _, e := range errorTypeEnums {
		known[e.kind+e.ptr] = true
		s := Raw(e.kind)
		for _, tok := range strings.Split(strings.TrimPrefix(e.ptr, "/"), "/") {
			s, _ = s[tok].(map[string]any)
		}
		if s == nil {
			t.Errorf("%s: no schema at %s; update errorTypeEnums", FileName(e.kind), e.ptr)
			continue
		}
		got := fmt.Sprint(s["enum"])
		if want := fmt.Sprint(e.want); got != want {
			t.Errorf("%s#%s: enum is %s; spec/errtype lists %s", FileName(e.kind), e.ptr, got, want)
		}
		desc, _ := s["description"].(string)
		for _, typ := range e.want {
			if e.named && !strings.Contains(desc, string(typ)) {
				t.Errorf("%s#%s: the description does not name %q: %s", FileName(e.kind), e.ptr, typ, desc)
			}
		}
	}
	for _, k := range Kinds() {
		eachEnum(Raw(k), "", func(ptr string, enum []any) {
			if known[k+ptr] {
				return
			}
			if slices.ContainsFunc(enum, func(v any) bool { s, ok := v.(string); return ok && errtype.ErrorType(s).Known() }) {
				t.Errorf("%s#%s: an enum of error types this test does not check; add it to errorTypeEnums", FileName(k), ptr)
			}
		})
	}
}

// eachEnum calls f with the pointer and values of every enum under v.
func eachEnum(v any, ptr string, f func(ptr string, enum []any)) {
	switch v := v.(type) {
	case map[string]any:
		if enum, ok := v["enum"].([]any); ok {
			f(ptr, enum)
		}
		for k, x := range v {
			eachEnum(x, ptr+"/"+k, f)
		}
	case []any:
		for i, x := range v {
			eachEnum(x, fmt.Sprintf("%s/%d", ptr, i), f)
		}
	}
}
