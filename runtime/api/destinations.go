package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
)

// DefaultRotationGrace is how long the previous secret of a destination
// keeps signing after POST /v1/destinations/{id}/rotate-secret, unless the
// request names its own grace: long enough to deploy the new secret to
// every backend that checks it.
const DefaultRotationGrace = 24 * time.Hour

// MaxRotationGrace bounds the grace a rotation may ask for.
const MaxRotationGrace = 7 * 24 * time.Hour

// destinationBody is a destination as the API shows it: never a secret.
type destinationBody struct {
	ID string `json:"id"`
	// Source is "api" (made through this API) or "file" (membrane.yaml's
	// delivery.destinations, read-only here).
	Source string `json:"source"`
	Name   string `json:"name"`
	// Kind is "webhook" or "nats".
	Kind string `json:"kind"`
	// URL is the webhook URL, or the NATS server URL.
	URL string `json:"url"`
	// Subject is the NATS subject of a nats destination.
	Subject string `json:"subject,omitempty"`
	// Events, Connectors and Tenants filter what is delivered; empty is
	// all. An event pattern is a type ("contact-changed.created") or ends
	// in "*" ("connection.*", "*").
	Events     []string `json:"events"`
	Connectors []string `json:"connectors"`
	Tenants    []string `json:"tenants"`
	// Concurrency is the deliveries in flight per replica; 0 is the
	// runtime's default.
	Concurrency int `json:"concurrency"`
	// Timeout is the per-attempt timeout, such as "10s"; absent is the
	// runtime's default.
	Timeout string `json:"timeout,omitempty"`
	// Status is "active" or "disabled".
	Status         string    `json:"status"`
	DisabledReason string    `json:"disabledReason,omitempty"`
	DisabledAt     time.Time `json:"disabledAt,omitzero"`
	// FailingSince is the first failed attempt since the last success;
	// absent while the destination is healthy.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// PreviousSecretUntil is when the secret replaced by the last rotation
	// stops signing; absent when only one secret signs.
	PreviousSecretUntil time.Time `json:"previousSecretUntil,omitzero"`
	Version             int64     `json:"version"`
	CreatedAt           time.Time `json:"createdAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
}

// destinationWithSecret is a destination just created or rotated: the one
// answer that shows its signing secret.
type destinationWithSecret struct {
	destinationBody
	// Secret signs the webhooks (Standard Webhooks, "whsec_…"). It is
	// shown once: store it now.
	Secret string `json:"secret,omitempty"`
}

func (a *api) destinationOf(d *store.Destination) destinationBody {
	b := destinationBody{ID: d.ID, Source: d.Source, Name: d.Name, Kind: d.Kind, URL: d.URL, Subject: d.Subject,
		Events: nonNil(d.EventTypes), Connectors: nonNil(d.Connectors), Tenants: nonNil(d.Tenants),
		Concurrency: d.Concurrency, Status: d.Status, DisabledReason: d.DisabledReason, DisabledAt: d.DisabledAt,
		FailingSince: d.FailingSince, Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Timeout > 0 {
		b.Timeout = d.Timeout.String()
	}
	if d.PreviousSecret != "" && d.PreviousUntil.After(a.now()) {
		b.PreviousSecretUntil = d.PreviousUntil.UTC()
	}
	return b
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// destinationRequest is what POST /v1/destinations takes.
type destinationRequest struct {
	Name string `json:"name"`
	// Kind is "webhook" (the default) or "nats".
	Kind        string   `json:"kind"`
	URL         string   `json:"url"`
	Subject     string   `json:"subject"`
	Events      []string `json:"events"`
	Connectors  []string `json:"connectors"`
	Tenants     []string `json:"tenants"`
	Concurrency int      `json:"concurrency"`
	Timeout     string   `json:"timeout"`
}

// destinationPatch is what PATCH /v1/destinations/{id} takes: each member
// present replaces the destination's.
type destinationPatch struct {
	Name        *string   `json:"name"`
	URL         *string   `json:"url"`
	Subject     *string   `json:"subject"`
	Events      *[]string `json:"events"`
	Connectors  *[]string `json:"connectors"`
	Tenants     *[]string `json:"tenants"`
	Concurrency *int      `json:"concurrency"`
	Timeout     *string   `json:"timeout"`
}

// rotateRequest is what POST /v1/destinations/{id}/rotate-secret takes.
type rotateRequest struct {
	// Grace is how long the replaced secret keeps signing, such as "24h"
	// (the default) or "0s" to stop it at once.
	Grace string `json:"grace"`
}

// disableRequest is what POST /v1/destinations/{id}/disable takes.
type disableRequest struct {
	// Reason is shown with the disabled destination.
	Reason string `json:"reason"`
}

var destinationName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// check validates a destination's definition and returns each violation,
// at its pointer.
func (a *api) checkDestination(d *store.Destination) []FieldError {
	var errs []FieldError
	add := func(ptr, detail string) { errs = append(errs, FieldError{Pointer: ptr, Detail: detail}) }
	if !destinationName.MatchString(d.Name) {
		add("/name", "is required: 1 to 64 characters of a-z, 0-9 and -")
	}
	switch d.Kind {
	case "webhook":
		if msg := a.checkWebhookURL(d.URL); msg != "" {
			add("/url", msg)
		}
		if d.Subject != "" {
			add("/subject", "is for nats destinations only")
		}
	case "nats":
		if msg := checkNATSURL(d.URL); msg != "" {
			add("/url", msg)
		}
		if !validSubject(d.Subject) {
			add("/subject", `is required for a nats destination: a NATS subject such as "membrane.events" (no spaces, no wildcards)`)
		}
	default:
		add("/kind", `must be "webhook" or "nats"`)
	}
	for i, p := range d.EventTypes {
		if !validPattern(p) {
			add(fmt.Sprintf("/events/%d", i), `must be an event type ("contact-changed.created") or a pattern ending in * ("connection.*", "*")`)
		}
	}
	for i, c := range d.Connectors {
		if c == "" || strings.ContainsAny(c, " */") {
			add(fmt.Sprintf("/connectors/%d", i), "must be a connector key")
		}
	}
	for i, t := range d.Tenants {
		if t == "" || strings.HasPrefix(t, "_") || strings.ContainsAny(t, " /") {
			add(fmt.Sprintf("/tenants/%d", i), "must be a tenant key")
		}
	}
	if d.Concurrency < 0 || d.Concurrency > 256 {
		add("/concurrency", "must be from 0 (the runtime's default) to 256")
	}
	return errs
}

// checkWebhookURL says what is wrong with a webhook URL given through the
// API, "" when nothing: https, or http to a host inside the networks
// delivery.allowPrivateNetworks allows (a local backend in development);
// no credentials in it (the payload is signed instead); and no private or
// loopback address that the workspace does not allow. Where a host name
// resolves is checked again at every delivery.
func (a *api) checkWebhookURL(s string) string {
	if s == "" {
		return "is required: the https URL of your backend's webhook endpoint"
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute https URL, such as https://api.example.com/hooks/membrane"
	}
	if u.User != nil {
		return "must not carry credentials (user:password@): webhooks are signed, check the webhook-signature header instead"
	}
	if u.Fragment != "" {
		return "must not have a #fragment"
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	isIP, private := err == nil, false
	if isIP {
		ip = ip.Unmap()
		private = ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsLinkLocalMulticast()
	} else if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		ip, isIP, private = netip.MustParseAddr("127.0.0.1"), true, true
	}
	allowed := isIP && a.allowedPrivate(ip)
	switch u.Scheme {
	case "https":
	case "http":
		if !allowed {
			return "must be https; http is allowed only to hosts inside delivery.allowPrivateNetworks of membrane.yaml" + a.allowedList()
		}
	default:
		return "must be an https URL, not " + u.Scheme + ":"
	}
	if private && !allowed {
		return "names a private or loopback address (" + ip.String() + "), which delivery.allowPrivateNetworks of membrane.yaml does not allow" + a.allowedList()
	}
	return ""
}

func (a *api) allowedPrivate(ip netip.Addr) bool {
	for _, p := range a.allowPrivate {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (a *api) allowedList() string {
	if len(a.allowPrivate) == 0 {
		return " (it allows none)"
	}
	var s []string
	for _, p := range a.allowPrivate {
		s = append(s, p.String())
	}
	return " (it allows " + strings.Join(s, ", ") + ")"
}

func checkNATSURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "is required: the NATS server URL, such as nats://127.0.0.1:4222"
	case err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls"):
		return "must be a NATS server URL: nats://host:port or tls://host:port"
	case u.User != nil:
		return "must not carry credentials"
	}
	return ""
}

func validSubject(s string) bool {
	if s == "" || len(s) > 255 || strings.ContainsAny(s, " \t\r\n*>") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return true
}

func validPattern(p string) bool {
	if p == "" || len(p) > 200 || strings.ContainsAny(p, " \t\r\n/") {
		return false
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return false
	}
	return true
}

// parseTimeout reads a destination's per-attempt timeout.
func parseTimeout(s string) (time.Duration, string) {
	if s == "" {
		return 0, ""
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 5*time.Minute {
		return 0, `must be a duration from "1s" to "5m", such as "10s", or left out for the runtime's default`
	}
	return d, ""
}

func validation(errs []FieldError) *Problem {
	p := problem(http.StatusUnprocessableEntity, "validation", "The destination does not validate: errors[] points at each invalid value; fix them and send again.")
	p.Errors = errs
	return p
}

func destinationURL(id string) string { return "/v1/destinations/" + url.PathEscape(id) }

func (a *api) listDestinations(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	page, err := a.st.Destinations().List(r.Context(), cursor, limit)
	if err != nil {
		a.failList(w, r, err)
		return
	}
	items := make([]destinationBody, len(page.Items))
	for i, d := range page.Items {
		items[i] = a.destinationOf(d)
	}
	a.writeJSON(w, r, http.StatusOK, listOf(items, page.Next))
}

func (a *api) createDestination(w http.ResponseWriter, r *http.Request) {
	var req destinationRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	d := store.Destination{Source: "api", Name: req.Name, Kind: req.Kind, URL: req.URL, Subject: req.Subject,
		EventTypes: req.Events, Connectors: req.Connectors, Tenants: req.Tenants, Concurrency: req.Concurrency, Status: "active"}
	if d.Kind == "" {
		d.Kind = "webhook"
	}
	errs := a.checkDestination(&d)
	timeout, msg := parseTimeout(req.Timeout)
	if msg != "" {
		errs = append(errs, FieldError{Pointer: "/timeout", Detail: msg})
	}
	if len(errs) > 0 {
		writeProblem(w, validation(errs))
		return
	}
	d.Timeout = timeout
	if d.Kind == "webhook" {
		d.Secret = delivery.NewSecret()
	}
	created, err := a.st.Destinations().Create(r.Context(), d)
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	w.Header().Set("Location", destinationURL(created.ID))
	a.writeJSON(w, r, http.StatusCreated, destinationWithSecret{destinationBody: a.destinationOf(created), Secret: created.Secret})
}

func (a *api) getDestination(w http.ResponseWriter, r *http.Request) {
	d, err := a.st.Destinations().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, a.destinationOf(d))
}

// errFileDestination stops an Update of a destination membrane.yaml
// defines.
var errFileDestination = errors.New("file destination")

// invalidDestination carries the violations found inside an Update.
type invalidDestination struct{ errs []FieldError }

func (e *invalidDestination) Error() string { return "invalid destination" }

func (a *api) patchDestination(w http.ResponseWriter, r *http.Request) {
	var p destinationPatch
	if !decodeJSON(w, r, &p, true) {
		return
	}
	var timeout time.Duration
	if p.Timeout != nil {
		var msg string
		if timeout, msg = parseTimeout(*p.Timeout); msg != "" {
			writeProblem(w, validation([]FieldError{{Pointer: "/timeout", Detail: msg}}))
			return
		}
	}
	d, err := a.st.Destinations().Update(r.Context(), r.PathValue("id"), func(d *store.Destination) error {
		if d.Source == "file" {
			return errFileDestination
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&d.Name, p.Name)
		set(&d.URL, p.URL)
		set(&d.Subject, p.Subject)
		if p.Events != nil {
			d.EventTypes = *p.Events
		}
		if p.Connectors != nil {
			d.Connectors = *p.Connectors
		}
		if p.Tenants != nil {
			d.Tenants = *p.Tenants
		}
		if p.Concurrency != nil {
			d.Concurrency = *p.Concurrency
		}
		if p.Timeout != nil {
			d.Timeout = timeout
		}
		if errs := a.checkDestination(d); len(errs) > 0 {
			return &invalidDestination{errs}
		}
		return nil
	})
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, a.destinationOf(d))
}

func (a *api) deleteDestination(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := a.st.Destinations().Get(r.Context(), id)
	if err == nil && d.Source == "file" {
		err = errFileDestination
	}
	if err == nil {
		err = a.st.Destinations().Delete(r.Context(), id)
	}
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) rotateSecret(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if !decodeJSON(w, r, &req, false) {
		return
	}
	grace := a.rotationGrace
	if req.Grace != "" {
		g, err := time.ParseDuration(req.Grace)
		if err != nil || g < 0 || g > MaxRotationGrace {
			writeProblem(w, invalidField("/grace", `must be a duration from "0s" (the old secret stops at once) to "168h", such as "24h" (the default)`))
			return
		}
		grace = g
	}
	secret := delivery.NewSecret()
	d, err := a.st.Destinations().Update(r.Context(), r.PathValue("id"), func(d *store.Destination) error {
		switch {
		case d.Source == "file":
			return errFileDestination
		case d.Kind != "webhook":
			return errNotWebhook
		}
		d.PreviousSecret, d.PreviousUntil = "", time.Time{}
		if grace > 0 && d.Secret != "" {
			d.PreviousSecret, d.PreviousUntil = d.Secret, a.now().Add(grace).UTC()
		}
		d.Secret = secret
		return nil
	})
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, destinationWithSecret{destinationBody: a.destinationOf(d), Secret: secret})
}

var errNotWebhook = errors.New("not a webhook destination")

func (a *api) disableDestination(w http.ResponseWriter, r *http.Request) {
	var req disableRequest
	if !decodeJSON(w, r, &req, false) {
		return
	}
	if len(req.Reason) > 500 {
		writeProblem(w, invalidField("/reason", "must be at most 500 bytes"))
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "disabled through the API"
	}
	d, err := a.st.Destinations().Update(r.Context(), r.PathValue("id"), func(d *store.Destination) error {
		if d.Status != "disabled" {
			d.Status, d.DisabledReason, d.DisabledAt = "disabled", reason, a.now().UTC()
		}
		return nil
	})
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, a.destinationOf(d))
}

// enableDestination delivers to a disabled destination again, its
// failures forgotten: what was pending is sent, what went dead meanwhile
// is replayed with POST /v1/deliveries/replay.
func (a *api) enableDestination(w http.ResponseWriter, r *http.Request) {
	var empty struct{}
	if !decodeJSON(w, r, &empty, false) {
		return
	}
	d, err := a.st.Destinations().Update(r.Context(), r.PathValue("id"), func(d *store.Destination) error {
		if d.Status != "active" {
			d.Status, d.DisabledReason, d.DisabledAt, d.FailingSince = "active", "", time.Time{}, time.Time{}
		}
		return nil
	})
	if err != nil {
		a.failDestination(w, r, err)
		return
	}
	a.wake()
	a.writeJSON(w, r, http.StatusOK, a.destinationOf(d))
}

// failDestination answers the errors of the destination routes.
func (a *api) failDestination(w http.ResponseWriter, r *http.Request, err error) {
	if inv, ok := errorAs[*invalidDestination](err); ok {
		writeProblem(w, validation(inv.errs))
		return
	}
	switch {
	case errors.Is(err, errFileDestination):
		writeProblem(w, problem(http.StatusConflict, "file-destination",
			"This destination is defined in membrane.yaml (delivery.destinations), so the API cannot change, rotate or delete it: edit membrane.yaml and reload. Disable and enable work on it."))
	case errors.Is(err, errNotWebhook):
		writeProblem(w, problem(http.StatusConflict, "not-a-webhook",
			"Only webhook destinations have a signing secret to rotate; a nats destination is trusted through its server's own authentication."))
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "not-found", notFound["destination"]))
	case errors.Is(err, store.ErrConflict) && r.Method != http.MethodDelete:
		writeProblem(w, problem(http.StatusConflict, "conflict",
			"Another destination has this name, or the destination changed meanwhile: names are unique (membrane.yaml's included). Pick another name, or read it again and retry."))
	case isInvalid(err) && r.Method == http.MethodGet:
		badCursor(w)
	default:
		a.fail(w, r, "destination", err)
	}
}
