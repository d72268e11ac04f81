package api

import (
	"errors"
	"net/http"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/internal/fastjson"
)

type runRequest struct {
	Input any `json:"input"`
	// Log asks for the run's exchanges (redacted) in the response.
	Log bool `json:"log"`
}

type runResponse struct {
	RunID  string `json:"runId"`
	Output any    `json:"output"`
	// Pagination says how a paginated action's walk ended: truncated, with
	// the cursor that resumes it, when it stopped at its page limit.
	Pagination *engine.PageInfo  `json:"pagination,omitempty"`
	Log        []engine.Exchange `json:"log,omitempty"`
}

func (a *api) run(w http.ResponseWriter, r *http.Request) {
	req, ok := a.runRequest(w, r)
	if !ok {
		return
	}
	tenant, id := tenantOf(r), r.PathValue("id")
	res, err := a.svc.Run(r.Context(), tenant, id, r.PathValue("action"), req.Input, engine.RunOptions{Log: req.Log})
	var ee *engine.Error
	if errors.As(err, &ee) {
		var runID string
		if res != nil {
			runID = res.RunID
		}
		p := runProblem(ee, runID)
		if ee.Type == engine.ErrAuth {
			// The run may have disconnected the connection: say so.
			if c, err := a.svc.Get(r.Context(), tenant, id); err == nil {
				p.ConnectionState = string(c.State)
			}
		}
		writeProblem(w, p)
		return
	}
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	out := runResponse{RunID: res.RunID, Output: res.Output, Pagination: res.Pagination}
	if req.Log {
		out.Log = res.Log
	}
	a.writeJSON(w, r, http.StatusOK, out)
}

// runRequest reads a run's body. The usual body, {"input": {…}} with maybe
// "log", is parsed in one pass by the engine's decoder, as runs are the
// hot path; anything else goes through decodeJSON, which also says
// precisely what is wrong.
func (a *api) runRequest(w http.ResponseWriter, r *http.Request) (runRequest, bool) {
	var req runRequest
	body, ok := readBody(w, r, "application/json")
	if !ok {
		return req, false
	}
	if v, ok := fastjson.Decode(body); ok {
		if m, ok := v.(map[string]any); ok && fastRun(m, &req) {
			return req, true
		}
	}
	req = runRequest{}
	return req, decodeBody(w, body, &req, false)
}

// fastRun fills req from a parsed body that has only the members a run
// takes, with their types; false leaves the body to decodeJSON.
func fastRun(m map[string]any, req *runRequest) bool {
	for k, v := range m {
		switch k {
		case "input":
			req.Input = v
		case "log":
			b, ok := v.(bool)
			if !ok {
				return false
			}
			req.Log = b
		default:
			return false
		}
	}
	return true
}
