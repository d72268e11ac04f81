package connect_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's, installed by scripts/install-browser.sh.
const chromium = "/usr/bin/chromium"

// skipOrFail skips a test whose peer is missing here, but fails it in CI,
// where the setup scripts install it.
func skipOrFail(t *testing.T, why, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: %s must install it)", why, install)
	}
	t.Skipf("%s; run %s", why, install)
}

// newBrowser starts a headless chromium with a fresh profile. The flags
// keep it off the network, which is closed here: only loopback is used.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		skipOrFail(t, chromium+" is missing", "scripts/install-browser.sh")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser and must carry no deadline, which
	// would stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds one step of a click-through.
const stepTimeout = 30 * time.Second

// steps runs browser actions, within stepTimeout.
func steps(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		screenshot(t, ctx, what)
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that reads something.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return v
}

// screenshot keeps what the browser shows in MEMBRANE_SCREENSHOTS, when
// set: for a failure, or to look at the page.
func screenshot(t *testing.T, ctx context.Context, name string) {
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

// startAuthServer starts runtime/oauth's OAuth2 server (oauth2-mock-server
// from npm, installed by runtime/oauth/testdata/install.sh) and returns
// its URL once it listens.
func startAuthServer(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "oauth", "testdata")
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not on PATH", "runtime/oauth/testdata/install.sh")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth2-mock-server", "package.json")); err != nil {
		skipOrFail(t, "oauth2-mock-server is not installed", "runtime/oauth/testdata/install.sh")
	}
	cmd := exec.Command(node, "oauth-server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TOKEN_TTL=3600", "CLIENT_ID=membrane-test", "CLIENT_SECRET=membrane-test-secret")
	out := &lineWriter{ready: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe() // the server exits when it closes
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the OAuth2 server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("OAuth2 server output:\n%s", out.String())
		}
	})
	select {
	case u := <-out.ready:
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("OAuth2 server: unexpected ready line %q", u)
		}
		return u
	case err := <-exited:
		t.Fatalf("the OAuth2 server exited before it was ready (%v):\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the OAuth2 server printed no ready line:\n%s", out.String())
	}
	return ""
}

// lineWriter keeps a process's output and hands over its first line.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	sent  bool
	ready chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok {
			w.sent = true
			w.ready <- strings.TrimSpace(line)
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
