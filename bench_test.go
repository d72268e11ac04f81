package membrane_test

// Performance of one action run against hand-written clients, and memory of
// pagination. The numbers and how to read them are in docs/perf-actions.md;
// reproduce them with
//
//	go test -run=NONE -bench=BenchmarkAction -benchmem .
//	go test -run=TestPaginationMemoryFlat -bench=BenchmarkPaginate -benchmem .

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

const benchAPIKey = "sk_bench_0123456789abcdef"

// benchContact is the API's answer to a create: 20 fields, 10 of them mapped.
var benchContact = []byte(`{"id":"cus_9s6XKzkNRiz8i3","object":"customer","email":"ada@example.com",` +
	`"first_name":"Ada","last_name":"Lovelace","phone":"+44 20 7946 0958","company":"Analytical Engines Ltd",` +
	`"title":"Countess","created":1718877600,"updated":1718877601,"score":97.5,"vip":true,` +
	`"address":{"line1":"12 St James's Square","city":"London","postal_code":"SW1Y 4JH","country":"GB"},` +
	`"currency":"gbp","delinquent":false,"livemode":false,"tags":["math","poetry"],` +
	`"metadata":{"source":"membrane","campaign":"spring"},"preferred_locales":["en-GB"],"balance":0}`)

// benchServer is the one loopback API every variant talks to: a create
// endpoint that checks the key and answers benchContact, and a list endpoint
// that generates cursor pages of benchPageSize records.
type benchServer struct {
	url string
	ln  net.Listener
	srv *fasthttp.Server
}

const benchPageSize = 100

func startBenchServer(tb testing.TB) *benchServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &benchServer{url: "http://" + ln.Addr().String(), ln: ln}
	s.srv = &fasthttp.Server{Handler: s.handle, ReadBufferSize: 16 << 10}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	tb.Cleanup(func() { s.srv.Shutdown() })
	return s
}

func (s *benchServer) handle(ctx *fasthttp.RequestCtx) {
	if string(ctx.Request.Header.Peek("X-Api-Key")) != benchAPIKey {
		ctx.SetStatusCode(http.StatusUnauthorized)
		return
	}
	switch string(ctx.Path()) {
	case "/v1/contacts":
		if !ctx.IsPost() || len(ctx.PostBody()) == 0 || string(ctx.Request.Header.ContentType()) != "application/json" {
			ctx.SetStatusCode(http.StatusBadRequest)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(benchContact)
	case "/v1/items":
		total, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("pages")))
		page := 0
		if c := ctx.QueryArgs().Peek("cursor"); len(c) > 0 {
			page, _ = strconv.Atoi(string(c[1:])) // "p<n>"
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(benchPage(page, total))
	default:
		ctx.SetStatusCode(http.StatusNotFound)
	}
}

// benchPage writes page n of total: benchPageSize records of 10 fields
// (about 34 KB of JSON) and the next cursor, null on the last page. The
// server makes each page anew and keeps nothing, so the live heap the
// pagination test measures is the client's.
func benchPage(n, total int) []byte {
	b := make([]byte, 0, 40<<10)
	b = append(b, `{"data":[`...)
	for i := range benchPageSize {
		id := int64(n*benchPageSize + i)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `,"object":"item","name":"Item number `...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `","email":"item`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `@example.com","created":`...)
		b = strconv.AppendInt(b, 1718877600+id, 10)
		b = append(b, `,"price":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `.25,"active":true,"description":"A generated record that stands for a real one, padded to a realistic size",`+
			`"address":{"line1":"`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, ` Main Street","city":"Springfield","country":"US"},"tags":["a","b","c"]}`...)
	}
	b = append(b, `],"next":`...)
	if n+1 < total {
		b = append(b, `"p`...)
		b = strconv.AppendInt(b, int64(n+1), 10)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// benchConnector is the connector every workspace here uses: an API key in
// a header.
const benchConnector = `kind: Connector
key: bench
name: Bench
baseUrl: %s
auth:
  type: apiKey
  in: header
  name: X-Api-Key
`

// benchCreate sends a JSON body mapped from 10 input fields and maps 10
// fields of the response, with typed input and output contracts.
const benchCreate = `kind: Action
connector: bench
key: create-contact
inputSchema:
  type: object
  required: [email]
  properties:
    email: {type: string}
    firstName: {type: string}
    lastName: {type: string}
    phone: {type: string}
    company: {type: string}
    title: {type: string}
    city: {type: string}
    country: {type: string}
    age: {type: integer}
    vip: {type: boolean}
outputSchema:
  type: object
  required: [id]
  properties:
    id: {type: string}
    email: {type: string}
    firstName: {type: string}
    lastName: {type: string}
    phone: {type: string}
    company: {type: string}
    created: {type: integer}
    score: {type: number}
    vip: {type: boolean}
    city: {type: string}
request:
  method: POST
  path: /v1/contacts
  body:
    email: ${ input.email }
    first_name: ${ input.firstName }
    last_name: ${ input.lastName }
    phone: ${ input.phone }
    company: ${ input.company }
    title: ${ input.title }
    city: ${ input.city }
    country: ${ input.country }
    age: ${ input.age }
    vip: ${ input.vip }
output:
  id: ${ response.body.id }
  email: ${ response.body.email }
  firstName: ${ response.body.first_name }
  lastName: ${ response.body.last_name }
  phone: ${ response.body.phone }
  company: ${ response.body.company }
  created: ${ response.body.created }
  score: ${ response.body.score }
  vip: ${ response.body.vip }
  city: ${ response.body.address.city }
`

// benchList walks cursor pages and returns only how many records it saw;
// each record is mapped to a small value.
const benchList = `kind: Action
connector: bench
key: list-items
inputSchema:
  type: object
  properties:
    pages: {type: integer}
request:
  path: /v1/items
  query:
    pages: ${ input.pages }
pagination:
  type: cursor
  items: ${ response.body.data }
  nextCursor: ${ response.body.next }
  param: cursor
  maxPages: 1000
record: ${ record.id }
output:
  count: ${ size(records) }
`

// benchListKeep is benchList returning every record whole: the control
// that shows the memory test can see retained pages.
const benchListKeep = `kind: Action
connector: bench
key: list-items-keep
request:
  path: /v1/items
  query:
    pages: ${ input.pages }
pagination:
  type: cursor
  items: ${ response.body.data }
  nextCursor: ${ response.body.next }
  param: cursor
  maxPages: 1000
output:
  items: ${ records }
`

// loadBench writes the workspace into a temporary directory and loads it
// through the real loader.
func loadBench(tb testing.TB, baseURL string, cfg httpx.Config) *membrane.Workspace {
	dir := tb.TempDir()
	files := map[string]string{
		"connector.yaml":         fmt.Sprintf(benchConnector, baseURL),
		"actions/create.yaml":    benchCreate,
		"actions/list.yaml":      benchList,
		"actions/list-keep.yaml": benchListKeep,
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	cfg.AllowPrivate = true // the server is on loopback
	ws, diags, err := membrane.Load(membrane.Options{HTTP: httpx.New(cfg)}, dir)
	if err != nil {
		tb.Fatalf("load: %v\n%s", err, diags)
	}
	return ws
}

var benchConn = engine.Connection{ID: "conn-bench", Credentials: map[string]any{"apiKey": benchAPIKey}}

// benchInput is a fresh input of 10 fields. Each goroutine gets its own:
// a run normalises its input in place, as a server's decoded request is.
func benchInput() map[string]any {
	return map[string]any{
		"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
		"phone": "+44 20 7946 0958", "company": "Analytical Engines Ltd", "title": "Countess",
		"city": "London", "country": "GB", "age": int64(36), "vip": true,
	}
}

// wantOutput is what every variant must produce from benchContact.
var wantOutput = map[string]any{
	"id": "cus_9s6XKzkNRiz8i3", "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
	"phone": "+44 20 7946 0958", "company": "Analytical Engines Ltd", "created": int64(1718877600),
	"score": 97.5, "vip": true, "city": "London",
}

// handBody is the body the hand-written clients build: the same 10 fields
// under the same names as the action's body mapping.
func handBody(in map[string]any) ([]byte, error) {
	return json.Marshal(map[string]any{
		"email": in["email"], "first_name": in["firstName"], "last_name": in["lastName"],
		"phone": in["phone"], "company": in["company"], "title": in["title"],
		"city": in["city"], "country": in["country"], "age": in["age"], "vip": in["vip"],
	})
}

// handPick decodes the response and picks the same 10 fields.
func handPick(body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	addr, _ := m["address"].(map[string]any)
	out := map[string]any{
		"id": m["id"], "email": m["email"], "firstName": m["first_name"], "lastName": m["last_name"],
		"phone": m["phone"], "company": m["company"], "created": m["created"],
		"score": m["score"], "vip": m["vip"], "city": addr["city"],
	}
	if out["id"] == nil {
		return nil, fmt.Errorf("no id in %s", body)
	}
	return out, nil
}

// variant is one way of doing the work: make returns the per-goroutine
// function that does one operation.
type variant struct {
	name string
	make func() func() error
}

func benchVariants(b *testing.B, srv *benchServer) []variant {
	ws := loadBench(b, srv.url, httpx.Config{})
	ctx := context.Background()

	membrane := func() func() error {
		req := membrane.RunRequest{Connector: "bench", Action: "create-contact", Connection: benchConn, Input: benchInput()}
		return func() error {
			res, err := ws.Run(ctx, req)
			if err != nil {
				return err
			}
			if out, _ := res.Output.(map[string]any); out["id"] != wantOutput["id"] {
				return fmt.Errorf("output %v", res.Output)
			}
			return nil
		}
	}

	fc := &fasthttp.Client{MaxConnsPerHost: 512, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	fastURL := srv.url + "/v1/contacts"
	fast := func() func() error {
		in := benchInput()
		return func() error {
			body, err := handBody(in)
			if err != nil {
				return err
			}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(fastURL)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.Set("X-Api-Key", benchAPIKey)
			req.Header.SetContentType("application/json")
			req.Header.Set("Accept", "application/json")
			req.SetBodyRaw(body)
			if err := fc.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode())
			}
			_, err = handPick(resp.Body())
			return err
		}
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, ForceAttemptHTTP2: false}}
	std := func() func() error {
		in := benchInput()
		return func() error {
			body, err := handBody(in)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, fastURL, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("X-Api-Key", benchAPIKey)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			_, err = handPick(data)
			return err
		}
	}
	return []variant{{"membrane", membrane}, {"fasthttp", fast}, {"nethttp", std}}
}

// benchParallelism × GOMAXPROCS goroutines run at once in the parallel
// variants: enough requests in flight to keep both the client and the
// in-process server busy, so ns/op is the CPU cost per action (the inverse
// of throughput) rather than the round-trip time.
const benchParallelism = 8

// BenchmarkAction compares one action run with hand-written clients doing
// the same work against the same loopback server. "serial" runs one
// request at a time (latency); "parallel" runs benchParallelism×GOMAXPROCS
// at once (throughput: ns/op is wall time per completed action).
func BenchmarkAction(b *testing.B) {
	srv := startBenchServer(b)
	vs := benchVariants(b, srv)
	// Check every variant once, and warm the pools and plan caches.
	for _, v := range vs {
		if err := v.make()(); err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
	}
	for _, mode := range []string{"serial", "parallel"} {
		for _, v := range vs {
			b.Run(mode+"/"+v.name, func(b *testing.B) {
				if mode == "serial" {
					benchSerial(b, v.make())
				} else {
					benchParallel(b, v.make)
				}
			})
		}
	}
}

func benchSerial(b *testing.B, op func() error) {
	lat := make([]int64, 0, max(b.N, 1))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, int64(time.Since(start)))
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	reportLatency(b, lat)
}

func benchParallel(b *testing.B, mk func() func() error) {
	procs := benchParallelism * goruntime.GOMAXPROCS(0)
	// Latencies go into buffers made before the clock starts, so recording
	// them allocates nothing per op.
	bufs := make([][]int64, procs)
	for i := range bufs {
		bufs[i] = make([]int64, 0, b.N)
	}
	var next atomic.Int32
	var mu sync.Mutex
	var failed error
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) - 1
		if i >= len(bufs) {
			mu.Lock()
			bufs = append(bufs, make([]int64, 0, 1024))
			i = len(bufs) - 1
			mu.Unlock()
		}
		mu.Lock()
		lat := bufs[i]
		mu.Unlock()
		op := mk()
		for pb.Next() {
			start := time.Now()
			if err := op(); err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			lat = append(lat, int64(time.Since(start)))
		}
		mu.Lock()
		bufs[i] = lat
		mu.Unlock()
	})
	b.StopTimer()
	reportCPU(b, cpu0)
	if failed != nil {
		b.Fatal(failed)
	}
	reportLatency(b, slices.Concat(bufs...))
}

// reportCPU adds the process CPU time per op: client and in-process
// server together, as the wall time is.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}

// reportLatency adds the median and 99th percentile of per-op latencies.
func reportLatency(b *testing.B, lat []int64) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}

// TestBenchVariantsAgree checks that the three variants of BenchmarkAction
// do the same work: the same body reaches the server and the same output
// comes back.
func TestBenchVariantsAgree(t *testing.T) {
	srv := startBenchServer(t)
	ws := loadBench(t, srv.url, httpx.Config{})
	res, err := ws.Run(context.Background(), membrane.RunRequest{Connector: "bench", Action: "create-contact", Connection: benchConn, Input: benchInput()})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Output)
	hand, err := handPick(benchContact)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(hand)
	if !bytes.Equal(got, want) {
		t.Fatalf("membrane output\n%s\nhand-written\n%s", got, want)
	}
	// The body the action sends is the hand-written one, byte for byte.
	var sent []byte
	capture := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		sent = append([]byte(nil), ctx.PostBody()...)
		ctx.SetContentType("application/json")
		ctx.SetBody(benchContact)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go capture.Serve(ln) //nolint:errcheck
	defer capture.Shutdown()
	ws2 := loadBench(t, "http://"+ln.Addr().String(), httpx.Config{})
	if _, err := ws2.Run(context.Background(), membrane.RunRequest{Connector: "bench", Action: "create-contact", Connection: benchConn, Input: benchInput()}); err != nil {
		t.Fatal(err)
	}
	wantBody, _ := handBody(benchInput())
	if !bytes.Equal(sent, wantBody) {
		t.Fatalf("membrane sent\n%s\nhand-written sends\n%s", sent, wantBody)
	}
}

// pageProbe measures the live heap (after a full GC) while a paginated
// action runs: the client's Trace hook fires as each page arrives, inside
// the run, when every earlier page has been mapped and (unless something
// keeps it) dropped. One probe serves one workspace, one run at a time.
type pageProbe struct {
	live []uint64 // live heap when page i arrived
}

func (p *pageProbe) trace(*httpx.Attempt) {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	p.live = append(p.live, ms.HeapAlloc)
}

// growth is how much the live heap grew from page `from` to page `to`
// (1-based) of the last run.
func (p *pageProbe) growth(from, to int) int64 { return int64(p.live[to-1]) - int64(p.live[from-1]) }

// peak is the largest growth over the first page of the last run.
func (p *pageProbe) peak() int64 {
	var m int64
	for i := range p.live {
		m = max(m, p.growth(1, i+1))
	}
	return m
}

type pagedBench struct {
	srv   *benchServer
	ws    *membrane.Workspace
	probe *pageProbe
}

// newPagedBench loads the workspace once, with the probe on its client.
func newPagedBench(tb testing.TB) *pagedBench {
	pb := &pagedBench{srv: startBenchServer(tb), probe: &pageProbe{}}
	pb.ws = loadBench(tb, pb.srv.url, httpx.Config{Trace: pb.probe.trace})
	return pb
}

// run runs an action over n pages, probed, and returns its output.
func (pb *pagedBench) run(tb testing.TB, action string, n int) any {
	pb.probe.live = make([]uint64, 0, n)
	res, err := pb.ws.Run(context.Background(), membrane.RunRequest{
		Connector: "bench", Action: action, Connection: benchConn, Input: map[string]any{"pages": int64(n)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(pb.probe.live) != n {
		tb.Fatalf("%d pages requested, want %d", len(pb.probe.live), n)
	}
	return res.Output
}

// TestPaginationMemoryFlat walks 10 and 100 pages of 100 records with an
// action that maps each record to its id and returns only the count. What
// the run may keep is the mapped records (a boxed id and a slot of the
// records list each) and a log entry per page; the raw pages (~34 KB of
// JSON, ~150 KB decoded) must go as soon as they are mapped. The live heap
// is measured inside the run as each page arrives, after a full GC, so the
// measure is exact rather than sampled. The control action returns its
// records whole, keeping every page: the same measure must see it grow, or
// the test proves nothing.
func TestPaginationMemoryFlat(t *testing.T) {
	pb := newPagedBench(t)
	pb.run(t, "list-items", 2) // warm up: plans, connections, CEL
	pb.run(t, "list-items-keep", 2)

	pb.run(t, "list-items", 10)
	peak10 := pb.probe.peak()
	out := pb.run(t, "list-items", 100)
	peak100, g := pb.probe.peak(), pb.probe.growth(10, 100)
	if n := out.(map[string]any)["count"]; n != int64(100*benchPageSize) {
		t.Fatalf("count %v, want %d", n, 100*benchPageSize)
	}
	pb.run(t, "list-items-keep", 100)
	gKeep := pb.probe.growth(10, 100)
	t.Logf("peak live heap over page 1: %d B for 10 pages, %d B for 100 pages", peak10, peak100)
	t.Logf("live heap growth from page 10 to page 100: %d B (%d B/page) mapping to ids; %d B (%d B/page) keeping the records",
		g, g/90, gKeep, gKeep/90)
	if gKeep/90 < 100<<10 {
		t.Fatalf("the control kept only %d B per page: the probe cannot see a retained page", gKeep/90)
	}
	// Allowed per page: 100 mapped ids (a boxed int64 and a 16-byte slot,
	// doubled by append's growth, ~5 KB) and the page's log entry and
	// cursor, so under 10 KB. One retained page is ~150 KB.
	const allowedPerPage = 10 << 10
	if g > 90*allowedPerPage {
		t.Fatalf("live heap grew %d B over 90 pages (%d B/page; the control %d B/page): pages are kept after they are mapped", g, g/90, gKeep/90)
	}
	if d := peak100 - peak10; d > 90*allowedPerPage {
		t.Fatalf("the peak live heap of 100 pages is %d B over that of 10 pages: pages are kept after they are mapped", d)
	}
}

// BenchmarkPaginate runs the count-only paginated action over 10 and 100
// pages of 100 records. B/op is everything allocated (it grows with pages,
// as it must); peak-live-B is the most the live heap grew over its size at
// the first page, in a probed run: the mapped records it keeps, not pages.
func BenchmarkPaginate(b *testing.B) {
	pb := newPagedBench(b)
	pb.run(b, "list-items", 2)
	ws := loadBench(b, pb.srv.url, httpx.Config{}) // unprobed, for timing
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("pages=%d", n), func(b *testing.B) {
			pb.run(b, "list-items", n)
			peak := pb.probe.peak()
			req := membrane.RunRequest{Connector: "bench", Action: "list-items", Connection: benchConn, Input: map[string]any{"pages": int64(n)}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := ws.Run(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peak), "peak-live-B")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*benchPageSize), "ns/record")
		})
	}
}
