package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/membrane-dev/membrane/spec/diag"
)

// statusView is the workspace's load as every page shows it.
type statusView struct {
	Live       bool
	Generation int64
	// Load names the load the page shows: a broken save is a new load of
	// the same generation, whose diagnostics the page must show.
	Load        string
	LoadedAt    string
	OK          bool
	Files       int
	Took        string
	Errors      int
	Warnings    int
	Diagnostics []diagView
}

type diagView struct {
	Severity, Where, Rule, Message string
	Error                          bool
}

func (h *handler) status() statusView {
	if h.o.Diagnostics == nil {
		return statusView{}
	}
	st := h.o.Diagnostics.Status()
	v := statusView{Live: true, Generation: st.Generation, Load: loadID(st), OK: st.OK, Files: st.Files,
		Took: st.Took.Round(time.Millisecond).String()}
	if !st.LoadedAt.IsZero() {
		v.LoadedAt = st.LoadedAt.Format(time.TimeOnly)
	}
	v.Errors, v.Warnings = st.Diagnostics.Count()
	for _, d := range st.Diagnostics {
		v.Diagnostics = append(v.Diagnostics, diagView{Severity: d.Severity.String(), Where: d.Pos.String(),
			Rule: d.Rule, Message: d.Message, Error: d.Severity == diag.Error})
	}
	return v
}

func (h *handler) diagnostics(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "diagnostics", &page{Title: "Diagnostics", Nav: "diagnostics"})
}

// event is what the stream sends: enough for the script to tell whether
// the page it shows is stale.
type event struct {
	Generation int64  `json:"generation"`
	Load       string `json:"load"`
	OK         bool   `json:"ok"`
	Errors     int    `json:"errors"`
	Warnings   int    `json:"warnings"`
}

// loadID tells loads apart: the generation, and when it was loaded.
func loadID(st Status) string {
	return strconv.FormatInt(st.Generation, 10) + "@" + strconv.FormatInt(st.LoadedAt.UnixNano(), 10)
}

// events streams the workspace's statuses as Server-Sent Events: the
// current one at once (a reload may have happened since the page was
// made), then each new one. It ends with the request or when the source
// closes the subscription (the server shuts down).
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if h.o.Diagnostics == nil {
		h.message(w, r, http.StatusNotFound, "No live diagnostics under serve",
			"The workspace was validated when the server started; run `membrane dev` for live reloads.")
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy must not hold events back
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	updates := h.o.Diagnostics.Subscribe(ctx)
	send := func(st Status) bool {
		e := event{Generation: st.Generation, Load: loadID(st), OK: st.OK}
		e.Errors, e.Warnings = st.Diagnostics.Count()
		b, _ := json.Marshal(e)
		if _, err := fmt.Fprintf(w, "retry: 2000\nevent: status\ndata: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(h.o.Diagnostics.Status()) {
		return
	}
	// A comment now and then keeps proxies from closing an idle stream.
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case st, ok := <-updates:
			if !ok || !send(st) {
				return
			}
		}
	}
}
