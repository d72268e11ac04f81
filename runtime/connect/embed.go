package connect

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/spec"
)

// The connect button (static/embed.js): an app's page loads
//
//	<script src="https://membrane.example.com/connect/embed.js"></script>
//
// and calls Membrane.connect({token, connector}) from a click. It opens
//
//	GET /connect?token=…&connector=…&opener=<the page's origin>
//
// in a popup. The opener must be an allowed origin (connect.returnOrigins,
// the server's own, loopback while none is configured), as a returnUrl
// must: it is kept in the session instead of a returnUrl. Where the
// session would end on the returnUrl, its last page (connected, failed,
// cancelled) posts the outcome to window.opener with the opener as
// targetOrigin, so the browser delivers it only to a page of that
// origin; embed.js takes it only from Membrane's origin and from the
// popup it opened. Those pages are sent with COOP unsafe-none rather than
// same-origin: same-origin would cut the popup off from its opener, and
// the outcome could not be posted. A page whose opener is not allowed
// keeps same-origin, and nothing is posted there.

//go:embed static/embed.js
var embedJS []byte

//go:embed static/opener.js
var openerJS []byte

// openerMessageType marks Membrane's messages among whatever else a page
// receives.
const openerMessageType = "membrane.connect"

// openerMessage is what the popup posts to its opener: the connection, or
// the error (an OAuth-style code and a description).
type openerMessage struct {
	Type       string            `json:"type"`
	Connection *openerConnection `json:"connection,omitempty"`
	Error      *openerError      `json:"error,omitempty"`
}

type openerConnection struct {
	ID        string `json:"id"`
	Connector string `json:"connector"`
}

type openerError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// openerPost is what the page hands opener.js: where to post, and what.
type openerPost struct {
	Origin  string
	Message string
}

// serveEmbed serves the connect button's script. Another origin's page
// loads it, so its resource policy is cross-origin.
func serveEmbed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.Write(embedJS)
}

// serveOpenerScript serves the script of the popup's last page.
func serveOpenerScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(openerJS)
}

// keepOpener lets the popup keep its opener (see above).
func keepOpener(w http.ResponseWriter) {
	w.Header().Set("Cross-Origin-Opener-Policy", "unsafe-none")
}

// tellOpener renders m, the session's last page, with the script that
// posts msg to the opener; the page says the same for whoever reads it.
func (h *handler) tellOpener(w http.ResponseWriter, s *session, status int, msg openerMessage, m messagePage) {
	b, err := json.Marshal(msg)
	if err != nil {
		h.log.Error("connect: encoding the message to the opener", "error", err)
	} else {
		m.Opener = &openerPost{Origin: s.Opener, Message: string(b)}
	}
	keepOpener(w)
	policy := securityHeaders.CSP
	policy.Scripts = true
	w.Header().Set("Content-Security-Policy", policy.String())
	m.Base = h.base
	if m.Heading == "" {
		m.Heading = m.Title
	}
	m.page.Error = status >= 400
	h.pages.Render(w, status, "message", m)
}

// checkOpener returns the opener's origin, normalised, if a page there
// may open the connect page: an origin alone (scheme://host[:port]), and
// an allowed one.
func (o *origins) checkOpener(raw string) (string, *returnURLError) {
	const example = "the origin of your app's page that loads embed.js (its location.origin), such as https://app.example.com"
	origin, err := spec.ParseOrigin(raw)
	if err != nil {
		return "", &returnURLError{Problem: fmt.Sprintf("opener %v; it must be %s", err, example)}
	}
	u, _ := url.Parse(origin)
	if o.allowed[origin] || (len(o.configured) == 0 && web.LoopbackHost(u.Hostname())) {
		return origin, nil
	}
	return "", &returnURLError{Problem: fmt.Sprintf("the page that opened this window is on %s, which is not an allowed origin", origin), Origin: origin}
}

// badOpener says which origin to allow, and where; nothing is posted.
func (h *handler) badOpener(w http.ResponseWriter, r *http.Request, e *returnURLError) {
	m := messagePage{page: page{Title: "Origin not allowed"}, Text: e.Problem + ". The connect page only tells pages of origins the workspace allows how connecting went."}
	if e.Origin != "" {
		m.Detail = fmt.Sprintf("If %s is your app, add it to connect.returnOrigins in the workspace's membrane.yaml (allowed now: %s):", e.Origin, strings.Join(h.origins.list(), ", "))
		m.Code = "connect:\n  returnOrigins: [" + e.Origin + "]"
	}
	h.message(w, r, http.StatusBadRequest, m)
}
