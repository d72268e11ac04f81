//go:build unix

package mcp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/runtime/mcp"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// BenchmarkToolCall runs one action (create-contact against the loopback
// app, a run log saved in SQLite each time) as an MCP tool call (the Go
// SDK's client, Streamable HTTP, one session per client) and as the same
// run through the REST API, side by side, at 1 and 50 concurrent clients:
//
//	go test -run '^$' -bench ToolCall -benchtime 2000x ./runtime/mcp/
func BenchmarkToolCall(b *testing.B) {
	for _, clients := range []int{1, 50} {
		for _, via := range []string{"rest", "mcp"} {
			b.Run(fmt.Sprintf("%s/clients=%d", via, clients), func(b *testing.B) {
				e := startOn(b, func(opts ...store.Option) store.Store {
					s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "membrane.db"), append(opts, store.WithLogger(storetest.Quiet()))...)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
					return s
				})
				id := e.connect(b, "acme", "")
				calls := make([]func() error, clients)
				for i := range calls {
					if via == "mcp" {
						calls[i] = mcpCaller(b, e)
					} else {
						calls[i] = restCaller(e, id)
					}
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				for _, do := range calls {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := do(); err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				// The process's CPU (client, server, app and store alike)
				// per call: steadier than wall time on a shared machine.
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			})
		}
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

func restCaller(e *env, id string) func() error {
	url, token := e.Base+"/v1/connections/"+id+"/actions/create-contact/run", "Bearer "+e.Token("acme")
	body := []byte(`{"input":{"email":"ada@example.com"}}`)
	return func() error {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := benchClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("run: %d", resp.StatusCode)
		}
		return nil
	}
}

func mcpCaller(b *testing.B, e *env) func() error {
	cs, _ := e.session(b, "acme")
	params := &sdk.CallToolParams{Name: mcp.ToolName("crm", "create-contact"), Arguments: map[string]any{"email": "ada@example.com"}}
	return func() error {
		res, err := cs.CallTool(context.Background(), params)
		if err != nil {
			return err
		}
		if res.IsError {
			return fmt.Errorf("tool error: %v", res.Content)
		}
		return nil
	}
}
