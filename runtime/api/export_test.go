package api

import (
	"strings"

	"github.com/membrane-dev/membrane/runtime/engine"
)

// RouteAccess is each route's access, "METHOD /path" → public, tenant or
// admin, for the tests that drive every route.
func RouteAccess() map[string]string {
	names := map[access]string{public: "public", tenant: "tenant", admin: "admin"}
	out := map[string]string{}
	for _, rt := range routes {
		out[rt.method+" "+rt.path] = names[rt.access]
	}
	return out
}

// RunProblem is the problem a failed run of error type t is answered
// with: its status, its problem type's slug, title and detail. ok is false
// when t has no row of its own in runStatuses, runDetails or titles (the
// answer would fall back to run-upstream's).
func RunProblem(t engine.ErrorType) (status int, slug, title, detail string, ok bool) {
	_, hasStatus := runStatuses[t]
	_, hasDetail := runDetails[t]
	_, hasTitle := titles[runSlug(t)]
	p := runProblem(&engine.Error{Type: t, Message: "m"}, "run_1")
	return p.Status, strings.TrimPrefix(p.Type, problemBase), p.Title, p.Detail, hasStatus && hasDetail && hasTitle
}

// RunTypesMapped lists the error types runStatuses, runDetails and the
// run-<type> titles name, to catch a row left for a type that is gone.
func RunTypesMapped() []engine.ErrorType {
	var out []engine.ErrorType
	for t := range runStatuses {
		out = append(out, t)
	}
	for t := range runDetails {
		out = append(out, t)
	}
	for slug := range titles {
		if t, ok := strings.CutPrefix(slug, "run-"); ok {
			out = append(out, engine.ErrorType(t))
		}
	}
	return out
}
