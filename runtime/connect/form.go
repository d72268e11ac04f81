package connect

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/internal/schemaform"
	"github.com/membrane-dev/membrane/runtime/internal/web"
	"github.com/membrane-dev/membrane/spec"
)

// maxForm bounds a submitted form.
const maxForm = 64 << 10

// cancelled is what the app is told when the user cancels.
const cancelled = "The user cancelled connecting."

// form builds the page of a session: the connector's parameters (unless
// re-authorising, which keeps them) and credentials (unless the provider's
// consent page gives a token).
func (h *handler) form(s *session) (*formPage, error) {
	info, err := h.o.Service.Connector(s.Connector)
	if err != nil {
		return nil, err
	}
	name := cmp.Or(info.Name, info.Key)
	mode := modeOf(info, s.AuthMode)
	if mode == nil {
		mode = &connections.AuthMode{AuthInfo: info.Auth, CredentialsSchema: info.CredentialsSchema}
	}
	fp := &formPage{page: page{Base: h.base}, Connector: name, Description: info.Description, CSRF: s.CSRF,
		Reconnect: s.ConnectionID != "", OAuth: mode.Type == spec.AuthOAuth2 && mode.Grant != spec.GrantClientCredentials}
	if !fp.Reconnect && s.Link == "" && len(info.AuthModes) > 1 {
		for _, m := range info.AuthModes {
			fp.Modes = append(fp.Modes, modeChoice{Label: cmp.Or(m.Label, m.Key), URL: h.base + "?mode=" + url.QueryEscape(m.Key), Current: m.Key == mode.Key})
		}
	}
	var b schemaform.Builder
	var params, creds []*schemaform.Field
	if !fp.Reconnect && s.Link == "" && info.ParametersSchema != nil {
		params = b.Fields(info.ParametersSchema, "/parameters")
	}
	if !fp.OAuth && mode.CredentialsSchema != nil {
		creds = b.Fields(mode.CredentialsSchema, "/credentials")
	}
	both := len(params) > 0 && len(creds) > 0
	if len(params) > 0 {
		fp.Sections = append(fp.Sections, formSection{Legend: legend(both, "Settings"), Fields: params})
	}
	if len(creds) > 0 {
		fp.Sections = append(fp.Sections, formSection{Legend: legend(both, "Credentials"), Fields: creds})
	}
	fp.Title = "Connect " + name
	fp.Submit = "Connect"
	if fp.Reconnect {
		fp.Title, fp.Submit = "Reconnect "+name, "Reconnect"
	}
	if fp.OAuth {
		fp.Submit = "Continue to " + name
	}
	if s.ReturnURL != "" {
		if u, rerr := h.origins.check(s.ReturnURL); rerr == nil {
			fp.Cancel = withParams(u, "error", "access_denied", "error_description", cancelled)
		}
	}
	// In a popup, Cancel is a submit button: the page tells the opener.
	fp.CancelButton = s.Opener != ""
	return fp, nil
}

// modeOf returns the connector's auth mode of that key, the first for "",
// or nil.
func modeOf(info *connections.ConnectorInfo, key string) *connections.AuthMode {
	for i, m := range info.AuthModes {
		if m.Key == key || (key == "" && i == 0) {
			return &info.AuthModes[i]
		}
	}
	return nil
}

func modeKeys(info *connections.ConnectorInfo) []string {
	keys := make([]string, 0, len(info.AuthModes))
	for _, m := range info.AuthModes {
		keys = append(keys, m.Key)
	}
	return keys
}

func legend(show bool, s string) string {
	if show {
		return s
	}
	return ""
}

func (fp *formPage) fields() []*schemaform.Field {
	var out []*schemaform.Field
	for _, s := range fp.Sections {
		out = append(out, s.Fields...)
	}
	return out
}

// showForm renders the form with a policy that lets it continue to where
// a submission may redirect: the returnUrl, or the provider.
func (h *handler) showForm(w http.ResponseWriter, s *session, fp *formPage, status int) {
	var targets []string
	if s.ReturnURL != "" {
		if u, rerr := h.origins.check(s.ReturnURL); rerr == nil {
			targets = append(targets, u.Scheme+"://"+u.Host)
		}
	}
	if fp.OAuth {
		targets = append(targets, h.providerOrigins(s)...)
	}
	policy := securityHeaders.CSP
	policy.FormTargets = targets
	w.Header().Set("Content-Security-Policy", policy.String())
	schemaform.WalkLeaves(fp.fields(), func(f *schemaform.Field) {
		if f.Error != "" {
			fp.Summary = append(fp.Summary, summaryItem{ID: f.ID, Text: f.Error})
		}
	})
	fp.page.Error = len(fp.Errors) > 0 || len(fp.Summary) > 0
	h.pages.Render(w, status, "form", fp)
}

// providerOrigins are the CSP sources of where a session's consent page
// may be: the origins its authorization URL's host policy allows, which
// are all Begin can redirect to. A pattern's `*` is one label; CSP's
// `*.` prefix is one or more, and the only wildcard a host source may
// have, so a pattern with a `*` further in (api.*.example.com) widens to
// the labels after its last one (*.example.com): never beyond the domain
// the file fixes. None when the connector cannot be resolved: the
// submission fails before any redirect then.
func (h *handler) providerOrigins(s *session) []string {
	origins, err := h.o.Service.AuthorizationOrigins(s.Tenant, s.Connector, s.ConnectionID, s.AuthMode)
	if err != nil {
		h.log.Warn("connect: the consent page's origins are not known", "connector", s.Connector, "error", err)
		return nil
	}
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		if src := cspSource(o); src != "" && !slices.Contains(out, src) {
			out = append(out, src)
		}
	}
	return out
}

// cspSource is a CSP host source for an origin pattern
// (scheme://host[:port]), "" for one it cannot express.
func cspSource(origin string) string {
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok || rest == "" {
		return ""
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(host, "*."); i >= 0 {
		host = host[i:]
	}
	if strings.Contains(host[min(1, len(host)):], "*") || host == "*" || host == "*." {
		return ""
	}
	return scheme + "://" + host + port
}

// post is the form: it checks the session and its CSRF token, then
// connects with what was typed, or starts the provider's consent.
func (h *handler) post(w http.ResponseWriter, r *http.Request) {
	if err := web.ParseForm(w, r, maxForm); err != nil {
		h.message(w, r, http.StatusBadRequest, messagePage{page: page{Title: "The form could not be read"},
			Text: "The form sent was too large or malformed. Go back and try again."})
		return
	}
	s, err := h.readSession(r)
	if err != nil {
		h.noSession(w, r, s, err)
		return
	}
	if !web.ValidCSRF(r, s.CSRF) {
		h.log.Info("connect: form refused: CSRF token missing or wrong")
		h.message(w, r, http.StatusForbidden, messagePage{page: page{Title: "This form has expired"},
			Text: "The form was not sent from this connect page, or it has expired. Nothing was saved.",
			Link: h.base, LinkText: "Reload the form"})
		return
	}
	if s.Opener != "" {
		keepOpener(w)
		if r.PostForm.Has("cancel") {
			h.fail(w, r, s, http.StatusOK, "access_denied", cancelled)
			return
		}
	}
	if s.Link != "" {
		h.continueLink(w, r, s)
		return
	}
	fp, err := h.form(s)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	values := schemaform.Read(fp.fields(), r.PostForm)
	secrets := secretValues(fp.fields(), r.PostForm)
	invalidLocally := false
	schemaform.WalkLeaves(fp.fields(), func(f *schemaform.Field) { invalidLocally = invalidLocally || f.Error != "" })
	if invalidLocally {
		// Nothing is sent that the form knows to be wrong.
		h.showForm(w, s, fp, http.StatusUnprocessableEntity)
		return
	}
	ctx := r.Context()
	if fp.OAuth {
		u, err := h.o.Service.BeginOAuth(ctx, s.Tenant, connections.BeginOAuthRequest{Connector: s.Connector,
			ConnectionID: s.ConnectionID, AuthMode: s.AuthMode, Parameters: values["parameters"], RedirectURI: h.redirectURI(), ReturnURL: s.ReturnURL})
		if err != nil {
			h.refused(w, r, s, fp, values, secrets, err)
			return
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	var c *connections.Connection
	if s.ConnectionID != "" {
		c, err = h.o.Service.Reconnect(ctx, s.Tenant, s.ConnectionID, values["credentials"])
	} else {
		c, err = h.o.Service.Create(ctx, s.Tenant, connections.CreateRequest{Connector: s.Connector, AuthMode: s.AuthMode,
			Parameters: values["parameters"], Credentials: values["credentials"]})
	}
	if err != nil {
		h.refused(w, r, s, fp, values, secrets, err)
		return
	}
	h.log.Info("connect: connected", "tenant", s.Tenant, "connector", s.Connector, "connection", c.ID)
	h.succeed(w, r, s, c.ID, fp.Connector)
}

// refused shows the form again with what the service refused; a failure
// that the user cannot fix in the form ends the session instead.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, s *session, fp *formPage, values map[string]map[string]any, secrets []string, err error) {
	var verr *connections.ValidationError
	var cerr *connections.CredentialsRefusedError
	var rerr *engine.Error
	status := http.StatusUnprocessableEntity
	switch {
	case errors.As(err, &verr):
		fp.Errors = schemaform.PlaceViolations(fp.fields(), verr.Violations, values)
	case errors.As(err, &cerr):
		msg := fp.Connector + " did not accept these credentials"
		if cerr.Err != nil && cerr.Err.Message != "" {
			msg += ": " + cerr.Err.Message
		}
		fp.Errors = []string{schemaform.Sentence(msg)}
	case errors.Is(err, connections.ErrNotFound):
		h.fail(w, r, s, http.StatusNotFound, "invalid_request", "The connection to re-authorise no longer exists.")
		return
	case errors.Is(err, connections.ErrOAuthUnavailable):
		h.log.Error("connect: OAuth is not configured for this connector", "connector", s.Connector, "error", err)
		h.fail(w, r, s, http.StatusServiceUnavailable, "temporarily_unavailable", fmt.Sprintf("Connecting %s is not set up on this server yet.", fp.Connector))
		return
	case errors.As(err, &rerr):
		h.log.Warn("connect: the credentials could not be checked", "connector", s.Connector, "type", rerr.Type, "status", rerr.Status)
		status = http.StatusBadGateway
		fp.Errors = []string{fmt.Sprintf("%s could not be reached to check these credentials (%s). Try again in a moment.", fp.Connector, rerr.Type)}
	default:
		h.unavailable(w, r, s, err)
		return
	}
	// The service words its refusals without secrets; this makes sure.
	for i, e := range fp.Errors {
		fp.Errors[i] = redact(e, secrets)
	}
	schemaform.WalkLeaves(fp.fields(), func(f *schemaform.Field) { f.Error = redact(f.Error, secrets) })
	h.showForm(w, s, fp, status)
}

// secretValues are what was typed in secret fields.
func secretValues(fields []*schemaform.Field, form map[string][]string) []string {
	var out []string
	schemaform.WalkLeaves(fields, func(f *schemaform.Field) {
		if f.Secret {
			for _, v := range form[f.Name] {
				if v = strings.TrimSpace(v); len(v) >= 4 {
					out = append(out, v)
				}
			}
		}
	})
	return out
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}
