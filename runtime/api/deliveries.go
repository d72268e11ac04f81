package api

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// deliveryBody is the state of one event's delivery to one destination.
type deliveryBody struct {
	EventID     string `json:"eventId"`
	Destination string `json:"destination"`
	Tenant      string `json:"tenant"`
	Type        string `json:"type"`
	// Status is pending (due at NextAttemptAt), delivered or dead (every
	// attempt failed; replay it with POST /v1/deliveries/replay).
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	// LastError and LastStatus are the last failed attempt's: its error,
	// and the HTTP status the destination answered (absent when none).
	LastError   string    `json:"lastError,omitempty"`
	LastStatus  int       `json:"lastStatus,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

func deliveryOf(s *store.DeliveryState) deliveryBody {
	b := deliveryBody{EventID: s.EventID, Destination: s.Destination, Tenant: s.Tenant, Type: s.Type, Status: string(s.Status),
		Attempts: s.Attempts, LastError: s.LastError, LastStatus: s.LastStatus, CreatedAt: s.CreatedAt, DeliveredAt: s.DeliveredAt}
	if s.Status == store.Pending {
		b.NextAttemptAt = s.NextAttemptAt
	}
	return b
}

// attemptBody is one attempt to deliver an event to a destination.
type attemptBody struct {
	EventID     string `json:"eventId"`
	Destination string `json:"destination"`
	Tenant      string `json:"tenant"`
	// Attempt counts from 1.
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// Status is the HTTP status answered; absent when none came (a
	// timeout, a refused connection, a NATS destination).
	Status    int     `json:"status,omitempty"`
	LatencyMs float64 `json:"latencyMs"`
	// Error says why the attempt failed; absent when it succeeded.
	Error string `json:"error,omitempty"`
	// Excerpt is the start of the answer (at most 512 bytes), redacted.
	Excerpt string `json:"excerpt,omitempty"`
}

func attemptOf(a *store.Attempt) attemptBody {
	return attemptBody{EventID: a.EventID, Destination: a.Destination, Tenant: a.Tenant, Attempt: a.Attempt, At: a.At,
		Status: a.Status, LatencyMs: float64(a.Latency.Microseconds()) / 1000, Error: a.Error, Excerpt: a.Excerpt}
}

// replayRequest is what POST /v1/deliveries/replay takes: an event
// (eventId, and destination to replay one of its deliveries), or a
// destination's dead deliveries of events created from from to to.
type replayRequest struct {
	EventID     string    `json:"eventId"`
	Destination string    `json:"destination"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
}

// replayResponse says how many deliveries were made pending again.
type replayResponse struct {
	Replayed int64 `json:"replayed"`
}

// queryError is a query parameter that does not read.
func queryError(w http.ResponseWriter, param, detail string) {
	p := problem(http.StatusBadRequest, "invalid-query", param+" "+detail+".")
	p.Errors = []FieldError{{Parameter: param, Detail: detail}}
	writeProblem(w, p)
}

// queryTime reads an RFC 3339 time parameter; ok false when answered.
func queryTime(w http.ResponseWriter, q url.Values, param string) (time.Time, bool) {
	s := q.Get(param)
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		queryError(w, param, "must be an RFC 3339 time, such as 2026-01-02T15:04:05Z")
		return time.Time{}, false
	}
	return t, true
}

// knownDestination answers 404 when a filter names a destination that
// does not exist; ok true when it exists (or none is named).
func (a *api) knownDestination(w http.ResponseWriter, r *http.Request, id string) bool {
	if id == "" {
		return true
	}
	if _, err := a.st.Destinations().Get(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeProblem(w, problem(http.StatusNotFound, "not-found", "No destination "+quote(id)+" exists. List them with GET /v1/destinations."))
			return false
		}
		a.fail(w, r, "destination", err)
		return false
	}
	return true
}

func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := store.DeliveryFilter{Tenant: q.Get("tenant"), Destination: q.Get("destination"), EventID: q.Get("event"), Cursor: cursor, Limit: limit}
	switch s := store.DeliveryStatus(q.Get("status")); s {
	case "", store.Pending, store.Delivered, store.Dead:
		f.Status = s
	default:
		queryError(w, "status", "must be pending, delivered or dead (dead letters are status=dead)")
		return
	}
	if f.From, ok = queryTime(w, q, "from"); !ok {
		return
	}
	if f.To, ok = queryTime(w, q, "to"); !ok {
		return
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		queryError(w, "to", "must not be before from")
		return
	}
	if !a.knownDestination(w, r, f.Destination) {
		return
	}
	page, err := a.st.Deliveries().List(r.Context(), f)
	if err != nil {
		a.failList(w, r, err)
		return
	}
	items := make([]deliveryBody, len(page.Items))
	for i, s := range page.Items {
		items[i] = deliveryOf(s)
	}
	a.writeJSON(w, r, http.StatusOK, listOf(items, page.Next))
}

func (a *api) listAttempts(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := store.AttemptFilter{Tenant: q.Get("tenant"), Destination: q.Get("destination"), EventID: q.Get("event"), Cursor: cursor, Limit: limit}
	if !a.knownDestination(w, r, f.Destination) {
		return
	}
	page, err := a.st.Deliveries().Attempts(r.Context(), f)
	if err != nil {
		a.failList(w, r, err)
		return
	}
	items := make([]attemptBody, len(page.Items))
	for i, at := range page.Items {
		items[i] = attemptOf(at)
	}
	a.writeJSON(w, r, http.StatusOK, listOf(items, page.Next))
}

func (a *api) replay(w http.ResponseWriter, r *http.Request) {
	var req replayRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	f := store.ReplayFilter{EventID: req.EventID, Destination: req.Destination, From: req.From, To: req.To}
	if f.EventID == "" {
		var errs []FieldError
		if f.Destination == "" {
			errs = append(errs, FieldError{Pointer: "/destination", Detail: "is required without eventId: replay one event (eventId), or a destination's dead deliveries between from and to"})
		}
		if f.From.IsZero() {
			errs = append(errs, FieldError{Pointer: "/from", Detail: "is required with destination: the start of the range of event times (RFC 3339)"})
		}
		if f.To.IsZero() {
			errs = append(errs, FieldError{Pointer: "/to", Detail: "is required with destination: the end of the range of event times (RFC 3339)"})
		}
		if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
			errs = append(errs, FieldError{Pointer: "/to", Detail: "must not be before from"})
		}
		if len(errs) > 0 {
			p := problem(http.StatusUnprocessableEntity, "validation", "The replay request does not validate: errors[] points at each invalid value.")
			p.Errors = errs
			writeProblem(w, p)
			return
		}
	} else if !f.From.IsZero() || !f.To.IsZero() {
		p := problem(http.StatusUnprocessableEntity, "validation", "Replay one event (eventId, and destination for one of its deliveries), or a destination's dead deliveries in a time range (destination, from, to): not both.")
		p.Errors = []FieldError{{Pointer: "/from", Detail: "is not taken with eventId"}}
		writeProblem(w, p)
		return
	}
	if !a.knownDestination(w, r, f.Destination) {
		return
	}
	n, err := a.st.Deliveries().Replay(r.Context(), f)
	switch {
	case errors.Is(err, store.ErrNotFound) && f.EventID != "":
		detail := "No delivery of event " + quote(f.EventID) + " exists"
		if f.Destination != "" {
			detail += " to destination " + quote(f.Destination)
		}
		writeProblem(w, problem(http.StatusNotFound, "not-found", detail+". Find the event's deliveries with GET /v1/deliveries?event=…"))
		return
	case err != nil:
		a.fail(w, r, "", err)
		return
	case n == 0 && f.EventID == "":
		p := problem(http.StatusUnprocessableEntity, "no-match", "No dead delivery of destination "+quote(f.Destination)+" has an event created from "+
			f.From.UTC().Format(time.RFC3339)+" to "+f.To.UTC().Format(time.RFC3339)+", so nothing was replayed. List the dead letters with GET /v1/deliveries?destination=…&status=dead.")
		p.Errors = []FieldError{{Pointer: "/from", Detail: "no dead delivery in this range"}, {Pointer: "/to", Detail: "no dead delivery in this range"}}
		writeProblem(w, p)
		return
	}
	if n > 0 {
		a.wake()
	}
	a.writeJSON(w, r, http.StatusOK, replayResponse{Replayed: n})
}
