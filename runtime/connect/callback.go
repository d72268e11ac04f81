package connect

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/oauth"
)

// callback is the provider's redirect after consent. It needs the
// session that started it, whose tenant and connector the state must
// carry: a callback URL that reaches another browser completes nothing.
func (h *handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, err := h.readSession(r)
	if err != nil {
		if errors.Is(err, errSessionExpired) && s != nil && (s.ReturnURL != "" || s.Opener != "") {
			h.fail(w, r, s, http.StatusUnauthorized, "session_expired", "The connect session expired. Start connecting again.")
			return
		}
		h.log.Info("connect: OAuth callback without a connect session")
		h.clearSession(w, r)
		h.message(w, r, http.StatusBadRequest, messagePage{page: page{Title: "Not connected"},
			Text:   "This sign-in could not be completed: it was not started in this browser, or it was completed already. Go back to the app and start connecting again.",
			Detail: "Error code: invalid_state"})
		return
	}
	if s.Opener != "" {
		keepOpener(w)
	}
	name := s.Connector
	if info, err := h.o.Service.Connector(s.Connector); err == nil {
		name = cmp.Or(info.Name, info.Key)
	}
	res, err := h.o.Service.CompleteOAuth(r.Context(), connections.CompleteOAuthRequest{State: q.Get("state"), Code: q.Get("code"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description"), Tenant: s.Tenant, Connector: s.Connector})
	var aerr *oauth.AuthorizationError
	var terr *oauth.TokenError
	switch {
	case err == nil && res != nil && res.Connection != nil:
		h.log.Info("connect: connected", "tenant", s.Tenant, "connector", s.Connector, "connection", res.Connection.ID, "created", res.Created)
		h.succeed(w, r, s, res.Connection.ID, name)
	case errors.As(err, &aerr):
		desc := cleanText(aerr.Description, 300)
		if desc == "" {
			desc = fmt.Sprintf("Access to %s was not granted.", name)
		}
		h.fail(w, r, s, http.StatusBadRequest, errorCode(aerr.Code), desc)
	case errors.Is(err, oauth.ErrInvalidState):
		h.log.Info("connect: OAuth state refused", "tenant", s.Tenant, "connector", s.Connector)
		h.fail(w, r, s, http.StatusBadRequest, "invalid_state",
			"The sign-in could not be verified: it expired, was used already, or was not started here. Start connecting again.")
	case errors.As(err, &terr):
		h.log.Warn("connect: the provider refused the code", "connector", s.Connector, "code", terr.Code, "status", terr.Status)
		h.fail(w, r, s, http.StatusBadGateway, "server_error", fmt.Sprintf("%s did not issue a token (%s). Start connecting again.", name, errorCode(terr.Code)))
	default:
		if err == nil {
			err = errors.New("no connection came back")
		}
		h.unavailable(w, r, s, err)
	}
}

// errorCode passes an OAuth error code on only when it looks like one.
func errorCode(code string) string {
	if code == "" || len(code) > 64 || strings.ContainsFunc(code, func(r rune) bool {
		return !(r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'))
	}) {
		return "access_denied"
	}
	return code
}

// cleanText is a provider's text without control characters, bounded.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
