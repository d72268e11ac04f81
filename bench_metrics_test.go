package membrane_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
)

// BenchmarkActionMetrics runs the action of BenchmarkAction three ways in
// one run: the plain path (no observer), with metrics on (every run and
// upstream request counted, as under serve), and with metrics on while
// /metrics is scraped over HTTP every second, as Prometheus does.
//
//	go test -run '^$' -bench 'BenchmarkActionMetrics' -benchtime 3s -count 6 .
func BenchmarkActionMetrics(b *testing.B) {
	srv := startBenchServer(b)
	plain := loadBench(b, srv.url, httpx.Config{})
	client := httpx.New(httpx.Config{AllowPrivate: true})
	observed := func() (*membrane.Workspace, *metrics.Metrics) {
		m := metrics.New(metrics.Options{})
		m.SetWorkspace(plain.Spec)
		eng := engine.New(engine.Options{HTTP: client, Observer: m.Engine()})
		return membrane.New(membrane.Options{HTTP: client, Engine: eng}, plain.Spec), m
	}
	withMetrics, _ := observed()
	scraped, sm := observed()

	run := func(ws *membrane.Workspace) func() func() error {
		return func() func() error {
			req := membrane.RunRequest{Connector: "bench", Action: "create-contact", Connection: benchConn, Input: benchInput()}
			return func() error {
				res, err := ws.Run(context.Background(), req)
				if err != nil {
					return err
				}
				if out, _ := res.Output.(map[string]any); out["id"] != wantOutput["id"] {
					return fmt.Errorf("output %v", res.Output)
				}
				return nil
			}
		}
	}
	vs := []variant{{"plain", run(plain)}, {"metrics", run(withMetrics)}, {"metrics+scrape1s", run(scraped)}}
	for _, v := range vs {
		if err := v.make()(); err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
	}
	for _, mode := range []string{"serial", "parallel"} {
		for _, v := range vs {
			b.Run(mode+"/"+v.name, func(b *testing.B) {
				if v.name == "metrics+scrape1s" {
					defer scrapeEverySecond(b, sm)()
				}
				if mode == "serial" {
					benchSerial(b, v.make())
				} else {
					benchParallel(b, v.make)
				}
			})
		}
	}
}

// scrapeEverySecond GETs /metrics over loopback HTTP once a second, body
// read whole, until the returned function is called; it reports the
// scrapes made and the size of the last one.
func scrapeEverySecond(b *testing.B, m *metrics.Metrics) (stop func()) {
	ts := httptest.NewServer(m.Handler())
	done, ended := make(chan struct{}), make(chan struct{})
	var scrapes, size int
	get := func() {
		resp, err := http.Get(ts.URL)
		if err != nil {
			b.Error(err)
			return
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		scrapes, size = scrapes+1, int(n)
	}
	get() // one before the clock starts: the first builds the most
	go func() {
		defer close(ended)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				get()
			}
		}
	}()
	return func() {
		close(done)
		<-ended
		ts.Close()
		b.ReportMetric(float64(scrapes), "scrapes")
		b.ReportMetric(float64(size), "scrape-bytes")
	}
}
