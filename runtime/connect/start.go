package connect

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// get is the app's link (with a token) or the page itself (with a
// session).
func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("token") {
		h.start(w, r)
		return
	}
	s, err := h.readSession(r)
	if err != nil {
		h.noSession(w, r, s, err)
		return
	}
	if s.Opener != "" {
		keepOpener(w)
	}
	if r.URL.Query().Has("mode") && s.ConnectionID == "" {
		// The user picks another way to connect: the session keeps it
		// for the form's submission.
		if info, err := h.o.Service.Connector(s.Connector); err == nil && modeOf(info, r.URL.Query().Get("mode")) != nil {
			s.AuthMode = modeOf(info, r.URL.Query().Get("mode")).Key
			if err := h.setSession(w, r, s); err != nil {
				h.unavailable(w, r, s, err)
				return
			}
		}
	}
	fp, err := h.form(s)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.showForm(w, s, fp, http.StatusOK)
}

// start checks the app's link and moves the token out of the URL: into a
// signed session cookie, then 303 to the page without it.
func (h *handler) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	claims, err := h.o.Verifier.Verify(q.Get("token"))
	if err != nil {
		h.log.Info("connect: token refused", "reason", tenancy.RefusalReason(err))
		h.message(w, r, http.StatusUnauthorized, messagePage{page: page{Title: "This link is not valid"},
			Text: "The link to this page has expired or is not valid. Go back to the app you came from and start connecting again."})
		return
	}
	key := q.Get("connector")
	if key == "" {
		h.badLink(w, r, "The link names no connector.", "Add connector=<key> to the link, the key of a connector of the workspace.")
		return
	}
	info, err := h.o.Service.Connector(key)
	if err != nil {
		h.badLink(w, r, fmt.Sprintf("The link names connector %q, which this workspace does not have.", key), err.Error())
		return
	}
	s := session{Tenant: claims.Tenant, Connector: info.Key, ConnectionID: q.Get("connectionId"), AuthMode: q.Get("mode")}
	if q.Has("opener") {
		if q.Has("returnUrl") {
			h.badLink(w, r, "The link has both opener and returnUrl.", "Give opener (embed.js does, for a popup) or returnUrl (for a redirect), not both.")
			return
		}
		origin, rerr := h.origins.checkOpener(q.Get("opener"))
		if rerr != nil {
			h.badOpener(w, r, rerr)
			return
		}
		s.Opener = origin
		keepOpener(w)
	}
	if s.AuthMode != "" && modeOf(info, s.AuthMode) == nil {
		h.badLink(w, r, fmt.Sprintf("The link names auth mode %q, which connector %q does not have.", s.AuthMode, info.Key),
			"Name one of its modes in mode=<key> ("+strings.Join(modeKeys(info), ", ")+"), or leave mode out to let the user choose.")
		return
	}
	if raw := q.Get("returnUrl"); raw != "" {
		u, rerr := h.origins.check(raw)
		if rerr != nil {
			h.badReturnURL(w, r, rerr)
			return
		}
		s.ReturnURL = u.String()
	}
	if s.ConnectionID != "" {
		c, err := h.o.Service.Get(r.Context(), s.Tenant, s.ConnectionID)
		switch {
		case errors.Is(err, connections.ErrNotFound):
			h.message(w, r, http.StatusNotFound, messagePage{page: page{Title: "No such connection"},
				Text: "The link asks to re-authorise a connection that does not exist (or is not yours). Go back to the app and start again."})
			return
		case err != nil:
			h.unavailable(w, r, &s, err)
			return
		case c.Connector != info.Key:
			h.badLink(w, r, fmt.Sprintf("Connection %q is of connector %q, not %q.", c.ID, c.Connector, info.Key), "Name the connection's own connector in the link.")
			return
		}
		s.AuthMode = c.AuthMode // a connection keeps the mode it was made with
	}
	if err := h.setSession(w, r, newSession(s)); err != nil {
		h.unavailable(w, r, nil, err)
		return
	}
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

// badLink is a link the app built wrong: the developer reads this page.
func (h *handler) badLink(w http.ResponseWriter, r *http.Request, problem, fix string) {
	h.message(w, r, http.StatusBadRequest, messagePage{page: page{Title: "This link is not valid"},
		Text: problem, Detail: fix})
}

// badReturnURL says exactly which origin to allow, and where.
func (h *handler) badReturnURL(w http.ResponseWriter, r *http.Request, e *returnURLError) {
	m := messagePage{page: page{Title: "Return URL not allowed"}, Text: e.Problem + ". The connect page only sends users back to origins the workspace allows, so it cannot be used to redirect anywhere else."}
	if e.Origin != "" {
		m.Detail = fmt.Sprintf("If %s is your app, add it to connect.returnOrigins in the workspace's membrane.yaml (allowed now: %s):", e.Origin, strings.Join(h.origins.list(), ", "))
		m.Code = "connect:\n  returnOrigins: [" + e.Origin + "]"
	}
	h.message(w, r, http.StatusBadRequest, m)
}

// noSession answers a request without a valid session. One that expired
// goes back to the app, which can start again.
func (h *handler) noSession(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if errors.Is(err, errSessionExpired) && s != nil && (s.ReturnURL != "" || s.Opener != "") {
		h.fail(w, r, s, http.StatusUnauthorized, "session_expired", "The connect session expired. Start connecting again.")
		return
	}
	h.clearSession(w, r)
	h.message(w, r, http.StatusUnauthorized, messagePage{page: page{Title: "This page has expired"},
		Text: "Your connect session has expired or was not started here. Go back to the app you came from and start connecting again."})
}

// unavailable is a failure of the server: logged, and told plainly.
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, s *session, err error) {
	h.log.Error("connect: the connect page failed", "error", err)
	if s != nil {
		h.fail(w, r, s, http.StatusInternalServerError, "server_error", "The connection could not be completed. Try again later.")
		return
	}
	h.message(w, r, http.StatusInternalServerError, messagePage{page: page{Title: "Something went wrong"},
		Text: "The connect page could not be shown. Try again later."})
}

// succeed ends the session and sends the user back with the connection.
func (h *handler) succeed(w http.ResponseWriter, r *http.Request, s *session, connID, name string) {
	h.clearSession(w, r)
	if s.Opener != "" {
		h.tellOpener(w, s, http.StatusOK, openerMessage{Type: openerMessageType, Connection: &openerConnection{ID: connID, Connector: s.Connector}},
			messagePage{page: page{Title: "Connected"}, Text: fmt.Sprintf("Your %s account is connected. You can close this window.", name)})
		return
	}
	if s.ReturnURL != "" {
		if u, rerr := h.origins.check(s.ReturnURL); rerr == nil {
			http.Redirect(w, r, withParams(u, "connectionId", connID), http.StatusSeeOther)
			return
		}
	}
	h.message(w, r, http.StatusOK, messagePage{page: page{Title: "Connected"},
		Text: fmt.Sprintf("Your %s account is connected. You can close this window.", name)})
}

// fail ends the session and sends the user back with an OAuth-style
// error code and description, or shows them when there is nowhere to go.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, s *session, status int, code, desc string) {
	h.clearSession(w, r)
	if s != nil && s.Opener != "" {
		h.tellOpener(w, s, status, openerMessage{Type: openerMessageType, Error: &openerError{Code: code, Description: desc}},
			messagePage{page: page{Title: "Not connected"}, Text: desc, Detail: "Error code: " + code})
		return
	}
	if s != nil && s.ReturnURL != "" {
		if u, rerr := h.origins.check(s.ReturnURL); rerr == nil {
			http.Redirect(w, r, withParams(u, "error", code, "error_description", desc), http.StatusSeeOther)
			return
		}
	}
	h.message(w, r, status, messagePage{page: page{Title: "Not connected"}, Text: desc, Detail: "Error code: " + code})
}
