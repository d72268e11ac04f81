package ingress_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

var (
	load        = flag.Bool("ingress.load", false, "run the webhook ingress load test (TestIngressLoad)")
	loadFor     = flag.Duration("ingress.duration", 5*time.Second, "how long each side of the load test runs")
	loadClients = flag.Int("ingress.clients", 64, "concurrent clients of the load test")
)

// loadResult is one side of the load test.
type loadResult struct {
	n        int64
	errors   int64
	rps      float64
	p50, p99 time.Duration
	// cpu is the process's CPU time per request, the clients' included.
	cpu time.Duration
}

func (r loadResult) String() string {
	return fmt.Sprintf("%7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  CPU %5.0f µs/req  (%d requests, %d errors)",
		r.rps, ms(r.p50), ms(r.p99), float64(r.cpu.Nanoseconds())/1000, r.n, r.errors)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hammer sends signed pushes to url from clients goroutines for d, over
// keep-alive connections, and measures each request's latency.
func hammer(t *testing.T, url, secret string, clients int, d time.Duration, want int) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients,
		DialContext: (&net.Dialer{}).DialContext, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		n, errs atomic.Int64
		mu      sync.Mutex
		lats    []time.Duration
		wg      sync.WaitGroup
	)
	// Signed up front: the clients spend their time sending, not signing.
	type signed struct{ body, ts, sig string }
	const perClient = 256
	pre := make([][]signed, clients)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	for c := range clients {
		for i := range perClient {
			body := `{"type":"event_callback","events":[{"id":` + strconv.Itoa(c*1_000_000+i) + `,"email":"load@example.com","updatedAt":"2026-01-01T00:00:00Z"}]}`
			m := hmac.New(sha256.New, []byte(secret))
			io.WriteString(m, "v0:"+now+":"+body)
			pre[c] = append(pre[c], signed{body, now, "v0=" + hex.EncodeToString(m.Sum(nil))})
		}
	}
	deadline := time.Now().Add(d)
	start, cpu0 := time.Now(), processCPU()
	for c := range clients {
		wg.Go(func() {
			own := make([]time.Duration, 0, 4096)
			for i := 0; time.Now().Before(deadline); i++ {
				p := pre[c][i%perClient]
				req, _ := http.NewRequest("POST", url, strings.NewReader(p.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Slack-Request-Timestamp", p.ts)
				req.Header.Set("X-Slack-Signature", p.sig)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				own = append(own, time.Since(t0))
				n.Add(1)
				if err != nil || resp.StatusCode != want {
					errs.Add(1)
				}
			}
			mu.Lock()
			lats = append(lats, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	took, cpu := time.Since(start), processCPU()-cpu0
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(float64(len(lats))*p))]
	}
	return loadResult{n: n.Load(), errors: errs.Load(), rps: float64(n.Load()) / took.Seconds(), p50: pct(0.50), p99: pct(0.99),
		cpu: cpu / time.Duration(max(1, n.Load()))}
}

// TestIngressLoad measures verified webhook requests stored durably on
// SQLite against a bare handler that reads the body and answers 200, side
// by side in one run over loopback:
//
//	go test ./runtime/ingress -run TestIngressLoad -ingress.load -v
//
// It fails below 5,000 stored requests/s or above a 50 ms p99.
func TestIngressLoad(t *testing.T) {
	if !*load {
		t.Skip("the load test runs with -ingress.load")
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer bare.Close()

	e := newEnv(t, storetest.SQLite(t)(t), 0)
	c := e.connection("acme", "p1")
	sub := e.subscribe("acme", c.ID, "contact-pushed")
	url := e.srv.URL + "/webhooks/s/" + sub.WebhookToken

	// Warm both up (connections, caches, the SQLite page cache).
	hammer(t, bare.URL, e.app.secret, *loadClients, 300*time.Millisecond, 200)
	hammer(t, url, e.app.secret, *loadClients, 300*time.Millisecond, 200)
	stored0 := e.ingest.Counters.Stored.Load()

	b := hammer(t, bare.URL, e.app.secret, *loadClients, *loadFor, 200)
	m := hammer(t, url, e.app.secret, *loadClients, *loadFor, 200)
	stored := e.ingest.Counters.Stored.Load() - stored0
	t.Logf("bare handler (ceiling):         %s", b)
	t.Logf("ingress, verified + stored:     %s", m)
	t.Logf("ratio ingress/bare: %.2f; stored %d of %d; clients %d; GOMAXPROCS %d", m.rps/b.rps, stored, m.n, *loadClients, runtimeProcs())
	if m.cpu > 0 {
		// What the process can do per core-second when it has the cores
		// to itself: CPU per request bounds the rate whatever else runs.
		t.Logf("CPU-bound rate on %d cores: bare %.0f req/s, ingress %.0f req/s (ratio %.2f)", runtimeProcs(),
			float64(runtimeProcs())*float64(time.Second)/float64(b.cpu), float64(runtimeProcs())*float64(time.Second)/float64(m.cpu), float64(b.cpu)/float64(m.cpu))
	}
	if m.errors > 0 || stored != m.n-m.errors {
		t.Errorf("%d requests failed; %d of %d stored", m.errors, stored, m.n)
	}
	// Every stored request is in the inbox.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var inbox int64
	for {
		got, err := e.st.Inbox().Claim(ctx, "count", 1000, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		inbox += int64(len(got))
	}
	if want := e.ingest.Counters.Stored.Load(); inbox != want {
		t.Errorf("the inbox holds %d entries; %d were answered as stored", inbox, want)
	}
	if m.rps < 5000 {
		t.Errorf("ingress: %.0f verified requests/s stored; want at least 5,000", m.rps)
	}
	if m.p99 > 50*time.Millisecond {
		t.Errorf("ingress p99 %v; want < 50 ms", m.p99)
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
