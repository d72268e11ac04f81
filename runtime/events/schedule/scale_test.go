package schedule_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// upstreamEnv makes the test binary a bare local upstream instead
// (BenchmarkPollingScale runs it as a separate process, so the CPU
// measured is Membrane's, not the app's).
const upstreamEnv = "MEMBRANE_SCHEDULE_UPSTREAM"

func TestMain(m *testing.M) {
	if os.Getenv(upstreamEnv) == "1" {
		serveUpstream()
		return
	}
	os.Exit(m.Run())
}

// serveUpstream answers every request with an empty page, printing its
// address first, until stdin closes.
func serveUpstream() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[],"has_more":false}`)
	}))
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startUpstream runs the upstream process and returns its base URL.
func startUpstream(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), upstreamEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("the upstream did not start: %v", err)
	}
	return "http://" + addr[:len(addr)-1]
}

// shifted is the system clock moved by an offset: the seeded due times are
// fixed, the benchmark starts whenever seeding ends.
type shifted struct{ offset time.Duration }

func (c *shifted) Now() time.Time                         { return time.Now().Add(c.offset) }
func (c *shifted) After(d time.Duration) <-chan time.Time { return time.After(d) }

// BenchmarkPollingScale: 10,000 subscriptions on 10,000 connections at a
// 5-minute interval, on SQLite, each poll a GET to a local upstream in
// another process. The first due times are spread over a window (default
// 60 s, MEMBRANE_BENCH_POLL_WINDOW=5m for one real period): 60 s is five
// times the steady rate of a 5-minute interval. It reports how late each
// poll started after its due time (p50, p99, max) and the CPU this process
// (scheduler, store, HTTP client) used over the window.
//
//	go test -run '^$' -bench BenchmarkPollingScale -benchtime 1x ./runtime/events/schedule/
func BenchmarkPollingScale(b *testing.B) {
	const n = 10_000
	window := time.Minute
	if v := os.Getenv("MEMBRANE_BENCH_POLL_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	workers := schedule.DefaultWorkers
	if v := os.Getenv("MEMBRANE_BENCH_POLL_WORKERS"); v != "" {
		workers, _ = strconv.Atoi(v)
	}
	base := startUpstream(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2}}

	for b.Loop() {
		clock := &shifted{}
		st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "membrane.db"),
			store.WithClock(clock.Now), store.WithLogger(storetest.Quiet()))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ts := st.Tenant("acme")
		ctx := context.Background()
		for chunk := 0; chunk < n; chunk += 500 {
			err := ts.Tx(ctx, func(tx store.TenantStore) error {
				for i := chunk; i < chunk+500; i++ {
					c, err := tx.Connections().Create(ctx, store.Connection{Connector: "crm"})
					if err != nil {
						return err
					}
					if _, err := tx.Subscriptions().Create(ctx, store.Subscription{
						ConnectionID: c.ID, Event: "contact-changed", Interval: 5 * time.Minute,
						NextRunAt: t0.Add(time.Duration(i) * window / n),
					}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}

		late := make([]time.Duration, 0, n)
		var mu sync.Mutex
		var polled atomic.Int64
		finished := make(chan struct{})
		poller := schedule.PollerFunc(func(ctx context.Context, sub *store.Subscription) error {
			l := clock.Now().Sub(sub.NextRunAt)
			mu.Lock()
			late = append(late, l)
			mu.Unlock()
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events?subscription="+sub.ID, nil)
			res, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if polled.Add(1) == n {
				close(finished)
			}
			return nil
		})
		s := schedule.New(schedule.Options{Store: st, Poller: poller, Clock: clock, Workers: workers, Logger: storetest.Quiet()})

		clock.offset = time.Until(t0)
		cpu0, wall0 := processCPU(), time.Now()
		rctx, cancel := context.WithCancel(ctx)
		ran := make(chan struct{})
		go func() { s.Run(rctx); close(ran) }()
		select {
		case <-finished:
		case <-time.After(window + time.Minute):
			b.Fatalf("%d of %d polls ran in the window and a minute", polled.Load(), n)
		}
		cancel()
		<-ran
		cpu, wall := processCPU()-cpu0, time.Since(wall0)
		st.Close()

		slices.Sort(late)
		p := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
		stats := s.Stats()
		b.ReportMetric(float64(p(0.50))/1e6, "p50-late-ms")
		b.ReportMetric(float64(p(0.99))/1e6, "p99-late-ms")
		b.ReportMetric(float64(late[len(late)-1])/1e6, "max-late-ms")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
		b.Logf("%d polls over %s (window %s, %d workers): late p50 %s p99 %s max %s; CPU %s (%.1f%% of one core); stats %+v",
			len(late), wall.Round(time.Millisecond), window, workers, p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond),
			late[len(late)-1].Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds(), stats)
		if p(0.99) > 5*time.Second {
			b.Errorf("p99 lateness %s, the target is 5 s", p(0.99))
		}
		if stats.Failed > 0 || stats.Errors > 0 || int(stats.Polled) < n {
			b.Errorf("stats %+v", stats)
		}
	}
}
