package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// killSecret signs the webhooks of the delivery crash test.
const killSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// killReceiver is the user's backend in the delivery crash test. It checks
// each request's Standard Webhooks signature, keeps every webhook-id with
// its body and how often it came, and can hold requests: once holding,
// a request waits unanswered (the server's delivery stays in flight)
// until released.
type killReceiver struct {
	*httptest.Server
	key []byte

	mu      sync.Mutex
	hits    map[string]int
	bodies  map[string]string
	bad     []string
	holding bool
	held    int           // requests waiting now
	release chan struct{} // closed to answer the held requests
	// at is signalled when distinct ids reach wantAt.
	wantAt int
	at     chan struct{}
}

func newKillReceiver(t *testing.T) *killReceiver {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(killSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	r := &killReceiver{key: key, hits: map[string]int{}, bodies: map[string]string{}, release: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.unhold()
		r.Close()
	})
	return r
}

func (r *killReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	m := hmac.New(sha256.New, r.key)
	fmt.Fprintf(m, "%s.%s.", id, ts)
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	signed := false
	for _, s := range strings.Fields(sig) {
		signed = signed || hmac.Equal([]byte(s), []byte(want))
	}
	r.mu.Lock()
	switch {
	case err != nil:
		r.bad = append(r.bad, fmt.Sprintf("%s: reading the body: %v", id, err))
	case id == "" || !signed:
		r.bad = append(r.bad, fmt.Sprintf("%q: no valid signature (webhook-signature %q)", id, sig))
	case !strings.Contains(string(body), `"id":"`+id+`"`):
		r.bad = append(r.bad, fmt.Sprintf("%s: the envelope carries another id: %s", id, body))
	default:
		r.hits[id]++
		if b, ok := r.bodies[id]; !ok {
			r.bodies[id] = string(body)
		} else if b != string(body) {
			r.bad = append(r.bad, id+": sent again with another body")
		}
		if len(r.hits) == r.wantAt && r.at != nil {
			close(r.at)
			r.at = nil
		}
	}
	release := r.release
	hold := r.holding
	if hold {
		r.held++
	}
	r.mu.Unlock()
	if hold {
		<-release
	}
	w.WriteHeader(http.StatusOK)
}

// holdAt makes the receiver hold every request once n distinct ids came;
// the channel is closed then.
func (r *killReceiver) holdAt(n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.wantAt, r.at = n, ch
	if len(r.hits) >= n {
		close(ch)
		r.at = nil
	}
	return ch
}

// hold starts holding requests.
func (r *killReceiver) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holding = true
}

// unhold answers the held requests and stops holding; it returns how
// many were held.
func (r *killReceiver) unhold() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := r.held
	if r.holding {
		close(r.release)
		r.release = make(chan struct{})
	}
	r.holding, r.held = false, 0
	return held
}

func (r *killReceiver) counts() (distinct, requests, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.hits {
		requests += k
		duplicates += k - 1
	}
	return len(r.hits), requests, duplicates
}

// killConcurrency is the destination's requests in flight: at most that
// many deliveries can have reached the backend unrecorded when the server
// dies, so a kill duplicates at most that many.
const killConcurrency = 8

// TestDeliverySurvivesKill9: `membrane serve` on SQLite delivers 800
// events from the outbox to a webhook destination of membrane.yaml and is
// killed with SIGKILL three times while deliveries are in flight (the
// backend holds the requests that reached it, unanswered, when the kill
// comes), and restarted each time. Every event reaches the backend, each
// request signed; an event sent twice carries the same webhook-id and the
// same body; and the duplicates are no more than what the server held
// claimed at the kills: per destination, its concurrency's worth of
// attempts running (each a request held unanswered, or answered and not
// yet recorded) and as many queued behind them, whose leases may run out
// before they are sent.
func TestDeliverySurvivesKill9(t *testing.T) {
	recv := newKillReceiver(t)
	t.Setenv("DBENCH_WEBHOOK_SECRET", killSecret)
	dir := testkit.Workspace(t, map[string]string{
		"membrane.yaml": `kind: Workspace
key: crash
delivery:
  destinations:
    - name: backend
      url: RECEIVER/hooks
      secretEnv: DBENCH_WEBHOOK_SECRET
      concurrency: ` + fmt.Sprint(killConcurrency) + `
      timeout: 1s
  allowPrivateNetworks: [127.0.0.0/8]
`}, map[string]string{"RECEIVER": recv.URL})
	// What a killed server had in flight is sent again 2 s after its
	// claim (the lease is at least twice the destination's timeout).
	n := newNode(t, dir, "--delivery-lease", "2s")

	const events = 800
	ids := make([]string, events)
	{
		ctx := context.Background()
		st, err := server.OpenStore(ctx, server.Config{Dir: n.dir, Store: n.dsn}, storetest.Quiet())
		if err != nil {
			t.Fatal(err)
		}
		batch := make([]store.Event, 0, 100)
		for i := range events {
			ids[i] = fmt.Sprintf("evt_kill_%05d", i)
			batch = append(batch, store.Event{ID: ids[i], Type: "contact-changed.updated", Connector: "hubspot", ConnectionID: "conn_kill",
				Payload: fmt.Appendf(nil, `{"record":{"id":"%05d","email":"person%d@example.com"}}`, i, i)})
			if len(batch) == cap(batch) {
				if err := st.Tenant("acme").Outbox().Enqueue(ctx, batch...); err != nil {
					t.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		st.Close()
	}

	n.start()
	held := 0
	for k := range 3 {
		at := (k + 1) * events / 4
		waitServed(t, n, fmt.Sprintf("%d events at the backend", at), recv.holdAt(at))
		recv.hold()
		// Kill with requests in flight: wait for one to be held.
		waitUntil(t, "a delivery held in flight", func() bool {
			recv.mu.Lock()
			defer recv.mu.Unlock()
			return recv.held > 0
		})
		n.kill()
		h := recv.unhold()
		if h > killConcurrency {
			t.Errorf("kill %d: %d requests in flight, more than the destination's concurrency %d", k+1, h, killConcurrency)
		}
		held += h
		t.Logf("kill %d after %d events, %d requests in flight at the backend", k+1, at, h)
		n.start()
	}
	waitServed(t, n, "every event at the backend", recv.holdAt(events))
	n.stop()

	distinct, requests, dups := recv.counts()
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, b := range recv.bad {
		t.Error(b)
	}
	for _, id := range ids {
		if recv.hits[id] == 0 {
			t.Errorf("%s never reached the backend", id)
		}
	}
	if distinct != events {
		t.Errorf("the backend got %d distinct ids, want %d", distinct, events)
	}
	bound := 3 * 2 * killConcurrency
	t.Logf("%d events, %d requests, %d duplicates: %d held unanswered at the kills, %d answered and not recorded; bound %d (3 kills × 2 × concurrency %d)",
		events, requests, dups, held, dups-held, bound, killConcurrency)
	if dups > bound {
		t.Errorf("%d duplicates: more than the server held claimed at 3 kills (%d)", dups, bound)
	}
	if dups < held {
		t.Errorf("%d duplicates, fewer than the %d requests held unanswered at the kills: those were not sent again", dups, held)
	}
}
