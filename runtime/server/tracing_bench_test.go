package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/membrane-dev/membrane/internal/otlptest"
	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// BenchmarkTracing runs a one-request action through the REST API on
// loopback with 100 concurrent callers (as BenchmarkRunAction), three ways
// side by side on SQLite:
//
//   - plain: the API handler alone, with none of the server's telemetry
//     (no request id, no tracing);
//   - off: the server as served by default: request ids on the response,
//     the log lines and the run log; tracing off;
//   - on: tracing on, every span exported over OTLP/HTTP to a real
//     collector receiver on loopback.
//
// in-process-off and in-process-on run connections.Service.Run directly,
// without HTTP. Each reports the process's CPU time per run besides the
// wall time, which a shared machine moves more.
//
//	go test -run '^$' -bench BenchmarkTracing -benchtime 3s ./runtime/server/
func BenchmarkTracing(b *testing.B) {
	up := newUpstream(b)
	rcv := otlptest.Start(b)
	input := map[string]any{"email": "ada@example.com"}
	type target struct {
		name    string
		svc     *connections.Service
		handler http.Handler
		conn    string
		tok     string
	}
	var targets []target
	for _, mode := range []string{"off", "on"} {
		endpoint := ""
		if mode == "on" {
			endpoint = rcv.HTTPEndpoint
		}
		dir := tracedWorkspace(b, up.srv.URL, endpoint)
		s, err := server.New(context.Background(), server.Config{Dir: dir, AllowPrivate: true,
			LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})}, storetest.Quiet())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		key := "default"
		if endpoint != "" {
			key = "servertest"
		}
		conn, err := s.Service.Create(context.Background(), "acme", connections.CreateRequest{Connector: "crm", Credentials: map[string]any{"apiKey": apiKey}})
		if err != nil {
			b.Fatal(err)
		}
		tok := token(b, key, testSecret, "acme")
		if mode == "off" {
			v, err := tenancy.NewVerifier(key, tenancy.Keys{HMACSecret: []byte(testSecret)})
			if err != nil {
				b.Fatal(err)
			}
			plain := api.New(api.Options{Service: s.Service, Store: s.Store, Verifier: v, Logger: storetest.Quiet()})
			targets = append(targets, target{"plain", s.Service, plain, conn.ID, tok})
		}
		targets = append(targets, target{mode, s.Service, s.Handler(), conn.ID, tok})
	}

	for _, tg := range targets {
		srv := httptest.NewServer(tg.handler)
		b.Cleanup(srv.Close)
		c := &fasthttp.Client{MaxConnsPerHost: 2 * clients}
		url := srv.URL + "/v1/connections/" + tg.conn + "/actions/create-contact/run"
		body := []byte(`{"input":{"email":"ada@example.com"}}`)
		want := []byte(`"id":"c_1"`)
		auth := "Bearer " + tg.tok
		op := func() error {
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
		}
		// Warm the pools, the caches and the store before measuring, so the
		// first of the three does not pay for them.
		for range 300 {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(tg.name, func(b *testing.B) { cpuLoad(b, op) })
	}
	for _, tg := range targets[1:] {
		b.Run("in-process-"+tg.name, func(b *testing.B) {
			cpuLoad(b, func() error {
				res, err := tg.svc.Run(context.Background(), "acme", tg.conn, "create-contact", input, engine.RunOptions{})
				if err == nil && res.Output.(map[string]any)["id"] != "c_1" {
					err = fmt.Errorf("output %v", res.Output)
				}
				return err
			})
		})
	}
}

// cpuLoad is load, also reporting the process's CPU time per op: wall time
// moves with whatever else the machine runs, CPU time much less. It counts
// everything in the process — the load generator, the upstream and, with
// tracing on, the receiver decoding the spans — so the cost of "on" is
// over-stated by the receiver's share.
func cpuLoad(b *testing.B, op func() error) {
	t0 := processCPU()
	load(b, op)
	b.ReportMetric(float64((processCPU()-t0).Microseconds())/float64(b.N), "cpu-µs/op")
}
