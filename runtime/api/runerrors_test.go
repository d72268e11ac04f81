package api_test

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/spec/errtype"
)

// TestRunProblemsCoverEveryErrorType: every error type a run can end with
// has its own status, problem type (run-<type>, with a title) and detail,
// so that none falls back to run-upstream's answer; and no row is left
// for a type the list does not have.
func TestRunProblemsCoverEveryErrorType(t *testing.T) {
	for _, typ := range errtype.All() {
		status, slug, title, detail, ok := api.RunProblem(typ)
		if !ok {
			t.Errorf("error type %q has no row of its own in runStatuses, runDetails or titles (runtime/api): add one to each", typ)
			continue
		}
		if slug != "run-"+string(typ) || title == "" || detail == "" || status < 400 {
			t.Errorf("error type %q is answered %d %q (title %q, detail %q)", typ, status, slug, title, detail)
		}
	}
	for _, typ := range api.RunTypesMapped() {
		if !typ.Known() {
			t.Errorf("runtime/api maps error type %q, which spec/errtype does not list: remove its rows", typ)
		}
	}
	// The check above can fail: a type without rows is reported.
	if _, slug, _, _, ok := api.RunProblem("no-such-type"); ok || slug != "run-upstream" {
		t.Errorf("an unmapped type: ok %v, slug %q; want false, run-upstream", ok, slug)
	}
}

// TestOpenAPIRunErrorTypes: openapi.json's ErrorType enum is the list, and
// the run operation's responses and the API description's table give each
// type the status the handler answers with.
func TestOpenAPIRunErrorTypes(t *testing.T) {
	o := loadSpec(t)
	want := map[string]int{}
	for _, typ := range errtype.All() {
		status, _, _, _, _ := api.RunProblem(typ)
		want[string(typ)] = status
	}

	var enum []string
	for _, v := range o.get("/components/schemas/ErrorType/enum").([]any) {
		enum = append(enum, v.(string))
	}
	var all []string
	for _, typ := range errtype.All() {
		all = append(all, string(typ))
	}
	if !slices.Equal(enum, all) {
		t.Errorf("openapi.json's ErrorType enum is %q; spec/errtype lists %q", enum, all)
	}

	// The run operation documents each run-<type> under its status.
	slugRE := regexp.MustCompile("`run-([a-z-]+)`")
	responses := o.get("/paths/" + esc("/v1/connections/{id}/actions/{action}/run") + "/post/responses").(map[string]any)
	documented := map[string][]int{}
	for code, r := range responses {
		desc, _ := r.(map[string]any)["description"].(string)
		for _, m := range slugRE.FindAllStringSubmatch(desc, -1) {
			n, _ := strconv.Atoi(code)
			documented[m[1]] = append(documented[m[1]], n)
		}
	}
	checkStatuses(t, "the run operation's responses", want, documented)

	// The API description's table: | `type`, `type` | status | meaning |.
	desc := o.get("/info/description").(string)
	_, table, found := strings.Cut(desc, "| engine error | status | meaning |")
	if !found {
		t.Fatal("openapi.json's description has no table of engine errors")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	typeRE := regexp.MustCompile("`([a-z-]+)`")
	inTable := map[string][]int{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 4 || strings.Contains(cells[1], "---") {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSpace(cells[2]))
		for _, m := range typeRE.FindAllStringSubmatch(cells[1], -1) {
			inTable[m[1]] = append(inTable[m[1]], n)
		}
	}
	checkStatuses(t, "the description's table of engine errors", want, inTable)
}

// checkStatuses compares the statuses a part of openapi.json gives each
// error type with the handler's.
func checkStatuses(t *testing.T, where string, want map[string]int, got map[string][]int) {
	t.Helper()
	for _, typ := range slices.Sorted(maps.Keys(want)) {
		if s := got[typ]; !slices.Equal(s, []int{want[typ]}) {
			t.Errorf("openapi.json, %s: %q is documented with the statuses %v; the handler answers %d", where, typ, s, want[typ])
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[typ]; !ok {
			t.Errorf("openapi.json, %s: %q is not an error type of spec/errtype", where, typ)
		}
	}
}
