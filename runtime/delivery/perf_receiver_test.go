package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// perfReceiver is the user's backend of the performance and reliability
// tests: a fasthttp server on loopback that reads the Standard Webhooks
// id, counts it and answers. It verifies nothing heavy (the signature
// check is opt-in), so that on a 2-core machine the time goes to the
// sender.
type perfReceiver struct {
	URL string
	srv *fasthttp.Server

	// status is what it answers (200 unless a test says otherwise).
	status atomic.Int32
	// key, when set, is the HMAC key every request's signature must match.
	key []byte

	mu     sync.Mutex
	hits   map[string]int       // webhook-id → requests carrying it (answered 2xx or not)
	first  map[string]time.Time // webhook-id → first request with a 2xx answer
	bodies map[string]string    // webhook-id → the first body seen
	order  []string             // webhook-ids of 2xx answers, in arrival order
	bad    []string             // what a request got wrong
	total  int
	// want distinct ids answered 2xx close done.
	want int
	done chan struct{}
	// seen is signalled (non-blocking) on every request.
	seen chan struct{}
}

func newPerfReceiver(t testing.TB) *perfReceiver {
	t.Helper()
	r := &perfReceiver{hits: map[string]int{}, first: map[string]time.Time{}, bodies: map[string]string{},
		done: make(chan struct{}), seen: make(chan struct{}, 1), want: -1}
	r.status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.URL = "http://" + ln.Addr().String() + "/hooks"
	r.srv = &fasthttp.Server{Handler: r.handle, ReadTimeout: time.Minute, NoDefaultServerHeader: true}
	go r.srv.Serve(ln)
	t.Cleanup(func() { _ = r.srv.Shutdown() })
	return r
}

// expect returns a channel closed once n more distinct ids than now were
// answered 2xx; call it before they are sent.
func (r *perfReceiver) expect(n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.want, r.done = len(r.first)+n, make(chan struct{})
	if n == 0 {
		close(r.done)
	}
	return r.done
}

// arrived is when each id was first answered 2xx.
func (r *perfReceiver) arrived() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(r.first))
	for k, v := range r.first {
		out[k] = v
	}
	return out
}

func (r *perfReceiver) handle(c *fasthttp.RequestCtx) {
	now := time.Now()
	id := string(c.Request.Header.Peek("webhook-id"))
	status := int(r.status.Load())
	var problem string
	switch {
	case id == "":
		problem = "a request without webhook-id"
	case len(c.Request.Header.Peek("webhook-timestamp")) == 0 || len(c.Request.Header.Peek("webhook-signature")) == 0:
		problem = id + ": no webhook-timestamp or webhook-signature"
	case r.key != nil && !perfSigned(r.key, id, string(c.Request.Header.Peek("webhook-timestamp")), c.Request.Body(), string(c.Request.Header.Peek("webhook-signature"))):
		problem = id + ": the signature does not match the body"
	}
	r.mu.Lock()
	r.total++
	if problem != "" {
		r.bad = append(r.bad, problem)
	} else {
		r.hits[id]++
		if b, ok := r.bodies[id]; !ok {
			r.bodies[id] = string(c.Request.Body())
		} else if b != string(c.Request.Body()) {
			r.bad = append(r.bad, id+": a second request carried another body")
		}
		if status/100 == 2 {
			if _, ok := r.first[id]; !ok {
				r.first[id] = now
				r.order = append(r.order, id)
				if len(r.first) == r.want {
					close(r.done)
				}
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	c.SetStatusCode(status)
}

// received is how many distinct ids were answered 2xx.
func (r *perfReceiver) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first)
}

// requests is every request the receiver got.
func (r *perfReceiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// duplicates is the requests beyond the first of each id.
func (r *perfReceiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.hits {
		n += k - 1
	}
	return n
}

// problems is what requests got wrong.
func (r *perfReceiver) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// perfSigned checks a Standard Webhooks signature header: one of its
// space-separated v1 signatures is the HMAC of id.ts.body.
func perfSigned(key []byte, id, ts string, body []byte, header string) bool {
	want := perfSign(key, id, ts, body)
	for _, s := range strings.Fields(header) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

func perfSign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// perfSecret is the destinations' signing secret and perfKey its HMAC key.
const perfSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var perfKey = func() []byte {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(perfSecret, "whsec_"))
	if err != nil {
		panic(err)
	}
	return k
}()

func perfUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
