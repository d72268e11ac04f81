package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// perfEvents are n record-change events of one tenant and connection,
// each with a payload the size of a typical CRM record change (~400 bytes).
func perfEvents(prefix string, n int) []store.Event {
	out := make([]store.Event, n)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range out {
		out[i] = store.Event{
			ID: fmt.Sprintf("evt_%s_%07d", prefix, i), Tenant: "acme", Type: "contact-changed.updated",
			Connector: "hubspot", ConnectionID: "conn_perf",
			Payload: fmt.Appendf(nil, `{"record":{"id":"%07d","email":"person%d@example.com","firstName":"Ada","lastName":"Lovelace",`+
				`"company":"Analytical Engines Ltd","phone":"+44 20 7946 0000","lifecycleStage":"customer","owner":"owner_42",`+
				`"updatedAt":"2026-01-02T03:04:05Z","custom":{"favoriteColor":"teal","score":87}},"changed":["email","score"]}`, i, i),
			CreatedAt: at,
		}
	}
	return out
}

// perfClient is an HTTP client for loopback at conc requests in flight.
func perfClient(conc int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{}).DialContext, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc,
		DisableCompression: true,
	}}
}

// perfPoster sends one signed request and reports whether it got a 2xx.
type perfPoster func(ctx context.Context, url string, headers [3][2]string, body []byte) bool

// netHTTPPoster posts with net/http.
func netHTTPPoster(conc int) perfPoster {
	client := perfClient(conc)
	return func(ctx context.Context, url string, headers [3][2]string, body []byte) bool {
		req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for _, h := range headers {
			req.Header.Set(h[0], h[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	}
}

// fastHTTPPoster posts with fasthttp, the client the Deliverer's webhook
// sender uses.
func fastHTTPPoster(conc int) perfPoster {
	client := &fasthttp.Client{MaxConnsPerHost: conc, MaxIdemponentCallAttempts: 1}
	return func(ctx context.Context, url string, headers [3][2]string, body []byte) bool {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		for _, h := range headers {
			req.Header.Set(h[0], h[1])
		}
		req.SetBodyRaw(body)
		if err := client.DoTimeout(req, resp, 10*time.Second); err != nil {
			return false
		}
		return resp.StatusCode()/100 == 2
	}
}

// bareDeliver is the ceiling: the same envelopes POSTed to url from conc
// goroutines with the same Standard Webhooks headers, signed per request
// as a delivery attempt is, and nothing stored: no outbox, no claim, no
// record of the attempt. It returns the requests that did not get a 2xx.
func bareDeliver(ctx context.Context, post perfPoster, url string, events []store.Event, conc int) (failed int64) {
	bodies := make([][]byte, len(events))
	for i := range events {
		b, err := delivery.Encode(&events[i])
		if err != nil {
			panic(err)
		}
		bodies[i] = b
	}
	var next atomic.Int64
	var bad atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(events) || ctx.Err() != nil {
					return
				}
				id, ts := events[i].ID, perfUnix(time.Now())
				headers := [3][2]string{{"webhook-id", id}, {"webhook-timestamp", ts}, {"webhook-signature", perfSign(perfKey, id, ts, bodies[i])}}
				if !post(ctx, url, headers, bodies[i]) {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return bad.Load()
}

// perfBatch is how many events one benchmark iteration delivers.
const perfBatch = 10_000

// perfConc is the requests in flight on both sides: a destination's
// default concurrency.
const perfConc = 8

// perfBare is the last bare rate measured in this process, for the ratio.
var perfBare atomic.Uint64

// benchBare measures the ceiling: perfBatch envelopes POSTed with no
// durability, perfConc at a time.
func benchBare(b *testing.B, client perfPoster, ceiling bool) {
	recv := newPerfReceiver(b)
	ctx := context.Background()
	// Warm the connections up.
	bareDeliver(ctx, client, recv.URL, perfEvents("warm", 200), perfConc)
	var took, cpu time.Duration
	iter := 0
	for b.Loop() {
		b.StopTimer()
		events := perfEvents(fmt.Sprint("bare", iter), perfBatch)
		iter++
		before := recv.received()
		b.StartTimer()
		start, cpu0 := time.Now(), perfCPU()
		if failed := bareDeliver(ctx, client, recv.URL, events, perfConc); failed > 0 {
			b.Fatalf("%d bare requests failed", failed)
		}
		took += time.Since(start)
		cpu += perfCPU() - cpu0
		if got := recv.received() - before; got != perfBatch {
			b.Fatalf("the receiver got %d of %d", got, perfBatch)
		}
	}
	n := float64(perfBatch * iter)
	rate := n / took.Seconds()
	if ceiling {
		perfBare.Store(uint64(rate))
	}
	b.ReportMetric(rate, "deliveries/s")
	perfReportCPU(b, cpu, n)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDeliveries measures deliveries per second from the outbox to a
// local receiver, side by side in one run with the ceiling (see
// docs/perf-delivery.md):
//
//		go test -run '^$' -bench BenchmarkDeliveries -benchtime 3x -count 3 ./runtime/delivery/
//
//	  - bare: the same envelopes POSTed by a Go loop, nothing stored;
//	  - sqlite: perfBatch events enqueued beforehand, routed, claimed, sent
//	    and recorded by a Deliverer on a SQLite file.
func BenchmarkDeliveries(b *testing.B) {
	b.Run("bare-fasthttp", func(b *testing.B) { benchBare(b, fastHTTPPoster(perfConc), true) })
	b.Run("bare-nethttp", func(b *testing.B) { benchBare(b, netHTTPPoster(perfConc), false) })
	b.Run("sqlite", func(b *testing.B) { benchDeliverer(b, perfOpenSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchDeliverer(b, perfOpen(b, storetest.PostgresDB(b))) })
}

// benchDeliverer measures the Deliverer on st: each round enqueues
// perfBatch events (untimed), then times a Deliverer from its start until
// the receiver got every one: routing, claims, signing, sending and
// recording each attempt.
func benchDeliverer(b *testing.B, st store.Store) {
	recv := newPerfReceiver(b)
	perfDestination(b, st, "perf", recv.URL, perfConc)
	cfg := perfConfig(st, "bench")
	// Warm up: connections, statements, the page cache.
	done := recv.expect(200)
	perfEnqueue(b, st, perfEvents("warm", 200), 200)
	_, stop := perfRun(b, cfg)
	perfWait(b, "the warm-up deliveries", done, 5*time.Minute, func() string { return fmt.Sprint(recv.received(), " received") })
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	var took, cpu time.Duration
	round := 0
	for b.Loop() {
		b.StopTimer()
		done := recv.expect(perfBatch)
		perfEnqueue(b, st, perfEvents(fmt.Sprint(b.Name(), round), perfBatch), 1000)
		round++
		b.StartTimer()
		start, cpu0 := time.Now(), perfCPU()
		_, stop := perfRun(b, cfg)
		perfWait(b, "the deliveries", done, 10*time.Minute, func() string { return fmt.Sprint(recv.received(), " received") })
		took += time.Since(start)
		cpu += perfCPU() - cpu0
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if p := recv.problems(); len(p) > 0 {
		b.Fatalf("the receiver saw %d bad requests, the first: %s", len(p), p[0])
	}
	n := float64(perfBatch * round)
	rate := n / took.Seconds()
	b.ReportMetric(rate, "deliveries/s")
	perfReportCPU(b, cpu, n)
	b.ReportMetric(float64(recv.duplicates()), "duplicates")
	if bare := perfBare.Load(); bare > 0 {
		b.ReportMetric(rate/float64(bare), "x-bare")
	}
	b.ReportMetric(0, "ns/op")
}

// perfReportCPU reports the process's CPU time per delivery (the receiver
// and the sender both count: they share the machine as they would share
// it with the user's backend) and the rate that CPU time allows when the
// process has every core to itself: on a machine shared with other work
// the wall-clock rate measures the share it got, this does not.
func perfReportCPU(b *testing.B, cpu time.Duration, n float64) {
	if cpu <= 0 {
		return
	}
	per := float64(cpu.Nanoseconds()) / n
	b.ReportMetric(per/1000, "CPU-µs/delivery")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))*1e9/per, "cpu-bound-deliveries/s")
}
