package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// Stream defaults: a comment every StreamHeartbeat keeps proxies from
// closing a quiet stream, and the log is read every StreamPoll even when
// this process routed nothing (another replica may have).
const (
	DefaultStreamHeartbeat = 15 * time.Second
	DefaultStreamPoll      = 5 * time.Second
)

// streamBatch is how many events one read of the log gives a stream.
const streamBatch = 100

// eventItem is one event of GET /v1/events: its envelope, exactly as a
// webhook carries it, and its place in the log.
type eventItem struct {
	delivery.Envelope
	// Cursor is the event's place in the log: pass it as after to read
	// what follows.
	Cursor string `json:"cursor"`
}

// eventPage is the body of GET /v1/events. Next is always there: the
// cursor of the last item, or the one given when there was nothing new,
// so that a poller passes it back as is.
type eventPage struct {
	Items []eventItem `json:"items"`
	Next  string      `json:"next"`
}

// logScope is the tenant whose events a request reads: a tenant token's
// own; "" (all) for an admin token, which may narrow it with ?tenant=.
func logScope(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, _ := tenancy.FromContext(r.Context())
	want := r.URL.Query().Get("tenant")
	switch {
	case c.Admin:
		return want, true
	case want != "" && want != c.Tenant:
		writeProblem(w, problem(http.StatusForbidden, "forbidden", "A tenant token reads its own tenant's events only; leave tenant out, or use an admin token."))
		return "", false
	}
	return c.Tenant, true
}

func (a *api) pullEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			queryError(w, "limit", "must be a whole number from 1 to 1000 (100 when absent)")
			return
		}
		limit = n
	}
	after, err := delivery.ParseCursor(q.Get("after"))
	if err != nil {
		queryError(w, "after", "is not a cursor this server handed out: pass the cursor (or next) of an event it returned, or leave it out to start from the oldest kept event")
		return
	}
	tenant, ok := logScope(w, r)
	if !ok {
		return
	}
	events, err := a.st.Deliveries().Log(r.Context(), tenant, after, limit)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	page := eventPage{Items: make([]eventItem, len(events)), Next: delivery.Cursor(after)}
	for i := range events {
		page.Items[i] = eventItem{Envelope: delivery.EnvelopeOf(&events[i]), Cursor: delivery.Cursor(events[i].Seq)}
		page.Next = page.Items[i].Cursor
	}
	a.writeJSON(w, r, http.StatusOK, page)
}

// streamEvents serves the log as Server-Sent Events: each message's id
// is the event's cursor, its event the event's type, its data the
// envelope. A client that reconnects with Last-Event-ID (or ?after=)
// resumes right after it: nothing lost, nothing repeated. The stream
// wakes when this process routes events, reads the log every
// streamPoll for what other replicas routed, sends a comment every
// heartbeat, and ends when the client goes, the token expires or the
// server shuts down (the client reconnects, with Last-Event-ID).
func (a *api) streamEvents(w http.ResponseWriter, r *http.Request) {
	from, param := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if from == "" {
		from, param = r.URL.Query().Get("after"), "after"
	}
	after, err := delivery.ParseCursor(strings.TrimSpace(from))
	if err != nil {
		queryError(w, param, "is not a cursor this server handed out: the id of a message of this stream, or none to start from the oldest kept event")
		return
	}
	tenant, ok := logScope(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	// Take the signal before each read of the log, so that a Route that
	// commits after the read still wakes the wait.
	routed := a.st.Deliveries().Routed()
	// The first read answers a store outage as a problem, before the
	// stream starts.
	events, err := a.st.Deliveries().Log(ctx, tenant, after, streamBatch)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	rc := http.NewResponseController(w)
	// A stream outlives any write deadline the server may set.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each message on at once
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	// retry: how long a browser's EventSource waits before reconnecting.
	bw.WriteString("retry: 2000\n\n")

	var expired <-chan time.Time
	if c, _ := tenancy.FromContext(ctx); !c.ExpiresAt.IsZero() {
		t := time.NewTimer(time.Until(c.ExpiresAt))
		defer t.Stop()
		expired = t.C
	}
	heartbeat := time.NewTicker(a.heartbeat)
	defer heartbeat.Stop()
	poll := time.NewTicker(a.poll)
	defer poll.Stop()
	for {
		for i := range events {
			if err := writeEvent(bw, &events[i]); err != nil {
				a.internalStreamError(ctx, err)
				return
			}
			after = events[i].Seq
		}
		if err := flush(bw, rc); err != nil {
			return // the client went
		}
		if len(events) < streamBatch {
		wait:
			for {
				select {
				case <-ctx.Done():
					return
				case <-a.shutdown:
					bw.WriteString(": server shutting down; reconnect with Last-Event-ID\n\n")
					_ = flush(bw, rc)
					return
				case <-expired:
					bw.WriteString(": token expired; reconnect with a new token and Last-Event-ID\n\n")
					_ = flush(bw, rc)
					return
				case <-heartbeat.C:
					bw.WriteString(": heartbeat\n\n")
					if flush(bw, rc) != nil {
						return
					}
				case <-routed:
					break wait
				case <-poll.C:
					break wait
				}
			}
		}
		routed = a.st.Deliveries().Routed()
		events, err = a.st.Deliveries().Log(ctx, tenant, after, streamBatch)
		if err != nil {
			if ctx.Err() == nil {
				a.internalStreamError(ctx, err)
			}
			// The client reconnects with Last-Event-ID and misses nothing.
			return
		}
	}
}

func (a *api) internalStreamError(ctx context.Context, err error) {
	a.log.ErrorContext(ctx, "api: event stream ended", "error", err.Error())
}

// writeEvent writes one message: id, event and data on one line (the
// envelope's JSON has no raw newline).
func writeEvent(bw *bufio.Writer, e *store.Event) error {
	b, err := json.Marshal(delivery.EnvelopeOf(e))
	if err != nil {
		return err
	}
	bw.WriteString("id: ")
	bw.WriteString(delivery.Cursor(e.Seq))
	bw.WriteString("\nevent: ")
	bw.WriteString(sseField(e.Type))
	bw.WriteString("\ndata: ")
	bw.Write(b)
	_, err = bw.WriteString("\n\n")
	return err
}

// sseField keeps a value on its line.
func sseField(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

func flush(bw *bufio.Writer, rc *http.ResponseController) error {
	if err := bw.Flush(); err != nil {
		return err
	}
	return rc.Flush()
}
