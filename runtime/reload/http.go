package reload

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// heartbeat is how often /dev/events writes a comment on a quiet stream,
// so that proxies and browsers keep it open.
const heartbeat = 15 * time.Second

// writeTimeout bounds one write to an event stream: a client that stops
// reading is dropped, and resyncs from the first event when it comes back.
const writeTimeout = 10 * time.Second

// Handler serves GET /dev/diagnostics and GET /dev/events (see the
// package doc); mount it at "/dev/".
func (r *Reloader) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/diagnostics", r.serveDiagnostics)
	mux.HandleFunc("GET /dev/events", r.serveEvents)
	return mux
}

func (r *Reloader) serveDiagnostics(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(r.Status())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}

func (r *Reloader) serveEvents(w http.ResponseWriter, req *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	statuses := r.Subscribe(req.Context())
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case st, ok := <-statuses:
			if !ok {
				return // the request ended, or the reloader stopped
			}
			b, err := json.Marshal(st)
			if err != nil || !send("event: status\nid: "+strconv.FormatInt(st.Generation, 10)+"\ndata: "+string(b)+"\n\n") {
				return
			}
		case <-tick.C:
			if !send(": heartbeat\n\n") {
				return
			}
		}
	}
}
