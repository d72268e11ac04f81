package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
)

// BenchmarkObserveRun is what metrics add to one run of a one-request
// action: the run and its upstream request counted (RunDone, Upstream),
// alone and while /metrics is scraped back to back.
//
//	go test -run '^$' -bench BenchmarkObserveRun -benchmem ./runtime/telemetry/metrics/
func BenchmarkObserveRun(b *testing.B) {
	ws := workspaceOf(map[string][]string{"crm": {"create-contact"}})
	for _, scraped := range []bool{false, true} {
		name := "quiet"
		if scraped {
			name = "scraped-back-to-back"
		}
		b.Run(name, func(b *testing.B) {
			m := metrics.New(metrics.Options{})
			m.SetWorkspace(ws)
			o := m.Engine()
			if scraped {
				ctx, cancel := context.WithCancel(context.Background())
				ts := httptest.NewServer(m.Handler())
				done := make(chan struct{})
				go func() {
					defer close(done)
					for ctx.Err() == nil {
						if resp, err := http.Get(ts.URL); err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
					}
				}()
				defer func() { cancel(); <-done; ts.Close() }()
			}
			u := engine.Upstream{Status: 200, Attempts: 1, Took: 3 * time.Millisecond}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.Upstream("crm", u)
					o.RunDone("crm", "create-contact", 4*time.Millisecond, nil)
				}
			})
		})
	}
}
