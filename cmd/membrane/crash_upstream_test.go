package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is a loopback app Membrane polls and that pushes webhooks to
// Membrane: records the test creates, updates and deletes, a change feed
// (GET /changes, each change once, in order, since a sequence number), a
// listing of every live record (GET /records, keyset pages by id), and
// signed pushes of changes. It counts what it changed and logs what it
// was asked.
type upstream struct {
	*httptest.Server
	t      *testing.T
	apiKey string

	mu      sync.Mutex
	rng     *rand.Rand
	recs    map[string]*upRecord
	changes []upChange // the feed: changes[i].Seq == i+1
	nextID  int
	// mutate: changes made before answering each poll request while on.
	mutate    bool
	maxChange int // mutation stops at this many changes (0: no limit)
	reqs      []upRequest
	waiters   []*upWaiter
	holds     []*upHold
	faults    map[string]upFault // by account
}

// upRecord is one record of the app.
type upRecord struct {
	ID        string `json:"id"`
	Version   int    `json:"version"`
	Name      string `json:"name"`
	UpdatedAt string `json:"updatedAt"`
}

// upChange is one change the app made; it is also an item of its feed.
type upChange struct {
	Seq       int64  `json:"seq"`
	ID        string `json:"id"`
	Version   int    `json:"version"`
	Type      string `json:"type"` // created, updated or deleted
	Name      string `json:"name"`
	UpdatedAt string `json:"updatedAt"`
}

// upRequest is one request the app received.
type upRequest struct {
	N       int // 1-based order of arrival
	Method  string
	Path    string
	Query   url.Values
	Account string
}

// upFault is how the app misbehaves toward one account.
type upFault string

const (
	faultNone upFault = ""
	faultHTML upFault = "html" // 200 with an HTML page
	fault500  upFault = "500"  // 500 Internal Server Error
	faultNoID upFault = "noid" // records without an id
)

// upHold fires on the first request match accepts: before it is answered
// (held until release is closed), or after (answered first).
type upHold struct {
	match   func(upRequest) bool
	after   bool
	fired   bool
	arrived chan upRequest
	release chan struct{}
}

type upWaiter struct {
	match func(upRequest) bool
	ch    chan upRequest
}

const upAPIKey = "up_key_1f2e3d4c5b6a"

// upBase is the time of the app's first change; each change is one second
// after the one before, so every version has its own updatedAt.
var upBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newUpstream(t *testing.T, seed uint64) *upstream {
	u := &upstream{t: t, apiKey: upAPIKey, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		recs: map[string]*upRecord{}, faults: map[string]upFault{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		u.mu.Lock()
		for _, h := range u.holds {
			if !h.fired {
				h.fired = true
			}
			select {
			case <-h.release:
			default:
				close(h.release)
			}
		}
		u.mu.Unlock()
		u.Close()
	})
	return u
}

// change makes one change: created, updated or deleted (of a random live
// record), or the given type. It returns the feed item.
func (u *upstream) change(typ string) upChange {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.changeLocked(typ)
}

func (u *upstream) changeLocked(typ string) upChange {
	live := u.liveIDsLocked()
	if typ == "" {
		switch r := u.rng.Float64(); {
		case len(live) < 5 || r < 0.4:
			typ = "created"
		case r < 0.8:
			typ = "updated"
		default:
			typ = "deleted"
		}
	}
	seq := int64(len(u.changes) + 1)
	at := upBase.Add(time.Duration(seq) * time.Second).Format(time.RFC3339)
	var rec *upRecord
	switch typ {
	case "created":
		u.nextID++
		rec = &upRecord{ID: fmt.Sprintf("rec_%05d", u.nextID), Version: 1}
		u.recs[rec.ID] = rec
	case "updated", "deleted":
		if len(live) == 0 {
			u.t.Fatalf("upstream: no record to %s", strings.TrimSuffix(typ, "d"))
		}
		rec = u.recs[live[u.rng.IntN(len(live))]]
		rec.Version++
		if typ == "deleted" {
			delete(u.recs, rec.ID)
		}
	}
	rec.Name = fmt.Sprintf("%s v%d", rec.ID, rec.Version)
	rec.UpdatedAt = at
	c := upChange{Seq: seq, ID: rec.ID, Version: rec.Version, Type: typ, Name: rec.Name, UpdatedAt: at}
	u.changes = append(u.changes, c)
	return c
}

func (u *upstream) liveIDsLocked() []string {
	ids := make([]string, 0, len(u.recs))
	for id := range u.recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// setMutate turns on or off the changes made while answering polls; they
// stop by themselves once the feed holds max changes (0: no limit).
func (u *upstream) setMutate(on bool, max int) {
	u.mu.Lock()
	u.mutate, u.maxChange = on, max
	u.mu.Unlock()
}

func (u *upstream) setFault(account string, f upFault) {
	u.mu.Lock()
	u.faults[account] = f
	u.mu.Unlock()
}

// feed is a copy of every change made so far.
func (u *upstream) feed() []upChange {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upChange(nil), u.changes...)
}

// live is a copy of the live records.
func (u *upstream) live() map[string]upRecord {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]upRecord{}
	for id, r := range u.recs {
		out[id] = *r
	}
	return out
}

// requests is a copy of the request log.
func (u *upstream) requests() []upRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upRequest(nil), u.reqs...)
}

// hold arms a hold on the next request match accepts.
func (u *upstream) hold(after bool, match func(upRequest) bool) *upHold {
	h := &upHold{match: match, after: after, arrived: make(chan upRequest, 1), release: make(chan struct{})}
	u.mu.Lock()
	u.holds = append(u.holds, h)
	u.mu.Unlock()
	return h
}

// next returns a channel that receives the first request from now on
// that match accepts.
func (u *upstream) next(match func(upRequest) bool) <-chan upRequest {
	w := &upWaiter{match: match, ch: make(chan upRequest, 1)}
	u.mu.Lock()
	u.waiters = append(u.waiters, w)
	u.mu.Unlock()
	return w.ch
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	req := upRequest{N: len(u.reqs) + 1, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Account: r.Header.Get("X-Account")}
	u.reqs = append(u.reqs, req)
	var hold *upHold
	for _, h := range u.holds {
		if !h.fired && h.match(req) {
			h.fired, hold = true, h
			break
		}
	}
	if r.Header.Get("X-Api-Key") != u.apiKey {
		u.mu.Unlock()
		writeUpJSON(w, http.StatusUnauthorized, map[string]any{"error": "bad api key"})
		return
	}
	fault := u.faults[req.Account]
	if u.mutate && fault == faultNone && (req.Path == "/changes" || req.Path == "/records") {
		// A handful before the first page of a poll, so that polls take
		// several pages, and now and then one between two pages.
		k := u.rng.IntN(2)
		if !req.Query.Has("after") {
			k = u.rng.IntN(7)
		}
		for ; k > 0 && (u.maxChange == 0 || len(u.changes) < u.maxChange); k-- {
			u.changeLocked("")
		}
	}
	status, body := u.answerLocked(req, fault)
	u.mu.Unlock()

	if hold != nil && !hold.after {
		hold.arrived <- req
		select {
		case <-hold.release:
		case <-r.Context().Done():
		}
	}
	switch b := body.(type) {
	case string:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, b)
	default:
		writeUpJSON(w, status, body)
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if hold != nil && hold.after {
		hold.arrived <- req
	}
	u.mu.Lock()
	kept := u.waiters[:0]
	for _, wt := range u.waiters {
		if wt.match(req) {
			wt.ch <- req
		} else {
			kept = append(kept, wt)
		}
	}
	u.waiters = kept
	u.mu.Unlock()
}

// answerLocked is the status and body of a request: a JSON value, or a
// string sent as HTML.
func (u *upstream) answerLocked(req upRequest, fault upFault) (int, any) {
	switch fault {
	case faultHTML:
		return http.StatusOK, "<!doctype html><html><body><h1>Maintenance</h1><p>We will be back soon.</p></body></html>"
	case fault500:
		return http.StatusInternalServerError, map[string]any{"error": "internal error"}
	}
	limit, _ := strconv.Atoi(req.Query.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	var items []map[string]any
	hasMore := false
	switch req.Path {
	case "/changes":
		start, _ := strconv.ParseInt(req.Query.Get("since"), 10, 64)
		if a, err := strconv.ParseInt(req.Query.Get("after"), 10, 64); err == nil && a > start {
			start = a
		}
		for _, c := range u.changes {
			if c.Seq <= start {
				continue
			}
			if len(items) == limit {
				hasMore = true
				break
			}
			items = append(items, itemOf(c))
		}
	case "/records":
		after := req.Query.Get("after")
		for _, id := range u.liveIDsLocked() {
			if id <= after {
				continue
			}
			if len(items) == limit {
				hasMore = true
				break
			}
			r := u.recs[id]
			items = append(items, map[string]any{"id": r.ID, "version": r.Version, "name": r.Name, "updatedAt": r.UpdatedAt})
		}
	default:
		return http.StatusNotFound, map[string]any{"error": "no route " + req.Path}
	}
	if fault == faultNoID {
		for _, it := range items {
			delete(it, "id")
		}
	}
	if items == nil {
		items = []map[string]any{}
	}
	return http.StatusOK, map[string]any{"items": items, "hasMore": hasMore}
}

func itemOf(c upChange) map[string]any {
	return map[string]any{"seq": c.Seq, "id": c.ID, "version": c.Version, "type": c.Type, "name": c.Name, "updatedAt": c.UpdatedAt}
}

func writeUpJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// upSign is the app's signature of a push: "v1=" and the hex HMAC-SHA256
// of "<timestamp>.<body>" keyed by the webhook secret.
func upSign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// upPush is one webhook delivery: the JSON body the app sends.
func upPushBody(account string, cs ...upChange) []byte {
	items := make([]map[string]any, len(cs))
	for i, c := range cs {
		items[i] = itemOf(c)
	}
	b, _ := json.Marshal(map[string]any{"account": account, "events": items})
	return b
}

// push sends one signed webhook (signed now unless at is given) and
// returns the status, or an error when no answer came.
func push(ctx context.Context, client *http.Client, target, secret, contentType string, body []byte, at time.Time) (int, error) {
	if at.IsZero() {
		at = time.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Up-Timestamp", strconv.FormatInt(at.Unix(), 10))
	if secret != "" {
		req.Header.Set("X-Up-Signature", upSign(secret, at.Unix(), body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
