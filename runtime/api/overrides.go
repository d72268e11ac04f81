package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec/diag"
)

// overrideTypes are the media types an override document is sent as.
var overrideTypes = []string{"application/yaml", "application/json", "application/x-yaml", "text/yaml"}

// overrideBody is a stored override: the document exactly as it was given.
type overrideBody struct {
	Connector    string    `json:"connector"`
	ConnectionID string    `json:"connectionId,omitempty"`
	Revision     int64     `json:"revision"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	Document     string    `json:"document"`
}

// putOverrideBody adds the warnings of the stored document.
type putOverrideBody struct {
	overrideBody
	Warnings diag.List `json:"warnings"`
}

func bodyOf(o *store.Override) overrideBody {
	return overrideBody{Connector: o.Connector, ConnectionID: o.ConnectionID, Revision: o.Revision,
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Document: string(o.Doc)}
}

func etag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

// connectionTarget finds what a connection's override routes act on: its
// connector and id. ok false means the problem was answered.
func (a *api) connectionTarget(w http.ResponseWriter, r *http.Request) (connector, connID string, ok bool) {
	c, err := a.svc.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, "connection", err)
		return "", "", false
	}
	return c.Connector, c.ID, true
}

// connectorTarget checks the connector of a tenant-wide override route.
func (a *api) connectorTarget(w http.ResponseWriter, r *http.Request) (connector, connID string, ok bool) {
	c, err := a.svc.Connector(r.PathValue("connector"))
	if err != nil {
		a.fail(w, r, "", err)
		return "", "", false
	}
	return c.Key, "", true
}

type target func(a *api, w http.ResponseWriter, r *http.Request) (connector, connID string, ok bool)

func (a *api) getConnectionOverride(w http.ResponseWriter, r *http.Request) {
	a.getOverride(w, r, (*api).connectionTarget)
}
func (a *api) putConnectionOverride(w http.ResponseWriter, r *http.Request) {
	a.putOverride(w, r, (*api).connectionTarget)
}
func (a *api) deleteConnectionOverride(w http.ResponseWriter, r *http.Request) {
	a.deleteOverride(w, r, (*api).connectionTarget)
}
func (a *api) getConnectorOverride(w http.ResponseWriter, r *http.Request) {
	a.getOverride(w, r, (*api).connectorTarget)
}
func (a *api) putConnectorOverride(w http.ResponseWriter, r *http.Request) {
	a.putOverride(w, r, (*api).connectorTarget)
}
func (a *api) deleteConnectorOverride(w http.ResponseWriter, r *http.Request) {
	a.deleteOverride(w, r, (*api).connectorTarget)
}

func (a *api) getOverride(w http.ResponseWriter, r *http.Request, find target) {
	connector, connID, ok := find(a, w, r)
	if !ok {
		return
	}
	o, err := a.svc.GetOverride(r.Context(), tenantOf(r), connector, connID)
	if err != nil {
		a.fail(w, r, "override", err)
		return
	}
	w.Header().Set("ETag", etag(o.Revision))
	a.writeJSON(w, r, http.StatusOK, bodyOf(o))
}

// putOverride stores a document after validating it as an override file.
// Under If-Match the store checks the revision in the same statement that
// writes, so two editors cannot both win.
func (a *api) putOverride(w http.ResponseWriter, r *http.Request, find target) {
	connector, connID, ok := find(a, w, r)
	if !ok {
		return
	}
	doc, ok := readBody(w, r, overrideTypes...)
	if !ok {
		return
	}
	ctx, tenant := r.Context(), tenantOf(r)
	rev, conditional, ok := a.ifMatch(w, r, connector, connID)
	if !ok {
		return
	}
	if !conditional {
		rev = 0
	}
	o, diags, err := a.svc.PutOverride(ctx, tenant, connector, connID, doc, rev)
	if errors.Is(err, store.ErrConflict) {
		preconditionFailed(w)
		return
	}
	if err != nil {
		a.fail(w, r, "connection", err)
		return
	}
	if diags == nil {
		diags = diag.List{}
	}
	w.Header().Set("ETag", etag(o.Revision))
	a.writeJSON(w, r, http.StatusOK, putOverrideBody{overrideBody: bodyOf(o), Warnings: diags})
}

// ifMatch reads If-Match: the revision a PUT must replace. "*" is the
// current one, if any. ok false means the problem was answered.
func (a *api) ifMatch(w http.ResponseWriter, r *http.Request, connector, connID string) (rev int64, conditional, ok bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return 0, false, true
	}
	if v == "*" {
		cur, err := a.svc.GetOverride(r.Context(), tenantOf(r), connector, connID)
		if errors.Is(err, store.ErrNotFound) {
			preconditionFailed(w)
			return 0, false, false
		}
		if err != nil {
			a.fail(w, r, "override", err)
			return 0, false, false
		}
		return cur.Revision, true, true
	}
	unq, err := strconv.Unquote(v)
	if err == nil && strings.HasPrefix(v, `"`) {
		if n, err := strconv.ParseInt(unq, 10, 64); err == nil && n > 0 {
			return n, true, true
		}
	}
	// A value that is no ETag of ours never matches (RFC 9110 §13.1.1).
	preconditionFailed(w)
	return 0, false, false
}

func preconditionFailed(w http.ResponseWriter) {
	writeProblem(w, problem(http.StatusPreconditionFailed, "precondition-failed",
		`If-Match does not name the stored revision: the override changed (or is gone) since you read it. GET it again, merge, and PUT with its ETag ("<revision>").`))
}

func (a *api) deleteOverride(w http.ResponseWriter, r *http.Request, find target) {
	connector, connID, ok := find(a, w, r)
	if !ok {
		return
	}
	if err := a.svc.DeleteOverride(r.Context(), tenantOf(r), connector, connID); err != nil {
		a.fail(w, r, "override", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type checkBody struct {
	// Valid is false when a diagnostic is an error: PUT would refuse it.
	Valid       bool      `json:"valid"`
	Diagnostics diag.List `json:"diagnostics"`
}

func (a *api) checkOverride(w http.ResponseWriter, r *http.Request) {
	connector, connID, ok := a.connectionTarget(w, r)
	if !ok {
		return
	}
	doc, ok := readBody(w, r, overrideTypes...)
	if !ok {
		return
	}
	diags, err := a.svc.CheckOverride(r.Context(), tenantOf(r), connector, connID, doc)
	// An invalid document is an answer here, not a failure.
	if err != nil && !diags.HasErrors() {
		a.fail(w, r, "connection", err)
		return
	}
	if diags == nil {
		diags = diag.List{}
	}
	a.writeJSON(w, r, http.StatusOK, checkBody{Valid: !diags.HasErrors(), Diagnostics: diags})
}

func (a *api) listOverrides(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, err := a.svc.ListOverrides(r.Context(), tenantOf(r), store.OverrideFilter{Connector: q.Get("connector"),
		ConnectionID: q.Get("connectionId"), Cursor: cursor, Limit: limit})
	if err != nil {
		a.failList(w, r, err)
		return
	}
	items := make([]overrideBody, len(page.Items))
	for i, o := range page.Items {
		items[i] = bodyOf(o)
	}
	a.writeJSON(w, r, http.StatusOK, listOf(items, page.Next))
}
