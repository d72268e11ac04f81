package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// clients is how many callers run actions at once.
const clients = 100

// BenchmarkRunAction runs a one-request action with 100 concurrent
// callers, in process (connections.Service.Run) and through the REST API
// on loopback (token check, JSON in and out, HTTP), on each store. Every
// run reads the connection and writes a run log, in both. p50 and p99 are
// the latencies one caller sees.
//
//	go test -run '^$' -bench BenchmarkRunAction -benchtime 5s ./runtime/server/
func BenchmarkRunAction(b *testing.B) {
	for _, engineName := range []string{"sqlite", "postgres"} {
		b.Run(engineName, func(b *testing.B) {
			up := newUpstream(b)
			store := ""
			if engineName == "postgres" {
				store = storetest.PostgresDB(b)
				b.Setenv(crypt.EnvKey, crypt.EncodeKey(crypt.Generate()))
			}
			dir := workspace(b, up.srv.URL, store)
			r := start(b, server.Config{Dir: dir, AllowPrivate: true,
				LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
			workspaceKey := "default"
			if store != "" {
				workspaceKey = "servertest"
			}
			tok := token(b, workspaceKey, testSecret, "acme")
			conn, err := r.Service.Create(context.Background(), "acme", connections.CreateRequest{
				Connector: "crm", Credentials: map[string]any{"apiKey": apiKey}})
			if err != nil {
				b.Fatal(err)
			}
			input := map[string]any{"email": "ada@example.com"}

			b.Run("in-process", func(b *testing.B) {
				load(b, func() error {
					res, err := r.Service.Run(context.Background(), "acme", conn.ID, "create-contact", input, engine.RunOptions{})
					if err == nil && res.Output.(map[string]any)["id"] != "c_1" {
						err = fmt.Errorf("output %v", res.Output)
					}
					return err
				})
			})
			b.Run("rest", func(b *testing.B) {
				// The load generator shares the machine's cores with the
				// server; fasthttp's client keeps its own share small, so the
				// number measures the server.
				c := &fasthttp.Client{MaxConnsPerHost: 2 * clients}
				url := r.URL + "/v1/connections/" + conn.ID + "/actions/create-contact/run"
				body := []byte(`{"input":{"email":"ada@example.com"}}`)
				want := []byte(`"id":"c_1"`)
				auth := "Bearer " + tok
				load(b, func() error {
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.SetRequestURI(url)
					req.Header.SetMethod(fasthttp.MethodPost)
					req.Header.Set("Authorization", auth)
					req.Header.SetContentType("application/json")
					req.SetBodyRaw(body)
					if err := c.Do(req, resp); err != nil {
						return err
					}
					if resp.StatusCode() != http.StatusOK || !bytes.Contains(resp.Body(), want) {
						return fmt.Errorf("%d %s", resp.StatusCode(), resp.Body())
					}
					return nil
				})
			})
		})
	}
}

// load runs op from `clients` goroutines for b.N operations in all and
// reports the p50 and p99 latency.
func load(b *testing.B, op func() error) {
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var mu sync.Mutex
	var all []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
