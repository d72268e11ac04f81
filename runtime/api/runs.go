package api

import (
	"errors"
	"net/http"

	"github.com/membrane-dev/membrane/runtime/engine"
)

type runRequest struct {
	Input any `json:"input"`
	// Log asks for the run's exchanges (redacted) in the response.
	Log bool `json:"log"`
}

type runResponse struct {
	RunID  string            `json:"runId"`
	Output any               `json:"output"`
	Log    []engine.Exchange `json:"log,omitempty"`
}

func (a *api) run(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if !decodeJSON(w, r, &req, false) {
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
	out := runResponse{RunID: res.RunID, Output: res.Output}
	if req.Log {
		out.Log = res.Log
	}
	a.writeJSON(w, r, http.StatusOK, out)
}
