package metrics_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// An operator opens the console of a running server and sees its health at
// a glance: the connector's runs and failures of the last hour drawn
// minute by minute, its latency percentiles, the connections by state,
// and the connection whose key the app revoked listed for
// re-authorisation. The page is drawn from the metrics' own figures.
func TestConsoleShowsHealth(t *testing.T) {
	t.Parallel()
	ctx := testkit.Browser(t)
	up := newUpstream(t)
	m := startMembrane(t, up)

	good := m.connect(t, goodKey)
	const revokedKey = "key_live_revoked_0000"
	lost := m.connect(t, revokedKey)
	for i := range 5 {
		if code := m.run(t, good, "user"+string(rune('a'+i))+"@example.com"); code != http.StatusOK {
			t.Fatalf("run %d: %d", i, code)
		}
	}
	for range 2 {
		if code := m.run(t, good, "fail@example.com"); code == http.StatusOK {
			t.Fatal("a failing run answered 200")
		}
	}
	// The app revokes a key: its next run fails and disconnects it.
	up.revoke(revokedKey)
	if code := m.run(t, lost, "ada@example.com"); code == http.StatusOK {
		t.Fatal("a run with a revoked key answered 200")
	}
	var conn struct{ State string }
	if m.call(t, "GET", "/v1/connections/"+lost, nil, &conn); conn.State != "disconnected" {
		t.Fatalf("the connection with the revoked key is %q", conn.State)
	}

	mint, err := tenancy.NewMinter("default", []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := mint.Mint(tenancy.Claims{Tenant: "ops", Admin: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Steps(t, ctx, 30*time.Second, "open the console",
		chromedp.EmulateViewport(1100, 900),
		chromedp.Navigate(m.URL+"/console?token="+url.QueryEscape(admin)),
		chromedp.WaitVisible(`#health section[data-connector="crm"]`),
		chromedp.WaitVisible(`#connection-states`))
	shot(t, ctx, "console-health.png")

	get := func(sel string) string { return testkit.Get(t, ctx, 10*time.Second, chromedp.Text(sel)) }
	card := get(`#health section[data-connector="crm"]`)
	for _, want := range []string{"8 runs", "3 failed (37.5%)", "p50 ≤", "p95 ≤", "p99 ≤"} {
		if !strings.Contains(card, want) {
			t.Errorf("the crm card does not show %q:\n%s", want, card)
		}
	}
	count := func(sel string) int {
		return testkit.Get(t, ctx, 10*time.Second, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	}
	// All of this minute's runs are one bar, its failed part another
	// (two if the minute turned during the runs).
	if ok, bad := count(`#health [data-chart="runs"] rect.bar-ok`), count(`#health [data-chart="runs"] rect.bar-failed`); ok < 1 || ok > 2 || bad < 1 || bad > 2 {
		t.Errorf("the runs chart has %d ok bars and %d failed bars", ok, bad)
	}
	if n := count(`#health [data-chart="latency"] .p50`); n != 1 {
		t.Errorf("the latency chart draws p50 %d times", n)
	}
	title := testkit.Get(t, ctx, 10*time.Second, chromedp.Evaluate[string](`document.querySelector('#health [data-chart="runs"] title').textContent`))
	if !strings.Contains(title, "8 runs, 3 failed") {
		t.Errorf("the runs chart's title says %q", title)
	}

	row := strings.Fields(get(`#connection-states tr[data-connector="crm"]`))
	if strings.Join(row, " ") != "crm 1 0 1" {
		t.Errorf("crm's connections by state (connected, error, disconnected): %v", row)
	}
	reauth := get(`#reauth`)
	if !strings.Contains(reauth, lost) || !strings.Contains(reauth, "acme") || strings.Contains(reauth, good) {
		t.Errorf("the connections needing re-authorisation show:\n%s", reauth)
	}
	if page := get(`main`); strings.Contains(page, revokedKey) || strings.Contains(page, goodKey) {
		t.Error("an API key is on the page")
	}
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// shot writes a screenshot of the page to $TEST_ARTIFACTS, else to the
// test's temporary directory, and logs where.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png := testkit.Get(t, ctx, 30*time.Second, chromedp.FullScreenshot(100))
	file := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}
