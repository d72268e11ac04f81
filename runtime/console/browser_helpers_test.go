package console_test

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

// steps runs browser actions within timeout.
func steps(t *testing.T, ctx context.Context, timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	testkit.Steps(t, ctx, timeout, what, actions...)
}

// get runs one browser action that reads something.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	return testkit.Get(t, ctx, stepTimeout, a)
}

func screenshot(t *testing.T, ctx context.Context, name string) { testkit.Screenshot(t, ctx, name) }
