package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// destView is a destination as the destinations page shows it.
type destView struct {
	ID, Name, Kind, Source, Target, Status string
	FailingSince, DisabledReason, Disabled string
	DeadHref                               string
	Active                                 bool
}

type destinationsPage struct {
	page
	Destinations []destView
	Next         string
}

func deadHref(dst string) string {
	if dst == "" {
		return base + "/deliveries"
	}
	return base + "/deliveries?destination=" + url.QueryEscape(dst)
}

func deliveryLogHref(event string) string { return base + "/deliveries/" + url.PathEscape(event) }

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateTime) + " UTC"
}

// destinations lists where events are delivered, with their health.
func (h *handler) destinations(w http.ResponseWriter, r *http.Request) {
	page, err := h.o.Store.Destinations().List(r.Context(), r.URL.Query().Get("cursor"), 100)
	if err != nil {
		h.failed(w, r, "list the destinations", err)
		return
	}
	p := &destinationsPage{page: newPage("Destinations", "destinations")}
	for _, d := range page.Items {
		v := destView{ID: d.ID, Name: d.Name, Kind: d.Kind, Source: d.Source, Target: d.URL, Status: d.Status,
			FailingSince: when(d.FailingSince), DisabledReason: d.DisabledReason, Disabled: when(d.DisabledAt),
			DeadHref: deadHref(d.ID), Active: d.Status != "disabled"}
		if d.Kind == "nats" {
			v.Target = d.URL + " → " + d.Subject
		}
		if u, err := url.Parse(d.URL); err == nil && u.RawQuery != "" {
			// A query may hold a token of the backend's: not on a page.
			u.RawQuery = "…"
			v.Target = u.String()
		}
		p.Destinations = append(p.Destinations, v)
	}
	if page.Next != "" {
		p.Next = base + "/destinations?cursor=" + url.QueryEscape(page.Next)
	}
	h.render(w, r, http.StatusOK, "destinations", p)
}

// setDestination disables or enables a destination from its row.
func (h *handler) setDestination(w http.ResponseWriter, r *http.Request) {
	id, enable := r.PathValue("id"), r.PathValue("op") == "enable"
	if op := r.PathValue("op"); op != "enable" && op != "disable" {
		h.notFound(w, r)
		return
	}
	_, err := h.o.Store.Destinations().Update(r.Context(), id, func(d *store.Destination) error {
		switch {
		case enable && d.Status != "active":
			d.Status, d.DisabledReason, d.DisabledAt, d.FailingSince = "active", "", time.Time{}, time.Time{}
		case !enable && d.Status != "disabled":
			d.Status, d.DisabledReason, d.DisabledAt = "disabled", "disabled in the console", h.now().UTC()
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		h.message(w, r, http.StatusNotFound, "No such destination", "The destination is gone: it was deleted, or removed from membrane.yaml.")
		return
	}
	if err != nil {
		h.failed(w, r, "change the destination", err)
		return
	}
	http.Redirect(w, r, base+"/destinations", http.StatusSeeOther)
}

// deadView is one dead letter.
type deadView struct {
	Event, Type, Tenant, Destination, LastError, Created, LogHref string
	Attempts, LastStatus                                          int
}

type deliveriesPage struct {
	page
	Destination string
	Dead        []deadView
	Next        string
	// Replayed says what the last replay did.
	Replayed string
}

// deadLetters lists the dead deliveries, of one destination or all, each
// with a replay button.
func (h *handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dst := q.Get("destination")
	page, err := h.o.Store.Deliveries().List(r.Context(), store.DeliveryFilter{Destination: dst, Status: store.Dead, Cursor: q.Get("cursor"), Limit: 50})
	if err != nil {
		h.failed(w, r, "list the dead letters", err)
		return
	}
	p := &deliveriesPage{page: newPage("Dead letters", "deliveries"), Destination: dst}
	if n, ev := q.Get("replayed"), q.Get("event"); n != "" && ev != "" {
		p.Replayed = "Event " + ev + ": " + n + " " + plural(n, "delivery", "deliveries") + " sent again."
	}
	for _, s := range page.Items {
		p.Dead = append(p.Dead, deadView{Event: s.EventID, Type: s.Type, Tenant: s.Tenant, Destination: s.Destination,
			LastError: s.LastError, LastStatus: s.LastStatus, Attempts: s.Attempts, Created: when(s.CreatedAt), LogHref: deliveryLogHref(s.EventID)})
	}
	if page.Next != "" {
		p.Next = deadHref(dst) + "&cursor=" + url.QueryEscape(page.Next)
		if dst == "" {
			p.Next = deadHref("") + "?cursor=" + url.QueryEscape(page.Next)
		}
	}
	h.render(w, r, http.StatusOK, "deliveries", p)
}

func plural(n, one, many string) string {
	if n == "1" {
		return one
	}
	return many
}

// replay sends a dead letter again, then goes back to the list.
func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	ev, dst := r.PostForm.Get("event"), r.PostForm.Get("destination")
	if ev == "" {
		h.message(w, r, http.StatusBadRequest, "Nothing to replay", "The form names no event.")
		return
	}
	n, err := h.o.Store.Deliveries().Replay(r.Context(), store.ReplayFilter{EventID: ev, Destination: dst})
	if errors.Is(err, store.ErrNotFound) {
		h.message(w, r, http.StatusNotFound, "Nothing to replay", "The event has no delivery to this destination any more: it may have been pruned.")
		return
	}
	if err != nil {
		h.failed(w, r, "replay the delivery", err)
		return
	}
	back := deadHref(r.PostForm.Get("back"))
	sep := "?"
	if r.PostForm.Get("back") != "" {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"event="+url.QueryEscape(ev)+"&replayed="+strconv.FormatInt(n, 10), http.StatusSeeOther)
}

// stateView is one delivery of an event.
type stateView struct {
	Destination, Status, Next, LastError, Delivered string
	Attempts, LastStatus                            int
	Dead                                            bool
}

// attemptView is one attempt of the delivery log.
type attemptView struct {
	Destination, At, Error, Excerpt string
	Attempt, Status                 int
	Latency                         string
	OK                              bool
}

type deliveryLogPage struct {
	page
	Event    string
	States   []stateView
	Attempts []attemptView
	Next     string
}

// deliveryLog shows an event's deliveries and every attempt, newest first.
func (h *handler) deliveryLog(w http.ResponseWriter, r *http.Request) {
	ev := r.PathValue("event")
	ctx := r.Context()
	states, err := h.o.Store.Deliveries().List(ctx, store.DeliveryFilter{EventID: ev, Limit: 100})
	if err != nil {
		h.failed(w, r, "read the event's deliveries", err)
		return
	}
	attempts, err := h.o.Store.Deliveries().Attempts(ctx, store.AttemptFilter{EventID: ev, Cursor: r.URL.Query().Get("cursor"), Limit: 100})
	if err != nil {
		h.failed(w, r, "read the delivery log", err)
		return
	}
	if len(states.Items) == 0 && len(attempts.Items) == 0 {
		h.message(w, r, http.StatusNotFound, "No such delivery", "No destination has a delivery of this event: it matched none, or its log was pruned.")
		return
	}
	p := &deliveryLogPage{page: newPage("Deliveries of "+ev, "deliveries"), Event: ev}
	for _, s := range states.Items {
		v := stateView{Destination: s.Destination, Status: string(s.Status), LastError: s.LastError, LastStatus: s.LastStatus,
			Attempts: s.Attempts, Delivered: when(s.DeliveredAt), Dead: s.Status == store.Dead}
		if s.Status == store.Pending {
			v.Next = when(s.NextAttemptAt)
		}
		p.States = append(p.States, v)
	}
	for _, a := range attempts.Items {
		p.Attempts = append(p.Attempts, attemptView{Destination: a.Destination, At: when(a.At), Error: a.Error, Excerpt: a.Excerpt,
			Attempt: a.Attempt, Status: a.Status, Latency: a.Latency.Round(time.Millisecond).String(), OK: a.Error == ""})
	}
	if attempts.Next != "" {
		p.Next = deliveryLogHref(ev) + "?cursor=" + url.QueryEscape(attempts.Next)
	}
	h.render(w, r, http.StatusOK, "deliverylog", p)
}
