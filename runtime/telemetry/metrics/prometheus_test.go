package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// A real Prometheus scrapes a real server's /metrics every second while
// actions run against a loopback upstream; a rate() over the run counter
// then shows the runs, by connector, action and outcome, and no series
// carries a tenant or a connection id.
func TestPrometheusScrapesRuns(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	m := startMembrane(t, up)
	if m.MetricsAddr() == "" {
		t.Fatal("no /metrics listener though MetricsAddr was set")
	}
	prom := startPrometheus(t, m.MetricsAddr())

	// The target is up: Prometheus reads the exposition format we serve.
	prom.waitFor(t, `up{job="membrane"} == 1`, func(v float64) bool { return v == 1 })

	conn := m.connect(t, goodKey)
	// One run first, so the series exists before the runs a rate counts
	// (a counter's first sample is its start, not an increase).
	if code := m.run(t, conn, "ada@example.com"); code != http.StatusOK {
		t.Fatalf("first run: %d", code)
	}
	ok := `membrane_action_runs_total{connector="crm",action="create-contact",outcome="ok"}`
	prom.waitFor(t, ok, func(v float64) bool { return v == 1 })

	const runs, failures = 20, 3
	for i := range runs {
		if code := m.run(t, conn, fmt.Sprintf("user%d@example.com", i)); code != http.StatusOK {
			t.Fatalf("run %d: %d", i, code)
		}
	}
	for i := range failures {
		if code := m.run(t, conn, fmt.Sprintf("fail%d@example.com", i)); code == http.StatusOK {
			t.Fatalf("failing run %d answered 200", i)
		}
	}
	// The rate over the last minute sees the runs: positive, and the
	// counter it is taken over has every run. The failures are a series
	// of their own, by the error's type.
	prom.waitFor(t, `sum(rate(`+ok+`[1m]))`, func(v float64) bool { return v > 0 })
	prom.waitFor(t, `max_over_time(`+ok+`[1m])`, func(v float64) bool { return v == 1+runs })
	prom.waitFor(t, `membrane_action_runs_total{connector="crm",outcome="upstream"}`, func(v float64) bool { return v == failures })

	// The rest of what a run touches is there too, by pattern, not path.
	prom.waitFor(t, `membrane_upstream_request_duration_seconds_count{connector="crm"}`, func(v float64) bool { return v >= 1+runs+failures })
	prom.waitFor(t, `sum(membrane_upstream_requests_total{connector="crm",status="5xx"})`, func(v float64) bool { return v == failures })
	prom.waitFor(t, `sum(membrane_api_request_duration_seconds_count{route="POST /v1/connections/{id}/actions/{action}/run"})`,
		func(v float64) bool { return v == 1+runs+failures })
	prom.waitFor(t, `sum(membrane_store_operation_duration_seconds_count)`, func(v float64) bool { return v > 0 })
	prom.waitFor(t, `membrane_connections{connector="crm",state="connected"}`, func(v float64) bool { return v == 1 })
	prom.waitFor(t, `membrane_workspace_generation`, func(v float64) bool { return v == 1 })

	// Bounded labels: no series names a tenant or a connection.
	for _, q := range []string{`{__name__=~"membrane_.+",tenant!=""}`, `{__name__=~"membrane_.+",connection!=""}`,
		`{__name__=~"membrane_.+",route=~".*` + conn + `.*"}`} {
		if got := prom.query(t, q); len(got) != 0 {
			t.Fatalf("%s: %d series, want none: %v", q, len(got), got)
		}
	}
}

// prometheus is a Prometheus server the test started.
type prometheus struct{ url string }

// startPrometheus runs Debian's prometheus, scraping target every second,
// on a loopback port with its storage in a temporary directory.
func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testkit.SkipOrFail(t, "prometheus is not installed", "scripts/install-prometheus.sh")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: membrane
    static_configs:
      - targets: ['`+target+`']
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Prometheus takes no port 0: a free port is picked, and another if
	// it is taken before Prometheus binds it.
	for attempt := 1; ; attempt++ {
		addr := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, fmt.Sprint("data", attempt)),
			"--web.listen-address="+addr, "--log.level=warn")
		out, err := os.Create(filepath.Join(dir, fmt.Sprint("prometheus", attempt, ".log")))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("starting prometheus: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		p := &prometheus{url: "http://" + addr}
		if p.ready(exited) {
			t.Cleanup(func() {
				cancel()
				<-exited
				out.Close()
			})
			return p
		}
		cancel()
		<-exited
		out.Close()
		if attempt == 3 {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("prometheus did not start; its log:\n%s", log)
		}
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ready waits until Prometheus answers /-/ready, false if it exits first.
func (p *prometheus) ready(exited <-chan error) bool {
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return false
		case <-deadline:
			return false
		case <-tick.C:
		}
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
	}
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query through Prometheus's HTTP API.
func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("query %s: %d %v %s", q, resp.StatusCode, err, body.Error)
	}
	return body.Data.Result
}

// waitFor polls the query until its one sample satisfies ok; scrapes come
// every second, so the deadline is generous for a busy machine.
func (p *prometheus) waitFor(t *testing.T, q string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last []sample
	for {
		last = p.query(t, q)
		if len(last) == 1 {
			s, _ := last[0].Value[1].(string)
			if v, err := strconv.ParseFloat(s, 64); err == nil && ok(v) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after 2 minutes", q, describe(last))
		}
		time.Sleep(200 * time.Millisecond) // the next scrape is the signal; nothing to wait on but the API
	}
}

func describe(s []sample) string {
	if len(s) == 0 {
		return "no sample"
	}
	var b strings.Builder
	for _, x := range s {
		fmt.Fprintf(&b, "%v=%v ", x.Metric, x.Value[1])
	}
	return b.String()
}
