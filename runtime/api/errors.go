package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
)

// How service errors become problems (openapi.json documents the same):
//
//	error                                  status  type
//	connections.ErrNotFound                404     not-found (one fixed body per resource kind)
//	connections.ErrUnknownConnector        404     unknown-connector (422 validation at /connector in a body)
//	connections.ErrUnknownAction           404     unknown-action
//	*connections.ValidationError           422     validation, errors[] at /parameters/…, /credentials/…
//	*connections.OverrideError             422     invalid-override, diagnostics
//	other connections.ErrInvalid           422     invalid-request
//	*connections.CredentialsRefusedError   422     credentials-refused, error
//	connections.ErrOAuthRequired           409     oauth-required
//	connections.ErrDisconnected            409     connection-disconnected
//	engine.ErrNoTestRequest                409     no-test-request
//	store.ErrConflict                      409     conflict (412 precondition-failed under If-Match)
//	connections.ErrOAuthUnavailable        501     oauth-unavailable
//	store.ErrUnavailable                   503     store-unavailable, with Retry-After
//	*connections.RunNotRecordedError       503     store-unavailable (500 internal when not transient)
//	*engine.Error, checking credentials    502/504 upstream-unreachable, error
//	*engine.Error, running an action       runStatuses below, run-<type>, error and runId
//	anything else                          500     internal (logged, never shown)

// notFound holds the one body of each kind of missing thing: it names no
// id, so another tenant's id and one that never existed are answered
// byte for byte alike.
var notFound = map[string]string{
	"connection":  "No connection with this id exists for your tenant. List your connections with GET /v1/connections.",
	"run-log":     "No run log with this id exists for your tenant. List them with GET /v1/run-logs.",
	"override":    "No override is stored here for your tenant. Store one with PUT, or list them with GET /v1/overrides.",
	"tenant":      "No tenant with this key exists. List them with GET /v1/tenants.",
	"destination": "No destination with this id exists. List them with GET /v1/destinations.",
}

// runStatuses maps a failed run's engine error type to a status. Upstream
// failures are 502 (504 for a timeout); what the caller can fix is 4xx.
// A record missing upstream is 422, not 404: 404 on this API always means
// the connection or the action is not there, and a client must be able to
// tell "the contact does not exist" from "your connection is gone".
var runStatuses = map[engine.ErrorType]int{
	engine.ErrInvalidInput:  http.StatusUnprocessableEntity,
	engine.ErrNotFound:      http.StatusUnprocessableEntity,
	engine.ErrConflict:      http.StatusConflict,
	engine.ErrRateLimited:   http.StatusTooManyRequests,
	engine.ErrAuth:          http.StatusBadGateway,
	engine.ErrUpstream:      http.StatusBadGateway,
	engine.ErrNetwork:       http.StatusBadGateway,
	engine.ErrRefused:       http.StatusBadGateway,
	engine.ErrInvalidOutput: http.StatusBadGateway,
	engine.ErrTimeout:       http.StatusGatewayTimeout,
	engine.ErrExpression:    http.StatusInternalServerError,
	engine.ErrCanceled:      http.StatusServiceUnavailable,
	// The connection's parameters (or the workspace's files) give a URL
	// on a host the connector does not allow; nothing was sent.
	engine.ErrHostNotAllowed: http.StatusUnprocessableEntity,
	// A step failed and so did its compensation: upstream may hold a
	// half-done change.
	engine.ErrCompensationFailed: http.StatusBadGateway,
	engine.ErrCallDepth:          http.StatusInternalServerError,
}

// runDetails say what to do about each failed run.
var runDetails = map[engine.ErrorType]string{
	engine.ErrInvalidInput:  "The action's input was refused; fix it and run again. errors[] points at each invalid value; error.status is set when the upstream API refused it.",
	engine.ErrNotFound:      "The upstream API has no record the input names. Check the ids in the input.",
	engine.ErrConflict:      "The upstream API reports a conflict (the record exists, or changed meanwhile). Read it again and decide.",
	engine.ErrRateLimited:   "The upstream API's rate limit was reached; retry later.",
	engine.ErrAuth:          "The upstream API refused the connection's credentials. When connectionState is disconnected, reconnect it (POST /v1/connections/{id}/reconnect or OAuth); a 403 means this action is not allowed for the account.",
	engine.ErrUpstream:      "The upstream API failed or answered something unusable; retry later. The run log has the exchange.",
	engine.ErrNetwork:       "The upstream API could not be reached; retry later.",
	engine.ErrRefused:       "The server's outbound policy refused the upstream address; the operator allows private networks in the workspace settings.",
	engine.ErrInvalidOutput: "The upstream answer does not match the action's output schema: the integration needs fixing. The run log has the exchange.",
	engine.ErrTimeout:       "The upstream API did not answer in time; retry later.",
	engine.ErrExpression:    "An expression of the integration failed while running; error.message names it and its file:line. The integration needs fixing.",
	engine.ErrCanceled:      "The run was canceled before it finished; the server may be shutting down. Retry.",
	// What to fix is the connection's parameters, or a file.
	engine.ErrHostNotAllowed:     "A URL of the connector would go to a host its workspace files do not allow, so nothing was sent; error.message names the connector, the field and the parameter. Reconnect with valid connection parameters (or fix the connector's hosts:).",
	engine.ErrCompensationFailed: "A step of the action failed, and a compensating step of the onError block that caught it failed too, so the upstream app may hold a half-done change. error.step names the compensating step, error.cause the first failure, error.partial what had been done; check the upstream app before you run again.",
	engine.ErrCallDepth:          "The action's steps call actions that call actions deeper than the runtime allows; error.message names the chain. The integration needs fixing.",
}

// fail answers err as a problem; kind names what a not-found is about.
func (a *api) fail(w http.ResponseWriter, r *http.Request, kind string, err error) {
	if p := a.mapError(r, kind, err); p != nil {
		writeProblem(w, p)
		return
	}
	a.internalError(w, r, err)
}

// mapError returns the problem of a known error, nil for the others.
func (a *api) mapError(r *http.Request, kind string, err error) *Problem {
	if ve, ok := errorAs[*connections.ValidationError](err); ok {
		p := problem(http.StatusUnprocessableEntity, "validation", ve.Message+". errors[] points at each invalid value; fix them and send again.")
		for _, v := range ve.Violations {
			p.Errors = append(p.Errors, FieldError{Pointer: v.Pointer, Detail: v.Message})
		}
		return p
	}
	if oe, ok := errorAs[*connections.OverrideError](err); ok {
		p := problem(http.StatusUnprocessableEntity, "invalid-override", oe.Name+" is invalid; diagnostics[] says where and why. Fix the document, or delete the override.")
		p.Diagnostics = oe.Diagnostics
		return p
	}
	if ce, ok := errorAs[*connections.CredentialsRefusedError](err); ok {
		p := problem(http.StatusUnprocessableEntity, "credentials-refused", "The "+ce.Connector+" API refused the credentials, so nothing was saved. Check them and send them again.")
		p.Error = runError(ce.Err)
		return p
	}
	if nr, ok := errorAs[*connections.RunNotRecordedError](err); ok {
		if !store.Unavailable(nr.Err) {
			return nil // a store that failed for good: 500
		}
		p := storeUnavailable()
		p.Detail = "The action ran, but its run log could not be saved: the server's store is unavailable for now, so the result was not kept. " +
			"Check the upstream app before you retry after Retry-After seconds: a retry runs the action again."
		return p
	}
	switch {
	case store.Unavailable(err):
		return storeUnavailable()
	case errors.Is(err, store.ErrNotFound):
		return problem(http.StatusNotFound, "not-found", notFound[kind])
	case errors.Is(err, connections.ErrUnknownConnector):
		return problem(http.StatusNotFound, "unknown-connector", err.Error()+". List the connectors with GET /v1/connectors.")
	case errors.Is(err, connections.ErrUnknownAction):
		return problem(http.StatusNotFound, "unknown-action", err.Error()+". List what this connection can run with GET /v1/connections/{id}/actions.")
	case errors.Is(err, connections.ErrOAuthRequired):
		return problem(http.StatusConflict, "oauth-required", "This connector connects through the provider's consent page, not with credentials: start it with POST /v1/oauth/authorize.")
	case errors.Is(err, connections.ErrDisconnected):
		return problem(http.StatusConflict, "connection-disconnected", err.Error()+". Reconnect it with POST /v1/connections/{id}/reconnect, or through OAuth consent.")
	case errors.Is(err, engine.ErrNoTestRequest):
		return problem(http.StatusConflict, "no-test-request", "The connector declares no auth.test request, so its connections cannot be tested. Run an action instead.")
	case errors.Is(err, connections.ErrOAuthUnavailable):
		return problem(http.StatusNotImplemented, "oauth-unavailable", "OAuth is not configured on this server for this connector: the operator registers its OAuth client in the workspace settings (oauthClients).")
	case errors.Is(err, connections.ErrInvalid):
		// These messages name connectors and connections, never secrets.
		return problem(http.StatusUnprocessableEntity, "invalid-request", err.Error()+".")
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, "conflict", "The resource changed meanwhile; read it again and retry.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem(http.StatusServiceUnavailable, "unavailable", "The request was canceled before it finished; retry.")
	}
	if ee, ok := errorAs[*engine.Error](err); ok {
		// Credentials that could not be checked: the API did not answer.
		status := http.StatusBadGateway
		if ee.Type == engine.ErrTimeout {
			status = http.StatusGatewayTimeout
		}
		p := problem(status, "upstream-unreachable", "The upstream API could not check the credentials ("+string(ee.Type)+"), so nothing was saved. Retry later.")
		p.Error = runError(ee)
		return p
	}
	return nil
}

// storeRetryAfter is the Retry-After of a store outage, in seconds: the
// pool reconnects on the next call, so a short wait is enough to try.
const storeRetryAfter = 2

// storeUnavailable is the problem of a transient store failure.
func storeUnavailable() *Problem {
	p := problem(http.StatusServiceUnavailable, "store-unavailable",
		"The server's store (its database) is unavailable for now; retry after Retry-After seconds. "+
			"A create or run that failed so may still have been done: send it with the same Idempotency-Key so that a retry never does it twice.")
	p.retryAfter = storeRetryAfter
	return p
}

// runProblem is the problem of a failed run: its status by the engine
// error type, the error, the run log's id, and for invalid input each
// violation at its pointer under /input.
func runProblem(ee *engine.Error, runID string) *Problem {
	status, ok := runStatuses[ee.Type]
	if !ok {
		status = http.StatusBadGateway
	}
	slug := runSlug(ee.Type)
	if _, ok := titles[slug]; !ok {
		slug = "run-upstream"
	}
	p := problem(status, slug, runDetails[ee.Type])
	if p.Detail == "" {
		p.Detail = runDetails[engine.ErrUpstream]
	}
	p.RunID, p.Error = runID, runError(ee)
	for _, v := range ee.Violations {
		p.Errors = append(p.Errors, FieldError{Pointer: "/input" + v.Pointer, Detail: v.Message})
	}
	return p
}

// runSlug is the problem type of a failed run of an engine error type.
func runSlug(t engine.ErrorType) string { return "run-" + string(t) }

func isInvalid(err error) bool { return errors.Is(err, store.ErrInvalid) }
