package testkit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is Debian's, installed by scripts/install-browser.sh.
const Chromium = "/usr/bin/chromium"

// Browser starts a headless chromium with a fresh profile for t. The
// flags keep it off the network, which is closed here: only loopback is
// used.
func Browser(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		SkipOrFail(t, Chromium+" is missing", "scripts/install-browser.sh")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(Chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser and must carry no deadline, which
	// would stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// Steps runs browser actions within timeout; on failure it keeps a
// screenshot (see Screenshot) and fails t, saying what was being done.
func Steps(t testing.TB, ctx context.Context, timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		Screenshot(t, ctx, what)
		t.Fatalf("%s: %v", what, err)
	}
}

// Get runs one browser action that reads something, within timeout.
func Get[T any](t testing.TB, ctx context.Context, timeout time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return v
}

// Screenshot keeps what the browser shows in MEMBRANE_SCREENSHOTS, when
// set: for a failure, or to look at the page.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MEMBRANE_SCREENSHOTS")
	if dir == "" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	file := filepath.Join(dir, strings.ReplaceAll(t.Name()+"-"+name, "/", "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
}
