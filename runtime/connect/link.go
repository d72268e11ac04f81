package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/spec/schema"
)

// OAuth links: how POST /v1/oauth/authorize connects an account.
//
// The callback completes only in the browser that holds the connect
// session of the tenant and connector the state was made for: a consent
// URL handed to someone else (an attacker to a victim) ends in
// invalid_state there, and nothing is connected anywhere. The API cannot
// set that cookie, so it hands out a link to this page instead of the
// provider's URL:
//
//	GET  /connect/authorize?link=…  checks the link's signature and expiry
//	     and starts a connect session from it (tenant, connector,
//	     connection, returnUrl), then 303 to /connect.
//	GET  /connect                   "Continue to <provider>", as for a
//	     connect link, without the parameters (the API call gave them).
//	POST /connect                   with the session's CSRF token: takes the
//	     link's consent URL, once, and 303 to it.
//
// Why not redirect from the link straight to the provider: the provider
// may skip its consent screen for a user who allowed the app before, so a
// page that navigates a victim's browser to an attacker's link would
// attach the victim's account to the attacker's tenant without a click.
// As with a connect link, a click on this page (a same-origin POST, which
// no other site can forge, in a page that cannot be framed) comes first.
// Opening the link only sets a cookie, so a link checker that fetches it
// spends nothing. The consent URL is single-use, as is its state: whoever
// continues first uses it, and the link then fails in every other
// browser. The returnUrl is held to connect.returnOrigins when the API
// call is made.

// linkTTL bounds the time from the API call to the click on Continue; the
// state behind the consent URL lives as long (oauth.Options.StateTTL).
const linkTTL = 10 * time.Minute

// linkPrefix keeps the links' keys in the state store apart from the
// OAuth states', which have no colon.
const linkPrefix = "connect-link:"

// link is what a link carries, signed with the session key.
type link struct {
	ID           string `json:"i"`
	Tenant       string `json:"t"`
	Connector    string `json:"c"`
	ConnectionID string `json:"id,omitempty"`
	ReturnURL    string `json:"r,omitempty"`
	web.Expiry
}

// readLink returns the link of a URL's value, or why it cannot be used.
func (h *handler) readLink(v string) (*link, error) {
	var l link
	switch err := h.links.Open(v, h.now(), &l); {
	case errors.Is(err, web.ErrExpired):
		return nil, errExpiredLink
	case err != nil:
		return nil, err
	case l.ID == "" || l.Tenant == "" || l.Connector == "":
		return nil, errors.New("incomplete")
	}
	return &l, nil
}

var errExpiredLink = errors.New("expired")

// OAuthLink begins connecting an account of tenant through the provider's
// consent page, as POST /v1/oauth/authorize does, and returns the link to
// send the user's browser to: this page's, which binds the browser to the
// flow before it goes on to the provider (see above). The request's
// RedirectURI is this page's callback, whatever it says. A returnUrl not
// on an allowed origin is a *connections.ValidationError at /returnUrl.
func (p *Page) OAuthLink(ctx context.Context, tenant string, r connections.BeginOAuthRequest) (string, error) {
	h := p.h
	if h.o.States == nil {
		return "", errors.New("connect: Options.States is not set, so OAuth links cannot be kept single-use")
	}
	if r.ReturnURL != "" {
		u, rerr := h.origins.check(r.ReturnURL)
		if rerr != nil {
			msg := rerr.Problem
			if rerr.Origin != "" {
				msg += fmt.Sprintf("; if %s is your app, add it to connect.returnOrigins in the workspace's membrane.yaml (allowed now: %s)", rerr.Origin, strings.Join(h.origins.list(), ", "))
			}
			return "", &connections.ValidationError{Message: "returnUrl is not allowed",
				Violations: []schema.Violation{{Pointer: "/returnUrl", Message: msg}}}
		}
		r.ReturnURL = u.String()
	}
	r.RedirectURI = h.redirectURI()
	consent, err := h.o.Service.BeginOAuth(ctx, tenant, r)
	if err != nil {
		return "", err
	}
	l := &link{ID: web.NewToken(), Tenant: tenant, Connector: r.Connector, ConnectionID: r.ConnectionID, ReturnURL: r.ReturnURL}
	exp := time.Unix(h.now().Add(linkTTL).Unix(), 0) // the link's own, in whole seconds
	if err := h.o.States.SaveState(ctx, linkPrefix+l.ID, []byte(consent), exp); err != nil {
		return "", fmt.Errorf("connect: saving the OAuth link: %w", err)
	}
	v, err := h.links.Sign(l, exp)
	if err != nil {
		return "", err
	}
	return h.public.Scheme + "://" + h.public.Host + h.base + "/authorize?" + url.Values{"link": {v}}.Encode(), nil
}

// openLink starts a connect session from a link and shows the page. It
// spends nothing: the consent URL is taken by the POST that continues.
func (h *handler) openLink(w http.ResponseWriter, r *http.Request) {
	l, err := h.readLink(r.URL.Query().Get("link"))
	if err != nil {
		h.log.Info("connect: OAuth link refused", "reason", err.Error())
		text := "The link to this page is not valid. Go back to the app you came from and start connecting again."
		if errors.Is(err, errExpiredLink) {
			text = "The link to this page has expired. Go back to the app you came from and start connecting again."
		}
		h.message(w, r, http.StatusBadRequest, messagePage{page: page{Title: "This link is not valid"}, Text: text})
		return
	}
	sess := newSession(session{Tenant: l.Tenant, Connector: l.Connector, ConnectionID: l.ConnectionID, ReturnURL: l.ReturnURL, Link: l.ID})
	if err := h.setSession(w, r, sess); err != nil {
		h.unavailable(w, r, nil, err)
		return
	}
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

// continueLink sends the user on to the provider with the consent URL the
// API call prepared, which only the first browser to get here can take.
func (h *handler) continueLink(w http.ResponseWriter, r *http.Request, s *session) {
	if h.o.States == nil {
		h.unavailable(w, r, s, errors.New("connect: Options.States is not set"))
		return
	}
	consent, err := h.o.States.TakeState(r.Context(), linkPrefix+s.Link)
	if errors.Is(err, oauth.ErrStateNotFound) {
		h.log.Info("connect: OAuth link used already or expired", "tenant", s.Tenant, "connector", s.Connector)
		h.fail(w, r, s, http.StatusBadRequest, "invalid_state",
			"This sign-in link was used already or has expired. Start connecting again.")
		return
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	http.Redirect(w, r, string(consent), http.StatusSeeOther)
}
