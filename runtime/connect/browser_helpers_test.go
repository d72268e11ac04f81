package connect_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// stepTimeout bounds one step of a click-through.
const stepTimeout = 30 * time.Second

func newBrowser(t *testing.T) context.Context { return testkit.Browser(t) }

// steps runs browser actions, within stepTimeout.
func steps(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	testkit.Steps(t, ctx, stepTimeout, what, actions...)
}

// get runs one browser action that reads something.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	return testkit.Get(t, ctx, stepTimeout, a)
}

func screenshot(t *testing.T, ctx context.Context, name string) { testkit.Screenshot(t, ctx, name) }

// startAuthServer starts the OAuth2 server the browser tests consent at:
// go-oauth2, in process, with the client the test workspace's connectors
// use. Not also npm's oauth2-mock-server, as runtime/oauth's tests are:
// through these tests it reaches none of Membrane's code that go-oauth2
// does not (their coverage profiles differ only in the HTTP client's
// table of header names), and each run of them starts a browser.
func startAuthServer(t *testing.T) testkit.OAuthServer {
	t.Helper()
	return testkit.GoOAuth2.Start(t, 3600)
}
