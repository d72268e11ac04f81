package events_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
)

// scanAPI serves n generated records in pages, by offset cursor: record
// i is "r<i>"; changed records carry a later version, deleted ones are
// left out, added ones come after the rest.
type scanAPI struct {
	n, pageSize    int
	changeEvery    int // 0: none; else records i%changeEvery==1 have a new version
	deleteEvery    int // 0: none; else records i%deleteEvery==2 are gone
	added          int
	requests, sent atomic.Int64
}

func (a *scanAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	total := a.n + a.added
	end := min(after+a.pageSize, total)
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"data":[`)
	first := true
	for i := after; i < end; i++ {
		if a.deleteEvery > 0 && i < a.n && i%a.deleteEvery == 2 {
			continue
		}
		v := 1
		if a.changeEvery > 0 && i%a.changeEvery == 1 {
			v = 2
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		fmt.Fprintf(bw, `{"id":"r%d","name":"Contact %d","email":"c%d@example.test","version":%d}`, i, i, i, v)
		a.sent.Add(1)
	}
	next := ""
	if end < total {
		next = strconv.Itoa(end)
	}
	fmt.Fprintf(bw, `],"next":%q}`, next)
	bw.Flush()
}

const scanWorkspace = `kind: Connector
key: bulk
baseUrl: {{BASE}}
---
kind: Event
connector: bulk
key: contacts
recordSchema:
  type: object
  required: [id, email]
  properties:
    id: {type: string}
    email: {type: string}
polling:
  mode: fullScan
  request: {path: /contacts}
  pagination: {type: cursor, param: after, items: "${ response.body.data == null ? [] : response.body.data }", nextCursor: "${ response.body.next }"}
  id: ${ record.id }
record:
  id: ${ record.id }
  email: ${ record.email }
`

// peak samples the heap in use (runtime/metrics) until stopped and keeps
// its high-water mark.
type peak struct {
	stop chan struct{}
	done sync.WaitGroup
	max  atomic.Uint64
}

func watchHeap() *peak {
	p := &peak{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	p.done.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64() + s[1].Value.Uint64(); v > p.max.Load() {
				p.max.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	return p
}

func (p *peak) end() uint64 { close(p.stop); p.done.Wait(); return p.max.Load() }

// rssHWM is the process's peak resident set (VmHWM), 0 where /proc is not.
func rssHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkFullScanDiff is the full-scan diff of MEMBRANE_SCAN_RECORDS
// records (1,000,000 by default) served by a local upstream in pages of
// 1,000, on SQLite: a baseline scan, then a scan finding 0.1% updated,
// 0.1% deleted and 1,000 created. See docs/perf-events.md.
//
//	go test ./runtime/events -run '^$' -bench FullScanDiff -benchtime 1x -timeout 60m
func BenchmarkFullScanDiff(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("MEMBRANE_SCAN_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for b.Loop() {
		benchScan(b, n)
	}
}

func benchScan(b *testing.B, n int) {
	ctx := context.Background()
	api := &scanAPI{n: n, pageSize: 1000}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bulk.yaml"), []byte(strings.ReplaceAll(scanWorkspace, "{{BASE}}", srv.URL)), 0o644); err != nil {
		b.Fatal(err)
	}
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	r, diags := layers.ResolveEvent(ws, "bulk", "contacts")
	if r == nil {
		b.Fatal(diags)
	}
	plan, err := events.NewPlan(r)
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := crypt.New(crypt.Generate())
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "membrane.db"), store.WithKeyring(keys))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ts := st.Tenant("bench")
	c, err := ts.Connections().Create(ctx, store.Connection{Connector: "bulk", Name: "Bulk"})
	if err != nil {
		b.Fatal(err)
	}
	sub, err := ts.Subscriptions().Create(ctx, store.Subscription{ConnectionID: c.ID, Event: "contacts"})
	if err != nil {
		b.Fatal(err)
	}
	client := httpx.New(httpx.Config{AllowPrivate: true})
	defer client.CloseIdleConnections()
	poller := &events.Poller{Engine: engine.New(engine.Options{HTTP: client})}
	conn := &engine.Connection{ID: c.ID, Name: c.Name, Tenant: "bench"}

	scan := func(what string) *events.PollResult {
		runtime.GC()
		heap := watchHeap()
		start := time.Now()
		cur, err := ts.Subscriptions().Get(ctx, sub.ID)
		if err != nil {
			b.Fatal(err)
		}
		res, err := poller.Poll(ctx, events.PollRequest{Store: ts, Subscription: cur, Plan: plan, Connection: conn})
		took := time.Since(start)
		peakHeap := heap.end()
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		b.Logf("%s: %d records, %d pages in %v (%.0f records/s); created %d, updated %d, deleted %d; peak heap %.1f MB, process peak RSS so far %.1f MB",
			what, res.Records, res.Pages, took.Round(time.Millisecond), float64(res.Records)/took.Seconds(),
			res.Created, res.Updated, res.Deleted, float64(peakHeap)/(1<<20), float64(rssHWM())/(1<<20))
		b.ReportMetric(float64(peakHeap)/(1<<20), what+"-peak-heap-MB")
		b.ReportMetric(took.Seconds(), what+"-s")
		return res
	}
	res := scan("baseline")
	if !res.Baseline || res.Records != n {
		b.Fatalf("baseline = %+v", res)
	}
	api.changeEvery, api.deleteEvery, api.added = 1000, 1000, 1000
	res = scan("diff")
	wantDeleted := (n + 997) / 1000
	if res.Created != 1000 || res.Updated != n/1000 || res.Deleted != wantDeleted {
		b.Errorf("diff: created %d, updated %d, deleted %d; want 1000, %d, %d", res.Created, res.Updated, res.Deleted, n/1000, wantDeleted)
	}
	b.ReportMetric(float64(rssHWM())/(1<<20), "peak-rss-MB")
}
