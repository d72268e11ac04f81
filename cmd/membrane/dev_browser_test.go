package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// An author has the console open while editing files: a new action file
// appears on the open page, then a broken save shows its diagnostic with
// its place, without a reload of the page. The waits are bounded
// generously; the times measured are logged.
func TestDevConsoleFollowsTheDisk(t *testing.T) {
	browser := testkit.Browser(t)
	dir := t.TempDir()
	for _, name := range []string{"connector.yaml", "actions/get-note.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata/run/ws", name))
		if err != nil {
			t.Fatal(err)
		}
		testkit.WriteFile(t, filepath.Join(dir, name), string(data))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, server.Config{Dir: dir, AllowPrivate: true}, ln, storetest.Quiet(), &testkit.Buffer{})
	}()
	t.Cleanup(func() { cancel(); <-done })

	const wait = 30 * time.Second
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) time.Duration {
		t.Helper()
		start := time.Now()
		testkit.Steps(t, browser, wait, what, actions...)
		took := time.Since(start)
		t.Logf("%s: %v", what, took.Round(time.Millisecond))
		return took
	}
	step("open the console", chromedp.Navigate(url+"/console/"), chromedp.WaitVisible(`#catalog a[href$="/actions/get-note"]`),
		chromedp.WaitVisible(`#diagnostics .none`))

	testkit.WriteFile(t, filepath.Join(dir, "actions/archive-note.yaml"),
		"kind: Action\nconnector: notes\nkey: archive-note\nrequest: {method: POST, path: /notes/archive}\n")
	step("the new action on the open page", chromedp.WaitVisible(`#catalog a[href$="/actions/archive-note"]`))

	broken := strings.Replace(readFile(t, filepath.Join(dir, "actions/get-note.yaml")), "input.id", "input.di", 1)
	testkit.WriteFile(t, filepath.Join(dir, "actions/get-note.yaml"), broken)
	step("the diagnostic on the open page", chromedp.WaitVisible(`#diagnostics .diag-error`))
	txt, err := chromedp.Run(browser, chromedp.Text(`#diagnostics`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt, "get-note.yaml:10:") || !strings.Contains(txt, "di") {
		t.Errorf("the diagnostics show %q", txt)
	}
	// The last good definition still serves: the catalogue keeps get-note.
	if n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll('#catalog a[href$="/actions/get-note"]').length`)); err != nil || n == 0 {
		t.Errorf("get-note left the catalogue while broken: %d %v", n, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
