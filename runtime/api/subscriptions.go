package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
)

// subscribeRequest is what POST /v1/connections/{id}/subscriptions takes.
type subscribeRequest struct {
	Event string `json:"event"`
	// Interval between polls, a duration such as "15m"; the event's own
	// when absent.
	Interval string `json:"interval"`
}

// subscriptionBody is a subscription as its tenant sees it.
type subscriptionBody struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connectionId"`
	Connector    string `json:"connector"`
	Event        string `json:"event"`
	// Status is active or paused.
	Status string `json:"status"`
	// Polled: the event is polled, every Interval ("5m").
	Polled   bool   `json:"polled"`
	Interval string `json:"interval,omitempty"`
	// Webhook: the app pushes the event's changes, to WebhookURL (the
	// subscription's own, secret URL).
	Webhook    bool   `json:"webhook"`
	WebhookURL string `json:"webhookUrl,omitempty"`
	// Baselined: the first poll took its baseline.
	Baselined bool      `json:"baselined"`
	NextRunAt time.Time `json:"nextRunAt,omitzero"`
	LastRunAt time.Time `json:"lastRunAt,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	// Failures counts consecutive failed polls.
	Failures  int       `json:"failures"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (a *api) subscriptionOf(s *store.Subscription) subscriptionBody {
	d := a.svc.Delivery(s)
	b := subscriptionBody{ID: s.ID, ConnectionID: s.ConnectionID, Connector: s.Connector, Event: s.Event, Status: string(s.Status),
		Polled: d.Polled, Webhook: d.Webhook, Baselined: s.Baselined, NextRunAt: s.NextRunAt, LastRunAt: s.LastRunAt,
		LastError: s.LastError, Failures: s.Failures, Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if d.Polled {
		b.Interval = connections.FormatInterval(d.Interval)
	}
	if d.Webhook && s.WebhookToken != "" && a.publicURL != "" {
		b.WebhookURL = a.publicURL + connections.SubscriptionWebhookPath(s.WebhookToken)
	}
	return b
}

func subscriptionURL(connID, subID string) string {
	return connectionURL(connID) + "/subscriptions/" + url.PathEscape(subID)
}

func (a *api) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	cursor, limit, ok := paging(w, r)
	if !ok {
		return
	}
	page, err := a.svc.ListSubscriptions(r.Context(), tenantOf(r), r.PathValue("id"), cursor, limit)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, "connection", err)
		return
	}
	if err != nil {
		a.failList(w, r, err)
		return
	}
	items := make([]subscriptionBody, len(page.Items))
	for i, s := range page.Items {
		items[i] = a.subscriptionOf(s)
	}
	a.writeJSON(w, r, http.StatusOK, listOf(items, page.Next))
}

func (a *api) createSubscription(w http.ResponseWriter, r *http.Request) {
	var req subscribeRequest
	if !decodeJSON(w, r, &req, true) {
		return
	}
	if req.Event == "" {
		writeProblem(w, invalidField("/event", "is required: the key of an event of the connection's connector, or of the universal event it implements"))
		return
	}
	var interval time.Duration
	if req.Interval != "" {
		d, err := time.ParseDuration(req.Interval)
		if err != nil || d <= 0 {
			writeProblem(w, invalidField("/interval", "must be a duration such as \"15m\" or \"1h\" (from "+connections.FormatInterval(connections.MinPollInterval)+
				" to "+connections.FormatInterval(connections.MaxPollInterval)+"), or left out for the event's own"))
			return
		}
		interval = d
	}
	connID := r.PathValue("id")
	s, err := a.svc.Subscribe(r.Context(), tenantOf(r), connID, connections.SubscribeRequest{Event: req.Event, Interval: interval})
	if err != nil {
		a.failSubscription(w, r, "connection", err)
		return
	}
	w.Header().Set("Location", subscriptionURL(connID, s.ID))
	a.writeJSON(w, r, http.StatusCreated, a.subscriptionOf(s))
}

func (a *api) getSubscription(w http.ResponseWriter, r *http.Request) {
	s, err := a.svc.GetSubscription(r.Context(), tenantOf(r), r.PathValue("id"), r.PathValue("subId"))
	if err != nil {
		a.failSubscription(w, r, "subscription", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, a.subscriptionOf(s))
}

func (a *api) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	var force bool
	switch v := r.URL.Query().Get("force"); v {
	case "", "false":
	case "true":
		force = true
	default:
		p := problem(http.StatusBadRequest, "invalid-query", "force is true or false: true deletes the subscription even when the app refuses to remove its webhook.")
		p.Errors = []FieldError{{Parameter: "force", Detail: "must be true or false"}}
		writeProblem(w, p)
		return
	}
	err := a.svc.Unsubscribe(r.Context(), tenantOf(r), r.PathValue("id"), r.PathValue("subId"), connections.UnsubscribeOptions{Force: force})
	if err != nil {
		a.failSubscription(w, r, "subscription", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) pauseSubscription(w http.ResponseWriter, r *http.Request) {
	a.setSubscriptionStatus(w, r, a.svc.PauseSubscription)
}

func (a *api) resumeSubscription(w http.ResponseWriter, r *http.Request) {
	a.setSubscriptionStatus(w, r, a.svc.ResumeSubscription)
}

func (a *api) setSubscriptionStatus(w http.ResponseWriter, r *http.Request,
	fn func(ctx context.Context, tenant, connID, subID string) (*store.Subscription, error)) {
	// No body is needed; one that is sent must still be well-formed.
	var empty struct{}
	if !decodeJSON(w, r, &empty, false) {
		return
	}
	s, err := fn(r.Context(), tenantOf(r), r.PathValue("id"), r.PathValue("subId"))
	if err != nil {
		a.failSubscription(w, r, "subscription", err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, a.subscriptionOf(s))
}

// failSubscription answers the errors of the subscription routes; kind
// names what a not-found is about.
func (a *api) failSubscription(w http.ResponseWriter, r *http.Request, kind string, err error) {
	var se *connections.SubscribeError
	var ue *connections.UnsubscribeError
	switch {
	case errors.Is(err, store.ErrNotFound) && kind == "subscription":
		// One body, naming no id: another tenant's subscription, or one
		// of another connection, is answered as one that never existed.
		writeProblem(w, problem(http.StatusNotFound, "not-found", subscriptionNotFound))
	case errors.Is(err, connections.ErrUnknownEvent):
		writeProblem(w, invalidField("/event", err.Error()+"; list the connector's events with GET /v1/connectors/{connector}"))
	case errors.As(err, &se):
		writeProblem(w, problem(http.StatusBadGateway, "subscribe-failed",
			"The app refused to register the webhook of event "+quote(se.Event)+", so no subscription was kept: "+redactedCause(se.Err)+". Check the connection (POST /v1/connections/{id}/test) and retry."))
	case errors.As(err, &ue):
		writeProblem(w, problem(http.StatusBadGateway, "unsubscribe-failed",
			"The app refused to remove the subscription's webhook, so the subscription was kept: "+redactedCause(ue.Err)+
				". Retry later, or delete it anyway with ?force=true (the app may then keep sending to a URL that no longer exists)."))
	case errors.Is(err, store.ErrConflict) && kind == "connection":
		writeProblem(w, problem(http.StatusConflict, "already-subscribed", strings.TrimSuffix(err.Error(), ": "+store.ErrConflict.Error())+
			". List the connection's subscriptions with GET /v1/connections/{id}/subscriptions."))
	default:
		a.fail(w, r, kind, err)
	}
}

const subscriptionNotFound = "No subscription with this id exists on this connection for your tenant. List them with GET /v1/connections/{id}/subscriptions."

func quote(s string) string { return "\"" + s + "\"" }

// redactedCause words the cause of a failed subscribe or unsubscribe: the
// engine's errors are redacted already.
func redactedCause(err error) string {
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}
