package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
)

func (a *api) listConnections(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	page, err := a.svc.List(r.Context(), tenantOf(r), connections.ListRequest{Connector: r.URL.Query().Get("connector"), Cursor: cursor, Limit: limit})
	if err != nil {
		a.failList(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, listOf(page.Items, page.Next))
}

// createRequest is connections.CreateRequest as the API takes it.
type createRequest struct {
	Connector   string         `json:"connector"`
	AuthMode    string         `json:"authMode"`
	Name        string         `json:"name"`
	Parameters  map[string]any `json:"parameters"`
	Credentials map[string]any `json:"credentials"`
}

func (a *api) createConnection(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	if req.Connector == "" {
		writeProblem(w, invalidField("/connector", "is required: the key of a connector of GET /v1/connectors"))
		return
	}
	cr := connections.CreateRequest{Connector: req.Connector, AuthMode: req.AuthMode, Name: req.Name, Parameters: req.Parameters, Credentials: req.Credentials}
	var answer *store.IdempotentResponse
	if cl := claimOf(r); cl != nil {
		// The key's answer commits with the connection: a create that
		// committed is never done again by a retry, even when its answer
		// was lost on the way.
		cr.OnSave = func(ctx context.Context, tx store.TenantStore, c *connections.Connection) error {
			body, err := json.Marshal(c)
			if err != nil {
				return err
			}
			h := http.Header{"Content-Type": {"application/json"}, "Location": {connectionURL(c.ID)}}
			answer, err = cl.complete(ctx, tx, http.StatusCreated, h, append(body, '\n'))
			return err
		}
	}
	c, err := a.svc.Create(r.Context(), tenantOf(r), cr)
	if errors.Is(err, connections.ErrUnknownConnector) {
		writeProblem(w, invalidField("/connector", err.Error()))
		return
	}
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	if answer != nil {
		claimOf(r).answer = answer
		w.Header().Set("Location", answer.Header["Location"])
		a.writeRaw(w, http.StatusCreated, "application/json", answer.Body)
		return
	}
	w.Header().Set("Location", connectionURL(c.ID))
	a.writeJSON(w, r, http.StatusCreated, c)
}

func connectionURL(id string) string { return "/v1/connections/" + url.PathEscape(id) }

// invalidField is a 422 about one value of the body.
func invalidField(pointer, detail string) *Problem {
	p := problem(http.StatusUnprocessableEntity, "validation", "The request does not validate: "+pointer+" "+detail+".")
	p.Errors = []FieldError{{Pointer: pointer, Detail: detail}}
	return p
}

func (a *api) getConnection(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, c)
}

func (a *api) deleteConnection(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.Delete(r.Context(), tenantOf(r), r.PathValue("id")); err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) testConnection(w http.ResponseWriter, r *http.Request) {
	// No body is needed; one that is sent must still be well-formed.
	var empty struct{}
	if !decodeJSON(w, r, &empty, false) {
		return
	}
	res, err := a.svc.Test(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, testResponse{Connection: res.Connection, OK: res.OK, Error: runError(res.Error), Log: res.Log})
}

// testResponse is connections.TestResult with the error as runs show it.
type testResponse struct {
	Connection *connections.Connection `json:"connection"`
	OK         bool                    `json:"ok"`
	Error      *RunError               `json:"error,omitempty"`
	Log        []engine.Exchange       `json:"log,omitempty"`
}

type reconnectRequest struct {
	Credentials map[string]any `json:"credentials"`
}

func (a *api) reconnect(w http.ResponseWriter, r *http.Request) {
	var req reconnectRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	c, err := a.svc.Reconnect(r.Context(), tenantOf(r), r.PathValue("id"), req.Credentials)
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, c)
}

type authorizeRequest struct {
	Connector    string         `json:"connector"`
	AuthMode     string         `json:"authMode"`
	ConnectionID string         `json:"connectionId"`
	Parameters   map[string]any `json:"parameters"`
	ReturnURL    string         `json:"returnUrl"`
}

type authorizeResponse struct {
	AuthorizationURL string `json:"authorizationUrl"`
}

func (a *api) authorize(w http.ResponseWriter, r *http.Request) {
	var req authorizeRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	if req.Connector == "" {
		writeProblem(w, invalidField("/connector", "is required: the key of an OAuth2 connector of GET /v1/connectors"))
		return
	}
	if req.ReturnURL != "" {
		if u, err := url.Parse(req.ReturnURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			writeProblem(w, invalidField("/returnUrl", "must be an absolute http(s) URL: where the user is sent once connected"))
			return
		}
	}
	if a.oauthLink == nil {
		writeProblem(w, problem(http.StatusNotImplemented, "oauth-unavailable",
			"This server has no connect page to send the user through, so OAuth consent cannot start here."))
		return
	}
	u, err := a.oauthLink.OAuthLink(r.Context(), tenantOf(r), connections.BeginOAuthRequest{Connector: req.Connector, ConnectionID: req.ConnectionID, AuthMode: req.AuthMode,
		Parameters: req.Parameters, ReturnURL: req.ReturnURL})
	if errors.Is(err, connections.ErrUnknownConnector) {
		writeProblem(w, invalidField("/connector", err.Error()))
		return
	}
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, authorizeResponse{AuthorizationURL: u})
}

// failList answers a listing's error: the store refuses only a cursor it
// did not give (the limit is checked before).
func (a *api) failList(w http.ResponseWriter, r *http.Request, err error) {
	if isInvalid(err) {
		badCursor(w)
		return
	}
	a.fail(w, r, "", err)
}
