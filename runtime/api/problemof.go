package api

import "github.com/membrane-dev/membrane/runtime/engine"

// NotFoundConnection is the detail of the one problem a missing
// connection gets, whether it never existed or is another tenant's.
var NotFoundConnection = notFound["connection"]

// ProblemOf is the problem this API answers an error of running an
// action with (Service.Run, Service.Actions): a failed run by its engine
// error type, with runID, else as any route maps the service's errors,
// a missing thing being a connection. Other front ends (the MCP server)
// use it to fail exactly as the API does. Nil is an error the API
// answers 500 without its text.
func ProblemOf(err error, runID string) *Problem {
	if ee, ok := errorAs[*engine.Error](err); ok {
		return runProblem(ee, runID)
	}
	return (*api)(nil).mapError(nil, "connection", err)
}
